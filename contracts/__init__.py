"""Contracts shared by the services that emit telemetry and the processors that read it."""
