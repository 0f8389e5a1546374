#!/usr/bin/env python3
"""``drillbook verify`` at real sizes: download, restore and validation of a pg_dump.

Issue 17's closing note asks for the restore throughput at 100 MB and 1 GB and the size
of the structure reference. Per size, set up once (not timed): a PostgreSQL source of
the chosen build loaded with :func:`scenarios.postgres.schema.app_database` (scale 10
~ 100 MB, scale 100 ~ 1 GB), ``pg_dump -Fc`` into a local folder, the source stopped;
with ``--s3`` the dump is also uploaded to a local moto S3 server. Then every round runs
the verification exactly as ``drillbook verify`` does (:func:`scenarios.verify.run.verify`,
a fresh sandbox server per round, created and removed inside the verification): locate
+ read/download with SHA-256, ``pg_restore -j N``, the structure reference, row counts,
the drills' integrity checks (amcheck, a full read ...).

Printed per size and source: median [min-max] over the rounds of download, restore,
validation and total seconds, the restore throughput (dump bytes / restore seconds and
restored database bytes / restore seconds), and the structure reference (objects,
bytes). The 1-minute load average is printed with every row (the machine is shared).

Run from the project root::

    .venv/bin/python benchmarks/bench_verify.py                        # 100 MB, 3 rounds
    .venv/bin/python benchmarks/bench_verify.py --sizes 100MB,1GB --rounds 3,1 --s3

Nothing is asserted. Every server is closed in a ``finally``; every file lives in the
run directory (``$DRILLBOOK_TMPDIR``), removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drillbook.drill import Drill  # noqa: E402
from drillbook.fixtures import procs  # noqa: E402
from drillbook.record import DrillRecord  # noqa: E402
from drillbook.scenarios.postgres import schema  # noqa: E402
from drillbook.scenarios.verify import run, sandbox  # noqa: E402
from drillbook.targets import parse_targets  # noqa: E402
from drillbook.verify.progress import Progress, human_bytes  # noqa: E402
from drillbook.verify.source import parse_source  # noqa: E402

SCALES = {"100MB": 10, "1GB": 100}
TARGET = (
    '[services.app]\nkind = "postgres"\nrto = "1h"\nrpo = "24h"\nbackup = "pg_dump every 24h"\n'
)


def make_dump(major: int, scale: int, folder: Path) -> tuple[Path, float]:
    """(dump path, seconds pg_dump took) of the app schema at *scale*."""
    handle = sandbox._start_local_postgres(major, name="bench-src")
    try:
        schema.app_database(handle, "app", scale=scale)
        dump = folder / f"app-scale{scale}.dump"
        env = {**os.environ, **handle.env(), "PGDATABASE": "app"}
        start = time.monotonic()
        subprocess.run([handle.tool("pg_dump"), "-Fc", "-f", str(dump)], env=env, check=True)
        return dump, time.monotonic() - start
    finally:
        handle.close()


def verify_once(source: dict[str, Any], workdir: Path, jobs: int) -> Any:
    target = parse_targets(TARGET).get("app")
    spec = parse_source({**source, "jobs": jobs}, "services.app.source", "postgres")
    drill = Drill(DrillRecord("verify:app", "bench"))
    box = sandbox.FreshSandbox()
    try:
        ctx = run.Context(
            drill=drill,
            service="app",
            target=target,
            spec=spec,
            base_dir=workdir,
            workdir=workdir,
            sandbox=box,
            progress=Progress(every=30.0),
            write_reference=workdir / "app.structure",
        )
        result = run.verify(ctx).result
    finally:
        box.close()
        drill.close()
    return result


def med(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):7.2f} [{min(values):.2f}-{max(values):.2f}]"


def report(size: str, where: str, results: list[Any], workdir: Path) -> None:
    ok = [r for r in results if r.outcome == "PASS"]
    bad = [f"{r.outcome} {r.codes} {r.not_verified_reason}" for r in results if r not in ok]
    load = os.getloadavg()[0]
    dump_bytes = ok[0].backup.size if ok else 0
    db_bytes = ok[0].restored_bytes if ok else 0
    print(
        f"\n{size} from {where}: dump {human_bytes(dump_bytes)}, "
        f"restored db {human_bytes(db_bytes)}, load {load:.1f}"
    )
    for name, attr in (
        ("download", "download_s"),
        ("restore", "restore_s"),
        ("validate", "validate_s"),
        ("total", "total_s"),
    ):
        print(f"  {name:9} s   {med([getattr(r, attr) for r in ok])}")
    dump_rate = [r.backup.size / r.restore_s / 1e6 for r in ok]
    db_rate = [r.restored_bytes / r.restore_s / 1e6 for r in ok]
    print(f"  restore MB/s  {med(dump_rate)} of dump, {med(db_rate)} of restored database")
    ref = workdir / "app.structure"
    if ref.exists():
        lines = [x for x in ref.read_text().splitlines() if not x.startswith("#")]
        print(f"  structure reference: {len(lines)} objects, {ref.stat().st_size} bytes")
    for b in bad:
        print(f"  FAILED ROUND: {b}")


def s3_source(dump: Path) -> tuple[Any, dict[str, Any]]:
    from drillbook.fixtures.local import LocalBackend

    s3 = LocalBackend().s3("bench-s3")
    client = s3.client(timeout=600)
    client.create_bucket(Bucket="bench-backups")
    client.upload_file(str(dump), "bench-backups", f"app/{dump.name}")
    os.environ.update(
        AWS_ACCESS_KEY_ID=s3.access_key,
        AWS_SECRET_ACCESS_KEY=s3.secret_key,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return s3, {"url": "s3://bench-backups/app/", "endpoint": s3.endpoint}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100MB", help="comma list of 100MB, 1GB")
    parser.add_argument(
        "--rounds", default="3", help="rounds per size (comma list matching --sizes)"
    )
    parser.add_argument("--major", type=int, default=15, help="PostgreSQL major of the source")
    parser.add_argument(
        "--jobs", type=int, default=min(4, os.cpu_count() or 1), help="pg_restore -j"
    )
    parser.add_argument(
        "--s3", action="store_true", help="also verify the dump from a local S3 server"
    )
    args = parser.parse_args()
    sizes = args.sizes.split(",")
    rounds = [int(x) for x in args.rounds.split(",")]
    rounds += [rounds[-1]] * (len(sizes) - len(rounds))
    run_dir = procs.current_run()
    print(
        f"drillbook verify benchmark: PostgreSQL {args.major}, pg_restore -j {args.jobs}, "
        f"cpus {os.cpu_count()}"
    )
    try:
        for size, n in zip(sizes, rounds, strict=True):
            folder = run_dir.mkdir(f"bench-{size}")
            dump, dump_s = make_dump(args.major, SCALES[size], folder)
            print(
                f"\n[{size}] pg_dump -Fc {human_bytes(dump.stat().st_size)} in {dump_s:.1f} s "
                "(setup, not part of verify)"
            )
            sources = [("path", {"path": str(dump)})]
            s3 = None
            if args.s3:
                s3, src = s3_source(dump)
                sources.append(("s3 (moto)", src))
            try:
                for where, source in sources:
                    workdirs = [run_dir.mkdir(f"w-{size}") for _ in range(n)]
                    results = [verify_once(source, w, args.jobs) for w in workdirs]
                    report(size, where, results, workdirs[-1])
            finally:
                if s3 is not None:
                    s3.close()
    finally:
        procs.close_current_run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
