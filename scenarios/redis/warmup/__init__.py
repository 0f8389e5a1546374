"""Q3 cache warm-up: Redis as a read-through cache in front of PostgreSQL.

runbooks/cache-failure.md, cache service recovery, steps 4-5: "Trigger
automated cache warming", "Monitor cache hit rate: redis-cli INFO stats | grep -E
'keyspace_hits|keyspace_misses'", "Check database load", "Verify cache hit rate returns
to >70%". The pieces:

- :func:`create_catalog`: a ``products`` table of N rows; each product has a popularity
  rank (a fixed permutation of the ids, so hot keys are not simply the low ids).
- :class:`ReadThroughCache`: the application's cache function: ``GET product:<id>``; on
  a miss ``SELECT`` the row and ``SET`` it with a TTL; with Redis down or loading, read
  the database directly (degraded mode). Every database query is counted.
- :class:`ReadWorkload`: reader threads with zipfian key popularity, paced at a rate,
  bounded in count and in time; each read's time, latency and outcome is kept.
- :func:`warm_hot_keys`: the warm-up job (``POST /api/cache/warm``): the K most popular
  products loaded in batches and SET through a pipeline.
- :class:`HitRateMonitor`: samples ``INFO stats`` keyspace_hits/keyspace_misses at a fixed
  interval and computes the hit rate over a sliding window (counters restart with a new
  server process: windows never span two ``run_id``s).
- :func:`phase_load` / :class:`WarmupOutcome`: reads, hit rate, database queries per
  second and latency per phase (baseline, outage, warm-up, after), and the extra load.
- :func:`start_cache_rig` / :class:`CacheRig`: all of it assembled for a drill, with the
  warm-up job, the hit-rate monitoring and the impact as recorded steps and checks.
"""

from __future__ import annotations

from drillbook.scenarios.redis.warmup.cache import ReadThroughCache, WarmJob, warm_hot_keys
from drillbook.scenarios.redis.warmup.catalog import (
    DEFAULT_THRESHOLD,
    DEGRADED,
    ERROR,
    HIT,
    MISS,
    Catalog,
    Zipf,
    create_catalog,
)
from drillbook.scenarios.redis.warmup.impact import (
    PhaseLoad,
    WarmupOutcome,
    pg_commits,
    phase_load,
    summarise,
)
from drillbook.scenarios.redis.warmup.monitor import HitRateMonitor, StatsSample
from drillbook.scenarios.redis.warmup.rig import CacheRig, start_cache_rig
from drillbook.scenarios.redis.warmup.workload import ReadWorkload

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEGRADED",
    "ERROR",
    "HIT",
    "MISS",
    "CacheRig",
    "Catalog",
    "HitRateMonitor",
    "PhaseLoad",
    "ReadThroughCache",
    "ReadWorkload",
    "StatsSample",
    "WarmJob",
    "WarmupOutcome",
    "Zipf",
    "create_catalog",
    "pg_commits",
    "phase_load",
    "start_cache_rig",
    "summarise",
    "warm_hot_keys",
]
