"""Polling a probe with a deadline: until it first fails (detection) or succeeds (healthy).

A probe is any callable that raises when the service is unhealthy (``pg.probe``, a
query, a GET). Every poll has a deadline and never sleeps past it by more than one
interval; a :class:`~drillbook.errors.StepTimeout` (a BaseException) always goes through.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Polled:
    """How a poll ended: after how many probes, at what instant, with which error."""

    probes: int
    at_mono: float
    error: Exception | None  # the failure that ended (detection) or preceded (healthy) it


def _attempts(
    probe: Callable[[], Any], timeout: float, interval: float
) -> Iterator[tuple[int, Exception | None]]:
    """(probes so far, the probe's error or None) for each attempt until *timeout*."""
    deadline = time.monotonic() + timeout
    probes = 0
    while True:
        probes += 1
        try:
            probe()
        except Exception as exc:
            yield probes, exc
        else:
            yield probes, None
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


def until_failure(probe: Callable[[], Any], *, timeout: float, interval: float) -> Polled:
    """Poll until *probe* raises; ``error`` None when it kept succeeding for *timeout* s."""
    probes = 0
    for probes, error in _attempts(probe, timeout, interval):
        if error is not None:
            return Polled(probes, time.monotonic(), error)
    return Polled(probes, time.monotonic(), None)


def until_healthy(
    probe: Callable[[], Any], *, timeout: float, interval: float, name: str
) -> Polled:
    """Poll until *probe* returns; TimeoutError (with the last failure) after *timeout*."""
    last: Exception | None = None
    probes = 0
    for probes, error in _attempts(probe, timeout, interval):
        if error is None:
            return Polled(probes, time.monotonic(), last)
        last = error
    raise TimeoutError(f"{name} still failing after {timeout:.1f} s ({probes} probes): {last}")
