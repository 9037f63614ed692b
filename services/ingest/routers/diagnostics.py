"""GET /chat/tools/diagnostics: what the load harness polls.

``whatsapp_metrics`` has one entry per (client_id, chat) with the counters
the harness sums (accepted, created, deduped, extracted, errors) and
``last_event_at``; ``counts`` are the rows in the SQL store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends

from services.ingest.deps import ContextDep, require_admin

router = APIRouter(tags=["diagnostics"])


@router.get("/chat/tools/diagnostics", dependencies=[Depends(require_admin)])
def diagnostics(ctx: ContextDep) -> dict[str, Any]:
    return {
        "generated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "counts": ctx.store.counts(),
        "whatsapp_metrics": ctx.metrics.chat_counters(),
        "totals": ctx.metrics.totals(),
    }
