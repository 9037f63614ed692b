"""RabbitMQ goes away and comes back, with the real broker, the real service and the tenant service.

- ``/health`` and ``/health/ready`` answer 503 within one probe interval of the
  broker stopping, and 200 again once it is back;
- messages queued before the outage, in flight when it began, and published
  during it (the publisher waits the outage out, each message counted once the
  broker has confirmed it) are all delivered after it: none lost; none reached
  the Graph API stand-in twice (a redelivery of a message whose ack the outage
  swallowed is acked unsent, counted as ``status="duplicate"``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from services.outbound import traffic
from tests.services.outbound.live import OutboundStack, wait_until
from tests.support.rabbitmq import rabbitmq_server

pytestmark = pytest.mark.e2e

PROBE_INTERVAL_S = 2.0


def test_broker_outage_health_and_no_message_lost_or_sent_twice(tmp_path: Path) -> None:
    with rabbitmq_server(tmp_path) as broker:
        stack = OutboundStack(tmp_path, broker.url)
        try:
            stack.start_neighbours()
            # Slow answers keep messages in flight (unacked) when the broker stops.
            stack.behave("*", latency_ms=40)
            stack.start_service(HEALTH_PROBE_INTERVAL_SECONDS=str(PROBE_INTERVAL_S), OUTBOUND_PREFETCH="8")
            wait_until(lambda: stack.get("/health/ready").status_code == 200, 30, "ready")
            before = [traffic.message("acme", f"before-{i}") for i in range(200)]
            assert stack.publish(before) == 200
            wait_until(lambda: stack.deliveries()["total"] >= 40, 30, "deliveries under way")

            broker.stop()
            stopped = time.monotonic()

            def both_503() -> tuple[int, int] | None:
                codes = (stack.get("/health").status_code, stack.get("/health/ready").status_code)
                return codes if codes == (503, 503) else None

            codes = wait_until(both_503, 10, "503 on both", interval=0.05)
            took = time.monotonic() - stopped
            assert codes == (503, 503)
            assert took <= PROBE_INTERVAL_S, f"503 after {took:.2f}s, more than one probe interval"
            body = stack.get("/health").json()
            assert body["status"] == "unhealthy" and body["checks"]["rabbitmq"]["status"] == "unhealthy"
            assert body["checks"]["tenantService"]["status"] == "healthy"

            # Published during the outage: the publisher waits it out and counts confirmed messages.
            during = [traffic.message("globex", f"during-{i}") for i in range(100)]
            published: list[int] = []
            publisher = threading.Thread(target=lambda: published.append(stack.publish(during)), daemon=True)
            publisher.start()
            time.sleep(3)
            assert publisher.is_alive(), "the publisher finished while the broker was down"
            delivered_in_outage = stack.deliveries()["total"]

            broker.start()
            restarted = time.monotonic()
            wait_until(lambda: stack.get("/health/ready").status_code == 200, 30, "ready again")
            wait_until(lambda: stack.get("/health").status_code == 200, 30, "healthy again")
            back_after = time.monotonic() - restarted
            publisher.join(60)
            assert published == [100]

            wanted = {m["message_id"] for m in before + during}
            final = wait_until(lambda: (d := stack.deliveries())["distinct"] >= len(wanted) and d, 90,
                               "every message delivered")
            time.sleep(2)  # anything delivered twice would show by now
            final = stack.deliveries()
            assert set(final["ids"]) == wanted, "lost or unexpected messages"
            assert final["duplicates"] == {}, f"delivered twice: {final['duplicates']}"
            assert final["total"] == len(wanted)
            assert delivered_in_outage < len(wanted)
            metrics = stack.own_metrics()
            skipped = sum(v for (name, labels), v in metrics.items()
                          if name == "messages_consumed_total" and ("status", "duplicate") in labels)
            delivered = sum(v for (name, _), v in metrics.items() if name == "messages_delivered_total")
            assert delivered == len(wanted)
            print(f"\n503 after {took:.2f}s, 200 again {back_after:.1f}s after the restart; "
                  f"{len(wanted)} delivered once each, {int(skipped)} redeliveries acked unsent")
        finally:
            stack.stop()
