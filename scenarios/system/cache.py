"""The reference application's cache, rebuilt: its warm-up job and its checks.

The application caches ``GET /projects/<id>`` in Redis (``project:<id>``, JSON of id,
owner, name). After a restore or in a new region the cache is empty or stale; the
warm-up loads every project from the (restored) database in one pipeline, which is
what "Trigger automated cache warming" does in the runbooks.
"""

from __future__ import annotations

import json
from typing import Any

from drillbook.drill import StepContext

CACHE_TTL_S = 300


def warm_projects(step: StepContext, database: Any, redis: Any, *, dbname: str) -> int:
    """SELECT every project, SET project:<id> through a pipeline; returns the count."""
    with database.connect(dbname) as conn:
        rows = step.sql(conn, "SELECT id, owner, name FROM projects ORDER BY id")
    with redis.client(timeout=10) as c:
        pipe = c.pipeline(transaction=False)
        for ident, owner, name in rows:
            value = json.dumps({"id": int(ident), "owner": owner, "name": name})
            pipe.set(f"project:{ident}", value, ex=CACHE_TTL_S)
        step.call(f"redis pipeline: SET project:<id> ×{len(rows)}", pipe.execute)
    step.note("projects_warmed", len(rows))
    return len(rows)


def cached_projects(redis: Any) -> int:
    with redis.client(timeout=10) as c:
        return sum(1 for _ in c.scan_iter(match="project:*", count=1000))


def sessions(redis: Any) -> int:
    with redis.client(timeout=10) as c:
        return sum(1 for _ in c.scan_iter(match="session:*", count=1000))
