"""The watchdog waits for what it killed without reaping it.

A killed command's ``Popen`` must read its SIGKILL status. Were the watchdog to reap the
child (``waitpid``) first, ``Popen.wait`` would find no child and report exit status 0:
a killed ``pg_restore`` recorded as a success. Seen as a flaky
``test_a_hung_command_is_killed_at_the_step_timeout`` (1 run in 6 at load 2).
"""

from __future__ import annotations

import os
import signal
import subprocess

from drillbook.fixtures import procs


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
