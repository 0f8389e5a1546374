#!/usr/bin/env python3
"""Start-to-ready per service: the docker backend's containers next to the local backend.

For each service (PostgreSQL, Redis, S3) and each backend, every round measures:

- *new*: ``backend.postgres(name)`` (``redis``/``s3``) until its protocol probe answers
  (SELECT 1, PING, ListBuckets): a new server, PostgreSQL's ``initdb`` included (on
  docker: a one-shot ``initdb`` container, then the server container);
- *start*: ``start()`` of a stopped server on its kept data until the probe answers (on
  docker: a new container on the same mount and port);
- *crash*: ``start()`` after ``kill()`` (SIGKILL): crash recovery, what a drill's RTO pays.

Rounds alternate the backends (local first on even rounds, docker first on odd ones) so
neither always runs on a quieter machine. One process, imports warm: these are the
servers' and the engine's costs, not Python's. Figures are median [min-max] over rounds.

Run from the project root, with an engine and the images (never pulled)::

    eval "$(../shared/tools/docker-sandbox env)"
    .venv/bin/python benchmarks/bench_docker_start.py --rounds 5 \\
        --postgres-image sandbox/postgres:15 --redis-image sandbox/redis:7 \\
        --s3-image sandbox/s3:moto

Nothing is asserted: this prints figures (``--json`` for a machine-readable line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SERVICES = ("postgres", "redis", "s3")
PHASES = ("new", "start", "crash")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.monotonic()
    out = fn()
    return time.monotonic() - t0, out


def make(backend: Any, service: str, name: str) -> Any:
    if service == "postgres":
        return backend.postgres(name)
    if service == "redis":
        # Persistence on, so start after a kill has data to load (as drills run it).
        return backend.redis(name, appendonly="yes")
    return backend.s3(name)


def measure(backend: Any, service: str, rnd: int) -> dict[str, float]:
    out: dict[str, float] = {}
    out["new"], handle = timed(lambda: make(backend, service, f"bench-{service}-{rnd}"))
    try:
        handle.stop()
        out["start"], _ = timed(handle.start)
        handle.kill()
        out["crash"], _ = timed(handle.start)
    finally:
        handle.close()
    return out


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):6.2f} s [{min(values):.2f}-{max(values):.2f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--postgres-image", default=os.environ.get("DRILLBOOK_DOCKER_POSTGRES_IMAGE", "")
    )
    parser.add_argument("--redis-image", default=os.environ.get("DRILLBOOK_DOCKER_REDIS_IMAGE", ""))
    parser.add_argument("--s3-image", default=os.environ.get("DRILLBOOK_DOCKER_S3_IMAGE", ""))
    parser.add_argument("--network", default=os.environ.get("DRILLBOOK_DOCKER_NETWORK", "auto"))
    parser.add_argument("--postgres", default="auto", help="local backend's PostgreSQL")
    parser.add_argument("--services", default=",".join(SERVICES))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    services = [s for s in args.services.split(",") if s]

    from drillbook.errors import DrillNotRun
    from drillbook.fixtures import procs
    from drillbook.fixtures.docker import DockerBackend
    from drillbook.fixtures.local import LocalBackend

    try:
        docker = DockerBackend(
            postgres_image=args.postgres_image,
            redis_image=args.redis_image,
            s3_image=args.s3_image,
            network=args.network,
            postgres_tools=args.postgres,
        )
    except DrillNotRun as exc:
        print(f"docker backend NOT RUN: {exc.reason}", file=sys.stderr)
        return 2
    local = LocalBackend(postgres=args.postgres)
    backends = {"local": local, "docker": docker}
    results: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    try:
        # One unmeasured round per backend: image user lookups, binary discovery, caches.
        for b in backends.values():
            for service in services:
                with contextlib.suppress(DrillNotRun):
                    make(b, service, f"warmup-{service}").close()
        for rnd in range(args.rounds):
            order = ["local", "docker"] if rnd % 2 == 0 else ["docker", "local"]
            for service in services:
                for name in order:
                    for phase, secs in measure(backends[name], service, rnd).items():
                        results[(service, name, phase)].append(secs)
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        docker.close()
        procs.close_current_run()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    desc = docker.describe()
    print(
        f"start-to-ready, {args.rounds} rounds, median [min-max]; docker: {desc['network']} "
        f"network, engine {desc['engine']}; load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'service':9} {'phase':6} {'local':>22} {'docker':>22}  docker/local")
    for service in services:
        for phase in PHASES:
            lv, dv = results[(service, "local", phase)], results[(service, "docker", phase)]
            ratio = statistics.median(dv) / statistics.median(lv) if lv and dv else float("nan")
            print(f"{service:9} {phase:6} {summary(lv):>22} {summary(dv):>22}  {ratio:5.1f}x")
    print(
        "images: "
        + ", ".join(f"{s}={desc[s]}" for s in services)
        + "; new = initdb (PostgreSQL) + start; start = stopped -> ready; crash = kill -> ready"
    )
    if args.json:
        payload = {f"{s}/{b}/{p}": v for (s, b, p), v in sorted(results.items())}
        print("BENCHJSON " + json.dumps({"rounds": args.rounds, "load": load, "results": payload}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
