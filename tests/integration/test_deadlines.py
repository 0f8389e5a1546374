"""A deadline always fires, and a second SIGTERM still cleans up (issues 11 and 12).

Each case runs a real pytest in a subprocess (tests/integration/test_cleanup.py's
sandbox: its own ``DRILLBOOK_TMPDIR``, the project's plugins and drills.toml) with
``DRILLBOOK_DEADLINE=2s`` (``--drill-deadline``), on drills whose recovery blocks where a
SIGALRM alone cannot stop it:

- ``os.system("sleep ...")``: the C ``system()`` waits for its child whatever signal
  comes; the watchdog kills the child and the drill ends RTO_EXCEEDED (STEP_TIMEOUT with
  a step's own timeout);
- ``subprocess.run`` without a timeout, a socket read from a server that never
  answers: RTO_EXCEEDED, and nothing the step started outlives it;
- a thread that blocks SIGALRM and sleeps (no signal reaches it): the watchdog removes
  every server and temporary directory of the run and ends the process (status 1).

The inner run must end by itself (the outer wait is only a guard against a hang) and
leave no process of the steps, no server and no run directory behind. Then the double
SIGTERM: the first starts the teardown, the second 0.7 s later must not abandon it.
"""

from __future__ import annotations

import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import leftovers
from tests.integration.test_cleanup import (
    Sandbox,
    discard_sandbox,
    finish,
    make_sandbox,
    wait_for_no_leftovers,
)

pytestmark = pytest.mark.slow

# Unusual sleep lengths: a leftover is found by its command line afterwards.
HANGS = """
import os
import signal
import socket
import subprocess
import time

import pytest

from drillbook import watchdog
from drillbook.record import Phase

watchdog.STUCK_AFTER = 3.0  # the stuck case ends the run after 3 s, not 30


def broken(drill):
    with drill.fault("the restore host stops answering"):
        pass
    drill.observe_detection("the runbook's health check")
    drill.decide("restore from the last good backup")


@pytest.mark.drill(service="smoke", scenario="restore blocked in os.system")
def test_os_system(drill):
    broken(drill)
    with drill.step("restore (os.system)", Phase.EXECUTION):
        os.system("sleep 86401")


@pytest.mark.drill(service="smoke", scenario="a step of its own blocked in os.system")
def test_os_system_step_timeout(drill):
    broken(drill)
    with drill.step("restore (os.system, 1 s budget)", Phase.EXECUTION, timeout=1.0):
        os.system("sh -c 'sleep 86402; sleep 86402'")


@pytest.mark.drill(service="smoke", scenario="restore blocked in subprocess.run")
def test_subprocess_run(drill):
    broken(drill)
    with drill.step("restore (subprocess.run, no timeout)", Phase.EXECUTION):
        subprocess.run(["sh", "-c", "sleep 86403 & sleep 86403; wait"])


@pytest.mark.drill(service="smoke", scenario="restore blocked on a socket read")
def test_socket_read(drill):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    broken(drill)
    with drill.step("restore (waits for a reply that never comes)", Phase.EXECUTION):
        client.recv(1)
"""

STUCK = """
import signal
import time

import pytest

from drillbook import watchdog
from drillbook.record import Phase

watchdog.STUCK_AFTER = 3.0


@pytest.mark.drill(service="smoke", scenario="restore stuck where no signal reaches")
def test_stuck(drill, pg):
    with drill.fault("nothing"):
        pass
    with drill.step("restore (SIGALRM blocked, sleeping)", Phase.EXECUTION):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(86404)
"""


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    box = make_sandbox(tmp_path)
    try:
        yield box
    finally:
        leftovers.kill(r"sleep 8640[0-4]")  # never leave a sleep of ours behind
        # The sandbox's DRILLBOOK_TMPDIR is outside tmp_path (see make_sandbox), with the
        # inner runs' initdb cache in it: 39 MB a test if left.
        shutil.rmtree(box.runs, ignore_errors=True)


def run(box: Sandbox, name: str, source: str) -> tuple[int, str]:
    """The inner pytest on *source*; the wait is only a guard (each drill ends ~2 s
    after its t0), and a leftover holding the output pipe open would show up here."""
    (box.tests / name).write_text(source)
    return finish(box.start_pytest(name), timeout=120.0)


@pytest.fixture(autouse=True)
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--drill-deadline=2s`` for the inner runs; they write no report or history (the
    inner run's project root is this repository)."""
    monkeypatch.setenv("DRILLBOOK_DEADLINE", "2s")
    monkeypatch.setenv("DRILLBOOK_NO_REPORT", "1")


def drill_codes(out: str) -> dict[str, set[str]]:
    codes = {}
    for line in out.splitlines():
        if m := re.match(r"^(PASS|FAIL|NOT RUN)\s+\S+::(\S+)\s.*?(?:findings: (.*))?$", line):
            codes[m.group(2)] = set((m.group(3) or "").split(", ")) - {""}
    return codes


def test_a_deadline_stops_a_step_blocked_in_a_call_no_signal_interrupts(box: Sandbox) -> None:
    code, out = run(box, "test_hangs.py", HANGS)
    assert code == pytest.ExitCode.TESTS_FAILED, out
    codes = drill_codes(out)
    assert "RTO_EXCEEDED" in codes.get("test_os_system", set()), out
    assert "STEP_TIMEOUT" in codes.get("test_os_system_step_timeout", set()), out
    assert "RTO_EXCEEDED" in codes.get("test_subprocess_run", set()), out
    assert "RTO_EXCEEDED" in codes.get("test_socket_read", set()), out
    assert "drills: 0 passed, 4 failed, 0 not run" in out, out
    assert leftovers.running(r"sleep 8640[0-3]") == [], out
    assert not list(box.runs.glob("run-*")), out


def test_a_step_no_signal_reaches_ends_the_run_and_removes_everything(box: Sandbox) -> None:
    code, out = run(box, "test_stuck.py", STUCK)
    assert code == 1, out
    assert "is still blocked" in out and "exits with status 1" in out, out
    assert not list(box.runs.glob("run-*")), out  # the session PostgreSQL went with it


def test_a_second_sigterm_finishes_the_cleanup_faster(box: Sandbox) -> None:
    proc = box.start_pytest("test_generated.py", "hang")
    try:
        box.wait_ready(proc)
        servers = box.servers()
        assert servers and all(s.alive() for s in servers)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.7)
        proc.send_signal(signal.SIGTERM)
        code, out = finish(proc, timeout=60)
        assert "second SIGTERM" in out, out
        assert code in (pytest.ExitCode.INTERRUPTED, 143), out
        wait_for_no_leftovers(box, servers)
    finally:
        discard_sandbox(box, proc)
