#!/usr/bin/env python3
"""S3 restore of many small objects: the drill's recovery function vs a plain boto3 loop.

Issue 5's benchmark: "S3 restore of 10,000 objects: objects/s vs. a plain boto3 copy loop
in the same run". One S3 endpoint (the local backend's: ``DRILLBOOK_S3``, default
SeaweedFS), one versioned bucket, N small objects uploaded; then, on the same endpoint:

1. ransomware: every object overwritten (a new version on top of each good one);
   ``scenarios.s3.recovery.restore_clean_versions`` restores them, timed whole: the
   version listing and the choice of a clean version per key (plan), then the
   server-side copies on a thread pool (apply);
2. ransomware again; the plain loop restores them: one ``copy_object`` per key, in
   order, from the VersionId recorded at upload (it gets the versions for free: no
   listing at all).

The drill's function runs first, so its listing sees 2N versions, not 4N. Each restore
is checked afterwards (every current ETag equals the uploaded one) outside the timing.
moto renders listings at roughly 2 ms per entry and copies the whole bucket for every
ListObjectVersions page, so on moto the plan phase is a large share of the total; on S3
a listing page of 1000 entries takes tens of milliseconds. Both are printed.

Run from the project root::

    .venv/bin/python benchmarks/bench_s3_restore.py              # 10,000 objects
    .venv/bin/python benchmarks/bench_s3_restore.py --objects 2000 --workers 16

Nothing is asserted: this prints figures. The server is stopped in a ``finally``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drillbook.scenarios.s3 import backup, recovery  # noqa: E402
from drillbook.scenarios.s3.client import client, pool_map  # noqa: E402
from drillbook.scenarios.s3.faults import ransomware_overwrite  # noqa: E402
from drillbook.scenarios.s3.manifest import Manifest, ManifestEntry, list_current  # noqa: E402

BUCKET = "bench-media"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def seed(c: Any, n: int, size: int, workers: int) -> Manifest:
    keys = [f"media/{i % 3}/asset-{i:06d}.bin" for i in range(n)]
    manifest = Manifest(name="uploads")

    def put(key: str) -> ManifestEntry:
        data = os.urandom(size)
        resp = c.put_object(Bucket=BUCKET, Key=key, Body=data)
        return manifest.record(key, data, etag=resp["ETag"], version_id=resp.get("VersionId"))

    for key, res in zip(keys, pool_map(put, keys, workers), strict=True):
        if isinstance(res, BaseException):
            raise RuntimeError(f"upload of {key} failed: {res}")
    return manifest


def verify(c: Any, manifest: Manifest) -> int:
    """Keys whose current ETag is not the uploaded one (0 = fully restored)."""
    current = list_current(c, BUCKET)
    return sum(1 for e in manifest if current.get(e.key) is None or current[e.key].etag != e.etag)


def plain_loop(c: Any, manifest: Manifest) -> int:
    n = 0
    for e in manifest:
        c.copy_object(
            Bucket=BUCKET,
            Key=e.key,
            CopySource={"Bucket": BUCKET, "Key": e.key, "VersionId": e.version_id},
        )
        n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=256, help="bytes per object")
    ap.add_argument("--workers", type=int, default=16, help="threads of the drill's restore")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()

    from drillbook.fixtures import procs
    from drillbook.fixtures.local import LocalBackend

    backend = LocalBackend(s3=os.environ.get("DRILLBOOK_S3") or "auto")
    handle = None
    try:
        t = time.monotonic()
        handle = backend.s3("bench-s3")
        log(f"{handle.version()} up in {time.monotonic() - t:.2f} s at {handle.endpoint}")
        c = client(handle, timeout=600, pool=args.workers)
        backup.create_bucket(None, c, BUCKET, versioning=True)

        t = time.monotonic()
        manifest = seed(c, args.objects, args.size, args.workers)
        seed_s = time.monotonic() - t
        log(f"uploaded {len(manifest)} objects in {seed_s:.1f} s")

        t0_wall = time.time()
        t = time.monotonic()
        attack = ransomware_overwrite(c, BUCKET, note_key=None, workers=args.workers)
        attack_s = time.monotonic() - t
        log(f"attack 1: {len(attack.keys)} overwritten in {attack_s:.1f} s")
        t = time.monotonic()
        result = recovery.restore_clean_versions(
            None, c, BUCKET, t0_wall=t0_wall, manifest=manifest, workers=args.workers
        )
        drill_s = time.monotonic() - t
        drill_bad = verify(c, manifest)
        log(
            f"drill restore: {result.restored} in {drill_s:.1f} s "
            f"(plan {result.plan_seconds:.1f} s, apply {result.apply_seconds:.1f} s), "
            f"{drill_bad} not restored"
        )

        t = time.monotonic()
        ransomware_overwrite(c, BUCKET, note_key=None, workers=args.workers)
        log(f"attack 2 in {time.monotonic() - t:.1f} s")
        t = time.monotonic()
        plain_n = plain_loop(c, manifest)
        plain_s = time.monotonic() - t
        plain_bad = verify(c, manifest)
        log(f"plain loop: {plain_n} in {plain_s:.1f} s, {plain_bad} not restored")

        n = len(manifest)
        figures = {
            "objects": n,
            "object_bytes": args.size,
            "workers": args.workers,
            "upload_objects_per_s": round(n / seed_s, 1),
            "attack_objects_per_s": round(n / attack_s, 1),
            "plain_loop_s": round(plain_s, 2),
            "plain_loop_objects_per_s": round(plain_n / plain_s, 1),
            "drill_restore_s": round(drill_s, 2),
            "drill_plan_s": round(result.plan_seconds, 2),
            "drill_apply_s": round(result.apply_seconds, 2),
            "drill_objects_per_s": round(result.restored / drill_s, 1),
            "drill_apply_objects_per_s": round(result.restored / result.apply_seconds, 1)
            if result.apply_seconds
            else None,
            "ratio_drill_vs_plain": round((result.restored / drill_s) / (plain_n / plain_s), 2),
            "ratio_apply_vs_plain": round(
                (result.restored / result.apply_seconds) / (plain_n / plain_s), 2
            )
            if result.apply_seconds
            else None,
            "not_restored": {"drill": drill_bad, "plain": plain_bad},
            "drill_errors": result.errors[:5],
        }
        print(
            f"S3 restore of {n} objects of {args.size} B on {handle.version()} "
            f"({handle.endpoint}), "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        print(f"  upload (16 threads)                {figures['upload_objects_per_s']:8} obj/s")
        print(
            f"  plain boto3 copy_object loop       {figures['plain_loop_objects_per_s']:8} "
            f"obj/s  ({plain_s:.1f} s, VersionIds known, no listing)"
        )
        print(
            f"  drill restore_clean_versions       {figures['drill_objects_per_s']:8} "
            f"obj/s  ({drill_s:.1f} s: plan {result.plan_seconds:.1f} s + apply "
            f"{result.apply_seconds:.1f} s, {args.workers} workers)"
        )
        print(
            f"    apply phase alone                {figures['drill_apply_objects_per_s']:8} obj/s"
        )
        print(
            f"  ratio drill / plain: {figures['ratio_drill_vs_plain']} overall, "
            f"{figures['ratio_apply_vs_plain']} for the copies alone"
        )
        print(f"  not restored afterwards: drill {drill_bad}, plain {plain_bad}")
        if args.json:
            print(json.dumps(figures))
        return 0
    finally:
        if handle is not None:
            handle.close()
        backend.close()
        procs.close_current_run()


if __name__ == "__main__":
    sys.exit(main())
