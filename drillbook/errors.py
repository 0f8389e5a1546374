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


class DrillFailure(Exception):
    """A failure whose cause is known: it carries its finding code and the decisive line.

    Raised by a recovery that found out what broke (a checksum mismatch, pg_restore's
    "could not read from input file", a PITR that stopped before its target): the drill
    FAILs with *code* and *message*, never with a generic DRILL_ERROR. When the same
    code is already recorded (the raiser recorded it with more detail), nothing is added.
    """

    code = "DRILL_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
