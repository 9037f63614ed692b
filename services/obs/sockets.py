"""Socket.IO instrumentation: connection gauge, event counter, handler spans.

``<prefix>_socketio_clients{namespace}`` goes up on an accepted connect and
down on disconnect; ``<prefix>_socketio_events_total{namespace,event}`` counts
every event handled; each handler runs in a span ``socketio <event>`` with
``socketio.event`` and ``socketio.namespace``. Event names come from the
handlers the app registered, so the label set stays bounded: an event nobody
handles is counted as ``unhandled``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind

from services.obs.upstream_internals import socketio_dispatch_name

if TYPE_CHECKING:
    import socketio

    from services.obs.core import Obs

_LIFECYCLE = frozenset({"connect", "disconnect"})


class SocketMetrics:
    def __init__(self, obs: Obs) -> None:
        prefix = obs.metrics_prefix
        self.clients = obs.meter.create_up_down_counter(
            f"{prefix}_socketio_clients", unit="{client}", description="Connected Socket.IO clients by namespace",
        )
        self.events = obs.meter.create_counter(
            f"{prefix}_socketio_events_total", unit="{event}",
            description="Socket.IO events handled by namespace and event",
        )


def instrument_socketio(sio: socketio.AsyncServer, obs: Obs) -> SocketMetrics:
    """Wrap the server's single event dispatch point.

    python-socketio routes every event, connect and disconnect included,
    through ``AsyncServer._trigger_event``; wrapping it counts handlers
    registered before or after this call alike, with no change to app code.
    """
    metrics = SocketMetrics(obs)
    tracer = obs.tracer
    original = getattr(sio, socketio_dispatch_name)

    def known(event: str, namespace: str) -> bool:
        return event in _LIFECYCLE or event in sio.handlers.get(namespace or "/", {})

    async def traced_trigger_event(event: str, namespace: str, *args: Any) -> Any:
        ns = namespace or "/"
        name = event if known(event, ns) else "unhandled"
        with tracer.start_as_current_span(f"socketio {name}", kind=SpanKind.SERVER,
                                          attributes={"socketio.event": name, "socketio.namespace": ns}):
            ret = await original(event, namespace, *args)
        metrics.events.add(1, {"namespace": ns, "event": name})
        if event == "connect" and ret is not False:
            metrics.clients.add(1, {"namespace": ns})
        elif event == "disconnect":
            metrics.clients.add(-1, {"namespace": ns})
        return ret

    setattr(sio, socketio_dispatch_name, traced_trigger_event)
    return metrics
