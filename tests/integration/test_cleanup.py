"""No server process or temporary data dir outlives the pytest run (issue 2, "Cleanup").

Each case runs a real pytest in a subprocess against the project's plugins, with an
isolated ``DRILLBOOK_TMPDIR``, on a generated test that starts PostgreSQL, Redis and S3
through the ``pg``, ``redis_db`` and ``s3`` fixtures and writes the server PIDs (with
their kernel start times, so a recycled PID is never mistaken for a survivor) to a file.
Afterwards every recorded server, every process of its process group (PostgreSQL
backends) and every ``run-*`` directory must be gone:

- a passing run, a failing test, SIGINT (Ctrl-C) and SIGTERM while a test runs:
  torn down in-process;
- ``kill -9`` of pytest: the servers survive (nothing in-process can run), then the next
  pytest run, or ``drillbook clean``, reaps them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drillbook.fixtures import procs

ROOT = Path(__file__).resolve().parents[2]
SERVER_FIXTURES = ("pg_server", "redis_server", "s3_server")
RUN_TIMEOUT = 90.0  # one inner pytest run, start to end (normally ~6 s)
POLL = 0.02

pytestmark = pytest.mark.slow

# The generated test. The env var DRILLBOOK_CLEANUP_MODE picks what it does after the
# servers are up: pass, fail, or hang (announce "ready" and sleep until signalled).
GENERATED_TEST = """
import json
import os
import signal
import time
from pathlib import Path

from drillbook.fixtures.procs import proc_start_time

# A pytest started in the background by a shell without job control inherits SIGINT
# ignored; this test is about what happens on Ctrl-C, so restore Python's handler.
signal.signal(signal.SIGINT, signal.default_int_handler)

OUT = Path(os.environ["DRILLBOOK_CLEANUP_OUT"])
MODE = os.environ["DRILLBOOK_CLEANUP_MODE"]
HELD = []


