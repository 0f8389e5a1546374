#!/usr/bin/env python3
"""What the RPO ledger writer really achieves, and what it costs over a bare loop.

Issue 3: the ledger's resolution is its cadence only if the writer keeps it. For each
cadence (10, 5, 2, 1 ms) and each sink (PostgreSQL row, Redis key, S3 object, on
LocalBackend servers) this runs, side by side in the same round:

- ``writer``: :class:`drillbook.ledger.LedgerWriter` for ``--duration`` seconds, then
  ``mark_t0()`` (stops writing), ``verify()`` (read back + classify);
- ``bare``: a thread doing the same writes (same sink class, so the same client and the
  same statement) at the same cadence, with the same catch-up rule (a late tick is
  written once, missed ticks are skipped), and no ledger bookkeeping.

Reported per sink and cadence (median [min-max] over ``--rounds``):

- target rate (1/cadence) and achieved *acknowledged* writes/s;
- write latency ack - sent, median and p99 (the writer stamps *sent* before it builds
  the payload and record, so its own overhead is inside this figure);
- ticks missed: 1 - writes issued / ticks due in the window;
- client CPU per write (``time.process_time``: this process only; servers are apart);
- writer / bare ratios of achieved rate, p50 latency and CPU per write;
- verify: N writes, ``read_all`` time, classification time, and whether every acked
  write classified SURVIVED (no lost / corrupted / phantom).

Run from the project root::

    .venv/bin/python benchmarks/bench_ledger.py --rounds 5 --duration 3

Nothing is asserted. Servers are stopped in a ``finally``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import math
import os
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drillbook.ledger import (  # noqa: E402
    LedgerWriter,
    WriteClass,
    WriteStatus,
    make_payload,
    next_tick,
)

SINKS = ("postgres", "redis", "s3")
CADENCES_MS = (10.0, 5.0, 2.0, 1.0)
now = time.monotonic


@dataclass
class RunStats:
    """One run (writer or bare) of one sink at one cadence."""

    target_rate: float
    window: float
    issued: int
    acked: int
    failed: int
    achieved_rate: float
    p50_ms: float | None
    p99_ms: float | None
    missed_frac: float
    cpu_us_per_write: float | None
    extra: dict[str, Any] = field(default_factory=dict)


def percentile(sorted_vals: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an already sorted list."""
    if not sorted_vals:
        return None
    k = max(0, math.ceil(q / 100 * len(sorted_vals)) - 1)
    return sorted_vals[k]


def stats(
    cadence: float,
    window: float,
    writes: Sequence[tuple[float, float | None]],
    cpu: float,
) -> RunStats:
    """*writes*: (sent, ack or None) of every write issued in the window."""
    lat = sorted((a - s) * 1000 for s, a in writes if a is not None)
    acked = len(lat)
    issued = len(writes)
    due = math.floor(window / cadence) + 1  # tick 0 at the origin, then one per cadence
    return RunStats(
        target_rate=1 / cadence,
        window=window,
        issued=issued,
        acked=acked,
        failed=issued - acked,
        achieved_rate=acked / window if window > 0 else 0.0,
        p50_ms=percentile(lat, 50),
        p99_ms=percentile(lat, 99),
        missed_frac=max(0.0, 1 - issued / due),
        cpu_us_per_write=(cpu / issued * 1e6) if issued else None,
    )


# ------------------------------------------------------------------------------- sinks


