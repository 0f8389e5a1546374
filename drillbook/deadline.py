"""Deadlines of a drill: a hung step becomes a StepTimeout, whatever it is blocked in.

A drill's recovery may hang (a server that never answers, a restore that never ends, a
step stuck in ``os.system``); the drill must then end as RTO_EXCEEDED or STEP_TIMEOUT,
not hang the CI job. A stack of absolute deadlines (the drill's, each step's) drives two
mechanisms:

- the :class:`~drillbook.watchdog.Watchdog` thread wakes at the nearest deadline, notes
  the drill's processes and sends SIGALRM to the drill's thread: the handler here raises
  :class:`~drillbook.errors.StepTimeout`, at once when that thread runs Python code or
  waits in an interruptible call (``time.sleep``, a socket read);
- for what no signal interrupts (``os.system`` waits for its child whatever signal
  comes), the watchdog then kills the step's processes and the drill's servers, so the
  blocking call returns and the StepTimeout is raised.

Each deadline raises once. One that passed stays on the stack (the drill's) and stops
every step started afterwards: a drill that caught the StepTimeout cannot run on.

Subprocesses run through a step get their own timeout on top (:mod:`drillbook.steps`).
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from drillbook.errors import StepTimeout


class Deadlines:
    """Nested deadlines (the drill's, a step's), raised by SIGALRM in the drill's thread.

    Thread-safe: the watchdog reads the stack while the main thread pushes and pops (a
    re-entrant lock, as the SIGALRM handler runs in the main thread, maybe mid-push).
    """

    def __init__(self) -> None:
        self.stack: list[tuple[float, str]] = []  # (absolute monotonic deadline, reason)
        self.thread = threading.current_thread()
        self.enabled = self.thread is threading.main_thread() and hasattr(signal, "pthread_kill")
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        #: The deadlines the handler raised a StepTimeout for, in the drill's thread.
        self.fired: set[tuple[float, str]] = set()
        self._installed = False
        self._old: Any = None

    def push(self, at: float, reason: str) -> None:
        with self.lock:
            self.stack.append((at, reason))
            self._arm()
            self.changed.notify_all()

    def pop(self) -> None:
        with self.lock:
            if self.stack:
                self.stack.pop()
            self._arm()
            self.changed.notify_all()

    def nearest(self) -> tuple[float, str] | None:
        """(seconds left, reason) of the deadline that ends first."""
        with self.lock:
            if not self.stack:
                return None
            at, reason = min(self.stack)
        return at - time.monotonic(), reason

    def first(self) -> tuple[float, str] | None:
        """(absolute monotonic instant, reason) of the deadline that ends first."""
        with self.lock:
            return min(self.stack) if self.stack else None

    def active(self, at: float, reason: str) -> bool:
        with self.lock:
            return (at, reason) in self.stack

    def passed(self) -> str | None:
        """The reason of a deadline that fired and is still on the stack (the drill's):
        nothing may start after it."""
        with self.lock:
            fired = [d for d in self.stack if d in self.fired]
        return min(fired)[1] if fired else None

    def clear(self) -> None:
        """No deadline any more (the test body is over): the timer off, SIGALRM's
        previous handler back."""
        with self.lock:
            self.stack.clear()
            if self._installed:
                signal.signal(signal.SIGALRM, self._old or signal.SIG_DFL)
                self._installed, self._old = False, None
            self.changed.notify_all()

    def interrupt(self) -> bool:
        """Deliver SIGALRM to the drill's thread again (the watchdog, after it killed
        what the thread was blocked on): the handler raises if a deadline is due.

        Only while the drill's handler is installed (under the lock, so the main thread
        cannot restore the default action, which would end the process, meanwhile).
        """
        with self.lock:
            if not self._installed or self.thread.ident is None:
                return False
            signal.pthread_kill(self.thread.ident, signal.SIGALRM)
            return True

    def _handler(self, signum: int, frame: Any) -> None:
        now = time.monotonic()
        with self.lock:
            due = [d for d in self.stack if d[0] <= now + 0.001 and d not in self.fired]
            if not due:
                return
            first = min(due)
            self.fired.add(first)
            self.changed.notify_all()
        raise StepTimeout(first[1])

    def _arm(self) -> None:
        """The handler, installed with the first deadline until :meth:`clear`: a SIGALRM
        the watchdog sends must never meet the default action, which ends the process.
        No timer: the watchdog is the clock (it notes the drill's processes before it
        signals)."""
        if self.enabled and self.stack and not self._installed:
            self._old = signal.signal(signal.SIGALRM, self._handler)
            self._installed = True
