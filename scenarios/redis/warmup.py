"""Q3 cache warm-up: Redis as a read-through cache in front of PostgreSQL.

../shared/runbooks/000_b9e419547e14e1e8.md, Cache Service Recovery, step 4-5: "Trigger
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
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import math
import random
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
import redis as redis_lib

from drillbook.drill import Drill
from drillbook.fixtures.postgres import PostgresHandle
from drillbook.fixtures.redis import RedisHandle
from drillbook.record import Phase

DEFAULT_THRESHOLD = 0.70
HIT, MISS, DEGRADED, ERROR = 0, 1, 2, 3


# -- the catalog in PostgreSQL --------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    """The products table: ``id`` 1..size, ``popularity_rank`` 1..size (1 = hottest)."""

    pg: PostgresHandle
    size: int
    stride: int
    table: str = "products"
    payload_bytes: int = 256

    def id_of_rank(self, rank: int) -> int:
        """Product id of popularity rank *rank* (0-based)."""
        return (rank * self.stride) % self.size + 1

    def hot_ids(self, count: int) -> list[int]:
        return [self.id_of_rank(r) for r in range(min(count, self.size))]


def _stride(n: int) -> int:
    for candidate in itertools.count(max(2, n // 3)):
        if math.gcd(candidate, n) == 1:
            return candidate
    raise AssertionError("unreachable")


def create_catalog(
    pg: PostgresHandle, *, products: int = 10_000, payload_bytes: int = 256
) -> Catalog:
    """CREATE TABLE products and load *products* rows (a few hundred ms for 10k)."""
    stride = _stride(products)
    reps = max(1, payload_bytes // 32)
    with pg.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS products")
        conn.execute(
            "CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL,"
            " price numeric(10, 2) NOT NULL, popularity_rank int NOT NULL,"
            " payload text NOT NULL)"
        )
        conn.execute(
            "INSERT INTO products SELECT (r * %(stride)s) %% %(n)s + 1,"
            " 'product ' || ((r * %(stride)s) %% %(n)s + 1), (r %% 997) + 0.99, r + 1,"
            " repeat(md5(r::text), %(reps)s) FROM generate_series(0, %(n)s - 1) AS r",
            {"stride": stride, "n": products, "reps": reps},
        )
        conn.execute("CREATE INDEX ON products (popularity_rank)")
        conn.execute("ANALYZE products")
    return Catalog(pg, products, stride, payload_bytes=reps * 32)


def row_value(row: tuple[Any, ...]) -> bytes:
    pid, name, price, _rank, payload = row
    return json.dumps({"id": pid, "name": name, "price": str(price), "payload": payload}).encode()


# -- popularity ------------------------------------------------------------------------------


class Zipf:
    """Ranks 0..n-1 with P(rank k) proportional to 1 / (k + 1) ** s."""

    def __init__(self, n: int, s: float = 1.0) -> None:
        if n < 1:
            raise ValueError("n must be >= 1")
        self.n = n
        self.s = s
        self.cum = list(itertools.accumulate(1.0 / (k + 1) ** s for k in range(n)))
        self.total = self.cum[-1]

    def rank(self, rng: random.Random) -> int:
        return min(self.n - 1, bisect.bisect_left(self.cum, rng.random() * self.total))

    def coverage(self, top: int) -> float:
        """Share of reads that go to the *top* most popular keys."""
        if top <= 0:
            return 0.0
        return self.cum[min(top, self.n) - 1] / self.total


# -- the cache function -------------------------------------------------------------------------


@dataclass
class _Counters:
    hits: int = 0
    misses: int = 0
    degraded: int = 0
    errors: int = 0
    set_failures: int = 0
    db_queries: int = 0
    warm_queries: int = 0
    warm_rows: int = 0


class ReadThroughCache:
    """GET; on a miss SELECT + SET EX ttl; Redis down or loading: the database directly."""

    def __init__(
        self,
        redis: RedisHandle,
        catalog: Catalog,
        *,
        ttl: int = 600,
        prefix: str = "product:",
        redis_timeout: float = 0.5,
    ) -> None:
        self.redis = redis
        self.catalog = catalog
        self.ttl = ttl
        self.prefix = prefix
        self.redis_timeout = redis_timeout
        self.counters = _Counters()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._owned: list[Any] = []
        self.warm_log: list[tuple[float, int]] = []  # (mono, rows) per warm-up query

    def key(self, product_id: int) -> str:
        return f"{self.prefix}{product_id}"

    def _r(self) -> redis_lib.Redis:
        client = getattr(self._local, "redis", None)
        if client is None:
            client = self.redis.client(timeout=self.redis_timeout)
            self._local.redis = client
            with self._lock:
                self._owned.append(client)
        return client

    def _db(self) -> psycopg.Connection[Any]:
        conn = getattr(self._local, "db", None)
        if conn is None or conn.closed:
            conn = self.catalog.pg.connect()
            self._local.db = conn
            with self._lock:
                self._owned.append(conn)
        return conn

    def _count(self, field_name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.counters, field_name, getattr(self.counters, field_name) + n)

    def load(self, product_id: int) -> bytes:
        """The database read behind a miss (one query, counted)."""
        row = (
            self._db()
            .execute(
                "SELECT id, name, price, popularity_rank, payload FROM products WHERE id = %s",
                (product_id,),
            )
            .fetchone()
        )
        self._count("db_queries")
        if row is None:
            raise KeyError(f"no product {product_id}")
        return row_value(row)

    def get(self, product_id: int) -> tuple[bytes, int]:
        """(value, outcome): outcome HIT, MISS (loaded and cached) or DEGRADED."""
        key = self.key(product_id)
        try:
            value = self._r().get(key)
        except redis_lib.RedisError:
            self._count("degraded")
            return self.load(product_id), DEGRADED
        if value is not None:
            self._count("hits")
            return value if isinstance(value, bytes) else str(value).encode(), HIT
        self._count("misses")
        loaded = self.load(product_id)
        try:
            self._r().set(key, loaded, ex=self.ttl)
        except redis_lib.RedisError:
            self._count("set_failures")
        return loaded, MISS

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return asdict(self.counters)

    def note_warm_query(self, rows: int) -> None:
        """One query of the warm-up job: database load too."""
        with self._lock:
            self.counters.warm_queries += 1
            self.counters.warm_rows += rows
            self.warm_log.append((time.monotonic(), rows))

    def warm_queries_between(self, start: float, end: float) -> int:
        with self._lock:
            return sum(1 for mono, _rows in self.warm_log if start <= mono < end)

    def close(self) -> None:
        with self._lock:
            owned, self._owned = self._owned, []
        for obj in owned:
            with contextlib.suppress(Exception):
                obj.close()


# -- the warm-up job -----------------------------------------------------------------------------


@dataclass
class WarmJob:
    keys: int
    queries: int
    rows: int
    seconds: float
    started_mono: float
    done_mono: float
    set_errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def warm_hot_keys(cache: ReadThroughCache, *, keys: int = 1000, batch: int = 250) -> WarmJob:
    """Load the *keys* most popular products (by ``popularity_rank``) into the cache.

    What ``POST /api/cache/warm`` does: batches of ``SELECT ... WHERE popularity_rank
    BETWEEN`` (each counted as database load) and pipelined ``SET EX``.
    """
    start = time.monotonic()
    queries = rows = errors = 0
    keys = min(keys, cache.catalog.size)
    with cache.catalog.pg.connect() as conn, cache.redis.client(timeout=5) as r:
        for lo in range(0, keys, batch):
            hi = min(keys, lo + batch)
            found = conn.execute(
                "SELECT id, name, price, popularity_rank, payload FROM products"
                " WHERE popularity_rank > %s AND popularity_rank <= %s",
                (lo, hi),
            ).fetchall()
            queries += 1
            rows += len(found)
            cache.note_warm_query(len(found))
            pipe = r.pipeline(transaction=False)
            for row in found:
                pipe.set(cache.key(int(row[0])), row_value(row), ex=cache.ttl)
            for res in pipe.execute(raise_on_error=False):
                if isinstance(res, Exception):
                    errors += 1
    done = time.monotonic()
    return WarmJob(keys, queries, rows, done - start, start, done, errors)


# -- the read workload ----------------------------------------------------------------------------


class ReadWorkload:
    """Reads with zipfian popularity: paced, bounded in count and time.

    Several threads (``threads``), each paced at ``rate / threads``, so a slow read (the
    database behind a dead cache) does not stop the others: arrivals stay close to the
    rate, as an application's users keep coming whatever the latency.
    """

    def __init__(
        self,
        cache: ReadThroughCache,
        zipf: Zipf,
        *,
        rate: float = 800.0,
        threads: int = 4,
        max_ops: int = 1_000_000,
        max_seconds: float = 120.0,
        seed: int = 1,
    ) -> None:
        if rate <= 0 or threads < 1:
            raise ValueError("rate must be > 0 and threads >= 1")
        self.cache = cache
        self.zipf = zipf
        self.rate = rate
        self.threads = threads
        self.max_ops = max_ops
        self.max_seconds = max_seconds
        self.seed = seed
        self.at = array("d")
        self.latency = array("d")
        self.outcome = array("b")
        self.errors: list[str] = []
        self._ops = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.started_mono: float | None = None
        self.end_reason: str | None = None

    def start(self) -> ReadWorkload:
        self.started_mono = time.monotonic()
        for i in range(self.threads):
            t = threading.Thread(
                target=self._run, args=(i,), name=f"read workload {i}", daemon=True
            )
            self._threads.append(t)
            t.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self.cache.close()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _run(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        start = self.started_mono or time.monotonic()
        interval = self.threads / self.rate
        due = start + index * interval / self.threads
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                if self._ops >= self.max_ops:
                    self.end_reason = f"max_ops {self.max_ops} reached"
                    return
                if now - start >= self.max_seconds:
                    self.end_reason = f"max_seconds {self.max_seconds} reached"
                    return
            if now < due:
                self._stop.wait(due - now)
                continue
            due = max(due + interval, now - 0.25)  # catch up a little, never a storm
            pid = self.cache.catalog.id_of_rank(self.zipf.rank(rng))
            t = time.monotonic()
            try:
                _value, outcome = self.cache.get(pid)
            except Exception as exc:
                outcome = ERROR
                with self._lock:
                    if len(self.errors) < 20:
                        self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            done = time.monotonic()
            with self._lock:
                self.at.append(t)
                self.latency.append(done - t)
                self.outcome.append(outcome)
                self._ops += 1
        with self._lock:
            self.end_reason = self.end_reason or "stopped"

    def window(self, start: float, end: float) -> tuple[list[float], list[int]]:
        """(latencies, outcomes) of the reads started in [start, end)."""
        with self._lock:
            rows = sorted(zip(self.at, self.latency, self.outcome, strict=True))
        lo = bisect.bisect_left(rows, (start,))
        hi = bisect.bisect_left(rows, (end,))
        return [r[1] for r in rows[lo:hi]], [r[2] for r in rows[lo:hi]]


# -- the hit-rate monitor -----------------------------------------------------------------


@dataclass(frozen=True)
class StatsSample:
    mono: float
    run_id: str
    hits: int
    misses: int


class HitRateMonitor:
    """``INFO stats`` every *interval*; hit rate over a sliding *window* of seconds.

    A window counts once it spans *min_span* seconds of one server process and holds
    *min_lookups* lookups: the first reads after a restart do not decide alone.
    """

    def __init__(
        self,
        handle: RedisHandle,
        *,
        interval: float = 0.1,
        window: float = 1.0,
        min_lookups: int = 100,
        min_span: float | None = None,
    ) -> None:
        self.handle = handle
        self.interval = interval
        self.window = window
        self.min_lookups = min_lookups
        # A window just after a restart holds few samples: it must cover at least this
        # much of the new process's life (default half the window) to count.
        self.min_span = window / 2 if min_span is None else min_span
        self.samples: list[StatsSample] = []
        self.gaps: list[float] = []  # monos of failed samples (server down)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> HitRateMonitor:
        self._thread = threading.Thread(target=self._run, name="hit-rate monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        client: redis_lib.Redis | None = None
        due = time.monotonic()
        while not self._stop.is_set():
            try:
                if client is None:
                    client = self.handle.client(timeout=0.5)
                stats = client.info("stats")
                run_id = str(client.info("server").get("run_id", ""))
                sample = StatsSample(
                    time.monotonic(),
                    run_id,
                    int(stats["keyspace_hits"]),
                    int(stats["keyspace_misses"]),
                )
                with self._lock:
                    self.samples.append(sample)
            except Exception:
                with self._lock:
                    self.gaps.append(time.monotonic())
                if client is not None:
                    with contextlib.suppress(Exception):
                        client.close()
                client = None
            due += self.interval
            self._stop.wait(max(0.0, due - time.monotonic()))
        if client is not None:
            client.close()

    def _snapshot(self) -> list[StatsSample]:
        with self._lock:
            return list(self.samples)

    @staticmethod
    def _rate(a: StatsSample, b: StatsSample, min_lookups: int) -> float | None:
        hits = b.hits - a.hits
        lookups = hits + (b.misses - a.misses)
        if lookups < max(1, min_lookups):
            return None
        return hits / lookups

    def timeline(self) -> list[tuple[float, float]]:
        """(mono, hit rate over the window ending there) for every sample with enough reads."""
        samples = self._snapshot()
        out: list[tuple[float, float]] = []
        j = 0
        for i, cur in enumerate(samples):
            while j < i and (
                samples[j].run_id != cur.run_id or samples[j].mono < cur.mono - self.window - 1e-9
            ):
                j += 1
            if j == i or cur.mono - samples[j].mono < self.min_span - 1e-9:
                continue
            rate = self._rate(samples[j], cur, self.min_lookups)
            if rate is not None:
                out.append((cur.mono, rate))
        return out

    def rate_between(self, start: float, end: float) -> float | None:
        """Hit rate of all lookups between two instants (one server process)."""
        samples = [s for s in self._snapshot() if start <= s.mono <= end]
        if len(samples) < 2:
            return None
        last = samples[-1]
        first = next(s for s in samples if s.run_id == last.run_id)
        return self._rate(first, last, 1)

    def first_at_or_above(self, threshold: float, after: float) -> tuple[float, float] | None:
        for mono, rate in self.timeline():
            if mono >= after and rate >= threshold:
                return mono, rate
        return None

    def wait_for(
        self, threshold: float, *, after: float, deadline: float
    ) -> tuple[float, float] | None:
        """Block until the windowed hit rate is >= *threshold* (after *after*), or None
        once the monotonic *deadline* passes."""
        while True:
            hit = self.first_at_or_above(threshold, after)
            if hit is not None:
                return hit
            if time.monotonic() >= deadline:
                return None
            time.sleep(self.interval / 2)


# -- load per phase and the outcome -------------------------------------------------------


@dataclass
class PhaseLoad:
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


# -- the drill's rig ------------------------------------------------------------------------------


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
    """Catalog in PostgreSQL, the cache function on *handle*, monitor and workload running."""
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
