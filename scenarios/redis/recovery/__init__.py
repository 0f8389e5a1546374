"""Redis recovery procedures, the way the runbooks write them, every command recorded.

- :func:`restart_from_aof`: "Restart Redis ... Verify startup: redis-cli ping, DBSIZE"
  with ``appendonly yes``: the server replays its AOF (BASE + INCR files).
- :func:`restore_rdb_from_s3`: the session/cache restore of runbooks/cache-failure.md:
  ``redis-cli SHUTDOWN NOSAVE``, the newest good ``dump.rdb`` from S3 (SHA-256 verified;
  a corrupt object is refused and the next older one taken) copied into place, the AOF
  moved aside and the server started with ``appendonly no`` so that the RDB is what
  loads, DBSIZE checked. Optionally the AOF is switched back on afterwards.
- :func:`repair_aof`: ``redis-check-aof --fix`` (the step the server's own error message
  prescribes for a truncated or corrupted AOF), with a copy of the broken AOF kept
  first, and an account of exactly which commands the repair removed.
- :func:`remove_flushall`: AOF surgery after an accidental FLUSHALL: the FLUSHALL
  record is cut out of the INCR file and the server replays the rest (RPO 0, if no AOF
  rewrite happened since).
- :func:`start_server`: (re)start from whatever files are there (an empty cache too).

Each takes the drill's :class:`~drillbook.drill.StepContext`. A server that will not
start raises :class:`LoadFailed` with the server's log tail; the drill records the failed
check (a corrupt snapshot is a finding, never a hang).
"""

from __future__ import annotations

from drillbook.scenarios.redis.recovery.aof import (
    AofRepair,
    AofSurgery,
    remove_flushall,
    repair_aof,
)
from drillbook.scenarios.redis.recovery.rdb import RdbRestore, restore_rdb_from_s3
from drillbook.scenarios.redis.recovery.start import (
    LoadFailed,
    LoadResult,
    restart_from_aof,
    restart_in_place,
    shutdown_nosave,
    start_server,
)

__all__ = [
    "AofRepair",
    "AofSurgery",
    "LoadFailed",
    "LoadResult",
    "RdbRestore",
    "remove_flushall",
    "repair_aof",
    "restart_from_aof",
    "restart_in_place",
    "restore_rdb_from_s3",
    "shutdown_nosave",
    "start_server",
]
