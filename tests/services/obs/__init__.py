"""Tests of the obs SDK (services/obs)."""
