"""The application side of the Q3 drill, assembled: catalog, cache function, workload,
monitor, and the recorded steps and checks of a warm-up (runbooks/cache-failure.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from drillbook.drill import Drill
from drillbook.fixtures.postgres import PostgresHandle
from drillbook.fixtures.redis import RedisHandle
from drillbook.record import Phase
from drillbook.scenarios.redis.warmup.cache import ReadThroughCache, WarmJob, warm_hot_keys
from drillbook.scenarios.redis.warmup.catalog import ERROR, Catalog, Zipf, create_catalog
from drillbook.scenarios.redis.warmup.impact import WarmupOutcome, pg_commits, summarise
from drillbook.scenarios.redis.warmup.monitor import HitRateMonitor
from drillbook.scenarios.redis.warmup.workload import ReadWorkload


@dataclass
class CacheRig:
    """The application side of Q3: catalog, cache function, workload and monitor."""

    drill: Drill
    catalog: Catalog
    cache: ReadThroughCache
    zipf: Zipf
    workload: ReadWorkload
    monitor: HitRateMonitor
    baseline: tuple[float, float] | None = None
    pg_commits_at: dict[str, int | None] = field(default_factory=dict)
    warm_jobs: list[WarmJob] = field(default_factory=list)

    def warm(self, phase: Phase, *, keys: int, label: str = "") -> WarmJob:
        """The warm-up job as a recorded step (``POST /api/cache/warm``)."""
        with self.drill.step(
            f"cache warm-up job: the {keys} most popular products{label}", phase
        ) as s:
            job: WarmJob = s.call(
                f"POST /api/cache/warm (top {keys} by popularity_rank, SET EX {self.cache.ttl})",
                warm_hot_keys,
                self.cache,
                keys=keys,
            )
            s.note("warm_job", job.to_dict())
        self.warm_jobs.append(job)
        return job

    def measure_baseline(self, seconds: float) -> tuple[float, float]:
        """The warm cache's hit rate and database load over *seconds* (before t0)."""
        self.pg_commits_at["baseline_start"] = pg_commits(self.catalog.pg)
        start = time.monotonic()
        time.sleep(seconds)
        end = time.monotonic()
        self.pg_commits_at["baseline_end"] = pg_commits(self.catalog.pg)
        self.baseline = (start, end)
        rate = self.monitor.rate_between(start, end)
        self.drill.note("baseline_hit_rate", rate)
        return self.baseline

    def wait_hit_rate(
        self, *, threshold: float, after: float, deadline_s: float
    ) -> tuple[float, float] | None:
        """Monitor the hit rate (a VALIDATION step) until it is back above *threshold*.

        The deadline counts from t0. A hit rate that never gets there is a failed
        check: the warm-up is part of the cache service's recovery.
        """
        t0 = self.drill.record.t0_mono or after
        with self.drill.step(
            f"monitor the hit rate until > {threshold:.0%} (INFO stats, {self.monitor.window:.1f}"
            " s sliding window)",
            Phase.VALIDATION,
        ) as s:
            reached = self.monitor.wait_for(threshold, after=after, deadline=t0 + deadline_s)
            s.note(
                "reached",
                None
                if reached is None
                else {"after_t0_s": reached[0] - t0, "hit_rate": reached[1]},
            )
        timeline = self.monitor.timeline()
        best = max((r for m, r in timeline if m >= after), default=None)
        self.drill.check(
            f"cache hit rate back above {threshold:.0%} within {deadline_s:.0f} s of t0",
            reached is not None,
            detail=(
                f"{reached[1]:.1%} at {reached[0] - t0:.3f} s after t0"
                if reached
                else f"never reached; best window {best if best is None else f'{best:.1%}'}"
            ),
            expected=threshold,
            actual=None if reached is None else round(reached[1], 4),
        )
        return reached

    def finish(
        self,
        *,
        threshold: float,
        deadline_s: float,
        reached: tuple[float, float] | None,
        after_s: float = 0.5,
    ) -> WarmupOutcome:
        """Let the workload run *after_s* more, stop it, and summarise the impact."""
        rec = self.drill.record
        assert rec.t0_mono is not None and self.baseline is not None
        time.sleep(after_s)
        end = time.monotonic()
        self.pg_commits_at["end"] = pg_commits(self.catalog.pg)
        self.stop()
        outcome = summarise(
            monitor=self.monitor,
            workload=self.workload,
            cache=self.cache,
            threshold=threshold,
            deadline_s=deadline_s,
            baseline=self.baseline,
            t0=rec.t0_mono,
            healthy=rec.first_healthy_mono,
            reached=reached,
            end=end,
            warm_job=next(
                (j for j in reversed(self.warm_jobs) if j.started_mono >= rec.t0_mono), None
            ),
        )
        self.drill.note("warmup", outcome.to_dict())
        self.drill.note(
            "db_load_crosscheck",
            {
                "counted_queries": self.cache.snapshot(),
                "pg_stat_database_xact_commit": dict(self.pg_commits_at),
                "note": "queries counted in the cache function are exact; xact_commit is "
                "flushed by backends about once a second",
            },
        )
        errors = sum(1 for o in self.workload.window(rec.t0_mono, end)[1] if o == ERROR)
        self.drill.check(
            "no application read failed (the database served every read the cache could not)",
            errors == 0,
            detail=f"{errors} failed reads; {self.workload.errors[:3]}",
        )
        return outcome

    def stop(self) -> None:
        self.workload.stop()
        self.monitor.stop()


def start_cache_rig(
    drill: Drill,
    handle: RedisHandle,
    pg: PostgresHandle,
    *,
    products: int = 10_000,
    zipf_s: float = 1.0,
    rate: float = 800.0,
    max_seconds: float = 90.0,
    ttl: int = 600,
    window: float = 1.0,
) -> CacheRig:
    """Catalog in PostgreSQL, the cache function on *handle*, monitor and workload running.

    *pg*: the source of truth (the products table, *products* rows); *zipf_s*: the
    popularity skew; *rate*: reads per second for at most *max_seconds*; *ttl*: the
    cache's; *window*: the hit rate's sliding window in seconds. Records a SETUP step
    (the catalog) and the note ``workload``.
    """
    with drill.step("products table in PostgreSQL (the source of truth)", Phase.SETUP) as s:
        catalog: Catalog = s.call(
            f"CREATE TABLE products; INSERT {products} rows", create_catalog, pg, products=products
        )
    cache = ReadThroughCache(handle, catalog, ttl=ttl)
    zipf = Zipf(products, zipf_s)
    monitor = HitRateMonitor(handle, window=window).start()
    workload = ReadWorkload(cache, zipf, rate=rate, max_seconds=max_seconds).start()
    drill.note(
        "workload",
        {
            "products": products,
            "zipf_s": zipf_s,
            "rate_per_s": rate,
            "max_seconds": max_seconds,
            "ttl_s": ttl,
            "coverage_top_1000": round(zipf.coverage(1000), 4),
            "coverage_top_2000": round(zipf.coverage(2000), 4),
            "hit_rate_window_s": monitor.window,
            "hit_rate_sample_interval_s": monitor.interval,
            "hit_rate_min_span_s": monitor.min_span,
            "hit_rate_min_lookups": monitor.min_lookups,
        },
    )
    return CacheRig(drill, catalog, cache, zipf, workload, monitor)
