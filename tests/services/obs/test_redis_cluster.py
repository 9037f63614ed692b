"""A Redis Cluster client under obs.init, in both instrumentation modes, on a real three-node cluster.

The upstream Redis instrumentation's per-client path wraps each pipeline's
``immediate_execute_command``, which this redis-py's ``ClusterPipeline``
does not have: before obs put the instrumentation's wrappers on cluster
clients itself, a request using a cluster pipeline answered 500 in the
default mode.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from tests.services.obs.capture import build_app

MODES = {"opentelemetry": "opentelemetry.instrumentation.redis", "lean": "services.obs.redis"}


def _spans(cap: Any, count: int) -> list[Any]:
    deadline = time.monotonic() + 5
    while len(spans := cap.finished_spans()) < count:
        assert time.monotonic() < deadline, f"expected {count} spans, got {[s.name for s in spans]}"
        time.sleep(0.05)
    return spans


@pytest.mark.parametrize("mode", list(MODES))
def test_a_cluster_pipeline_answers_and_makes_a_span_naming_its_commands(mode: str, redis_cluster: int) -> None:
    app, o, cap = build_app(OBS_INSTRUMENTATION=mode)
    cluster = o.use_redis(redis.RedisCluster(host="127.0.0.1", port=redis_cluster), readiness=False)

    @app.get("/cart")
    def cart() -> dict[str, Any]:
        pipe = cluster.pipeline()
        pipe.set("cart:c", "1")  # slots on three different nodes
        pipe.set("cart:d", "2")
        pipe.get("cart:c")
        return {"replies": [r.decode() if isinstance(r, bytes) else r for r in pipe.execute()]}

    @app.get("/one")
    def one() -> dict[str, Any]:
        return {"v": cluster.get("cart:c").decode()}

    with TestClient(app, raise_server_exceptions=False) as client:
        assert cluster.get_node_from_key("cart:c") != cluster.get_node_from_key("cart:d")
        resp = client.get("/cart")
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"replies": [True, True, "1"]}
        spans = _spans(cap, 2)
        assert client.get("/one").json() == {"v": "1"}
        spans = _spans(cap, 4)
    by_name = {s.name: s for s in spans}
    pipeline = by_name["SET SET GET"]
    server = by_name["GET /cart"]
    assert pipeline.instrumentation_scope.name == MODES[mode]
    assert pipeline.parent.span_id == server.context.span_id
    # As exported: the PII policy keeps the command names, one line each joined by spaces.
    assert pipeline.attributes["db.statement"] == "SET ? ? SET ? ? GET ?"
    assert pipeline.attributes["db.redis.pipeline_length"] == 3
    command = by_name["GET"]
    assert command.attributes["db.statement"] == "GET ?"
    assert command.parent.span_id == by_name["GET /one"].context.span_id
