#!/usr/bin/env python3
"""How long until the local stack answers: drillbook's LocalBackend vs the bare servers.

Issue 2's goal: PostgreSQL + Redis + S3 all answering a real protocol probe (SELECT 1,
PING, ListBuckets) in <= 1.5 s cold and <= 1.1 x the same binaries started by hand.

Every round runs four variants, each in a *fresh* Python process so that imports, the
binary discovery caches (``lru_cache``) and boto3's model loader are cold, exactly as
in the first fixture of a pytest session:

- ``drillbook/serial``     LocalBackend(), then .postgres(), .redis(), .s3() one by one
- ``drillbook/threads``    the same three calls from 3 threads at once
- ``bare/serial``          initdb + postgres -D, redis-server, python -m moto.server by hand
- ``bare/threads``         the same three by hand from 3 threads at once

The order of the variants rotates from round to round so that none always runs first
(or last) on a noisy machine. Ratios are per round (drillbook and bare of the same
round), then summarised as median [min-max] over the rounds.

Two totals are reported:

- *stack*: from the first harness/bare action to all three probes answering (the
  servers' cost, no imports);
- *cold*: from the worker process being spawned to all three probes answering
  (interpreter start, imports, binary discovery, servers).

Run from the project root::

    .venv/bin/python benchmarks/bench_stack_start.py --rounds 5 --postgres system
    .venv/bin/python benchmarks/bench_stack_start.py --rounds 5 --postgres pip

Nothing is asserted: this prints figures. Every server started is stopped in a
``finally`` (and a worker that hangs is interrupted, then killed, by the parent).
"""

from __future__ import annotations

import time

_T_MAIN = time.monotonic()  # the worker's "interpreter is up" moment, before any import

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ALL_SERVICES = ("postgres", "redis", "s3")
#: The services this run starts (``--services``); the workers get the same list.
SERVICES: tuple[str, ...] = ALL_SERVICES
VARIANTS = ("drillbook/serial", "bare/serial", "drillbook/threads", "bare/threads")
#: drillbook/serial with one candidate fix applied in the worker (not in fixtures/):
#: LocalS3's readiness probe reuses one boto3 client instead of building one per attempt.
WHAT_IF_VARIANT = "drillbook/serial-s3-one-client"
RESULT_TAG = "BENCHJSON "
WORKER_TIMEOUT = 180.0

now = time.monotonic


# ============================================================================ worker side


