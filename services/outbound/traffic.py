"""Outbound traffic: publish messages to the outbound queue, as the upstream processor would.

    python -m services.outbound.traffic --count 200 --rate 20 [--tenants acme,globex] [--stand-in URL]
        [--tenant-service URL]

``publish`` waits out a broker outage: a message is counted as published only
once RabbitMQ has confirmed it (publisher confirms, persistent delivery), and
until then it is retried on a fresh connection. ``make run`` runs this in
rounds, with one tenant failing at the Graph API stand-in now and then (its
breaker opens), one tenant's credential fetches failing now and then (with
``--tenant-service`` and ``TENANT_SERVICE_ADMIN_TOKEN``), and messages for a
tenant the tenant service does not know (dead-lettered). ``AMQP_URL`` and the
admin token come from the environment, never the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import sys
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import aio_pika
import httpx

from services.outbound.tenants import DEFAULT_TENANTS


def message(tenant: str, message_id: str | None = None, text: str = "Your order has shipped") -> dict[str, Any]:
    return {"message_id": message_id or uuid.uuid4().hex, "tenant_id": tenant,
            "to": f"1555{random.randint(1000000, 9999999)}", "text": text}


async def publish(url: str, queue: str, messages: Iterable[dict[str, Any]], *, retry_interval: float = 0.5,
                  give_up_after: float = 120.0, rate: float | None = None) -> int:
    """Publish each message persistently, with confirms; a broker outage is waited out. Returns the count."""
    sent = 0
    conn: aio_pika.abc.AbstractConnection | None = None
    channel: aio_pika.abc.AbstractChannel | None = None
    loop = asyncio.get_running_loop()
    try:
        for m in messages:
            body = json.dumps(m).encode()
            deadline = loop.time() + give_up_after
            while True:
                try:
                    if channel is None or channel.is_closed:
                        if conn is not None:
                            with contextlib.suppress(Exception):
                                await conn.close()
                        conn = await aio_pika.connect(url, timeout=3)
                        channel = await conn.channel(publisher_confirms=True)
                    await channel.default_exchange.publish(
                        aio_pika.Message(body, content_type="application/json", message_id=m["message_id"],
                                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=queue, timeout=5)
                    break
                except Exception:  # the broker is away: wait and retry on a fresh connection
                    channel = None
                    if loop.time() > deadline:
                        raise
                    await asyncio.sleep(retry_interval)
            sent += 1
            if rate:
                await asyncio.sleep(1 / rate)
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
    return sent


async def declare(url: str, queue: str) -> None:
    """Declare the queue as the service does (for a publisher that starts first)."""
    conn = await aio_pika.connect(url, timeout=5)
    async with conn:
        ch = await conn.channel()
        await ch.declare_queue(f"{queue}.dead", durable=True)
        await ch.declare_queue(queue, durable=True, arguments={
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": f"{queue}.dead"})


async def _round(args: argparse.Namespace, url: str, n: int) -> int:
    tenants = args.tenants.split(",")
    msgs = [message(random.choice(tenants)) for _ in range(args.count)]
    if args.unknown_tenant:
        msgs.append(message("hooli"))  # not a tenant: dead-lettered
    if args.stand_in:
        # Every third round one tenant's Graph API answers 503: its breaker opens, then recovers.
        failing = tenants[n % len(tenants)] if n % 3 == 0 else None
        async with httpx.AsyncClient(base_url=args.stand_in, timeout=5) as c:
            for t in tenants:
                if t == failing:
                    await c.put(f"/_standin/behaviour/{t}", json={"status": 503, "error_code": 2})
                else:
                    await c.delete(f"/_standin/behaviour/{t}")
    admin = os.environ.get("TENANT_SERVICE_ADMIN_TOKEN")
    if args.tenant_service and admin:
        # Every third round, one round after the Graph API failure: the last tenant's credentials cannot be fetched.
        async with httpx.AsyncClient(base_url=args.tenant_service, timeout=5,
                                     headers={"Authorization": f"Bearer {admin}"}) as c:
            path = f"/_admin/faults/{tenants[-1]}"
            await (c.put(path, json={"status": 503}) if n % 3 == 1 else c.delete(path))
    return await publish(url, args.queue, msgs, rate=args.rate)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.outbound.traffic", description=__doc__.split("\n\n")[0])
    p.add_argument("--queue", default=os.environ.get("OUTBOUND_QUEUE", "outbound-processed"))
    p.add_argument("--count", type=int, default=50, help="messages per round")
    p.add_argument("--rate", type=float, default=20.0, help="messages a second")
    p.add_argument("--rounds", type=int, default=1, help="0: until interrupted")
    p.add_argument("--tenants", default=",".join(DEFAULT_TENANTS))
    p.add_argument("--stand-in", help="base URL of the Graph API stand-in: vary its behaviour per round")
    p.add_argument("--tenant-service", help="base URL of the tenant service: fail one tenant's fetches per round "
                                             "(needs TENANT_SERVICE_ADMIN_TOKEN)")
    p.add_argument("--unknown-tenant", action="store_true", help="one message a round for an unknown tenant")
    args = p.parse_args(argv)
    url = os.environ.get("AMQP_URL")
    if not url:
        print("AMQP_URL is not set", file=sys.stderr)
        return 2
    total = 0
    try:
        for n in itertools.count(1):
            total += asyncio.run(_round(args, url, n))
            print(f"round {n}: {total} published", flush=True)
            if args.rounds and n >= args.rounds:
                break
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
