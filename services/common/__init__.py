"""What the seed services share: backing-store wiring, its settings, and the Alembic environment."""