class Phases:
    """Thread-safe accumulator of named durations (seconds) and counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.durations: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.durations[name] = self.durations.get(name, 0.0) + seconds
            self.counts[name] = self.counts.get(name, 0) + 1


def _timed(phases: Phases, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*a: Any, **kw: Any) -> Any:
        t = now()
        try:
            return fn(*a, **kw)
        finally:
            phases.add(name, now() - t)

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def worker_drillbook(
    opts: argparse.Namespace, threaded: bool, s3_one_client: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {"phases": {}, "counts": {}, "services": {}, "errors": []}
    t = now()
    import boto3  # noqa: F401  - the client libraries: both variants pay for them
    import psycopg  # noqa: F401
    import redis  # noqa: F401

    out["import_clients"] = now() - t
    t = now()
    import pytest  # noqa: F401  - fixtures/*.py import pytest at module level

    out["import_pytest"] = now() - t
    t = now()
    from drillbook.fixtures import binaries, local, procs

    out["import_fixtures"] = now() - t

    # Instrument (no behaviour change): where does a start spend its time?
    ph = Phases()
    if s3_one_client:

        def probe_one_client(self: Any) -> None:
            client = self.__dict__.get("_bench_probe_client")
            if client is None:
                client = self.__dict__["_bench_probe_client"] = self.client(timeout=2)
            client.list_buckets()

        local.LocalS3.probe = probe_one_client  # type: ignore[method-assign]
    for owner, attr, label in (
        (binaries, "find_postgres", "pg.find_postgres"),
        (binaries, "shareable_pg", "pg.shareable_pg"),
        (binaries, "find_redis", "redis.find_redis"),
        (local.LocalPostgres, "initdb", "pg.initdb"),
        (local.LocalPostgres, "start", "pg.start_to_ready"),
        (local.LocalPostgres, "probe", "pg.probe"),
        (local.LocalRedis, "start", "redis.start_to_ready"),
        (local.LocalRedis, "probe", "redis.probe"),
        (local.LocalS3, "start", "s3.start_to_ready"),
        (local.LocalS3, "probe", "s3.probe"),
        (local.LocalS3, "client", "s3.probe.client_create"),
        (procs.Run, "spawn", "spawn"),
    ):
        setattr(owner, attr, _timed(ph, label, getattr(owner, attr)))

    handles: list[Any] = []
    hlock = threading.Lock()
    backend = None
    try:
        t_stack = now()
        backend = local.LocalBackend(postgres=opts.postgres, s3=opts.s3)
        out["backend_init"] = now() - t_stack

        def start(service: str) -> None:
            t = now()
            try:
                h = getattr(backend, service)("bench")
            except BaseException as exc:
                out["errors"].append(f"{service}: {type(exc).__name__}: {exc}"[:2000])
                raise
            with hlock:
                handles.append(h)
            out["services"][service] = now() - t

        if threaded:
            threads = [
                threading.Thread(target=_swallow(start), args=(s,), name=f"start-{s}")
                for s in SERVICES
            ]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        else:
            for s in SERVICES:
                start(s)
        out["ready_mono"] = now()
        out["stack"] = out["ready_mono"] - t_stack
        if len(handles) == len(SERVICES):
            # A real probe from outside the harness, so a handle that lies is caught.
            for h in handles:
                h.probe.__wrapped__(h)
    finally:
        t = now()
        for h in reversed(handles):
            tc = now()
            try:
                h.close()
            except Exception as exc:  # report, keep closing the others
                out["errors"].append(f"close {h.kind}: {exc}")
            out.setdefault("close", {})[h.kind] = now() - tc
        if backend is not None:
            backend.close()
        procs.close_current_run()
        out["close_total"] = now() - t
    out["phases"] = ph.durations
    out["counts"] = ph.counts
    return out


def _swallow(fn: Callable[..., None]) -> Callable[..., None]:
    def run(*a: Any) -> None:
        with contextlib.suppress(BaseException):
            fn(*a)

    return run


def _free_port() -> int:
    """Like fixtures.procs.free_port: random, below the ephemeral range, bind-tested."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


