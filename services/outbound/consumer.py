"""The RabbitMQ consumer: each message is delivered to the Graph API, retried with a delay, or dead-lettered.

Topology (all durable, declared at connect):

- ``<queue>`` (default ``outbound-processed``): consumed; rejecting a message
  without requeue moves it to ``<queue>.dead`` (its dead-letter routing key);
- ``<queue>.dead``: the dead-letter queue, for an operator to inspect;
- ``<queue>.retry.<ms>ms``, one per ``OUTBOUND_RETRY_DELAYS_MS`` entry, with
  that message TTL and the main queue as their dead-letter target: a message
  published there comes back to the main queue after the delay.

Nothing is acked before it has been delivered or dead-lettered: a delivered
message is acked after the Graph API's 2xx; a retryable failure is published
to its retry queue (publisher confirms) and only then acked; a permanent
failure, or a retryable one on its last attempt, is rejected without requeue,
which RabbitMQ moves to the dead-letter queue. A message whose ack is lost
(the broker went away meanwhile) comes back redelivered; the ids of delivered
messages are remembered (``OUTBOUND_DEDUPE_SIZE``, in memory), so such a
redelivery is acked without being sent a second time.

A message is JSON: ``{"message_id", "tenant_id", "to", "text"}`` (or a
``template`` instead of ``text``); the attempt number rides in the
``x-attempt`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import aio_pika
import httpx
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from services.outbound.breaker import Breakers
from services.outbound.metrics import OutboundMetrics
from services.outbound.ratelimit import RateLimits
from services.outbound.settings import OutboundSettings
from services.outbound.tenants import (
    CredentialsUnavailable,
    TenantClient,
    UnknownTenant,
)


@dataclass(frozen=True)
class Failure(Exception):
    error_code: str
    retryable: bool
    # Whether it counts against the tenant's breaker (an outage of theirs, not a bad message).
    breaker: bool = False


def retry_queue(queue: str, delay_ms: int) -> str:
    return f"{queue}.retry.{delay_ms}ms"


def dead_queue(queue: str) -> str:
    return f"{queue}.dead"


def classify(status: int, body: dict[str, Any] | None) -> Failure:
    """A Graph API error answer as a failure: 429 and 5xx retry, other 4xx are permanent."""
    code = ((body or {}).get("error") or {}).get("code")
    label = f"meta_{code}" if code is not None else f"http_{status}"
    if status == 429 or code in (4, 80007, 130429):
        return Failure("rate_limited", retryable=True)
    if status >= 500:
        return Failure(label, retryable=True, breaker=True)
    return Failure(label, retryable=False)


class Consumer:
    def __init__(self, settings: OutboundSettings, metrics: OutboundMetrics, breakers: Breakers,
                 limits: RateLimits, tenants: TenantClient, meta: httpx.AsyncClient,
                 logger: logging.Logger) -> None:
        self.s, self.metrics, self.breakers, self.limits = settings, metrics, breakers, limits
        self.tenants, self.meta, self.log = tenants, meta, logger
        self.queue = settings.OUTBOUND_QUEUE
        self.connection: AbstractRobustConnection | None = None
        self.channel: AbstractRobustChannel | None = None
        self._probe_channel: AbstractRobustChannel | None = None
        self._delivered: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._depth_task: asyncio.Task[None] | None = None

    # --- connection --------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        c = self.connection
        return c is not None and not c.is_closed and c.connected.is_set()

    def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._connect_forever())
        self._depth_task = asyncio.get_running_loop().create_task(self._depth_loop())

    async def _connect_forever(self) -> None:
        # connect_robust reconnects by itself once it has connected; until then, keep trying.
        while True:
            try:
                self.connection = await aio_pika.connect_robust(
                    self.s.AMQP_URL.get_secret_value(), reconnect_interval=self.s.OUTBOUND_RECONNECT_INTERVAL_S,
                    timeout=5)
                break
            except Exception as exc:  # noqa: BLE001 - the broker is not there yet
                self.log.warning("rabbitmq unreachable, retrying", extra={"error": type(exc).__name__})
                await asyncio.sleep(self.s.OUTBOUND_RECONNECT_INTERVAL_S)
        self.channel = await self.connection.channel(publisher_confirms=True)
        await self.channel.set_qos(prefetch_count=self.s.OUTBOUND_PREFETCH)
        main = await self.declare(self.channel)
        self._probe_channel = await self.connection.channel()
        if self.s.OUTBOUND_CONSUMER_ENABLED:
            await main.consume(self._on_message)
            self.log.info("consuming", extra={"queue": self.queue})
        else:
            self.log.warning("consumer disabled (OUTBOUND_CONSUMER_ENABLED=false): queues declared, nothing consumed")

    async def declare(self, channel: AbstractRobustChannel) -> aio_pika.abc.AbstractQueue:
        await channel.declare_queue(dead_queue(self.queue), durable=True)
        for ms in self.s.OUTBOUND_RETRY_DELAYS_MS:
            await channel.declare_queue(retry_queue(self.queue, ms), durable=True, arguments={
                "x-message-ttl": ms, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.queue})
        return await channel.declare_queue(self.queue, durable=True, arguments={
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead_queue(self.queue)})

    async def stop(self) -> None:
        for t in (self._runner, self._depth_task):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.connection.close(), 5)

    # --- queue depth -------------------------------------------------------------------------
    def queue_names(self) -> list[str]:
        retries = (retry_queue(self.queue, ms) for ms in self.s.OUTBOUND_RETRY_DELAYS_MS)
        return [self.queue, dead_queue(self.queue), *retries]

    async def read_depths(self, timeout: float = 1.0) -> dict[str, int]:
        """Ready messages per queue, read from the broker (passive declares); raises when it cannot."""
        if not self.connected or self._probe_channel is None:
            raise ConnectionError("not connected to RabbitMQ")
        out = {}
        # The underlying channel: a robust channel answers a repeated declare from its cache, with a stale count.
        raw = await self._probe_channel.get_underlay_channel()
        for name in self.queue_names():
            ok = await asyncio.wait_for(raw.queue_declare(name, passive=True), timeout)
            out[name] = int(ok.message_count or 0)
        self.metrics.queue_depths.update(out)
        return out

    async def _depth_loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.read_depths()
            await asyncio.sleep(self.s.OUTBOUND_QUEUE_DEPTH_INTERVAL_S)

    # --- messages ------------------------------------------------------------------------------
    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # Handled concurrently, at most OUTBOUND_PREFETCH at a time (the broker sends no more unacked).
        task = asyncio.get_running_loop().create_task(self._handle(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        start = time.perf_counter()
        tenant = "unknown"
        try:
            try:
                payload = json.loads(message.body)
                tenant = str(payload["tenant_id"])
                message_id = str(payload["message_id"])
            except (ValueError, KeyError, TypeError):
                self.metrics.took(tenant)
                await self._dead_letter(message, tenant, Failure("invalid_payload", retryable=False))
                return
            self.metrics.took(tenant)
            if message_id in self._delivered:
                self.metrics.duplicate(tenant)
                await message.ack()
                return
            try:
                await self._deliver(tenant, message_id, payload)
            except Failure as f:
                await self._failed(message, tenant, payload, f)
                return
            self._remember(message_id)
            self.metrics.succeeded(tenant)
            await message.ack()
        except aio_pika.exceptions.AMQPError as exc:
            # The channel went away under us: the broker redelivers the message after reconnecting.
            self.log.warning("ack lost, the broker redelivers", extra={"tenant": tenant, "error": type(exc).__name__})
        finally:
            self.metrics.processing.record(time.perf_counter() - start, {"tenant": tenant})

    def _remember(self, message_id: str) -> None:
        if self.s.OUTBOUND_DEDUPE_SIZE == 0:
            return
        self._delivered[message_id] = None
        while len(self._delivered) > self.s.OUTBOUND_DEDUPE_SIZE:
            self._delivered.popitem(last=False)

    async def _deliver(self, tenant: str, message_id: str, payload: dict[str, Any]) -> None:
        breaker = self.breakers.get(tenant)
        if not breaker.allow():
            raise Failure("circuit_open", retryable=True)
        try:
            await self._send(tenant, message_id, payload)
        except Failure as f:
            if f.breaker:
                breaker.failure()
            elif breaker.state != "closed":
                breaker.success()  # the trial reached the API and it answered: not an outage
            raise
        breaker.success()

    async def _send(self, tenant: str, message_id: str, payload: dict[str, Any]) -> None:
        try:
            creds = await self.tenants.get(tenant)
        except UnknownTenant:
            raise Failure("tenant_unknown", retryable=False) from None
        except CredentialsUnavailable:
            raise Failure("credentials_unavailable", retryable=True) from None
        bucket = self.limits.get(tenant)
        wait = bucket.take()
        if wait > self.s.RATE_LIMIT_MAX_WAIT_S:
            raise Failure("rate_limited", retryable=True)
        while wait:
            await asyncio.sleep(wait)
            wait = bucket.take()
        body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                                "to": str(payload.get("to") or ""), "biz_opaque_callback_data": message_id}
        if payload.get("template"):
            body.update(type="template", template=payload["template"])
        else:
            body.update(type="text", text={"body": str(payload.get("text") or "")})
        url = f"{self.s.META_API_URL}/{self.s.META_API_VERSION}/{creds.phone_number_id}/messages"
        start = time.perf_counter()
        status = "error"
        try:
            r = await self.meta.post(url, json=body, headers={"Authorization": f"Bearer {creds.access_token}"})
            status = str(r.status_code)
        except httpx.TimeoutException:
            raise Failure("meta_timeout", retryable=True, breaker=True) from None
        except httpx.HTTPError:
            raise Failure("meta_unreachable", retryable=True, breaker=True) from None
        finally:
            self.metrics.meta_duration.record(time.perf_counter() - start, {"tenant": tenant})
            self.metrics.meta_requests.add(1, {"tenant": tenant, "status_code": status, "method": "POST"})
        if r.status_code < 300:
            return
        try:
            err = r.json()
        except ValueError:
            err = None
        failure = classify(r.status_code, err)
        if failure.error_code == "meta_190":
            self.tenants.invalidate(tenant)  # the next attempt fetches fresh credentials
        raise failure

    async def _failed(self, message: AbstractIncomingMessage, tenant: str, payload: dict[str, Any],
                      f: Failure) -> None:
        attempt = int((message.headers or {}).get("x-attempt", 1))
        if not f.retryable or attempt >= self.s.OUTBOUND_MAX_ATTEMPTS:
            await self._dead_letter(message, tenant, f)
            return
        self.metrics.failure(tenant, f.error_code, True)
        delays = self.s.OUTBOUND_RETRY_DELAYS_MS
        target = retry_queue(self.queue, delays[min(attempt - 1, len(delays) - 1)])
        assert self.channel is not None
        await self.channel.default_exchange.publish(
            aio_pika.Message(message.body, headers={**(message.headers or {}), "x-attempt": attempt + 1,
                                                    "x-last-error": f.error_code},
                             content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                             message_id=message.message_id),
            routing_key=target)
        # Confirmed by the broker: now the original may go.
        await message.ack()
        self.metrics.retried.add(1, {"tenant": tenant})

    async def _dead_letter(self, message: AbstractIncomingMessage, tenant: str, f: Failure) -> None:
        self.metrics.failure(tenant, f.error_code, f.retryable)
        await message.reject(requeue=False)
        self.metrics.dead_lettered.add(1, {"tenant": tenant, "error_code": f.error_code})
        self.log.warning("dead-lettered", extra={"tenant": tenant, "error_code": f.error_code})
