#!/usr/bin/env python3
"""SeaweedFS vs moto on the local backend, side by side (issue 13).

Every section measures both servers in the same round (the order alternates from round
to round), through the local backend's own handles (``LocalBackend(s3=...)``):

- ``start``: a new server, constructor to ready (SeaweedFS: ListBuckets and the filer
  sentinel GET; moto: ListBuckets); for SeaweedFS also the start after a SIGKILL on its
  data (what a crash drill waits for) and a stop (SIGTERM until it has exited);
- ``ledger``: the S3 RPO ledger (``S3LedgerSink`` driven by ``LedgerWriter``) at each
  cadence for ``--duration`` s: acknowledged writes/s against the target, ticks missed,
  and whether every write acknowledged before t0 read back SURVIVED;
- ``restore``: ``--objects`` small objects overwritten by ransomware, then
  ``recovery.restore_clean_versions`` (the drills' restore: plan = version listing,
  apply = server-side copies on a thread pool) and a plain boto3 ``copy_object`` loop
  (benchmarks/bench_s3_restore.py's functions), each checked afterwards;
- ``memory``: the server's RSS idle, after ``--big`` uploads of 100 MB, and the PUT rate,
  for SeaweedFS with and without ``GOMEMLIMIT`` (``--gomemlimit``) and for moto;
- ``drills``: the whole ``pytest drills`` wall time with ``--drill-s3=moto`` (the old
  default) and ``--drill-s3=seaweedfs``, one after the other, with their summary lines
  (moto cannot run the object-lock and lost-disk drills: NOT RUN there, allowed).

Run from the project root::

    .venv/bin/python benchmarks/bench_s3_servers.py --rounds 5
    .venv/bin/python benchmarks/bench_s3_servers.py --sections drills

Nothing is asserted: this prints figures (median [min-max] over the rounds). Every
server is closed in a ``finally``; the run directory goes with the process.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bench_s3_restore  # noqa: E402

from drillbook.fixtures import procs  # noqa: E402
from drillbook.fixtures.local import LocalBackend  # noqa: E402
from drillbook.ledger import LedgerWriter, WriteClass, WriteStatus  # noqa: E402
from drillbook.scenarios.s3 import backup, recovery  # noqa: E402
from drillbook.scenarios.s3.client import client  # noqa: E402
from drillbook.scenarios.s3.faults import ransomware_overwrite  # noqa: E402
from drillbook.scenarios.s3.ledger import S3LedgerSink  # noqa: E402

SERVERS = ("seaweedfs", "moto")
SECTIONS = ("start", "ledger", "restore", "memory", "drills")
Figures = dict[str, dict[str, list[float]]]  # row -> server -> one value per round


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def summary(vals: Sequence[float], fmt: str = "{:.3f}") -> str:
    if not vals:
        return "n/a"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(min(vals))}-{fmt.format(max(vals))}]"


def table(title: str, figures: Figures, fmt: str = "{:.3f}", ratio: bool = True) -> None:
    print(f"\n-- {title} --")
    print(f"{'':44} {'SeaweedFS':>26} {'moto':>26}" + (f" {'SeaweedFS/moto':>16}" if ratio else ""))
    for row, by in figures.items():
        sw, mo = by.get("seaweedfs", []), by.get("moto", [])
        line = f"{row:44} {summary(sw, fmt):>26} {summary(mo, fmt):>26}"
        if ratio and sw and mo and statistics.median(mo):
            line += f" {statistics.median(sw) / statistics.median(mo):>16.2f}"
        print(line)


def order(round_no: int) -> tuple[str, ...]:
    return SERVERS if round_no % 2 == 0 else SERVERS[::-1]


@contextmanager
def server(kind: str, name: str, **settings: Any) -> Iterator[Any]:
    handle = LocalBackend(s3=kind).s3(f"{name}-{secrets.token_hex(2)}", **settings)
    try:
        yield handle
    finally:
        handle.close()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn: Callable[[], Any]) -> float:
    t = time.monotonic()
    fn()
    return time.monotonic() - t


# -- sections ------------------------------------------------------------------------------------


def bench_start(rounds: int) -> None:
    fig: Figures = defaultdict(lambda: defaultdict(list))
    for r in range(rounds):
        for kind in order(r):
            t = time.monotonic()
            with server(kind, "bench-start") as h:
                fig["new server: constructor -> ready (s)"][kind].append(time.monotonic() - t)
                c = h.client()
                c.create_bucket(Bucket="bench")
                c.put_object(Bucket="bench", Key="k", Body=b"v")
                h.kill()
                fig["start after SIGKILL, on its data (s)"][kind].append(timed(h.start))
                fig["stop: SIGTERM -> exited (s)"][kind].append(timed(h.stop))
        log(f"start: round {r + 1}/{rounds}")
    table("start to ready (a kill on moto loses its objects; its start is on nothing)", fig)


def ledger_run(handle: Any, cadence: float, duration: float) -> tuple[float, float, bool]:
    """(acknowledged writes/s, fraction of ticks missed, every pre-t0 ack survived)."""
    sink = S3LedgerSink(handle, f"bench-ledger-{secrets.token_hex(3)}")
    sink.prepare()
    writer = LedgerWriter(sink, cadence=cadence, name="bench-s3")
    try:
        writer.start()
        assert writer.started_mono is not None
        time.sleep(duration)
        t0 = writer.mark_t0()
        writer.stop(timeout=10)
        window = t0 - writer.started_mono
        writes = writer.writes
        acked = sum(1 for w in writes if w.status is WriteStatus.ACKED and w.ack_mono <= t0)
        due = int(window / cadence) + 1
        result = writer.verify()
        ok = result.counts[WriteClass.SURVIVED] == result.acked_before_t0 and not (
            result.counts[WriteClass.LOST] or result.counts[WriteClass.CORRUPTED]
        )
        return acked / window, max(0.0, 1 - len(writes) / due), ok
    finally:
        writer.close()


def bench_ledger(rounds: int, cadences: Sequence[float], duration: float) -> None:
    rate: Figures = defaultdict(lambda: defaultdict(list))
    missed: Figures = defaultdict(lambda: defaultdict(list))
    survived: dict[str, list[bool]] = defaultdict(list)
    with server("seaweedfs", "bench-ledger") as sw, server("moto", "bench-ledger") as mo:
        handles = {"seaweedfs": sw, "moto": mo}
        for r in range(rounds):
            for ms in cadences:
                for kind in order(r):
                    acked, miss, ok = ledger_run(handles[kind], ms / 1000, duration)
                    rate[f"{ms:g} ms cadence (target {1000 / ms:.0f}/s): acked/s"][kind].append(
                        acked
                    )
                    missed[f"{ms:g} ms cadence: ticks missed (%)"][kind].append(100 * miss)
                    survived[kind].append(ok)
            log(f"ledger: round {r + 1}/{rounds}")
    table(f"S3 ledger writes/s ({duration:g} s per run)", rate, "{:.1f}")
    table("S3 ledger ticks missed", missed, "{:.0f}", ratio=False)
    for kind, oks in survived.items():
        print(f"  {kind}: every write acknowledged before t0 survived: {sum(oks)}/{len(oks)} runs")


def restore_once(kind: str, objects: int, size: int, workers: int) -> dict[str, float]:
    with server(kind, "bench-restore") as h:
        c = client(h, timeout=600, pool=workers)
        backup.create_bucket(None, c, bench_s3_restore.BUCKET, versioning=True)
        t = time.monotonic()
        manifest = bench_s3_restore.seed(c, objects, size, workers)
        upload = time.monotonic() - t
        t0_wall = time.time()
        ransomware_overwrite(c, bench_s3_restore.BUCKET, note_key=None, workers=workers)
        t = time.monotonic()
        result = recovery.restore_clean_versions(
            None, c, bench_s3_restore.BUCKET, t0_wall=t0_wall, manifest=manifest, workers=workers
        )
        drill = time.monotonic() - t
        bad = bench_s3_restore.verify(c, manifest)
        ransomware_overwrite(c, bench_s3_restore.BUCKET, note_key=None, workers=workers)
        plain = timed(lambda: bench_s3_restore.plain_loop(c, manifest))
        bad += bench_s3_restore.verify(c, manifest)
        if bad:
            log(f"restore on {kind}: {bad} objects not restored")
    return {
        "upload (s)": upload,
        "drill restore_clean_versions (s)": drill,
        "  of which plan: version listing (s)": result.plan_seconds,
        "  of which apply: copies (s)": result.apply_seconds,
        "plain copy_object loop (s)": plain,
        "drill restore (objects/s)": result.restored / drill,
        "not restored (both restores)": float(bad),
    }


def bench_restore(rounds: int, objects: int, size: int, workers: int) -> None:
    fig: Figures = defaultdict(lambda: defaultdict(list))
    for r in range(rounds):
        for kind in order(r):
            for row, value in restore_once(kind, objects, size, workers).items():
                fig[row][kind].append(value)
        log(f"restore: round {r + 1}/{rounds}")
    table(f"S3 restore of {objects} objects of {size} B ({workers} workers)", fig, "{:.2f}")


def memory_once(kind: str, big: int, **settings: Any) -> dict[str, float]:
    with server(kind, "bench-memory", **settings) as h:
        time.sleep(2)  # SeaweedFS's admin server starts after readiness
        idle = rss_mib(h.pid)
        c = client(h, timeout=600)
        c.create_bucket(Bucket="bench-big")
        body = os.urandom(100 * 1024 * 1024)
        t = time.monotonic()
        for i in range(big):
            c.put_object(Bucket="bench-big", Key=f"big-{i}", Body=body)
        rate = big * 100 / (time.monotonic() - t)
        return {"RSS idle (MiB)": idle, f"RSS after {big} x 100 MB PUT (MiB)": rss_mib(h.pid),
                "100 MB PUT (MB/s)": rate}  # fmt: skip


def bench_memory(rounds: int, big: int, gomemlimit: str) -> None:
    fig: Figures = defaultdict(lambda: defaultdict(list))
    capped: dict[str, list[float]] = defaultdict(list)
    for r in range(rounds):
        for kind in order(r):
            for row, value in memory_once(kind, big).items():
                fig[row][kind].append(value)
        for row, value in memory_once("seaweedfs", big, GOMEMLIMIT=gomemlimit).items():
            capped[row].append(value)
        log(f"memory: round {r + 1}/{rounds}")
    table("memory of the server process", fig, "{:.0f}")
    print(f"  SeaweedFS with GOMEMLIMIT={gomemlimit}:")
    for row, vals in capped.items():
        print(f"    {row:40} {summary(vals, '{:.0f}'):>26}")


DRILLS_SUMMARY = re.compile(r"^drills: .*$", re.MULTILINE)
PYTEST_SUMMARY = re.compile(r"^=*\s*(\d+ \w+.* in [\d.]+s.*?)=*$", re.MULTILINE)


def bench_drills(rounds: int) -> None:
    fig: Figures = defaultdict(lambda: defaultdict(list))
    lines: dict[str, list[str]] = defaultdict(list)
    for r in range(rounds):
        for kind in order(r):
            argv = [sys.executable, "-m", "pytest", "drills", "-q", "-p", "no:cacheprovider",
                    "--no-drill-report", "--drill-allow-not-run", f"--drill-s3={kind}"]  # fmt: skip
            t = time.monotonic()
            res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
            fig["pytest drills wall time (s)"][kind].append(time.monotonic() - t)
            out = res.stdout + res.stderr
            found = DRILLS_SUMMARY.findall(out)
            lines[kind].append(f"exit {res.returncode}; {found[-1] if found else out[-300:]}")
            log(f"drills on {kind}: {lines[kind][-1]}")
    table("the whole `pytest drills` (one after the other)", fig, "{:.1f}")
    for kind, texts in lines.items():
        for text in texts:
            print(f"  {kind}: {text}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--sections",
        default=",".join(SECTIONS[:-1]),
        help=f"comma-separated, of {', '.join(SECTIONS)} (default: all but drills)",
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--drill-rounds", type=int, default=1)
    ap.add_argument("--cadences", default="10,5,2,1", help="ledger cadences, ms")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per ledger run")
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--restore-rounds", type=int, default=1)
    ap.add_argument("--big", type=int, default=5, help="100 MB uploads of the memory section")
    ap.add_argument("--gomemlimit", default="512MiB")
    args = ap.parse_args()  # fmt: skip
    sections = [s for s in args.sections.split(",") if s]
    print(
        f"SeaweedFS vs moto, {time.strftime('%Y-%m-%d %H:%M')}, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
        + "; ".join(LocalBackend(s3=k).describe()["s3"] for k in SERVERS)
    )
    try:
        if "start" in sections:
            bench_start(args.rounds)
        if "ledger" in sections:
            cadences = [float(c) for c in args.cadences.split(",")]
            bench_ledger(args.rounds, cadences, args.duration)
        if "restore" in sections:
            bench_restore(args.restore_rounds, args.objects, args.size, args.workers)
        if "memory" in sections:
            bench_memory(1, args.big, args.gomemlimit)
        if "drills" in sections:
            bench_drills(args.drill_rounds)
    finally:
        procs.close_current_run()
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
