"""Redis scenarios: what a drill takes, breaks, repairs and checks.

Import the modules by their role; each one's ``__all__`` is its public API (listed in
docs/reference.md)::

    from drillbook.scenarios.redis import checks, faults, recovery, stack, triage
    from drillbook.scenarios.redis.ledger import RedisLedgerSink, SessionSink

- :mod:`.stack`: the set-up (a server persisting as declared, its bucket, the schedule)
- :mod:`.backup`: RDB snapshots to S3, on the drill's compressed schedule
- :mod:`.faults`: crash, FLUSHALL, lost data dir, torn or damaged AOF, corrupted RDB
- :mod:`.recovery`: restart (AOF replay), dump.rdb from S3, ``redis-check-aof --fix``,
  FLUSHALL surgery
- :mod:`.checks`: the load, the snapshot's age, sessions and users lost
- :mod:`.triage`: the runbook's assessment and its choice of procedure
- :mod:`.ledger`: the RPO ledger as keys, and the session store as a ledger
- :mod:`.warmup`: the Q3 read-through cache, its workload, hit rate and impact
- :mod:`.aof`, :mod:`.server`: the AOF files and RESP stream; INFO, BGSAVE, the checkers
"""

from drillbook.scenarios.redis import (
    aof,
    backup,
    checks,
    faults,
    ledger,
    recovery,
    server,
    stack,
    triage,
    warmup,
)

__all__ = [
    "aof",
    "backup",
    "checks",
    "faults",
    "ledger",
    "recovery",
    "server",
    "stack",
    "triage",
    "warmup",
]
