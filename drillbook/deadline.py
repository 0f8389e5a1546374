"""Deadlines of a drill: a hung step becomes a StepTimeout, whatever it is blocked in.

A drill's recovery may hang (a server that never answers, a restore that never ends, a
step stuck in ``os.system``); the drill must then end as RTO_EXCEEDED or STEP_TIMEOUT,
not hang the CI job. A stack of absolute deadlines (the drill's, each step's) drives two
mechanisms:

- one SIGALRM timer: the nearest deadline raises
  :class:`~drillbook.errors.StepTimeout` in the main thread, at once when it runs Python
  code or waits in an interruptible call (``time.sleep``, a socket read);
- the :class:`~drillbook.watchdog.Watchdog` thread, for what no signal interrupts: it
  kills the step's processes and the drill's servers so the blocking call returns and
  the StepTimeout is raised (``os.system`` waits for its child whatever signal comes).

Subprocesses run through a step get their own timeout on top (:mod:`drillbook.steps`).
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from drillbook.errors import StepTimeout


class Deadlines:
    """Nested deadlines (the drill's, a step's) as one ``ITIMER_REAL`` timer.

    Thread-safe: the watchdog reads the stack while the main thread pushes and pops (a
    re-entrant lock, as the SIGALRM handler runs in the main thread, maybe mid-push).
    """

    def __init__(self) -> None:
        self.stack: list[tuple[float, str]] = []  # (absolute monotonic deadline, reason)
        self.thread = threading.current_thread()
        self.enabled = self.thread is threading.main_thread() and hasattr(signal, "setitimer")
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        #: When the handler last raised a StepTimeout in the drill's thread (monotonic).
        self.raised_mono: float | None = None
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

    def clear(self) -> None:
        """No deadline any more (the test body is over): the timer off, SIGALRM's
        previous handler back."""
        with self.lock:
            self.stack.clear()
            self._arm()
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
            due = [(at, why) for at, why in self.stack if at <= now + 0.001]
            if not due:
                self._arm()
                return
            self.raised_mono = now
            self.changed.notify_all()
        raise StepTimeout(min(due)[1])

    def _arm(self) -> None:
        """The timer at the nearest deadline (off without one). The handler stays
        installed from the first deadline until :meth:`clear`: a SIGALRM the watchdog
        sends must never meet the default action, which ends the process."""
        if not self.enabled:
            return
        if not self.stack:
            signal.setitimer(signal.ITIMER_REAL, 0)
            return
        if not self._installed:
            self._old = signal.signal(signal.SIGALRM, self._handler)
            self._installed = True
        left = max(0.001, min(at for at, _ in self.stack) - time.monotonic())
        signal.setitimer(signal.ITIMER_REAL, left)
