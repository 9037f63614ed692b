"""Tests of divan-api (services/divan)."""
