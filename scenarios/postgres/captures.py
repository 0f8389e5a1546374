"""What PostgreSQL's protections had captured at t0: the recovery-point oracle's samples.

Each function returns a :class:`drillbook.capture.Capture` the drill samples just
before the fault (``drill.protect``; :func:`~.stack.build` and
:func:`~.recovery.make_standby` register them). A ledger write's position is the WAL
insert LSN read right after its commit (``PostgresLedgerSink.position``), at or past
its commit record, so a method that had everything up to an LSN had that write:

- the WAL archive: every write before the end of the last segment archived without a
  gap since the newest base backup (the archive's own catalog, not S3's listing);
- the dumps: every write acknowledged before the newest dump started;
- a standby: with synchronous replication every write acknowledged before t0, with
  asynchronous replication every write up to the LSN it had replayed at t0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from drillbook.capture import Capture, CapturePoint
from drillbook.fixtures.postgres import PostgresHandle
from drillbook.scenarios.postgres import wal

__all__ = ["dump_capture", "standby_capture", "wal_capture"]


def wal_capture(
    *,
    name: str,
    source: str,
    bases: Callable[[], Sequence[Any]],
    catalog: Callable[[], Sequence[wal.CatalogEntry]],
    segment_size: int,
) -> Capture:
    """The WAL archive *name* of the cluster at *source*; *bases*: the base backups
    taken so far (``start_lsn``, ``timeline``, ``taken_at``); *catalog*: its pushes."""

    def sample() -> CapturePoint:
        usable = [b for b in bases() if getattr(b, "start_lsn", None) is not None]
        if not usable:
            return CapturePoint(
                "wal_archive", name, source,
                "nothing: no base backup yet (the archive alone restores nothing)",
                position_through=-1,
            )  # fmt: skip
        base = max(usable, key=lambda b: b.taken_at)
        span = wal.archive_range(base.start_lsn, base.timeline, [], catalog(), segment_size)
        end = span.contiguous_end(set(span.catalogued))
        if end is None:
            point = f"nothing since base backup {base.name} (its start is not archived yet)"
        else:
            last = span.name(end // segment_size - 1)
            point = f"WAL through {wal.format_lsn(end)} (segment {last}, since {base.name})"
        return CapturePoint(
            "wal_archive", name, source, point, position_through=-1 if end is None else end
        )

    return Capture("wal_archive", name, source, sample, kinds=("wal_archive",))


def dump_capture(*, source: str, dumps: Callable[[], Sequence[Any]]) -> Capture:
    """The dumps of the database at *source* (``started_mono`` each): the newest one
    started before t0 has every write acknowledged before it started."""
    name = "pg_dump"

    def sample() -> CapturePoint:
        started = [d for d in dumps() if getattr(d, "started_mono", None) is not None]
        if not started:
            return CapturePoint("pg_dump", name, source, "nothing: no dump yet", seq_through=0)
        newest = max(started, key=lambda d: d.started_mono)
        return CapturePoint(
            "pg_dump",
            f"dump {newest.name}",
            source,
            f"every write acknowledged before the dump started ({newest.name})",
            acked_before_mono=newest.started_mono,
        )

    return Capture("pg_dump", name, source, sample, kinds=("pg_dump", "dump"))


def replay_lsn(pg: PostgresHandle) -> int | None:
    """The LSN *pg* (a standby, or a server after recovery) had replayed."""
    rows = pg.execute("SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint")
    return None if not rows or rows[0][0] is None else int(rows[0][0])


def standby_capture(*, source: str, standby: PostgresHandle, synchronous: bool) -> Capture:
    """A streaming standby of the primary at *source*."""
    if synchronous:
        name = f"synchronous standby {standby.name}"
        every = "every write acknowledged before t0 (each commit waited for the standby)"
        point = CapturePoint("sync_replication", name, source, every)
        return Capture("sync_replication", name, source, lambda: point, kinds=(point.method,))
    name = f"asynchronous standby {standby.name}"

    def sample() -> CapturePoint:
        lsn = replay_lsn(standby)
        if lsn is None:
            raise RuntimeError(f"{standby.name} reports no replay position (not a standby?)")
        return CapturePoint(
            "async_replication",
            name,
            source,
            f"WAL replayed through {wal.format_lsn(lsn)} at t0",
            position_through=lsn,
        )

    return Capture("async_replication", name, source, sample, kinds=("async_replication",))