class Bare:
    """The servers started by hand, the way a shell script would, plus a poll loop."""

    def __init__(self, opts: argparse.Namespace, out: dict[str, Any]) -> None:
        self.opts = opts
        self.out = out
        self.ph = Phases()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.dirs: list[Path] = []
        self.lock = threading.Lock()
        self.interval = float(opts.bare_interval)

    def _spawn(self, argv: Sequence[str], log: Path, **kw: Any) -> subprocess.Popen[bytes]:
        with open(log, "ab") as f:
            p = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=f,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kw,
            )
        with self.lock:
            self.procs.append(p)
        return p

    def _poll(self, what: str, proc: subprocess.Popen[bytes], check: Callable[[], Any]) -> None:
        deadline = now() + 60
        while True:
            try:
                check()
                return
            except Exception as exc:
                last = exc
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited {proc.returncode} during start-up: {last}")
            if now() > deadline:
                raise RuntimeError(f"{what} not ready after 60 s: {last}")
            time.sleep(self.interval)

    def _mkdir(self) -> Path:
        d = Path(tempfile.mkdtemp(prefix="drillbook-bench-bare-"))
        d.chmod(0o755)
        with self.lock:
            self.dirs.append(d)
        return d

    def postgres(self) -> None:
        import psycopg

        uid, gid = self.opts.pg_uid, self.opts.pg_gid
        as_other = uid != os.getuid()
        ukw: dict[str, Any] = {"user": uid, "group": gid, "extra_groups": []} if as_other else {}
        root = self._mkdir()
        data, sock = root / "data", root / "sock"
        sock.mkdir()
        if as_other:
            os.chown(root, uid, gid)
            os.chown(sock, uid, gid)
        bindir = Path(self.opts.pg_bindir)
        t = now()
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D", str(data),
                "-U", "bench",
                "--auth=trust",
                "-E", "UTF8",
                "--locale=C",
                "--data-checksums",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "HOME": "/tmp"} if as_other else None,
            **ukw,
        )  # fmt: skip
        self.ph.add("pg.initdb", now() - t)
        port = _free_port()
        t = now()
        proc = self._spawn(
            [
                str(bindir / "postgres"), "-D", str(data),
                "-c", "listen_addresses=127.0.0.1", "-p", str(port), "-k", str(sock),
            ],
            root / "postgres.log",
            env={**os.environ, "LC_ALL": "C"},
            **ukw,
        )  # fmt: skip

        def probe() -> None:
            with psycopg.connect(
                host="127.0.0.1", port=port, user="bench", dbname="postgres",
                connect_timeout=2, autocommit=True,
            ) as conn:  # fmt: skip
                conn.execute("SELECT 1").fetchone()

        self._poll("postgres", proc, probe)
        self.ph.add("pg.start_to_ready", now() - t)

    def redis(self) -> None:
        import redis

        root = self._mkdir()
        port = _free_port()
        t = now()
        proc = self._spawn(
            [
                self.opts.redis_server, "--bind", "127.0.0.1", "--port", str(port),
                "--dir", str(root), "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--protected-mode", "no",
            ],
            root / "redis.log",
            cwd=str(root),
        )  # fmt: skip

        def probe() -> None:
            with redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=2) as c:
                if not c.ping():
                    raise ConnectionError("no PONG")

        self._poll("redis", proc, probe)
        self.ph.add("redis.start_to_ready", now() - t)

    def s3(self) -> None:
        import boto3
        from botocore.config import Config

        root = self._mkdir()
        port = _free_port()
        t = now()
        proc = self._spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            root / "moto.log",
            cwd=str(root),
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        )
        # One client, built while moto boots (what a hand-written script would do).
        tc = now()
        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="bench",
            aws_secret_access_key="bench-secret",
            region_name="us-east-1",
            config=Config(
                connect_timeout=2, read_timeout=10, retries={"max_attempts": 1},
                s3={"addressing_style": "path"},
            ),
        )  # fmt: skip
        self.ph.add("s3.client_create", now() - tc)

        def port_open() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass

        self._poll("moto (tcp)", proc, port_open)
        self.ph.add("s3.spawn_to_port_open", now() - t)
        t1 = now()
        self._poll("moto", proc, client.list_buckets)
        self.ph.add("s3.port_open_to_first_ok", now() - t1)
        self.ph.add("s3.start_to_ready", now() - t)

    def close(self) -> dict[str, float]:
        took: dict[str, float] = {}
        t = now()
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                # postgres: fast shutdown like LocalPostgres.close; the others: SIGKILL
                # like LocalRedis/LocalS3.close.
                sig = signal.SIGINT if "postgres" in str(p.args) else signal.SIGKILL
                os.killpg(p.pid, sig)
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(15)
        took["procs"] = now() - t
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        took["total"] = now() - t
        return took


def worker_bare(opts: argparse.Namespace, threaded: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"services": {}, "errors": []}
    t = now()
    import boto3  # noqa: F401
    import psycopg  # noqa: F401
    import redis  # noqa: F401

    out["import_clients"] = now() - t
    bare = Bare(opts, out)
    try:
        t_stack = now()

        def start(service: str) -> None:
            t = now()
            try:
                getattr(bare, service)()
            except BaseException as exc:
                out["errors"].append(f"{service}: {type(exc).__name__}: {exc}"[:2000])
                raise
            out["services"][service] = now() - t

        if threaded:
            threads = [threading.Thread(target=_swallow(start), args=(s,)) for s in SERVICES]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        else:
            for s in SERVICES:
                start(s)
        out["ready_mono"] = now()
        out["stack"] = out["ready_mono"] - t_stack
    finally:
        out["close"] = bare.close()
    out["phases"] = bare.ph.durations
    out["counts"] = bare.ph.counts
    return out


