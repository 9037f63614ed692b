"""The Celery CLI's entry point (``celery -A services.crosssell.worker_main worker``): it needs a module attribute,
so the worker app is built here, from the environment, and only when the CLI imports this module."""

from services.crosssell.worker import create_worker

app = create_worker()
