"""The watchdog: a deadline that passes always stops the drill, whatever it is blocked in.

A SIGALRM (:mod:`drillbook.deadline`) stops Python code and interruptible waits. It
cannot stop a call that waits for a child whatever signal comes (``os.system``,
``subprocess.run`` without a timeout, a C extension's own wait loop), nor a read from a
server that will never answer. So when a deadline passes, this thread:

1. notes the drill's processes: every descendant of this process that was not there
   when the drill began, except the session servers (they outlive the drill) and their
   children: the step's commands, whatever started them, and the servers the drill
   started (noted before anything is signalled: a killed parent orphans its children);
2. sends SIGALRM to the drill's thread, waits a moment for it to take the StepTimeout,
   then kills those processes (SIGKILL: a step past its deadline gets no grace), so the
   blocking call returns and nothing the step started outlives it;
3. while the drill's thread still has not taken it, sends SIGALRM again and kills what
   appeared since, for *stuck_after* seconds;
4. if the thread is stuck even then (a call no signal or dead child ends), removes
   every server and temporary directory of the run and exits the process with status
   1, saying why on stderr: a CI job must end, and nothing may leak.

The drill records STEP_TIMEOUT or RTO_EXCEEDED as for any deadline, and teardown runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable
from types import ModuleType

from drillbook.deadline import Deadlines

GRACE = 0.2  # seconds the drill's thread gets to take the StepTimeout before the kills
RETRY = 0.5  # seconds between repeated SIGALRMs while it is blocked
STUCK_AFTER = 30.0  # seconds after which the run is ended (everything removed first)
SESSION_LABEL = "-session"  # the session servers' name suffix (drillbook.fixtures.services)


def _procs() -> ModuleType:
    """The run's process registry (imported late: the engine never needs it at import)."""
    from drillbook.fixtures import procs

    return procs


def _identified(pids: Iterable[int]) -> set[tuple[int, int]]:
    """(pid, kernel start time) of each live pid: a recycled pid is never mistaken."""
    procs = _procs()
    out = set()
    for pid in pids:
        start = procs.proc_start_time(pid)
        if start is not None:
            out.add((pid, start))
    return out


def own_processes() -> set[tuple[int, int]]:
    """Every live descendant of this process, identified."""
    return _identified(_procs().descendants(os.getpid()))


class Watchdog:
    """One drill's watchdog thread, started with its first deadline, ended with the drill.

    *protected*: processes that were there before the drill (taken now unless given).
    """

    def __init__(
        self,
        deadlines: Deadlines,
        *,
        protected: set[tuple[int, int]] | None = None,
        grace: float = GRACE,
        stuck_after: float | None = None,
    ) -> None:
        self.deadlines = deadlines
        self.protected = own_processes() if protected is None else protected
        self.grace = grace
        self.stuck_after = STUCK_AFTER if stuck_after is None else stuck_after
        self.killed: list[tuple[int, int]] = []
        self._handled: set[tuple[float, str]] = set()
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (idempotent); it sleeps until the nearest deadline."""
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(
                target=self._run, name="drillbook-watchdog", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        with self.deadlines.lock:
            self._closed = True
            self.deadlines.changed.notify_all()

    # -- the thread -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self.deadlines.lock:
                if self._closed:
                    return
                due = self._next()
                if due is None or due[0] > time.monotonic():
                    wait = None if due is None else due[0] - time.monotonic()
                    self.deadlines.changed.wait(wait)
                    continue
                self._handled.add(due)
            try:
                self._fire(*due)
            except Exception as exc:  # never let the watchdog die silently
                sys.stderr.write(f"drillbook watchdog: {type(exc).__name__}: {exc}\n")

    def _next(self) -> tuple[float, str] | None:
        pending = [d for d in self.deadlines.stack if d not in self._handled]
        return min(pending) if pending else None

    def _fire(self, at: float, reason: str) -> None:
        tree = self.drill_processes()  # before the signal: nothing is orphaned yet
        signalled = self.deadlines.active(at, reason) and self.deadlines.interrupt()
        taken = signalled and self._taken((at, reason), self.grace)
        if not taken and not self.deadlines.active(at, reason):
            return  # the step ended just in time: nothing to stop
        self._kill(tree)
        if taken or not signalled:
            return
        end = time.monotonic() + self.stuck_after
        while time.monotonic() < end:
            if not self.deadlines.active(at, reason) or self._closed:
                return  # the step ended (its deadline popped): the thread is free
            if not self.deadlines.interrupt():
                return  # no handler to raise in (not the main thread, or cleared)
            if self._taken((at, reason), RETRY):
                return
            self._kill(self.drill_processes())
        if self.deadlines.enabled and self.deadlines.active(at, reason):
            self._emergency(reason)

    def _taken(self, due: tuple[float, str], within: float) -> bool:
        """The drill's thread raised the StepTimeout for *due* (within *within* s)."""
        end = time.monotonic() + within
        with self.deadlines.lock:
            while True:
                if due in self.deadlines.fired:
                    return True
                left = end - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self.deadlines.changed.wait(left)

    # -- processes ----------------------------------------------------------------------
    def drill_processes(self) -> set[tuple[int, int]]:
        """This drill's processes now: new descendants, session servers' trees excepted."""
        procs = _procs()
        session = [r.pid for r in procs.recorded() if r.label.endswith(SESSION_LABEL)]
        keep = set(self.protected) | _identified(session)
        for pid, _start in list(keep):
            keep |= _identified(procs.descendants(pid))
        return own_processes() - keep

    def _kill(self, tree: set[tuple[int, int]]) -> None:
        procs = _procs()
        for pid, start in sorted(tree):
            if procs.pid_alive(pid, start):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                self.killed.append((pid, start))
        for pid, _start in tree:
            # Not reaped here: the step's Popen must see its command's SIGKILL status.
            procs.wait_gone(pid, timeout=2.0, reap=False)

    def _emergency(self, reason: str) -> None:
        sys.stderr.write(
            f"\ndrillbook: {reason}, and the drill's thread is still blocked "
            f"{self.stuck_after:.0f} s later in a call that no signal and no killed child "
            "ends: every server and temporary directory of this run is removed, and the "
            "test process exits with status 1\n"
        )
        sys.stderr.flush()
        with contextlib.suppress(Exception):
            self._kill(self.drill_processes())
        with contextlib.suppress(Exception):
            _procs().close_current_run()
        os._exit(1)
