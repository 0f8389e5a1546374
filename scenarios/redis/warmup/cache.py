"""The application's cache function (read-through, degraded to the database when Redis
is down) and the warm-up job (``POST /api/cache/warm``), every database query counted."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import KW_ONLY, asdict, dataclass, field
from typing import Any

import psycopg
import redis as redis_lib

from drillbook.fixtures.redis import RedisHandle
from drillbook.scenarios.redis.warmup.catalog import DEGRADED, HIT, MISS, Catalog, row_value


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


@dataclass(eq=False)
class ReadThroughCache:
    """The application's cache function: GET ``<prefix><id>`` on *redis*; on a miss
    SELECT the row from *catalog* and SET it with *ttl* seconds; with Redis down or
    loading (no answer within *redis_timeout*), the database directly (degraded)."""

    redis: RedisHandle
    catalog: Catalog
    _: KW_ONLY
    ttl: int = 600
    prefix: str = "product:"
    redis_timeout: float = 0.5
    counters: _Counters = field(default_factory=_Counters, init=False)
    # (mono, rows) per warm-up query: the database load of the warm-up job
    warm_log: list[tuple[float, int]] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False)
    _owned: list[Any] = field(default_factory=list, init=False, repr=False)

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


@dataclass
class WarmJob:
    """One run of the warm-up job: keys loaded, queries made, how long it took."""

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
