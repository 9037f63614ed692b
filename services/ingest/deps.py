"""Request dependencies: the service context, and the ingest auth chain.

The chain runs in the order its refusals are counted: token (401), then HMAC
signature (403, or 401 when it is missing), then the per-client rate limit
(429), then, with HMAC on, whether the signature was used before (409). Each
refusal is counted and kept in ``recent_failures`` before the HTTPException
leaves; details are short and stable, and never echo what the client sent.

The token is checked on the headers before the body is read. The body is then
read as it arrives and refused at the first byte over the limit, so a chunked
body (no Content-Length) is never buffered past it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, ValidationError

from services.ingest.collectors import CollectorFleet
from services.ingest.ingestion import Ingestor
from services.ingest.media import MediaUploads
from services.ingest.ratelimit import SlidingWindowLimiter
from services.ingest.replay import SeenSignatures
from services.ingest.schemas import Heartbeat, IngestBatch
from services.ingest.security import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    parse_timestamp,
    presented_token,
    token_matches,
    verify_signature,
)
from services.ingest.settings import IngestSettings
from services.ingest.store import IngestStore
from services.ingest.telemetry import IngestMetrics

INVALID_TOKEN = "Invalid ingest token"
SIGNATURE_REQUIRED = "Signature required"
INVALID_SIGNATURE = "Invalid signature"
RATE_LIMITED = "Rate limit exceeded"
SIGNATURE_REPLAYED = "Signature already used"
INVALID_PAYLOAD = "Invalid payload"
TOO_LARGE = "Payload too large"


@dataclass
class IngestContext:
    """Everything the routes share; built once per app by ``create_app``."""

    settings: IngestSettings
    metrics: IngestMetrics
    store: IngestStore
    ingestor: Ingestor
    media: MediaUploads
    limiter: SlidingWindowLimiter
    signatures: SeenSignatures
    log: logging.Logger
    # obs's admin guard: the admin token unless OBS_METRICS_PUBLIC=true.
    admin_guard: Callable[[Request], None]
    collectors: CollectorFleet
    version: str = "unknown"


def get_context(request: Request) -> IngestContext:
    return request.app.state.ingest


ContextDep = Annotated[IngestContext, Depends(get_context)]


def require_admin(request: Request, ctx: ContextDep) -> None:
    ctx.admin_guard(request)


# Before the token is known good, a body is read for the refusal's client_id only when its
# Content-Length says it is this small.
HINT_MAX_BYTES = 4096


class _Hint(BaseModel):
    model_config = ConfigDict(extra="ignore")

    client_id: str | None = None


def _client_hint(body: bytes) -> str | None:
    """The batch's client_id, for triage of refused requests; None unless the body is a JSON object
    with a string client_id. pydantic's parser bounds the nesting depth (a deep body is just None)."""
    try:
        value = _Hint.model_validate_json(body).client_id
    except ValidationError:
        return None
    return value[:128] if value is not None else None


