"""The performance impact of a cache outage: reads, hit rate, database queries per second
and latency per phase (baseline, outage, warm-up, after), and the extra database load."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

from drillbook.fixtures.postgres import PostgresHandle
from drillbook.scenarios.redis.warmup.cache import ReadThroughCache, WarmJob
from drillbook.scenarios.redis.warmup.catalog import DEGRADED, HIT, MISS
from drillbook.scenarios.redis.warmup.monitor import HitRateMonitor
from drillbook.scenarios.redis.warmup.workload import ReadWorkload


@dataclass
class PhaseLoad:
    """Reads, hit rate, database load and latency of one phase of the drill."""

    name: str
    seconds: float
    reads: int
    hit_rate_app: float | None  # hits / (hits + misses + degraded), as the application saw
    db_queries: int  # misses + degraded reads + warm-up job queries
    db_qps: float
    p50_ms: float | None
    p99_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pct(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    idx = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[idx] * 1000.0


def phase_load(
    workload: ReadWorkload, cache: ReadThroughCache, name: str, start: float, end: float
) -> PhaseLoad:
    """What the application and the database went through between two instants."""
    lat, out = workload.window(start, end)
    seconds = max(1e-9, end - start)
    hits = sum(1 for o in out if o == HIT)
    lookups = sum(1 for o in out if o in (HIT, MISS, DEGRADED))
    db = sum(1 for o in out if o in (MISS, DEGRADED))
    warm = cache.warm_queries_between(start, end)
    lat_sorted = sorted(lat)
    return PhaseLoad(
        name=name,
        seconds=end - start,
        reads=len(out),
        hit_rate_app=(hits / lookups) if lookups else None,
        db_queries=db + warm,
        db_qps=(db + warm) / seconds,
        p50_ms=_pct(lat_sorted, 0.50),
        p99_ms=_pct(lat_sorted, 0.99),
    )


def peak_db_qps(
    workload: ReadWorkload, cache: ReadThroughCache, start: float, end: float, bin_s: float = 1.0
) -> float:
    """The busiest *bin_s* second of database queries between two instants."""
    best = 0.0
    t = start
    while t < end:
        best = max(best, phase_load(workload, cache, "bin", t, min(end, t + bin_s)).db_qps)
        t += bin_s
    return best


@dataclass
class WarmupOutcome:
    """The numbers Q3 reports: time back above the threshold, and the price paid."""

    threshold: float
    window_s: float
    sample_interval_s: float
    deadline_s: float
    reached: bool
    reached_after_t0_s: float | None
    reached_after_healthy_s: float | None
    hit_rate_at_reach: float | None
    baseline_hit_rate: float | None
    baseline_db_qps: float | None
    recovery_db_qps: float | None
    peak_db_qps: float | None
    db_load_ratio: float | None  # recovery (t0 -> threshold) qps / baseline qps
    extra_db_queries: int | None  # above what the baseline rate would have made
    warm_job: dict[str, Any] | None = None
    phases: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[tuple[float, float]] = field(default_factory=list)  # (s after t0, rate)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def thin(points: list[tuple[float, float]], keep: int = 120) -> list[tuple[float, float]]:
    """At most *keep* points, evenly spread (for the record)."""
    if len(points) <= keep:
        return points
    step = len(points) / keep
    return [points[int(i * step)] for i in range(keep)]


def summarise(
    *,
    monitor: HitRateMonitor,
    workload: ReadWorkload,
    cache: ReadThroughCache,
    threshold: float,
    deadline_s: float,
    baseline: tuple[float, float],
    t0: float,
    healthy: float | None,
    reached: tuple[float, float] | None,
    end: float,
    warm_job: WarmJob | None = None,
    extra_phases: Callable[[], list[PhaseLoad]] | None = None,
) -> WarmupOutcome:
    """The Q3 numbers of one run: when the hit rate was back above *threshold* (*reached*:
    instant and rate), and what the database paid per phase against the *baseline*
    window (the instants are monotonic: *t0*, *healthy*, *end*). Records nothing.
    """
    base = phase_load(workload, cache, "baseline (warm cache)", *baseline)
    reach_mono = reached[0] if reached else None
    rec_end = reach_mono if reach_mono is not None else end
    phases = [base]
    if healthy is not None:
        phases.append(phase_load(workload, cache, "outage (t0 -> healthy)", t0, healthy))
        phases.append(
            phase_load(workload, cache, "warm-up (healthy -> threshold)", healthy, rec_end)
        )
    else:
        phases.append(phase_load(workload, cache, "outage (t0 -> end)", t0, end))
    if reach_mono is not None and end > reach_mono:
        phases.append(phase_load(workload, cache, "after (threshold -> end)", reach_mono, end))
    if extra_phases is not None:
        phases += extra_phases()
    recovery = phase_load(workload, cache, "recovery (t0 -> threshold)", t0, rec_end)
    ratio = recovery.db_qps / base.db_qps if base.db_qps > 0 else None
    extra = round(recovery.db_queries - base.db_qps * recovery.seconds)
    return WarmupOutcome(
        threshold=threshold,
        window_s=monitor.window,
        sample_interval_s=monitor.interval,
        deadline_s=deadline_s,
        reached=reached is not None,
        reached_after_t0_s=(reach_mono - t0) if reach_mono is not None else None,
        reached_after_healthy_s=(
            reach_mono - healthy if reach_mono is not None and healthy is not None else None
        ),
        hit_rate_at_reach=reached[1] if reached else None,
        baseline_hit_rate=monitor.rate_between(*baseline),
        baseline_db_qps=base.db_qps,
        recovery_db_qps=recovery.db_qps,
        peak_db_qps=peak_db_qps(workload, cache, t0, rec_end),
        db_load_ratio=ratio,
        extra_db_queries=extra,
        warm_job=warm_job.to_dict() if warm_job else None,
        phases=[p.to_dict() for p in [*phases, recovery]],
        timeline=thin([(m - t0, r) for m, r in monitor.timeline() if m >= baseline[0]]),
    )


def pg_commits(pg: PostgresHandle) -> int | None:
    """``pg_stat_database.xact_commit`` of the catalog's database (read from another
    database so the reading does not count). Backends flush these counters about once a
    second: a cross-check of the counted queries over seconds, not a precise figure."""
    try:
        with pg.connect("postgres") as conn:
            row = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (pg.dbname,)
            ).fetchone()
    except psycopg.Error:
        return None
    return None if row is None else int(row[0])
