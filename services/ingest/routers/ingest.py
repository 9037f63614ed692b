"""POST /integrations/whatsapp/ingest: a batch of messages from a collector."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from services.ingest.collectors import OPEN
from services.ingest.deps import BatchDep, ContextDep, HeartbeatDep, refuse_untracked_collector, release_signature
from services.ingest.schemas import HeartbeatResult, IngestResult
from services.obs import context as obs_context

router = APIRouter(tags=["whatsapp"])


def _request_id() -> str:
    req = obs_context.current()
    return req.request_id if req is not None else uuid.uuid4().hex


@router.post("/integrations/whatsapp/ingest", response_model=IngestResult)
def ingest(batch: BatchDep, ctx: ContextDep, request: Request) -> IngestResult:
    # A sync route: FastAPI runs it in a worker thread, where the SQL and Redis calls may block.
    try:
        result = ctx.ingestor.ingest(batch, request_id=_request_id())
    except BaseException:
        release_signature(ctx, request.state.signature_claim)
        raise
    # Accepted: the collector's batches_success. A collector past the cap still gets its batch stored.
    ctx.collectors.report(batch.client_id, batch.connection_status, batch=True, route="ingest")
    return result


@router.post("/integrations/whatsapp/heartbeat", response_model=HeartbeatResult)
def heartbeat(beat: HeartbeatDep, ctx: ContextDep, request: Request) -> HeartbeatResult:
    """A collector's WhatsApp connection status, sent on every change and every 30 s or so."""
    if not ctx.collectors.report(beat.client_id, beat.connection_status, batch=False, route="heartbeat"):
        release_signature(ctx, request.state.signature_claim)
        raise refuse_untracked_collector(ctx, beat.client_id)
    return HeartbeatResult(client_id=beat.client_id, connection_status=beat.connection_status,
                           connected=beat.connection_status == OPEN)
