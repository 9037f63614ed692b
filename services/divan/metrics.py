"""divan's domain instruments (the divan table of services/obs/README.md).

The request, Socket.IO, Redis/PostgreSQL and job metrics of the same section
come from the obs SDK with prefix ``divan``. OTLP names are the specified names;
README.md in services/obs maps each one to its Prometheus series.
"""

from __future__ import annotations

from opentelemetry.metrics import Meter

# Every divan_* metric the service is specified with, and where it comes from.
SEED_METRICS = {
    "divan_http_requests_total": "obs middleware",
    "divan_http_request_duration_seconds": "obs middleware",
    "divan_socketio_clients": "obs.instrument_socketio",
    "divan_socketio_events_total": "obs.instrument_socketio",
    "divan_presence_heartbeats_total": "routers/presence.py",
    "divan_presence_rejects_total": "routers/presence.py",
    "divan_proximity_queries_total": "routers/proximity.py",
    "divan_invites_sent_total": "routers/invites.py",
    "divan_invites_accept_total": "routers/invites.py",
    "divan_friendships_accepted_total": "routers/invites.py",
    "divan_chat_send_total": "routers/chat.py",
    "divan_chat_delivered_updates_total": "routers/chat.py",
    "divan_chat_read_updates_total": "routers/chat.py",
    "divan_rooms_created_total": "routers/rooms.py",
    "divan_rooms_join_total": "routers/rooms.py",
    "divan_rooms_send_total": "routers/rooms.py",
    "divan_activities_created_total": "routers/activities.py",
    "divan_activities_completed_total": "routers/activities.py",
    "divan_lb_events_processed_total": "leaderboard.py",
    "divan_lb_snapshots_total": "leaderboard.py",
    "divan_redis_up": "obs readiness probe",
    "divan_redis_latency_seconds": "obs readiness probe",
    "divan_postgres_up": "obs readiness probe",
    "divan_postgres_latency_seconds": "obs readiness probe",
    "divan_jobs_runs_total": "obs.job",
    "divan_jobs_duration_seconds": "obs.job",
}


class DivanMetrics:
    def __init__(self, meter: Meter, prefix: str = "divan") -> None:
        def counter(name: str, unit: str, description: str):  # noqa: ANN202 - the SDK's Counter type
            return meter.create_counter(f"{prefix}_{name}", unit=unit, description=description)

        self.presence_heartbeats = counter("presence_heartbeats_total", "{heartbeat}",
                                           "Accepted presence heartbeats by campus")
        self.presence_rejects = counter("presence_rejects_total", "{heartbeat}",
                                        "Rejected presence heartbeats by reason")
        self.proximity_queries = counter("proximity_queries_total", "{query}", "Nearby queries by radius (m)")
        self.invites_sent = counter("invites_sent_total", "{invite}", "Invites sent")
        self.invites_accept = counter("invites_accept_total", "{invite}", "Invites accepted")
        self.friendships_accepted = counter("friendships_accepted_total", "{friendship}", "Friendships formed")
        self.chat_send = counter("chat_send_total", "{message}", "Direct messages sent")
        self.chat_delivered = counter("chat_delivered_updates_total", "{update}", "Messages marked delivered")
        self.chat_read = counter("chat_read_updates_total", "{update}", "Messages marked read")
        self.rooms_created = counter("rooms_created_total", "{room}", "Rooms created")
        self.rooms_join = counter("rooms_join_total", "{join}", "Room joins")
        self.rooms_send = counter("rooms_send_total", "{message}", "Room messages sent")
        self.activities_created = counter("activities_created_total", "{activity}", "Activities created by kind")
        self.activities_completed = counter("activities_completed_total", "{activity}", "Activities completed by kind")
        self.lb_events_processed = counter("lb_events_processed_total", "{event}",
                                           "Leaderboard events folded by stream")
        self.lb_snapshots = counter("lb_snapshots_total", "{snapshot}", "Leaderboard snapshots by period and scope")
