"""Cross-sell traffic: recommendation requests and sync jobs, as the sales tools would send them.

    python -m services.crosssell.traffic http://127.0.0.1:8005 --seconds 20 [--rounds 0] [--concurrency 2]

Each round lists the accounts, asks for recommendations for random ones from a
few concurrent clients for ``--seconds``, then enqueues a sync of each org.
Errors (a 503 while Redis is away, a refused connection while the API starts)
are counted, not fatal: ``make run`` and the dashboards' live test keep it
running while they break things.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Sequence

import httpx

ORGS = ("org-east", "org-west")


async def run_round(base: str, seconds: float, *, concurrency: int = 2, pause: float = 0.05,
                    orgs: Sequence[str] = ORGS, seed: int | None = None) -> Counter[str]:
    """One round; the outcomes by status code (or exception name)."""
    outcomes: Counter[str] = Counter()
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        try:
            ids = (await c.get("/api/v1/accounts", params={"limit": 1000})).json()["accounts"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            outcomes[type(exc).__name__] += 1
            return outcomes
        deadline = time.monotonic() + seconds

        async def user() -> None:
            while time.monotonic() < deadline:
                try:
                    r = await c.get(f"/api/v1/accounts/{rng.choice(ids)}/recommendations")
                    outcomes[str(r.status_code)] += 1
                except httpx.HTTPError as exc:
                    outcomes[type(exc).__name__] += 1
                await asyncio.sleep(pause)

        await asyncio.gather(*(user() for _ in range(concurrency)))
        for org in orgs:
            try:
                outcomes[str((await c.post(f"/api/v1/sync/{org}")).status_code)] += 1
            except httpx.HTTPError as exc:
                outcomes[type(exc).__name__] += 1
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.crosssell.traffic", description=__doc__.split("\n\n")[0])
    p.add_argument("base", help="the API's base URL")
    p.add_argument("--seconds", type=float, default=20.0, help="recommendation load of a round, seconds")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1, help="0: until interrupted")
    args = p.parse_args(argv)
    try:
        for n in itertools.count(1):
            out = asyncio.run(run_round(args.base, args.seconds, concurrency=args.concurrency, seed=n))
            print(f"round {n}: {dict(sorted(out.items()))}", flush=True)
            if args.rounds and n >= args.rounds:
                break
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
