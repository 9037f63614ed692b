"""FastAPI services, one per seed system, and the ``obs`` SDK they share."""