class Stack:
    """The three LocalBackend servers every run writes to, and per-run sinks on them."""

    def __init__(self, postgres: str) -> None:
        from drillbook.fixtures.local import LocalBackend

        self.backend = LocalBackend(postgres=postgres)
        self.handles: dict[str, Any] = {}
        try:
            self.handles["postgres"] = self.backend.postgres("ledger-bench")
            self.handles["redis"] = self.backend.redis("ledger-bench")
            self.handles["s3"] = self.backend.s3("ledger-bench")
        except BaseException:
            self.close()
            raise

    def sink(self, kind: str, tag: str) -> Any:
        """A fresh sink with its own table / key prefix / bucket, so read-back is exact."""
        if kind == "null":
            return NullSink()
        if kind == "postgres":
            from drillbook.scenarios.postgres.ledger import PostgresLedgerSink

            return PostgresLedgerSink(self.handles["postgres"], table=f"ledger_{tag}")
        if kind == "redis":
            from drillbook.scenarios.redis.ledger import RedisLedgerSink

            return RedisLedgerSink(self.handles["redis"], prefix=f"bench:{tag}:")
        from drillbook.scenarios.s3.ledger import S3LedgerSink

        return S3LedgerSink(self.handles["s3"], bucket=f"bench-{tag}".replace("_", "-"))

    def drop(self, kind: str, sink: Any) -> None:
        """Remove what a run wrote (not timed), so servers do not grow round after round."""
        with contextlib.suppress(Exception):
            sink.close()
        try:
            if kind == "null":
                pass
            elif kind == "postgres":
                self.handles["postgres"].execute(f"DROP TABLE IF EXISTS {sink.table}")
            elif kind == "redis":
                with self.handles["redis"].client() as c:
                    keys = list(c.scan_iter(match=f"{sink.prefix}*", count=1000))
                    for i in range(0, len(keys), 1000):
                        c.delete(*keys[i : i + 1000])
            else:
                from drillbook.fixtures.s3 import empty_bucket

                c = self.handles["s3"].client()
                with contextlib.suppress(c.exceptions.NoSuchBucket):
                    empty_bucket(c, sink.bucket)
                    c.delete_bucket(Bucket=sink.bucket)
        except Exception as exc:
            print(f"  (cleanup of {kind} {tag_of(sink)} failed: {exc})", file=sys.stderr)

    def close(self) -> None:
        for h in reversed(list(self.handles.values())):
            with contextlib.suppress(Exception):
                h.close()
        self.backend.close()
        from drillbook.fixtures import procs

        procs.close_current_run()


class NullSink:
    """A sink that stores nothing anywhere: isolates the writer's own per-write cost."""

    def __init__(self) -> None:
        self.table = "null"
        self._data: dict[int, str] = {}

    def prepare(self) -> None:
        pass

    def write(self, seq: int, payload: str) -> None:
        self._data[seq] = payload

    def read_all(self) -> dict[int, str]:
        return dict(self._data)

    def close(self) -> None:
        pass


def tag_of(sink: Any) -> str:
    return str(getattr(sink, "table", None) or getattr(sink, "prefix", None) or sink.bucket)


# --------------------------------------------------------------------------------- runs


def run_writer(stack: Stack, kind: str, cadence: float, duration: float) -> RunStats:
    tag = f"w_{kind}_{secrets.token_hex(4)}"
    sink = stack.sink(kind, tag)
    sink.prepare()  # create the table/bucket outside the measured window
    read_all = sink.read_all
    timing: dict[str, float] = {}

    def timed_read_all() -> dict[int, str]:
        t, c0 = now(), time.process_time()
        try:
            rb: dict[int, str] = read_all()
            return rb
        finally:
            timing["read_all"] = now() - t
            timing["read_all_cpu"] = time.process_time() - c0

    sink.read_all = timed_read_all
    writer = LedgerWriter(sink, cadence=cadence, name=f"bench-{kind}")
    try:
        cpu0 = time.process_time()
        writer.start()
        assert writer.started_mono is not None
        time.sleep(duration)
        t0 = writer.mark_t0()  # stop=True: nothing is issued after t0
        stopped_in_time = writer.stop(timeout=10)
        cpu = time.process_time() - cpu0
        writes = writer.writes
        window = t0 - writer.started_mono
        st = stats(
            cadence,
            window,
            [(w.sent_mono, w.ack_mono if w.status is WriteStatus.ACKED else None) for w in writes],
            cpu,
        )
        t = now()
        result = writer.verify()
        verify_s = now() - t
        c = result.counts
        st.extra = {
            "stopped_in_time": stopped_in_time,
            "crash": writer.crash,
            "verify_s": verify_s,
            "read_all_s": timing.get("read_all"),
            "read_all_cpu_s": timing.get("read_all_cpu"),
            "classify_s": verify_s - timing.get("read_all", 0.0),
            "n": len(writes),
            "survived": c[WriteClass.SURVIVED],
            "lost": c[WriteClass.LOST],
            "corrupted": c[WriteClass.CORRUPTED],
            "phantom": c[WriteClass.PHANTOM],
            "indeterminate": c[WriteClass.INDETERMINATE],
            "unacknowledged": c[WriteClass.UNACKNOWLEDGED],
            "acked_before_t0": result.acked_before_t0,
            # Every write acknowledged before t0 is back; the one in flight at t0 (acked
            # after mark_t0) is INDETERMINATE by definition, not a finding.
            "all_acked_survived": (
                c[WriteClass.SURVIVED] == result.acked_before_t0
                and not (c[WriteClass.LOST] or c[WriteClass.CORRUPTED] or c[WriteClass.PHANTOM])
            ),
            "ledger_achieved_rate": result.achieved_rate,
            "errors": sorted({w.error for w in writes if w.error})[:3],
        }
        if kind == "s3":
            st.extra.update(s3_list_what_if(stack, sink, writes, t0))
        return st
    finally:
        writer.close()
        stack.drop(kind, sink)