def worker_main(opts: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    kind, mode = opts.worker.split("/")
    result: dict[str, Any]
    try:
        if kind == "drillbook":
            result = worker_drillbook(
                opts, mode == "threads", s3_one_client=opts.worker == WHAT_IF_VARIANT
            )
        else:
            result = worker_bare(opts, mode == "threads")
    except BaseException as exc:
        result = {"errors": [f"{type(exc).__name__}: {exc}"[:2000]]}
    result["interpreter_start"] = _T_MAIN - opts.spawned_at
    if "ready_mono" in result:
        result["cold"] = result["ready_mono"] - opts.spawned_at
    print(RESULT_TAG + json.dumps(result), flush=True)
    return 0


# ============================================================================ parent side


def run_worker(variant: str, opts: argparse.Namespace, ctx: dict[str, Any]) -> dict[str, Any]:
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker", variant,
        "--postgres", opts.postgres,
        "--s3", opts.s3,
        "--pg-bindir", ctx["pg_bindir"],
        "--pg-uid", str(ctx["pg_uid"]),
        "--pg-gid", str(ctx["pg_gid"]),
        "--redis-server", ctx["redis_server"],
        "--bare-interval", str(opts.bare_interval),
        "--services", ",".join(SERVICES),
    ]  # fmt: skip
    spawned_at = now()
    proc = subprocess.Popen(
        [*argv, "--spawned-at", repr(spawned_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
    )
    try:
        stdout, stderr = proc.communicate(timeout=WORKER_TIMEOUT)
    except subprocess.TimeoutExpired:
        # Let the worker's finally blocks stop its servers, then make sure.
        proc.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
    except BaseException:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=30)
        raise
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            res: dict[str, Any] = json.loads(line[len(RESULT_TAG) :])
            if res.get("errors") and stderr.strip():
                res["stderr_tail"] = stderr.strip()[-1500:]
            return res
    return {"errors": [f"worker {variant} printed no result (rc {proc.returncode})"],
            "stderr_tail": stderr[-1500:]}  # fmt: skip


def python_import_cost(stmt: str) -> float:
    t = now()
    subprocess.run([sys.executable, "-c", stmt], check=True, cwd=str(ROOT))
    return now() - t


def fmt_s(v: float | None) -> str:
    return "    -   " if v is None else f"{v:7.3f}s"


def summary(values: Sequence[float | None]) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f"{vals[0]:.3f}"
    return f"{statistics.median(vals):.3f} [{min(vals):.3f}-{max(vals):.3f}]"


def ratio_summary(pairs: Sequence[tuple[float | None, float | None]]) -> str:
    return summary([a / b for a, b in pairs if a is not None and b])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--postgres", default="auto", help="auto | system | pip | a bin dir")
    ap.add_argument(
        "--bare-interval",
        type=float,
        default=0.005,
        help="poll interval of the hand-written probes (drillbook's wait_until uses 0.02 s)",
    )
    ap.add_argument(
        "--services",
        default=",".join(ALL_SERVICES),
        help="subset to start, e.g. s3 to study one service (default postgres,redis,s3)",
    )
    ap.add_argument(
        "--s3",
        default="moto",
        help="drillbook's S3 (--drill-s3): moto (default: like the bare side) | seaweedfs | auto",
    )
    ap.add_argument("--json", type=Path, help="also write every raw measurement here")
    # worker-only options
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--spawned-at", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--pg-bindir", help=argparse.SUPPRESS)
    ap.add_argument("--pg-uid", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--pg-gid", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--redis-server", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    global SERVICES
    SERVICES = tuple(x for x in ALL_SERVICES if x in opts.services.split(","))
    if opts.worker:
        return worker_main(opts)

    from drillbook.fixtures import binaries, procs
    from drillbook.fixtures.local import LocalBackend, OsUser

    # The same binaries the harness uses (a root run needs the shareable copy).
    backend_probe = LocalBackend(postgres=opts.postgres)
    pg = backend_probe.pg_install()
    rd = binaries.find_redis("auto")
    user = OsUser.unprivileged()
    procs.close_current_run()  # nothing was started; drop the empty run dir
    ctx = {
        "pg_bindir": str(pg.bindir),
        "pg_uid": user.uid,
        "pg_gid": user.gid,
        "redis_server": str(rd.server),
    }
    print(f"# bench_stack_start  {time.strftime('%Y-%m-%d %H:%M:%S')}  cores={os.cpu_count()}"
          f"  load={os.getloadavg()[0]:.2f}  rounds={opts.rounds}")  # fmt: skip
    print(f"# postgres {pg.version} ({pg.source}) {pg.bindir}  run as {user.name}")
    print(f"# {rd.flavour} {rd.version} ({rd.source}) {rd.server}")
    print(f"# s3: drillbook --drill-s3={opts.s3}, bare python -m moto.server;  bare poll interval "
          f"{opts.bare_interval * 1000:.0f} ms, drillbook 20 ms")  # fmt: skip

    rounds: list[dict[str, Any]] = []
    for r in range(opts.rounds):
        shift = r % len(VARIANTS)
        order = (*VARIANTS[shift:], *VARIANTS[:shift], WHAT_IF_VARIANT)
        res: dict[str, Any] = {"order": order}
        for v in order:
            res[v] = run_worker(v, opts, ctx)
        # What moto costs before it can even bind: the interpreter plus its imports.
        res["py_bare"] = python_import_cost("pass")
        res["py_moto_import"] = python_import_cost("import moto.server")
        res["load"] = os.getloadavg()[0]
        rounds.append(res)
        errs = {v: res[v].get("errors") for v in VARIANTS if res[v].get("errors")}
        print(f"round {r + 1}/{opts.rounds}: load {res['load']:.2f}  "
              + "  ".join(f"{v}={fmt_s(res[v].get('stack')).strip()}" for v in VARIANTS)
              + (f"  ERRORS {errs}" if errs else ""))  # fmt: skip
        for v in order:
            if res[v].get("stderr_tail"):
                print(f"  {v} stderr: {res[v]['stderr_tail']}")

    what_if = what_if_template_copy(ctx, opts.rounds) if "postgres" in SERVICES else {}
    if opts.json:
        opts.json.write_text(
            json.dumps({"ctx": ctx, "rounds": rounds, "what_if": what_if}, indent=1)
        )
    report(rounds)
    print()
    print("what if: LocalS3's probe reuses one boto3 client (same round, fresh processes)")
    cur = [_get(r["drillbook/serial"], "services", "s3") for r in rounds]
    fix = [_get(r[WHAT_IF_VARIANT], "services", "s3") for r in rounds]
    bare = [_get(r["bare/serial"], "services", "s3") for r in rounds]
    print(f"  {'s3 start->ready, as is':44} {summary(cur):>26}")
    print(f"  {'s3 start->ready, one probe client':44} {summary(fix):>26}")
    print(f"  {'s3 start->ready, bare':44} {summary(bare):>26}")
    r_cur = ratio_summary(list(zip(fix, cur, strict=True)))
    r_bare = ratio_summary(list(zip(fix, bare, strict=True)))
    print(f"  {'ratio one-client / as-is':44} {r_cur:>26}")
    print(f"  {'ratio one-client / bare':44} {r_bare:>26}")
    stack_fix = [_get(r[WHAT_IF_VARIANT], "stack") for r in rounds]
    stack_bare = [_get(r["bare/serial"], "stack") for r in rounds]
    print(f"  {'serial stack ratio one-client / bare':44} "
          f"{ratio_summary(list(zip(stack_fix, stack_bare, strict=True))):>26}")  # fmt: skip
    print()
    if what_if:
        print("what if: copy a cluster initdb'd once (per session) instead of initdb each time")
    for key, vals in what_if.items():
        print(f"  {key:44} {summary(vals):>26}")
    return 0


def what_if_template_copy(ctx: dict[str, Any], n: int) -> dict[str, list[float]]:
    """initdb once, then `cp -a` the fresh cluster n times and start each copy.

    A candidate fix for the largest PostgreSQL cost (initdb); measured here, not built.
    """
    uid, gid = ctx["pg_uid"], ctx["pg_gid"]
    as_other = uid != os.getuid()
    ukw: dict[str, Any] = {"user": uid, "group": gid, "extra_groups": []} if as_other else {}
    env = {**os.environ, "HOME": "/tmp", "LC_ALL": "C"}
    bindir = Path(ctx["pg_bindir"])
    root = Path(tempfile.mkdtemp(prefix="drillbook-bench-tmpl-"))
    out: dict[str, list[float]] = {"initdb (once)": [], "cp -a of the template": [],
                                   "postgres start on the copy -> SELECT 1": []}  # fmt: skip
    running: list[subprocess.Popen[bytes]] = []
    try:
        root.chmod(0o755)
        if as_other:
            os.chown(root, uid, gid)
        tmpl = root / "template"
        t = now()
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(tmpl), "-U", "bench", "--auth=trust",
             "-E", "UTF8", "--locale=C", "--data-checksums", "--no-sync"],
            check=True, capture_output=True, env=env, **ukw,
        )  # fmt: skip
        out["initdb (once)"].append(now() - t)
        import psycopg

        for i in range(n):
            dest = root / f"copy{i}"
            t = now()
            subprocess.run(["cp", "-a", str(tmpl), str(dest)], check=True, **ukw)
            out["cp -a of the template"].append(now() - t)
            port = _free_port()
            t = now()
            with open(root / f"copy{i}.log", "ab") as log:
                p = subprocess.Popen(
                    [str(bindir / "postgres"), "-D", str(dest), "-c",
                     "listen_addresses=127.0.0.1", "-p", str(port), "-k", str(root)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, env=env, **ukw,
                )  # fmt: skip
            running.append(p)
            deadline = now() + 60
            while True:
                try:
                    with psycopg.connect(host="127.0.0.1", port=port, user="bench",
                                         dbname="postgres", connect_timeout=2) as c:  # fmt: skip
                        c.execute("SELECT 1")
                    break
                except Exception:
                    if p.poll() is not None or now() > deadline:
                        raise
                    time.sleep(0.005)
            out["postgres start on the copy -> SELECT 1"].append(now() - t)
            os.killpg(p.pid, signal.SIGINT)
            p.wait(30)
    finally:
        for p in running:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(30)
        shutil.rmtree(root, ignore_errors=True)
    return out


def _get(res: dict[str, Any], *path: str) -> float | None:
    cur: Any = res
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return float(cur) if cur is not None else None


def report(rounds: list[dict[str, Any]]) -> None:
    n = len(rounds)
    print()
    print(f"== time to ready, seconds: median [min-max] over {n} rounds;"
          " ratio = drillbook / bare of the same round ==")  # fmt: skip
    head = f"{'mode':8} {'what':22} {'drillbook':>24} {'bare':>24} {'ratio':>22}"
    print(head)
    print("-" * len(head))
    for mode in ("serial", "threads"):
        dk, bk = f"drillbook/{mode}", f"bare/{mode}"
        rows: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
            (s, ("services", s), ("services", s)) for s in SERVICES
        ]
        rows += [
            ("stack (no imports)", ("stack",), ("stack",)),
            ("cold (spawn->ready)", ("cold",), ("cold",)),
        ]
        for label, dp, bp in rows:
            dv = [_get(r[dk], *dp) for r in rounds]
            bv = [_get(r[bk], *bp) for r in rounds]
            print(
                f"{mode:8} {label:22} {summary(dv):>24} {summary(bv):>24} "
                f"{ratio_summary(list(zip(dv, bv, strict=True))):>22}"
            )
        print()
    # Threaded start: does it work, and what does it buy?
    for kind in ("drillbook", "bare"):
        ser = [_get(r[f"{kind}/serial"], "stack") for r in rounds]
        thr = [_get(r[f"{kind}/threads"], "stack") for r in rounds]
        ratio = ratio_summary(list(zip(thr, ser, strict=True)))
        print(f"{kind}: threads/serial stack ratio {ratio}")
    fails = [
        (i + 1, v, r[v]["errors"]) for i, r in enumerate(rounds) for v in VARIANTS
        if r[v].get("errors")
    ]  # fmt: skip
    print(f"errors: {fails if fails else 'none'}")

    print()
    print("== where the time goes (serial variants), seconds: median [min-max] ==")
    d: list[dict[str, Any]] = [r["drillbook/serial"] for r in rounds]
    b: list[dict[str, Any]] = [r["bare/serial"] for r in rounds]

    def row(label: str, vals: Sequence[float | None]) -> None:
        print(f"  {label:44} {summary([v for v in vals if v is not None]):>26}")

    print("drillbook (fresh process):")
    row("interpreter start (spawn -> script runs)", [_get(x, "interpreter_start") for x in d])
    row("import psycopg, redis, boto3", [_get(x, "import_clients") for x in d])
    row("import pytest (fixtures/*.py need it)", [_get(x, "import_pytest") for x in d])
    row("import fixtures.local (rest)", [_get(x, "import_fixtures") for x in d])
    row("LocalBackend()", [_get(x, "backend_init") for x in d])
    for key in (
        "pg.find_postgres", "pg.shareable_pg", "pg.initdb", "pg.start_to_ready",
        "redis.find_redis", "redis.start_to_ready", "s3.start_to_ready",
        "s3.probe", "s3.probe.client_create", "pg.probe", "redis.probe", "spawn",
    ):  # fmt: skip
        row(key, [_get(x, "phases", key) for x in d])
    for key in ("pg.probe", "redis.probe", "s3.probe"):
        cnt = [_get(x, "counts", key) for x in d]
        row(f"{key} attempts", cnt)
    for svc in SERVICES:
        row(f"close {svc}", [_get(x, "close", svc) for x in d])
    print("bare (fresh process):")
    row("interpreter start", [_get(x, "interpreter_start") for x in b])
    row("import psycopg, redis, boto3", [_get(x, "import_clients") for x in b])
    for key in (
        "pg.initdb", "pg.start_to_ready", "redis.start_to_ready", "s3.client_create",
        "s3.spawn_to_port_open", "s3.port_open_to_first_ok", "s3.start_to_ready",
    ):  # fmt: skip
        row(key, [_get(x, "phases", key) for x in b])
    print("moto's own start, measured apart:")
    row("python -c pass", [r["py_bare"] for r in rounds])
    row("python -c 'import moto.server'", [r["py_moto_import"] for r in rounds])
    row("load average (1 min) after the round", [r["load"] for r in rounds])

    # Which part dominates the drillbook serial stack?
    keys = ["pg.find_postgres", "pg.initdb", "pg.start_to_ready", "redis.find_redis",
            "redis.start_to_ready", "s3.start_to_ready"]  # fmt: skip
    med = {}
    for k in keys:
        vals = [v for v in (_get(x, "phases", k) for x in d) if v is not None]
        if vals:
            med[k] = statistics.median(vals)
    stack = [v for v in (_get(x, "stack") for x in d) if v is not None]
    if med and stack:
        total = statistics.median(stack)
        top = sorted(med.items(), key=lambda kv: -kv[1])
        print()
        parts = ", ".join(f"{k} {v:.3f} s ({v / total:.0%})" for k, v in top)
        print(f"dominant parts of the drillbook serial stack (median {total:.3f} s): {parts}")


if __name__ == "__main__":
    sys.exit(main())
