"""JSON logs with a fixed field set (services/obs/README.md), through the OTel logs bridge.

One handler on the service logger fans each kept record out twice: a JSON
line on stderr and an OTel log record (``LoggingHandler`` of
opentelemetry-instrumentation-logging, so the record carries the current
trace_id/span_id). Its two filters run once per record, before either output:

- ``InfoSampler``: INFO and below kept at ``LOG_SAMPLING_RATE_INFO``,
  deterministically by trace id (every record of a kept trace is kept);
  WARNING and above never sampled.
- ``PiiFilter``: the message and every extra field cleaned by ``pii``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import zlib
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider

from services.obs import context
from services.obs.pii import scrub_text, scrub_value
from services.obs.settings import ObsSettings

# Attributes every LogRecord has; anything else on a record is an `extra`.
_STANDARD = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime", "taskName"}
# Request fields, filled from the request context when the caller did not pass them.
REQUEST_FIELDS = ("request_id", "route", "status", "latency_ms")
_TRACE_BITS = (1 << 56) - 1


def _now_iso(created: float) -> str:
    secs = int(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{int((created - secs) * 1000):03d}Z"


class InfoSampler(logging.Filter):
    """Keeps INFO/DEBUG at ``rate``; WARNING and above always."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate
        self.threshold = int(rate * (1 << 56))

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or self.rate >= 1.0:
            return True
        if self.rate <= 0.0:
            return False
        keep = self._keep_trace()
        if keep is not None:
            return keep
        # No trace: a hash of the record itself, so the decision is stable for this record.
        h = zlib.crc32(f"{record.created}:{record.lineno}:{record.msg}".encode())
        return (h << 24) < self.threshold

    def keep_current(self) -> bool:
        """Whether an INFO record logged now would be kept (True outside a trace: the filter decides later)."""
        if self.rate >= 1.0:
            return True
        keep = self._keep_trace()
        return True if keep is None else keep

    def _keep_trace(self) -> bool | None:
        ctx = trace.get_current_span().get_span_context()
        if not ctx.is_valid:
            return None
        # W3C trace ids are random in their low 7 bytes: the same cut the pipeline's sampler makes.
        return (ctx.trace_id & _TRACE_BITS) < self.threshold


class PiiFilter(logging.Filter):
    """Cleans the message and extras in place and adds the request fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub_text(record.getMessage())
        record.args = None
        for key in [k for k in record.__dict__ if k not in _STANDARD]:
            record.__dict__[key] = scrub_value(key, record.__dict__[key])
        req = context.current()
        if req is not None:
            d = record.__dict__
            # None is left out: OTel attributes cannot hold it.
            for key, value in (("request_id", req.request_id), ("route", req.route),
                               ("user_id", req.user_id), ("ip", req.ip)):
                if value is not None and key not in d:
                    d[key] = value
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, *, service: str, env: str, commit: str) -> None:
        super().__init__()
        self.service, self.env, self.commit = service, env, commit

    def format(self, record: logging.LogRecord) -> str:
        d = record.__dict__
        span_ctx = trace.get_current_span().get_span_context()
        out: dict[str, Any] = {
            "ts": _now_iso(record.created), "level": record.levelname, "msg": record.getMessage(),
            "service": self.service, "env": self.env, "commit": self.commit,
            "request_id": d.get("request_id"),
            "trace_id": f"{span_ctx.trace_id:032x}" if span_ctx.is_valid else None,
            "span_id": f"{span_ctx.span_id:016x}" if span_ctx.is_valid else None,
            "route": d.get("route"), "status": d.get("status"), "latency_ms": d.get("latency_ms"),
        }
        for key in d:
            if key not in _STANDARD and key not in out:
                out[key] = d[key]
        if record.exc_info:
            out["exc"] = scrub_text(self.formatException(record.exc_info))
        return json.dumps(out, default=str, separators=(",", ":"))


class ObsLogHandler(logging.Handler):
    """Sampled, cleaned records to a JSON stream and to the OTel logs bridge."""

    def __init__(self, settings: ObsSettings, service: str, logger_provider: LoggerProvider) -> None:
        super().__init__(level=logging.NOTSET)
        self.sampler = InfoSampler(settings.LOG_SAMPLING_RATE_INFO)
        self.addFilter(self.sampler)
        self.addFilter(PiiFilter())
        self.json_stdout = settings.OBS_LOG_JSON_STDOUT
        self.setFormatter(JsonFormatter(service=service, env=settings.ENV, commit=settings.COMMIT))
        self.bridge = LoggingHandler(logger_provider=logger_provider)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.json_stdout:
                stream = sys.stderr
                stream.write(self.format(record) + "\n")
            self.bridge.emit(record)
        except Exception:  # noqa: BLE001 - a log line must never break the request
            self.handleError(record)


def setup_logger(settings: ObsSettings, service: str,
                 logger_provider: LoggerProvider) -> tuple[logging.Logger, ObsLogHandler]:
    """The service logger, with one ``ObsLogHandler``; a previous Obs's handler on it is replaced."""
    logger = logging.getLogger(service)
    for old in [h for h in logger.handlers if isinstance(h, ObsLogHandler)]:
        logger.removeHandler(old)
    handler = ObsLogHandler(settings, service, logger_provider)
    logger.addHandler(handler)
    logger.setLevel(settings.LOG_LEVEL)
    # The JSON line is the output; the root logger would print the same record again.
    logger.propagate = False
    return logger, handler
