"""Exceptions the engine and fixtures share."""

from __future__ import annotations


class DrillNotRun(Exception):
    """The drill could not run (missing binary, backend without a capability, setup failure).

    Raised anywhere during a test (fixture set-up included), it turns the test's outcome
    into NOT RUN: never a pass, a failure of the run unless ``--drill-allow-not-run``.
    """

    def __init__(self, reason: str, *, code: str = "NOT_RUN") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class StepTimeout(BaseException):
    """A drill step or the whole drill passed its deadline.

    A BaseException, like KeyboardInterrupt: drill code that catches ``Exception`` (a
    retry loop around a probe) must not swallow the deadline and run on past it.
    """
