"""A second SIGTERM: finish the cleanup faster, never abandon it.

The first SIGTERM ends the run like Ctrl-C (``drillbook.plugin``): fixtures are torn
down, servers stopped, temporary directories removed. A supervisor that grows impatient
sends another; dying then (the default action) leaked every server still running. So the
second and later ones start :func:`hurry` instead, in a thread:

1. every server this process's run recorded is SIGKILLed now: teardown then finds them
   gone instead of waiting for each graceful stop;
2. every other process of ours gets SIGTERM (a command a step is still waiting for, so
   the blocked call returns; an xdist worker, which then cleans up after itself);
3. the teardown goes on; if the process is still there *HURRY_DEADLINE* seconds later
   (a main thread blocked where nothing interrupts it), the run's directory is removed
   with everything in it and the process exits with status 143, saying so on stderr.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

HURRY_DEADLINE = 20.0

_started = threading.Event()


def hurry() -> None:
    """Start the faster cleanup once (called from the SIGTERM handler)."""
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=_run, name="drillbook-hurry", daemon=True).start()


def _run() -> None:
    from drillbook.fixtures import procs

    sys.stderr.write(
        "\ndrillbook: second SIGTERM: killing this run's servers now, teardown goes on "
        f"(at most {HURRY_DEADLINE:.0f} s more)\n"
    )
    with contextlib.suppress(Exception):
        procs.kill_recorded()
    with contextlib.suppress(Exception):
        for pid in procs.descendants(os.getpid()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
    time.sleep(HURRY_DEADLINE)
    sys.stderr.write(
        f"drillbook: teardown still running {HURRY_DEADLINE:.0f} s after the second "
        "SIGTERM: removing every server and temporary directory of this run, exiting 143\n"
    )
    with contextlib.suppress(Exception):
        for pid in procs.descendants(os.getpid()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        procs.close_current_run()
    os._exit(143)
