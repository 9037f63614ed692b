"""POST /integrations/whatsapp/ingest: a batch of messages from a collector."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from services.ingest.deps import BatchDep, ContextDep, release_signature
from services.ingest.schemas import IngestResult
from services.obs import context as obs_context

router = APIRouter(tags=["whatsapp"])


def _request_id() -> str:
    req = obs_context.current()
    return req.request_id if req is not None else uuid.uuid4().hex


@router.post("/integrations/whatsapp/ingest", response_model=IngestResult)
def ingest(batch: BatchDep, ctx: ContextDep, request: Request) -> IngestResult:
    # A sync route: FastAPI runs it in a worker thread, where the SQL and Redis calls may block.
    try:
        return ctx.ingestor.ingest(batch, request_id=_request_id())
    except BaseException:
        release_signature(ctx, request.state.signature_claim)
        raise
