"""Deadlines for Python code in the main thread: a hung step becomes a StepTimeout.

A drill's recovery may hang (a server that never answers, a restore that never ends);
the drill must then end as RTO_EXCEEDED or STEP_TIMEOUT, not hang the CI job. A stack of
absolute deadlines drives one SIGALRM timer; the nearest one raises
:class:`~drillbook.errors.StepTimeout` in the main thread. Subprocesses get their own
timeout on top (they are killed, not just abandoned: :mod:`drillbook.steps`).
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from drillbook.errors import StepTimeout


class Deadlines:
    """Nested deadlines (the drill's, a step's) as one ``ITIMER_REAL`` timer."""

    def __init__(self) -> None:
        self.stack: list[tuple[float, str]] = []  # (absolute monotonic deadline, reason)
        self.enabled = threading.current_thread() is threading.main_thread() and hasattr(
            signal, "setitimer"
        )
        self._old: Any = None

    def push(self, at: float, reason: str) -> None:
        self.stack.append((at, reason))
        self._arm()

    def pop(self) -> None:
        if self.stack:
            self.stack.pop()
        self._arm()

    def nearest(self) -> tuple[float, str] | None:
        """(seconds left, reason) of the deadline that ends first."""
        if not self.stack:
            return None
        at, reason = min(self.stack)
        return at - time.monotonic(), reason

    def clear(self) -> None:
        self.stack.clear()
        self._arm()

    def _handler(self, signum: int, frame: Any) -> None:
        now = time.monotonic()
        due = [(at, why) for at, why in self.stack if at <= now + 0.001]
        if due:
            raise StepTimeout(min(due)[1])
        self._arm()

    def _arm(self) -> None:
        if not self.enabled:
            return
        if not self.stack:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if self._old is not None:
                signal.signal(signal.SIGALRM, self._old)
                self._old = None
            return
        if self._old is None:
            self._old = signal.signal(signal.SIGALRM, self._handler)
        left = max(0.001, min(at for at, _ in self.stack) - time.monotonic())
        signal.setitimer(signal.ITIMER_REAL, left)
