"""The one table from a refusal to its gRPC code, HTTP status, retryability and
counted reason (processors/status.py), which both transports and the pipeline use."""

from __future__ import annotations

import re

import grpc
import pytest

from processors.api import ExportError, MalformedPayload
from processors.status import Refusal, describe, export_failure, first_failure, refusal_of
from tests.support.procs import REPO


@pytest.mark.parametrize(("exc", "refusal", "code", "http", "retryable"), [
    (MalformedPayload("bad bytes"), Refusal.MALFORMED, grpc.StatusCode.INVALID_ARGUMENT, 400, False),
    (ExportError("down", retryable=True), Refusal.NEXT_HOP_UNAVAILABLE, grpc.StatusCode.UNAVAILABLE, 503, True),
    (ExportError("no", retryable=False), Refusal.NEXT_HOP_REJECTED, grpc.StatusCode.INVALID_ARGUMENT, 400, False),
    (KeyError("bug"), Refusal.INTERNAL, grpc.StatusCode.INTERNAL, 500, False),
])
def test_an_error_maps_to_one_refusal_for_both_transports(exc, refusal, code, http, retryable):
    got = refusal_of(exc)
    assert got is refusal
    assert (got.grpc_code, got.http_status, got.retryable) == (code, http, retryable)
    assert (got.http_headers is not None) == retryable  # Retry-After only where the sender should retry


def test_a_bug_is_described_without_its_text():
    assert "secret-token" not in describe(RuntimeError("secret-token in a bug"))
    assert describe(ExportError("down", retryable=True)) == "next hop unavailable: down"


def test_an_exporter_bug_is_a_retryable_failure_and_a_retryable_failure_wins():
    bug = export_failure("otlp/a", ValueError("boom"))
    assert isinstance(bug, ExportError) and bug.retryable and "otlp/a" in str(bug)
    rejected = ExportError("rejected", retryable=False)
    assert export_failure("otlp/b", rejected) is rejected
    assert first_failure([rejected, bug]) is bug
    assert first_failure([rejected]) is rejected


def test_every_counted_reason_is_in_the_table_and_documented():
    text = (REPO / "docs" / "operations.md").read_text()
    listed = re.search(r"otelproc_refused_requests_total\{signal,reason\}` with reasons (.*?); every value", text, re.S)
    assert listed, "docs/operations.md lists the refusal reasons"
    documented = set(re.findall(r"`(\w+)`", listed.group(1)))
    assert documented == {r.reason for r in Refusal}
