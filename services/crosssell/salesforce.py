"""A stand-in for the Salesforce REST API's query endpoint, per org.

THIS IS A FAKE: the orgs' real Salesforce instances are out of reach from
here, so the sync job reads this local server. ``GET
/{org}/services/data/v59.0/query?q=...`` answers Salesforce's shape
(``{"totalSize", "done", "records": [{"attributes": {"type": "Account"}, "Id", "Name", ...}]}``)
with a page of generated Account records; ``nextRecordsUrl`` pages on until
the org's ``records`` (environment ``SALESFORCE_RECORDS_PER_ORG``, default 250) are served.
"""

from __future__ import annotations

import os
import random

from fastapi import FastAPI, Query

PAGE = 100


def create_app() -> FastAPI:
    per_org = int(os.environ.get("SALESFORCE_RECORDS_PER_ORG", "250"))
    app = FastAPI(title="salesforce-standin", docs_url=None, redoc_url=None, openapi_url=None)

    def page(org: str, offset: int) -> dict:
        rng = random.Random(f"{org}-{offset}")
        n = max(0, min(PAGE, per_org - offset))
        records = [{"attributes": {"type": "Account"}, "Id": f"001{org[:3]}{offset + i:09d}",
                    "Name": f"{org} account {offset + i}", "NumberOfEmployees": rng.randint(5, 5000),
                    "AnnualRevenue": rng.randint(100_000, 90_000_000)} for i in range(n)]
        done = offset + n >= per_org
        body = {"totalSize": per_org, "done": done, "records": records}
        if not done:
            body["nextRecordsUrl"] = f"/{org}/services/data/v59.0/query/more?offset={offset + n}"
        return body

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/{org}/services/data/v59.0/query")
    async def query(org: str, q: str = Query(...)) -> dict:
        return page(org, 0)

    @app.get("/{org}/services/data/v59.0/query/more")
    async def more(org: str, offset: int = Query(..., ge=0)) -> dict:
        return page(org, offset)

    return app