async def _small_body_hint(request: Request) -> str | None:
    """The client_id of a body declared at most HINT_MAX_BYTES long; nothing is read otherwise."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > HINT_MAX_BYTES:
        return None
    try:
        return _client_hint(await read_body(request, HINT_MAX_BYTES))
    except BodyTooLarge:
        return None


def _refuse(ctx: IngestContext, status: int, reason: str, totals: tuple[str, ...], detail: str, *,
            client_id: str | None, headers: dict[str, str] | None = None) -> HTTPException:
    ctx.metrics.failure(status, reason, totals, client_id=client_id)
    level = logging.WARNING if status != 429 else logging.INFO
    ctx.log.log(level, "ingest request refused",
                extra={"ingest.reason": reason, "ingest.client_id": client_id, "http.response.status_code": status})
    return HTTPException(status, detail, headers=headers)


class BodyTooLarge(Exception):
    """The body is longer than the limit: by its Content-Length, or by what arrived so far."""


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read as it streams in; ``BodyTooLarge`` at the first byte over ``limit``
    (the rest is left unread: the server discards it without buffering)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def _reject(ctx: IngestContext, status: int, reason: str, detail: str, *, client_id: str | None) -> HTTPException:
    return _refuse(ctx, status, reason, ("rejected",), detail, client_id=client_id)


def token_problem(ctx: IngestContext, request: Request) -> str | None:
    """None when the request carries the ingest token, else the refusal reason (headers only)."""
    token = presented_token(request.headers)
    if token_matches(token, ctx.settings.WHATSAPP_INGEST_TOKEN):
        return None
    return "missing_token" if token is None else "invalid_token"


def _token_refusal(ctx: IngestContext, reason: str, client_hint: str | None) -> HTTPException:
    return _refuse(ctx, 401, reason, ("auth_failures",), INVALID_TOKEN, client_id=client_hint,
                   headers={"WWW-Authenticate": "Bearer"})


def check_token(ctx: IngestContext, request: Request, client_hint: str | None) -> None:
    reason = token_problem(ctx, request)
    if reason is not None:
        raise _token_refusal(ctx, reason, client_hint)


def check_signature(ctx: IngestContext, request: Request, body: bytes, client_hint: str | None) -> None:
    headers = request.headers
    secret = ctx.settings.WHATSAPP_HMAC_SECRET
    if secret is None:
        return
    problem = verify_signature(secret, headers, body, now=datetime.now(UTC),
                               max_age_s=ctx.settings.WHATSAPP_SIGNATURE_MAX_AGE_S)
    if problem is None:
        return
    if problem.value == "missing_signature":
        raise _refuse(ctx, 401, problem.value, ("auth_failures", "signature_failures"), SIGNATURE_REQUIRED,
                      client_id=client_hint)
    raise _refuse(ctx, 403, problem.value, ("forbidden", "signature_failures"), INVALID_SIGNATURE,
                  client_id=client_hint)


def rate_limit(ctx: IngestContext, scope: str, client_id: str) -> None:
    decision = ctx.limiter.check(scope, client_id)
    if not decision.allowed:
        raise _refuse(ctx, 429, "rate_limited", ("rate_limited",), RATE_LIMITED, client_id=client_id,
                      headers={"Retry-After": str(decision.retry_after_s)})


async def authenticated_batch(request: Request, ctx: ContextDep) -> IngestBatch:
    reason = token_problem(ctx, request)
    if reason is not None:
        raise _token_refusal(ctx, reason, await _small_body_hint(request))
    try:
        body = await read_body(request, ctx.settings.WHATSAPP_INGEST_MAX_BODY_BYTES)
    except BodyTooLarge:
        raise _reject(ctx, 413, "payload_too_large", TOO_LARGE, client_id=None) from None
    if ctx.settings.WHATSAPP_HMAC_SECRET is not None:
        check_signature(ctx, request, body, _client_hint(body))
    try:
        batch = IngestBatch.model_validate_json(body)
    except ValidationError:
        # The errors quote the input; the client gets a stable detail instead.
        raise _reject(ctx, 422, "invalid_payload", INVALID_PAYLOAD, client_id=_client_hint(body)) from None
    if len(batch.messages) > ctx.settings.WHATSAPP_INGEST_MAX_MESSAGES:
        raise _reject(ctx, 413, "too_many_messages", TOO_LARGE, client_id=batch.client_id)
    # Redis round trips off the event loop; the thread inherits the request's trace context.
    await run_in_threadpool(rate_limit, ctx, "ingest", batch.client_id)
    # The route gives the claim back if processing fails.
    request.state.signature_claim = await run_in_threadpool(claim_signature, ctx, request, batch.client_id)
    return batch


BatchDep = Annotated[IngestBatch, Depends(authenticated_batch)]

HEARTBEAT_MAX_BYTES = 4096
TOO_MANY_COLLECTORS = "Too many collectors"


async def authenticated_heartbeat(request: Request, ctx: ContextDep) -> Heartbeat:
    """The ingest chain for a heartbeat: token, body limit, signature, payload, rate limit, replay."""
    reason = token_problem(ctx, request)
    if reason is not None:
        raise _token_refusal(ctx, reason, await _small_body_hint(request))
    try:
        body = await read_body(request, HEARTBEAT_MAX_BYTES)
    except BodyTooLarge:
        raise _reject(ctx, 413, "payload_too_large", TOO_LARGE, client_id=None) from None
    if ctx.settings.WHATSAPP_HMAC_SECRET is not None:
        check_signature(ctx, request, body, _client_hint(body))
    try:
        beat = Heartbeat.model_validate_json(body)
    except ValidationError:
        raise _reject(ctx, 422, "invalid_payload", INVALID_PAYLOAD, client_id=_client_hint(body)) from None
    await run_in_threadpool(rate_limit, ctx, "heartbeat", beat.client_id)
    request.state.signature_claim = await run_in_threadpool(claim_signature, ctx, request, beat.client_id)
    return beat


HeartbeatDep = Annotated[Heartbeat, Depends(authenticated_heartbeat)]


def refuse_untracked_collector(ctx: IngestContext, client_id: str) -> HTTPException:
    """A heartbeat from a new collector past the cap (counted by the fleet as untracked)."""
    ctx.metrics.failure(422, "too_many_collectors", (), client_id=client_id)
    ctx.log.warning("collector not tracked: the tracked-collector cap is reached",
                    extra={"ingest.reason": "too_many_collectors", "ingest.client_id": client_id,
                           "http.response.status_code": 422})
    return HTTPException(422, TOO_MANY_COLLECTORS)


def claim_signature(ctx: IngestContext, request: Request, client_id: str | None) -> str | None:
    """Claim a verified request's signature (the claim's key); 409 when it was used before,
    None when HMAC is off. Runs last in the chain, so that a request refused earlier claims nothing."""
    if ctx.settings.WHATSAPP_HMAC_SECRET is None:
        return None
    signed_at = parse_timestamp(request.headers[TIMESTAMP_HEADER])
    assert signed_at is not None  # verify_signature passed
    key = ctx.signatures.claim(request.headers[SIGNATURE_HEADER].strip().lower(), signed_at,
                               datetime.now(UTC))
    if key is None:
        raise _refuse(ctx, 409, "replayed_signature", ("replayed", "signature_failures"), SIGNATURE_REPLAYED,
                      client_id=client_id)
    return key


def release_signature(ctx: IngestContext, key: str | None) -> None:
    """Give a claim back after the request failed, so that its retry is processed."""
    if key is not None:
        ctx.signatures.release(key)
