"""The source of truth behind the cache: a products table in PostgreSQL, and the zipfian
popularity the workload reads it with."""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
from dataclasses import dataclass
from typing import Any

from drillbook.fixtures.postgres import PostgresHandle

DEFAULT_THRESHOLD = 0.70
HIT, MISS, DEGRADED, ERROR = 0, 1, 2, 3


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


def _stride(n: int) -> int:
    for candidate in itertools.count(max(2, n // 3)):
        if math.gcd(candidate, n) == 1:
            return candidate
    raise AssertionError("unreachable")


def create_catalog(
    pg: PostgresHandle, *, products: int = 10_000, payload_bytes: int = 256
) -> Catalog:
    """CREATE TABLE products on *pg* and load *products* rows of about *payload_bytes*
    each (a few hundred ms for 10k); records nothing."""
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
