"""The watchdog waits for what it killed without reaping it.

A killed command's ``Popen`` must read its SIGKILL status. Were the watchdog to reap the
child (``waitpid``) first, ``Popen.wait`` would find no child and report exit status 0:
a killed ``pg_restore`` recorded as a success. Seen as a flaky
``test_a_hung_command_is_killed_at_the_step_timeout`` (1 run in 6 at load 2).

And what is gone is gone for good: a process whose leader thread shows Z in /proc while
its other threads still run (a SIGKILLed weed, as its threads end) still serves its
sockets, so the reaper that takes it for dead removes nothing (seen once in CI: seven
SeaweedFS sockets left after the reaper's 3 s grace).
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drillbook.fixtures import procs

SYS_EXIT = {"x86_64": 60, "aarch64": 93}.get(platform.machine())
# The leader thread exits alone (SYS_exit, not exit_group): it shows Z in /proc while its
# other thread still runs, as a SIGKILLed Go server's leader does while its threads end.
ZOMBIE_LEADER = f"""
import ctypes, sys, threading
threading.Thread(target=sys.stdin.read).start()  # until the test closes the pipe
print("ready", flush=True)
ctypes.CDLL(None).syscall({SYS_EXIT}, 0)
"""


def test_wait_gone_without_reaping_leaves_the_status_to_popen() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        os.kill(proc.pid, signal.SIGKILL)
        assert procs.wait_gone(proc.pid, timeout=10, reap=False)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(SYS_EXIT is None, reason=f"no SYS_exit number for {platform.machine()}")
def test_a_zombie_leader_whose_threads_still_run_is_not_gone() -> None:
    """Its sockets are still served: the reaper must not take it for dead yet."""
    proc = subprocess.Popen(
        [sys.executable, "-c", ZOMBIE_LEADER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline() == "ready\n"
        state = ""
        for _ in range(500):  # the leader's exit follows the print
            state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                break
            time.sleep(0.01)
        assert state == "Z"
        assert procs.pid_alive(proc.pid)
        assert not procs.wait_gone(proc.pid, timeout=0.3, reap=False)
        proc.stdin.close()  # the last thread ends
        assert procs.wait_gone(proc.pid, timeout=10, reap=False)
        assert not procs.pid_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait(10)
