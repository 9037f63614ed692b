"""The one table from a refusal to its gRPC status code, its HTTP status, whether
the sender should retry, and the ``reason`` label it is counted under in
``otelproc_refused_requests_total{signal,reason}``.

Both OTLP transports (``processors.receivers.otlp_grpc`` and
``processors.standalone.otlp_http``) and the pipeline's exporter fan-out read
it, so a status means the same on every path:

| refusal                  | gRPC                | HTTP                    | retry | reason                 |
|--------------------------|---------------------|-------------------------|-------|------------------------|
| malformed request        | INVALID_ARGUMENT    | 400                     | no    | malformed              |
| over the size limit      | RESOURCE_EXHAUSTED  | 413                     | no    | too_large              |
| next hop down, timed out | UNAVAILABLE         | 503 + Retry-After       | yes   | next_hop_unavailable   |
| next hop rejected it     | INVALID_ARGUMENT    | 400                     | no    | next_hop_rejected      |
| no pipeline for it       | UNIMPLEMENTED       | 404                     | no    | unimplemented / not_found |
| not POST                 |                     | 405                     | no    | method_not_allowed     |
| unknown Content-Type     |                     | 415                     | no    | unsupported_media_type |
| body not in read_timeout |                     | 408, connection closed  | no    | read_timeout           |
| headers not in read_header_timeout |           | connection closed       | no    | read_header_timeout    |
| over max_connections     |                     | 503 + Retry-After, closed | yes | too_many_connections   |
| a bug                    | INTERNAL            | 500                     | no    | internal               |

A retryable refusal tells an OTLP sender to keep the data and send it again;
any other makes it drop the batch.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import grpc

from processors.api import ExportError, MalformedPayload


class Refusal(enum.Enum):
    """Why a request was not accepted. Each member: (reason label, gRPC code, HTTP status, retryable)."""

    MALFORMED = ("malformed", grpc.StatusCode.INVALID_ARGUMENT, 400, False)
    TOO_LARGE = ("too_large", grpc.StatusCode.RESOURCE_EXHAUSTED, 413, False)
    NEXT_HOP_UNAVAILABLE = ("next_hop_unavailable", grpc.StatusCode.UNAVAILABLE, 503, True)
    NEXT_HOP_REJECTED = ("next_hop_rejected", grpc.StatusCode.INVALID_ARGUMENT, 400, False)
    UNIMPLEMENTED = ("unimplemented", grpc.StatusCode.UNIMPLEMENTED, 404, False)
    NOT_FOUND = ("not_found", grpc.StatusCode.UNIMPLEMENTED, 404, False)
    METHOD_NOT_ALLOWED = ("method_not_allowed", None, 405, False)
    UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", None, 415, False)
    READ_TIMEOUT = ("read_timeout", None, 408, False)
    READ_HEADER_TIMEOUT = ("read_header_timeout", None, None, False)
    TOO_MANY_CONNECTIONS = ("too_many_connections", None, 503, True)
    INTERNAL = ("internal", grpc.StatusCode.INTERNAL, 500, False)

    def __init__(self, reason: str, grpc_code: grpc.StatusCode | None, http_status: int | None,
                 retryable: bool) -> None:
        self.reason = reason
        self.grpc_code = grpc_code
        self.http_status = http_status
        self.retryable = retryable

    @property
    def http_headers(self) -> dict[str, str] | None:
        """Retry-After on a retryable HTTP refusal, so the sender waits a second before it retries."""
        return {"Retry-After": "1"} if self.retryable else None


def refusal_of(exc: BaseException) -> Refusal:
    """The refusal an error from admitting a request stands for; anything unforeseen is a bug."""
    if isinstance(exc, MalformedPayload):
        return Refusal.MALFORMED
    if isinstance(exc, ExportError):
        return Refusal.NEXT_HOP_UNAVAILABLE if exc.retryable else Refusal.NEXT_HOP_REJECTED
    return Refusal.INTERNAL


def describe(exc: BaseException) -> str:
    """The message a sender gets with the status of ``exc``."""
    refusal = refusal_of(exc)
    if refusal is Refusal.NEXT_HOP_UNAVAILABLE:
        return f"next hop unavailable: {exc}"
    if refusal is Refusal.NEXT_HOP_REJECTED:
        return f"next hop rejected the data: {exc}"
    if refusal is Refusal.INTERNAL:
        return "internal error; see the processor log"
    return str(exc)


def export_failure(exporter_id: str, exc: BaseException) -> ExportError:
    """An exporter's failure as the ExportError the pipeline answers with: an error that is
    not an ExportError (a bug in the exporter) counts as the next hop being unavailable, so
    that the sender keeps the data rather than lose it to our bug."""
    if isinstance(exc, ExportError):
        return exc
    return ExportError(f"{exporter_id}: {exc}", retryable=True)


def first_failure(failures: Sequence[ExportError]) -> ExportError:
    """The failure a pipeline with several exporters answers with: a retryable one wins, so the
    sender keeps the data and retries (the exporters that did take it see it again)."""
    return next((f for f in failures if f.retryable), failures[0])