def s3_list_what_if(stack: Stack, sink: Any, writes: Sequence[Any], t0: float) -> dict[str, Any]:
    """A candidate fix for the slow S3 read-back: one ListObjectsV2 per 1000 keys.

    For a single-part PutObject without SSE-KMS the ETag is the MD5 of the body, so the
    listing alone can tell SURVIVED from LOST/CORRUPTED; only mismatches need a GET.
    Measured here (not built): the listing time, and whether every ETag matched.
    """
    c = stack.handles["s3"].client()
    t = now()
    etags: dict[int, str] = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=sink.bucket, Prefix=sink.prefix):
        for o in page.get("Contents", []):
            etags[int(o["Key"][len(sink.prefix) :])] = o["ETag"].strip('"')
    list_s = now() - t
    acked = [w for w in writes if w.status is WriteStatus.ACKED and w.ack_mono < t0]
    match = all(
        etags.get(w.seq) == hashlib.md5(w.payload.encode(), usedforsecurity=False).hexdigest()
        for w in acked
    )
    return {"list_etag_s": list_s, "etag_is_md5": match}


def run_bare(stack: Stack, kind: str, cadence: float, duration: float) -> RunStats:
    """The same writes through the same sink class, no ledger: the floor for the writer."""
    tag = f"b_{kind}_{secrets.token_hex(4)}"
    sink = stack.sink(kind, tag)
    sink.prepare()
    token = secrets.token_hex(6)
    log: list[tuple[float, float | None]] = []
    stop = threading.Event()
    origin_box: list[float] = []
    errors: list[str] = []

    def loop() -> None:
        sink.prepare()  # the writer's start() prepares too: same cost on both sides
        origin = now()
        origin_box.append(origin)
        tick = 0
        seq = 0
        while not stop.is_set():
            due = origin + tick * cadence
            delay = due - now()
            if delay > 0:
                time.sleep(delay)
                if stop.is_set():
                    return
            seq += 1
            payload = make_payload(token, seq, 64)
            sent = now()
            try:
                sink.write(seq, payload)
                ack: float | None = now()
            except Exception as exc:
                ack = None
                if len(errors) < 3:
                    errors.append(f"{type(exc).__name__}: {exc}")
            log.append((sent, ack))
            tick = next_tick(tick, origin, now(), cadence)

    th = threading.Thread(target=loop, name=f"bare-{kind}", daemon=True)
    try:
        cpu0 = time.process_time()
        th.start()
        time.sleep(duration)
        stop.set()
        t_stop = now()
        th.join(10)
        cpu = time.process_time() - cpu0
        window = t_stop - origin_box[0] if origin_box else duration
        st = stats(cadence, window, [w for w in log if w[0] <= t_stop], cpu)
        st.extra = {"errors": errors, "stopped_in_time": not th.is_alive()}
        return st
    finally:
        stop.set()
        th.join(10)
        stack.drop(kind, sink)


# ------------------------------------------------------------------------------- report


def med(vals: Sequence[float | None]) -> float | None:
    v = [x for x in vals if x is not None]
    return statistics.median(v) if v else None


def rng(vals: Sequence[float | None], fmt: str = "{:.1f}") -> str:
    v = [x for x in vals if x is not None]
    if not v:
        return "n/a"
    m = statistics.median(v)
    if len(v) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} [{fmt.format(min(v))}-{fmt.format(max(v))}]"


def ratios(a: Sequence[float | None], b: Sequence[float | None]) -> list[float | None]:
    return [x / y if x is not None and y else None for x, y in zip(a, b, strict=True)]


def per_write(runs: Sequence[RunStats], key: str) -> list[float | None]:
    """Microseconds of ``extra[key]`` (seconds) per write of each run."""
    return [
        (r.extra[key] / r.extra["n"] * 1e6) if r.extra.get("n") and r.extra.get(key) else None
        for r in runs
    ]


