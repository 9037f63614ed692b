"""A real next hop for the receiver tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pipeline import Collector


@pytest.fixture
def next_hop(otelcol: str, tmp_path: Path) -> Iterator[Collector]:
    """A real otelcol whose otlp/processed receiver writes to file sinks."""
    col = Collector(tmp_path / "otelcol")
    col.workdir.mkdir()
    col.start()
    yield col
    col.stop()
