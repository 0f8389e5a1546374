"""Operations that record themselves into the drill step running them.

A handle's ``kill()``, ``start()``, ``stop()``, ``restart()`` are the commands of a drill
as much as an argv is: the runbook checklist asks that every command executed be
documented. Handles open a :func:`span` around each operation; inside a drill step it
becomes one of the step's commands (with its duration and outcome), elsewhere it costs
nothing. Fixtures stay free of any dependency on the drill itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

# (kind, text, start_mono, end_mono, exit_status, output) -> None
Recorder = Callable[[str, str, float, float, int, str], None]

_recorder: ContextVar[Recorder | None] = ContextVar("drillbook_recorder", default=None)


@contextlib.contextmanager
def recording(recorder: Recorder) -> Iterator[None]:
    """Send every span opened in this context (this thread) to *recorder*."""
    token = _recorder.set(recorder)
    try:
        yield
    finally:
        _recorder.reset(token)


@contextlib.contextmanager
def span(kind: str, text: str) -> Iterator[None]:
    """Record one operation (its text, duration, success) if a drill step is listening."""
    import time

    recorder = _recorder.get()
    if recorder is None:
        yield
        return
    start = time.monotonic()
    try:
        yield
    except BaseException as exc:
        recorder(kind, text, start, time.monotonic(), 1, f"{type(exc).__name__}: {exc}")
        raise
    recorder(kind, text, start, time.monotonic(), 0, "")
