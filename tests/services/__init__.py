"""Tests of the FastAPI services and the obs SDK."""
