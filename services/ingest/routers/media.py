"""POST /integrations/whatsapp/media: one media file as the raw request body.

Metadata travels in headers (``X-Client-Id``, ``X-Message-Id``,
``X-Media-Kind``, ``Content-Type``), never in the URL, so that nothing about
the file lands in span attributes. Auth is the ingest token and, when
configured, the HMAC signature over the body.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from services.ingest.deps import (
    BodyTooLarge,
    ContextDep,
    check_signature,
    check_token,
    claim_signature,
    rate_limit,
    read_body,
    release_signature,
)
from services.ingest.media import MediaRefused, Upload
from services.ingest.schemas import MediaResult

router = APIRouter(tags=["whatsapp"])
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
_MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,256}$")
_KIND_BY_TYPE = {"image": "image", "video": "video", "audio": "audio"}


@router.post("/integrations/whatsapp/media", response_model=MediaResult)
async def upload_media(request: Request, ctx: ContextDep) -> MediaResult:
    client_id = request.headers.get("x-client-id", "")
    if not _CLIENT_ID.match(client_id):
        raise HTTPException(422, "X-Client-Id header required")
    check_token(ctx, request, client_id)
    limit = ctx.settings.WHATSAPP_MEDIA_MAX_BYTES
    mimetype = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()[:128]
    kind = request.headers.get("x-media-kind") or _KIND_BY_TYPE.get(mimetype.split("/")[0], "document")
    message_id = request.headers.get("x-message-id") or None
    if message_id is not None and not _MESSAGE_ID.match(message_id):
        raise HTTPException(422, "Invalid X-Message-Id header")
    # An oversized upload is refused before reading it (by Content-Length) or at the first byte
    # over the limit, and counted as a media failure.
    try:
        data = await read_body(request, limit)
    except BodyTooLarge:
        raise _http(ctx.media.refuse(client_id, 413, "media_too_large")) from None
    check_signature(ctx, request, data, client_id)
    await run_in_threadpool(rate_limit, ctx, "media", client_id)
    claim = await run_in_threadpool(claim_signature, ctx, request, client_id)
    upload = Upload(client_id=client_id, message_id=message_id, kind=kind, mimetype=mimetype, data=data)
    try:
        return await run_in_threadpool(ctx.media.upload, upload)
    except MediaRefused as exc:
        release_signature(ctx, claim)
        raise _http(exc) from None
    except BaseException:
        release_signature(ctx, claim)
        raise


def _http(exc: MediaRefused) -> HTTPException:
    return HTTPException(exc.status_code, exc.reason)
