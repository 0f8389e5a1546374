#!/usr/bin/env python3
"""Validation speed: every PostgreSQL integrity check, the snapshot, and ``run_all``.

Issue 14: "Validation >= 100 MB/s on the 173 MB database (content digest computed where it
is cheapest, checks run concurrently across tables and connections)". MB/s here is
``pg_database_size`` / wall seconds, the way the issue measured it.

Set up once (not timed): a local PostgreSQL (``LocalBackend``, the drills' build) and a
database loaded with ``pgbench -i -s SCALE`` (scale 9 = the issue's 173 MB; ``--foreign-keys``
adds pgbench's foreign keys so the orphan check has joins to do), then ``VACUUM ANALYZE``
and one untimed full read so every round starts from a warm cache.

Every round times, in a rotating order:

- each check alone on one connection (``checks.orphans``, ``duplicates``, ...), the
  content comparison against a snapshot (``checks.content``) and ``checks.snapshot``;
- ``checks.run_all`` inside a drill step, as a drill validates (``--workers`` connections),
  and ``snapshot + run_all`` (the issue's "integrity work");
- with ``--old``, the same two on the pre-issue-14 path: one connection and the sorted-md5
  digest (``workers=1, digest="md5-sorted"``), so old and new run side by side.

Printed: median [min-max] seconds and MB/s per row, the load average beside. Nothing is
asserted; every server is closed in a ``finally`` and its directories removed.

Run from the project root::

    .venv/bin/python benchmarks/bench_validation.py --rounds 5
    .venv/bin/python benchmarks/bench_validation.py --scale 9 --rounds 3 --old
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drillbook.drill import Drill  # noqa: E402
from drillbook.fixtures.local import LocalBackend  # noqa: E402
from drillbook.record import DrillRecord  # noqa: E402
from drillbook.scenarios.postgres import checks  # noqa: E402

DB = "bench"


def load(pg: Any, scale: int, foreign_keys: bool) -> int:
    """pgbench -i at *scale* into database DB; its pg_database_size."""
    pg.create_database(DB)
    args = [pg.tool("pgbench"), "-i", "-q", "-s", str(scale)]
    if foreign_keys:
        args.append("--foreign-keys")
    env = {**os.environ, **pg.env(), "PGDATABASE": DB}
    subprocess.run(args, env=env, check=True, capture_output=True)
    with pg.connect(DB) as conn:
        conn.execute("VACUUM ANALYZE")
        checks.full_read(conn)  # warm the cache: every round reads from shared buffers/OS
        (size,) = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(size)


def supports(fn: Callable[..., Any], name: str) -> bool:
    return name in inspect.signature(fn).parameters


def cases(pg: Any, snap: Any, workers: int, old: bool) -> dict[str, Callable[[], Any]]:
    """name -> a callable doing the work once (its own connections)."""
    view = pg.with_database(DB)

    def on_conn(fn: Callable[[Any], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with view.connect() as conn:
                return fn(conn)

        return run

    def drill_run(against: Any = snap, **kw: Any) -> Callable[[], Any]:
        def run() -> Any:
            drill = Drill(DrillRecord("bench-validation", "bench"))
            try:
                return checks.run_all(drill, view, against, **kw)
            finally:
                drill.close()

        return run

    new_kw: dict[str, Any] = {"workers": workers} if supports(checks.run_all, "workers") else {}
    out: dict[str, Callable[[], Any]] = {
        "orphans": on_conn(checks.orphans),
        "duplicates": on_conn(lambda c: checks.duplicates(c, snap)),
        "foreign_keys": on_conn(lambda c: checks.foreign_keys(c, snap)),
        "sequences": on_conn(checks.sequences),
        "amcheck (B-tree)": on_conn(lambda c: checks.amcheck(c, heap=False)),
        "amcheck heap": on_conn(lambda c: checks.amcheck(c, heap=True)),
        "full_read": on_conn(checks.full_read),
        "row_counts": on_conn(lambda c: checks.row_counts(c, snap)),
        "content": on_conn(lambda c: checks.content(c, snap)),
        "snapshot": on_conn(checks.snapshot),
        "run_all": drill_run(**new_kw),
    }
    if old:
        old_snap = on_conn(lambda c: checks.snapshot(c, digest="md5-sorted"))()
        out["run_all OLD path"] = drill_run(old_snap, workers=1)
        out["snapshot OLD path"] = on_conn(lambda c: checks.snapshot(c, digest="md5-sorted"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", type=int, default=9, help="pgbench scale (9 = 173 MB)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2, help="run_all connections")
    ap.add_argument("--foreign-keys", action="store_true", help="pgbench --foreign-keys")
    ap.add_argument("--old", action="store_true", help="also the pre-issue-14 path")
    ap.add_argument("--postgres", default="auto")
    args = ap.parse_args()
    backend = LocalBackend(postgres=args.postgres)
    pg = backend.postgres("bench-validation")
    try:
        size = load(pg, args.scale, args.foreign_keys)
        with pg.connect(DB) as conn:
            snap = checks.snapshot(conn)
        todo = cases(pg, snap, args.workers, args.old)
        times: dict[str, list[float]] = {k: [] for k in todo}
        verdicts: dict[str, set[str]] = {k: set() for k in todo}
        names = list(todo)
        loads: list[float] = []
        for r in range(args.rounds):
            loads.append(os.getloadavg()[0])
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                start = time.perf_counter()
                result = todo[name]()
                times[name].append(time.perf_counter() - start)
                verdicts[name].add(verdict(result))
        total = [a + b for a, b in zip(times["snapshot"], times["run_all"], strict=True)]
        times["snapshot + run_all"] = total
        verdicts["snapshot + run_all"] = verdicts["run_all"]
        if args.old:
            times["snapshot + run_all OLD path"] = [
                a + b
                for a, b in zip(times["snapshot OLD path"], times["run_all OLD path"], strict=True)
            ]
            verdicts["snapshot + run_all OLD path"] = verdicts["run_all OLD path"]
        print(
            f"pgbench -s {args.scale}{' --foreign-keys' if args.foreign_keys else ''}: "
            f"pg_database_size {size / 1e6:.1f} MB, {pg.version()}, {args.rounds} rounds, "
            f"run_all workers {args.workers}, load1 {min(loads):.1f}-{max(loads):.1f}"
        )
        print(f"{'what':30} {'seconds':>22} {'MB/s':>22}  verdicts")
        for name, ts in times.items():
            rates = [size / 1e6 / t for t in ts]
            seen = ",".join(sorted(verdicts[name]))
            print(f"{name:30} {med(ts):>22} {med(rates, 0):>22}  {seen}")
    finally:
        pg.close()
        backend.close()


def verdict(result: Any) -> str:
    if isinstance(result, bool):
        return "pass" if result else "FAIL"
    if isinstance(result, list):
        return "pass" if all(r.passed for r in result) else "FAIL"
    return "done"


def med(values: list[float], digits: int = 3) -> str:
    lo, mid, hi = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"


if __name__ == "__main__":
    main()
