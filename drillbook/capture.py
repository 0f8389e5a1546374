"""The recovery-point oracle's registry: protections announce themselves, faults break them.

A protection the drill sets up (the WAL archive of a primary, its dumps, a standby, an
RDB snapshot schedule, the AOF, a versioned bucket, a replica) registers a
:class:`Capture` with the drill (``drill.protect``) before t0. Just before the fault
the drill samples every one of them: each sample is a
:class:`~drillbook.ledger.captured.CapturePoint`, the newest point that method had
safely captured (the last archived WAL segment, the LSN the standby had replayed, the
newest RDB snapshot in S3 ...). After recovery, every acknowledged write a surviving
method had captured must be back (CAPTURED_WRITE_LOST), whatever the RPO target.

A fault that takes a protection away with it says so through :func:`destroyed` (the
AOF lost with the data directory, an AOF that recorded the FLUSHALL, a bucket deleted
with every version): that method is then not held to its point, and the record says why.
Faults call it without knowing about drills; outside a drill's fault block it is a no-op.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from drillbook.ledger.captured import CapturePoint, covers

__all__ = ["Capture", "CapturePoint", "destroyed", "injecting", "sample_all"]

Destroyer = Callable[[str, tuple[str, ...], str], None]
_destroyer: ContextVar[Destroyer | None] = ContextVar("drillbook_destroyer", default=None)


@dataclass
class Capture:
    """A protection of the drill, sampled just before t0 into a :class:`CapturePoint`.

    *method*: the backup-method kind (``wal_archive``, ``pg_dump``, ``async_replication``,
    ``rdb``, ``aof``, ``s3_versioning``, ``s3_replication`` ...); *kinds*: the drills.toml
    kinds it answers to (default: *method*); *source*: what it protects (a ledger sink's
    ``source`` or a parent of it); *sample*: returns the point (or raises: then nothing
    is claimed, and the record says why).
    """

    method: str
    name: str
    source: str
    sample: Callable[[], CapturePoint]
    kinds: tuple[str, ...] = ()

    def take(self) -> CapturePoint:
        try:
            point = self.sample()
        except Exception as exc:
            point = CapturePoint(
                self.method,
                self.name,
                self.source,
                point="not sampled",
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
        point.kinds = point.kinds or self.kinds or (self.method,)
        point.sampled_mono = time.monotonic()
        return point


def sample_all(captures: Iterable[Capture]) -> list[CapturePoint]:
    """Every registered protection's point, taken now (just before t0)."""
    return [capture.take() for capture in captures]


def destroyed(source: str, methods: Iterable[str], why: str) -> None:
    """The running fault took the copies of *methods* protecting *source* away with it.

    Called by fault functions (``lose_data_dir`` wipes the AOF, ``flushall`` puts the
    flush into it, ``lose_region`` takes every versioned bucket of an endpoint); a no-op
    outside a drill's fault block.
    """
    mark = _destroyer.get()
    if mark is not None:
        mark(source, tuple(methods), why)


@contextlib.contextmanager
def injecting(points: list[CapturePoint]) -> Iterator[None]:
    """The fault block: :func:`destroyed` marks the matching *points* (not judged)."""

    def mark(source: str, methods: tuple[str, ...], why: str) -> None:
        for point in points:
            if point.method in methods and covers(source, point.source):
                point.destroyed = point.destroyed or why

    token = _destroyer.set(mark)
    try:
        yield
    finally:
        _destroyer.reset(token)