def descendants(pid):
    # (pid, start time) of every live descendant: PostgreSQL's backends and workers
    # call setsid(), so they are not in the postmaster's process group.
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        ppid = int(raw[raw.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            start = proc_start_time(child)
            if start is not None:
                found.append([child, start])
                todo.append(child)
    return found


def test_services(pg, redis_db, s3, request):
    pg.execute("CREATE TABLE t (x int)")
    pg.execute("INSERT INTO t VALUES (1)")
    redis_db.client().set("k", "v")
    s3.client().create_bucket(Bucket="cleanup")
    # A drill holds connections: one open backend while pytest is interrupted or killed.
    HELD.append(pg.connect())
    HELD[0].execute("SELECT count(*) FROM t").fetchone()

    servers = {}
    for name in __FIXTURES__:
        handle = request.getfixturevalue(name)
        servers[name] = {
            "pid": handle.pid,
            "start_time": proc_start_time(handle.pid),
            "root": str(handle.root),
            "descendants": descendants(handle.pid),
        }
    tmp = OUT / "servers.json.tmp"
    tmp.write_text(json.dumps(servers))
    tmp.replace(OUT / "servers.json")

    if MODE == "fail":
        raise AssertionError("deliberate failure")
    if MODE == "hang":
        (OUT / "ready").write_text(str(os.getpid()))
        time.sleep(300)
""".replace("__FIXTURES__", repr(SERVER_FIXTURES))

TRIVIAL_TEST = """
def test_nothing():
    pass
"""


@dataclass
class Server:
    name: str
    pid: int
    start_time: int
    root: Path
    descendants: list[tuple[int, int]]

    def alive(self) -> bool:
        return procs.pid_alive(self.pid, self.start_time)

    def alive_descendants(self) -> list[int]:
        return [pid for pid, start in self.descendants if procs.pid_alive(pid, start)]


@dataclass
class Sandbox:
    """One case's isolated world: its run-dir base, generated tests and outputs."""

    runs: Path  # DRILLBOOK_TMPDIR
    tests: Path  # generated test files (and a copy of the project's conftest.py)
    out: Path  # where the generated test writes servers.json and ready

    def env(self, mode: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.update(
            DRILLBOOK_TMPDIR=str(self.runs),
            DRILLBOOK_BACKEND="local",
            DRILLBOOK_CLEANUP_OUT=str(self.out),
            DRILLBOOK_CLEANUP_MODE=mode,
            PYTHONUNBUFFERED="1",
        )
        return env

    def start_pytest(self, test_file: str, mode: str = "pass") -> subprocess.Popen[str]:
        """pytest in a subprocess, from the project root, with the project's ini and plugins.

        The generated files live outside the project (so that a parallel ``pytest tests``
        never collects them); the project's conftest.py is copied beside them so the
        plugins load exactly as listed there, and ``-c pyproject.toml`` brings the ini
        (``pythonpath = ["."]``, addopts).
        """
        argv = [
            sys.executable, "-m", "pytest",
            "-c", str(ROOT / "pyproject.toml"),
            "--rootdir", str(self.tests),
            "-p", "no:cacheprovider",
            "-q", "-s",
            str(self.tests / test_file),
        ]  # fmt: skip
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env(mode),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a Ctrl-C on the outer terminal is not this case's
        )

    def servers(self) -> list[Server]:
        path = self.out / "servers.json"
        if not path.exists():
            return []
        data = json.loads(path.read_text())
        return [
            Server(
                name,
                d["pid"],
                d["start_time"],
                Path(d["root"]),
                [(pid, start) for pid, start in d["descendants"]],
            )
            for name, d in data.items()
        ]

    def wait_ready(self, proc: subprocess.Popen[str], timeout: float = RUN_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not (self.out / "ready").exists():
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"inner pytest exited {proc.returncode} before ready:\n{out}")
            if time.monotonic() > deadline:
                pytest.fail(f"inner test not ready after {timeout:.0f} s")
            time.sleep(POLL)


def finish(proc: subprocess.Popen[str], timeout: float = RUN_TIMEOUT) -> tuple[int, str]:
    """Wait for the inner pytest with a deadline; its exit code and output."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"inner pytest still running after {timeout:.0f} s:\n{out}")
    return proc.returncode, out


def run_pytest(box: Sandbox, test_file: str, mode: str = "pass") -> tuple[int, str]:
    return finish(box.start_pytest(test_file, mode))


def _group_members(pgids: set[int]) -> list[str]:
    """Live (non-zombie) processes in any of *pgids*: PostgreSQL backends and the like."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            raw = stat.read_text()
            fields = raw[raw.rindex(")") + 2 :].split()
            state, pgrp = fields[0], int(fields[2])
            if pgrp in pgids and state != "Z":
                found.append(f"pid {stat.parent.name} {raw[: raw.rindex(')') + 1]}")
    return found


def wait_for_no_leftovers(box: Sandbox, servers: list[Server], timeout: float = 15.0) -> None:
    """Every recorded server, its descendants and its process group gone; no run-* dir,
    no data dir. (PostgreSQL's backends call setsid(): they are the postmaster's
    descendants, not members of its process group.)

    A SIGKILLed process can stay a zombie for a moment; a zombie of someone else counts
    as gone (it holds no port, no file), and ours would be reaped here.
    """
    assert servers, "the generated test recorded no server"
    deadline = time.monotonic() + timeout
    while True:
        for s in servers:  # should one be our child (it is not), reap it
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(s.pid, os.WNOHANG)
        alive = [f"{s.name} (pid {s.pid})" for s in servers if s.alive()]
        alive += [f"{s.name} child (pid {pid})" for s in servers for pid in s.alive_descendants()]
        members = _group_members({s.pid for s in servers})
        run_dirs = sorted(p.name for p in box.runs.glob("run-*"))
        data_dirs = [str(s.root) for s in servers if s.root.exists()]
        if not (alive or members or run_dirs or data_dirs):
            return
        if time.monotonic() > deadline:
            pytest.fail(
                "left behind after the run: "
                f"servers {alive}, group members {members}, run dirs {run_dirs} "
                f"in {box.runs}, data dirs {data_dirs}"
            )
        time.sleep(POLL)


def make_sandbox(tmp: Path) -> Sandbox:
    # Not under tmp_path for the run dirs: running as root, PostgreSQL runs as an
    # unprivileged user who must traverse to its data dir, and pytest's basetemp is 0700.
    runs = Path(tempfile.mkdtemp(prefix="drillbook-cleanup-"))
    runs.chmod(0o755)
    tests = tmp / "generated"
    out = tmp / "out"
    tests.mkdir(parents=True)
    out.mkdir()
    shutil.copy(ROOT / "conftest.py", tests / "conftest.py")
    (tests / "test_generated.py").write_text(GENERATED_TEST)
    (tests / "test_trivial.py").write_text(TRIVIAL_TEST)
    return Sandbox(runs=runs, tests=tests, out=out)


def discard_sandbox(box: Sandbox, proc: subprocess.Popen[str]) -> None:
    """Whatever a failed case left must not outlive this test module either."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    for s in box.servers():
        procs.kill_group(s.pid, s.pid, s.start_time, timeout=10)
        for pid, start in s.descendants:
            procs.kill_group(pid, pid, start, timeout=10)
    shutil.rmtree(box.runs, ignore_errors=True)


# -- the cases: what to do with the inner pytest once it runs, then the leftover check ----


def case_pass(box: Sandbox, proc: subprocess.Popen[str]) -> None:
    code, out = finish(proc)
    assert code == 0, out
    wait_for_no_leftovers(box, box.servers())


def case_fail(box: Sandbox, proc: subprocess.Popen[str]) -> None:
    code, out = finish(proc)
    assert code == pytest.ExitCode.TESTS_FAILED, out
    assert "deliberate failure" in out
    wait_for_no_leftovers(box, box.servers())


def _signal(box: Sandbox, proc: subprocess.Popen[str], sig: int) -> None:
    box.wait_ready(proc)
    servers = box.servers()
    assert servers and all(s.alive() for s in servers)
    assert any(s.descendants for s in servers), "no PostgreSQL backend recorded"
    proc.send_signal(sig)
    code, out = finish(proc, timeout=60)
    # An interrupted run exits 2; the plugin turns SIGTERM into KeyboardInterrupt, so
    # fixtures are torn down exactly as on Ctrl-C.
    assert code == pytest.ExitCode.INTERRUPTED, out
    assert "KeyboardInterrupt" in out, out
    wait_for_no_leftovers(box, servers)


def case_sigint(box: Sandbox, proc: subprocess.Popen[str]) -> None:
    _signal(box, proc, signal.SIGINT)


def case_sigterm(box: Sandbox, proc: subprocess.Popen[str]) -> None:
    _signal(box, proc, signal.SIGTERM)


def _kill_9(box: Sandbox, proc: subprocess.Popen[str]) -> list[Server]:
    box.wait_ready(proc)
    servers = box.servers()
    proc.kill()  # SIGKILL to pytest alone, as `kill -9 <pid>` does
    finish(proc, timeout=30)
    # Nothing in-process runs after SIGKILL: the servers are expected to survive, and
    # their run dir too, until someone reaps them.
    assert servers and all(s.alive() for s in servers), "servers died with pytest"
    assert any(s.alive_descendants() for s in servers), "no PostgreSQL backend recorded"
    assert list(box.runs.glob("run-*"))
    return servers


def case_kill9_next_run(box: Sandbox, proc: subprocess.Popen[str]) -> None:
    servers = _kill_9(box, proc)
    code, out = run_pytest(box, "test_trivial.py")
    assert code == 0, out
    wait_for_no_leftovers(box, servers)


def case_kill9_drillbook_clean(box: Sandbox, proc: subprocess.Popen[str]) -> None:
    servers = _kill_9(box, proc)

    def drillbook(*args: str) -> subprocess.CompletedProcess[str]:
        # `python -m drillbook.cli` from the project root, as the console script runs it.
        return subprocess.run(
            [sys.executable, "-m", "drillbook.cli", *args],
            cwd=ROOT, env=box.env("pass"), capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    dry = drillbook("clean", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would remove" in dry.stdout, dry.stdout
    assert all(s.alive() for s in servers), "--dry-run killed something"
    assert list(box.runs.glob("run-*")), "--dry-run removed something"

    res = drillbook("clean")
    assert res.returncode == 0, res.stdout + res.stderr
    for s in servers:
        assert f"(pid {s.pid})" in res.stdout, res.stdout
    assert "removed:" in res.stdout, res.stdout
    wait_for_no_leftovers(box, servers)


# case id -> (what the generated test does, what the outer test does)
CASES: dict[str, tuple[str, Callable[[Sandbox, subprocess.Popen[str]], None]]] = {
    "pass": ("pass", case_pass),
    "failing-test": ("fail", case_fail),
    "SIGINT": ("hang", case_sigint),
    "SIGTERM": ("hang", case_sigterm),
    "kill-9-then-next-run": ("hang", case_kill9_next_run),
    "kill-9-then-drillbook-clean": ("hang", case_kill9_drillbook_clean),
}


class Launcher:
    """Starts each case's inner pytest once; the module fixture owns them all."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.started: dict[str, tuple[Sandbox, subprocess.Popen[str]]] = {}

    def get(self, case: str) -> tuple[Sandbox, subprocess.Popen[str]]:
        if case not in self.started:
            box = make_sandbox(self.tmp_path_factory.mktemp(case))
            self.started[case] = (box, box.start_pytest("test_generated.py", CASES[case][0]))
        return self.started[case]

    def close(self) -> None:
        for box, proc in self.started.values():
            discard_sandbox(box, proc)


@pytest.fixture(scope="module")
def launcher(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Launcher]:
    """Start the inner pytest of every selected case at once.

    Each takes seconds to start three servers; side by side, the cases cost about as
    much as the slowest one instead of their sum. Under xdist every worker sees the
    whole collection, so there each case starts only when its test runs.
    """
    launcher = Launcher(tmp_path_factory)
    try:
        if not hasattr(request.config, "workerinput"):
            for item in request.session.items:
                if getattr(item, "originalname", "") == "test_nothing_outlives_the_run":
                    launcher.get(item.callspec.params["case"])  # type: ignore[attr-defined]
        yield launcher
    finally:
        launcher.close()


@pytest.mark.parametrize("case", list(CASES))
def test_nothing_outlives_the_run(case: str, launcher: Launcher) -> None:
    box, proc = launcher.get(case)
    CASES[case][1](box, proc)
