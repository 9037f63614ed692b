"""Whether a service serves its interactive API docs: ``/docs``, ``/redoc`` and ``/openapi.json``.

Off unless ``DOCS_ENABLED=true``: the schema lists every route, parameter and
auth scheme to whoever asks, which a production service has no reason to do.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings


class DocsSettings(BaseSettings):
    DOCS_ENABLED: bool = Field(False, description="serve /docs, /redoc and /openapi.json; default false")


def docs_routes(settings: DocsSettings) -> dict[str, Any]:
    """The ``FastAPI(...)`` keyword arguments for ``settings``: none when enabled, every docs URL off otherwise."""
    if settings.DOCS_ENABLED:
        return {}
    return {"docs_url": None, "redoc_url": None, "openapi_url": None}
