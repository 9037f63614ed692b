"""Running a block under one ``OTEL_SEMCONV_STABILITY_OPT_IN`` value (the instrumentations read it once per process)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from services.obs import upstream_internals

_VAR = "OTEL_SEMCONV_STABILITY_OPT_IN"


@contextlib.contextmanager
def opt_in(value: str) -> Iterator[None]:
    before = os.environ.get(_VAR)
    os.environ[_VAR] = value
    upstream_internals.reset_semconv_opt_in()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_VAR, None)
        else:
            os.environ[_VAR] = before
        upstream_internals.reset_semconv_opt_in()