def report(results: dict[tuple[str, float], dict[str, list[RunStats]]], rounds: int) -> None:
    print()
    print(f"== ledger writer vs bare loop: median [min-max] over {rounds} rounds;"
          " ratio = writer / bare of the same round ==")  # fmt: skip

    def table(
        title: str, cols: list[tuple[str, int, Callable[[list[RunStats], list[RunStats]], str]]]
    ) -> None:
        print()
        print(title)
        head = f"{'sink':9}{'cadence':>8} " + " ".join(f"{c[0]:>{c[1]}}" for c in cols)
        print(head)
        print("-" * len(head))
        for (kind, cad), runs in results.items():
            w, b = runs["writer"], runs["bare"]
            cells = " ".join(f"{fn(w, b):>{width}}" for _, width, fn in cols)
            print(f"{kind:9}{cad:>6g}ms {cells}")

    def col(attr: str, fmt: str = "{:.1f}") -> Callable[[list[RunStats]], str]:
        return lambda runs: rng([getattr(r, attr) for r in runs], fmt)

    def xcol(key: str, fmt: str = "{:.3f}") -> Callable[[list[RunStats]], str]:
        return lambda runs: rng([r.extra.get(key) for r in runs], fmt)

    def ratio(attr: str) -> Callable[[list[RunStats], list[RunStats]], str]:
        return lambda w, b: rng(
            ratios([getattr(r, attr) for r in w], [getattr(r, attr) for r in b]), "{:.2f}"
        )

    table(
        "-- rate: acknowledged writes/s (target = 1/cadence) and ticks missed --",
        [
            ("target/s", 8, lambda w, b: f"{w[0].target_rate:.0f}"),
            ("writer acked/s", 24, lambda w, b: col("achieved_rate")(w)),
            ("bare acked/s", 24, lambda w, b: col("achieved_rate")(b)),
            ("ratio", 20, ratio("achieved_rate")),
            ("writer missed", 21, lambda w, b: col("missed_frac", "{:.0%}")(w)),
            ("bare missed", 21, lambda w, b: col("missed_frac", "{:.0%}")(b)),
        ],
    )
    table(
        "-- write latency ack - sent, ms --",
        [
            ("writer p50", 20, lambda w, b: col("p50_ms", "{:.2f}")(w)),
            ("writer p99", 22, lambda w, b: col("p99_ms", "{:.2f}")(w)),
            ("bare p50", 20, lambda w, b: col("p50_ms", "{:.2f}")(b)),
            ("bare p99", 22, lambda w, b: col("p99_ms", "{:.2f}")(b)),
            ("p50 ratio", 20, ratio("p50_ms")),
        ],
    )
    table(
        "-- client CPU per write, µs (this process: writer thread + driver) --",
        [
            ("writer", 22, lambda w, b: col("cpu_us_per_write", "{:.0f}")(w)),
            ("bare", 22, lambda w, b: col("cpu_us_per_write", "{:.0f}")(b)),
            ("ratio", 20, ratio("cpu_us_per_write")),
        ],
    )
    table(
        "-- stop + verify: read back N writes and classify them --",
        [
            ("N writes", 18, lambda w, b: xcol("n", "{:.0f}")(w)),
            ("verify s", 22, lambda w, b: xcol("verify_s")(w)),
            ("read_all s", 22, lambda w, b: xcol("read_all_s")(w)),
            ("classify s", 22, lambda w, b: xcol("classify_s")(w)),
            ("read µs/write", 16, lambda w, b: rng(per_write(w, "read_all_s"), "{:.0f}")),
            ("cpu µs/write", 14, lambda w, b: rng(per_write(w, "read_all_cpu_s"), "{:.0f}")),
            ("indet.", 7, lambda w, b: xcol("indeterminate", "{:.0f}")(w)),
            (
                "acked<t0 SURVIVED",
                18,
                lambda w, b: (
                    f"{sum(bool(r.extra.get('all_acked_survived')) for r in w)}/{len(w)} runs"
                ),
            ),
        ],
    )
    s3 = {k: v for k, v in results.items() if k[0] == "s3"}
    if s3:
        print()
        print("-- S3 read-back what-if: ListObjectsV2 + ETag (= MD5 of the body) instead of "
              "one GET per object --")  # fmt: skip
        print(f"{'cadence':>8} {'N':>16} {'GET each (read_all) s':>24} {'list+ETag s':>22}"
              f" {'speed-up':>18} {'ETag==md5':>10}")  # fmt: skip
        for (_, cad), runs in s3.items():
            w = runs["writer"]
            ok = f"{sum(bool(r.extra.get('etag_is_md5')) for r in w)}/{len(w)}"
            get_s = [r.extra.get("read_all_s") for r in w]
            list_s = [r.extra.get("list_etag_s") for r in w]
            speedup = rng(ratios(get_s, list_s), "{:.0f}x")
            print(f"{cad:>6g}ms {xcol('n', '{:.0f}')(w):>16} {rng(get_s, '{:.3f}'):>24}"
                  f" {rng(list_s, '{:.3f}'):>22} {speedup:>18} {ok:>10}")  # fmt: skip
    problems = [
        (kind, cad, side, r.extra)
        for (kind, cad), runs in results.items()
        for side in ("writer", "bare")
        for r in runs[side]
        if r.failed or r.extra.get("errors") or r.extra.get("crash")
        or not r.extra.get("stopped_in_time", True)
        or (side == "writer" and not r.extra.get("all_acked_survived"))
    ]  # fmt: skip
    print()
    if problems:
        print("runs with failed writes, errors, a stuck stop or a wrong classification:")
        for kind, cad, side, extra in problems:
            print(f"  {kind} {cad:.0f}ms {side}: {extra}")
    else:
        print("no failed write, no error, every stop in time, every acked write SURVIVED")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=3.0, help="seconds of writing per run")
    ap.add_argument("--cadences", default=",".join(f"{c:g}" for c in CADENCES_MS),
                    help="milliseconds, comma separated (default 10,5,2,1)")  # fmt: skip
    ap.add_argument("--sinks", default=",".join(SINKS))
    ap.add_argument(
        "--null-cadences",
        default="1,0.001",
        help="ms; runs with a sink that does nothing, to isolate the writer's own cost "
        "(0.001 = as fast as it can); empty to skip",
    )
    ap.add_argument("--postgres", default="auto", help="auto | system | pip | a bin dir")
    ap.add_argument("--json", type=Path, help="also write every raw measurement here")
    opts = ap.parse_args()
    cadences = [float(c) / 1000 for c in opts.cadences.split(",")]
    sinks = [s for s in opts.sinks.split(",") if s]

    print(f"# bench_ledger  {time.strftime('%Y-%m-%d %H:%M:%S')}  cores={os.cpu_count()}"
          f"  load={os.getloadavg()[0]:.2f}  rounds={opts.rounds}  duration={opts.duration}s"
          f"  python {sys.version.split()[0]}")  # fmt: skip
    t = now()
    stack = Stack(opts.postgres)
    print(f"# servers: {stack.backend.describe()}  (started in {now() - t:.2f} s)")
    pg = stack.handles["postgres"]
    sync = pg.execute("SHOW synchronous_commit")[0][0]
    print(f"# postgres synchronous_commit={sync} fsync={pg.execute('SHOW fsync')[0][0]}")
    plan = [(k, c) for k in sinks for c in cadences]
    plan += [("null", float(c) / 1000) for c in opts.null_cadences.split(",") if c]
    results: dict[tuple[str, float], dict[str, list[RunStats]]] = {
        (k, c * 1000): {"writer": [], "bare": []} for k, c in plan
    }
    try:
        for r in range(opts.rounds):
            for i, (kind, cad) in enumerate(plan):
                # Alternate who goes first, so neither always meets a warmer server.
                order = ("writer", "bare") if (r + i) % 2 == 0 else ("bare", "writer")
                for side in order:
                    gc.collect()
                    fn = run_writer if side == "writer" else run_bare
                    st = fn(stack, kind, cad, opts.duration)
                    results[(kind, cad * 1000)][side].append(st)
                w = results[(kind, cad * 1000)]["writer"][-1]
                b = results[(kind, cad * 1000)]["bare"][-1]
                print(f"round {r + 1}/{opts.rounds} {kind:8} {cad * 1000:5g}ms  "
                      f"writer {w.achieved_rate:7.1f}/s p50 {w.p50_ms or 0:6.2f}ms "
                      f"missed {w.missed_frac:4.0%} | bare {b.achieved_rate:7.1f}/s "
                      f"p50 {b.p50_ms or 0:6.2f}ms missed {b.missed_frac:4.0%} | "
                      f"verify N={w.extra['n']} {w.extra['verify_s']:.3f}s "
                      f"ok={w.extra['all_acked_survived']}  load {os.getloadavg()[0]:.2f}",
                      flush=True)  # fmt: skip
    finally:
        stack.close()
    if opts.json:
        opts.json.write_text(json.dumps(
            {f"{k}/{c:g}ms": {s: [vars(x) for x in v] for s, v in runs.items()}
             for (k, c), runs in results.items()}, indent=1, default=str))  # fmt: skip
    report(results, opts.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
