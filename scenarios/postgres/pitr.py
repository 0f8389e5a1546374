"""Point-in-time recovery: base backup + archived WAL, and proof that replay got there.

:func:`pitr` restores a base backup into a new server and replays the archive to a
target (a time, a restore point, an LSN) or to its end, ``recovery_target_action =
promote``. The restored server runs with ``archive_mode = off`` so it can never archive
into the archive it restores from. The base backup is streamed from S3 into ``tar -x``
(``basestream.py``); the WAL is spooled ahead of replay by one prefetcher thread
(``wal_fetch.py``), started before the base is unpacked and stopped when the restore
ends, however it ends, so the server's ``restore_command`` is a shell ``mv``, not a
process per segment. A PostgreSQL that promotes is not proof that it replayed what it
should have, so:

- before the restore, the archive's range from the base backup's start is checked for
  missing segments (WAL_ARCHIVE_GAP: replay would stop at the first one and promote);
- a segment whose content is not the one the catalog recorded at push is refused (replay
  stops before it) and is BACKUP_CORRUPT;
- a server that exits instead of starting says why: a target it cannot reach
  (PITR_TARGET_UNREACHED, with where replay ended) or a data directory that does not
  start (SERVER_START_FAILED, with the decisive log line);
- after promotion, where replay ended (``pg_last_wal_replay_lsn()``) is held to the
  target: the end of the archive, or the server log's "recovery stopping before commit
  ..." for a target time (a replay that stopped "after reaching consistency" restored
  the base backup alone) (PITR_TARGET_UNREACHED).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from drillbook.drill import StepContext
from drillbook.errors import DrillFailure, StepTimeout
from drillbook.fixtures.postgres import PostgresHandle
from drillbook.fixtures.runner import OsUser
from drillbook.scenarios.common import scratch_dir
from drillbook.scenarios.postgres import wal, wal_fetch
from drillbook.scenarios.postgres.backup import Backup, WalArchive
from drillbook.scenarios.postgres.basestream import restore_base
from drillbook.scenarios.postgres.captures import replay_lsn
from drillbook.scenarios.store import BackupStore
from drillbook.verify.classify import classify_start, target_unreached

__all__ = ["PitrTargetUnreached", "ServerStartFailed", "pitr", "wait_promoted"]

PgFactory = Callable[..., Any]
LOG_LINES = 3000  # the restored server's log read for the verdict (probes fill it fast)
STOPPED = re.compile(
    r"recovery stopping (?:before|after) (?:commit|abort|WAL location|restore point)[^\n]*"
)


class PitrTargetUnreached(DrillFailure):
    """The PITR could not reach its recovery target (PITR_TARGET_UNREACHED)."""

    code = "PITR_TARGET_UNREACHED"


class ServerStartFailed(DrillFailure):
    """The restored data directory did not start (SERVER_START_FAILED)."""

    code = "SERVER_START_FAILED"


def _recovery_settings(
    archive: WalArchive,
    target_time: datetime | None,
    target_name: str | None,
    target_lsn: str | None,
    restore_command: str | None = None,
) -> dict[str, Any]:
    """The restored server's settings: replay from *archive* (through *restore_command*,
    by default the archive's own, one process per segment) to at most one target."""
    if sum(t is not None for t in (target_time, target_name, target_lsn)) > 1:
        raise ValueError("give one recovery target: time, name or lsn")
    settings: dict[str, Any] = {
        # Never archive into the archive this server restores from.
        "archive_mode": "off",
        "restore_command": restore_command or archive.restore_command,
        "recovery_target_action": "promote",
        # No read-only connections during replay: "ready" then means recovered and
        # promoted, never a half-replayed hot standby.
        "hot_standby": "off",
    }
    if target_time is not None:
        settings["recovery_target_time"] = target_time.isoformat()
        settings["recovery_target_inclusive"] = "on"
    elif target_name is not None:
        settings["recovery_target_name"] = target_name
    elif target_lsn is not None:
        settings["recovery_target_lsn"] = target_lsn
    else:
        settings["recovery_target_timeline"] = "latest"
    return settings


def pitr(
    step: StepContext,
    pg_factory: PgFactory,
    store: BackupStore,
    base: Backup,
    archive: WalArchive,
    *,
    credentials_from: PostgresHandle,
    target_time: datetime | None = None,
    target_name: str | None = None,
    target_lsn: str | None = None,
    timeout: float = 300.0,
    name: str = "restored",
) -> PostgresHandle:
    """Point-in-time recovery into a new server; returns it promoted and accepting writes.

    *step*: the drill step every command is recorded in; *pg_factory*: the fixture the
    new server *name* comes from, with the credentials of *credentials_from*; *base*: the
    base backup in *store*; *archive*: the WAL archive to replay. One target at most:
    *target_time* (inclusive), *target_name* (a restore point) or *target_lsn*; none
    replays to the end of the archive. The new server never archives
    (``archive_mode = off``) and accepts no connection before it is promoted. A gap in
    the archive and a replay that stops short of the target are findings of the drill
    (WAL_ARCHIVE_GAP, PITR_TARGET_UNREACHED); a server that cannot reach its target or
    does not start raises :class:`PitrTargetUnreached` / :class:`ServerStartFailed`.
    """
    targets = [str(t) for t in (target_time, target_name, target_lsn) if t is not None]
    until = ", ".join(targets) or "end of archive"
    scratch = scratch_dir("pitr")
    try:
        spool = wal_fetch.make_spool(scratch, OsUser.unprivileged())
        command = spool.restore_command() if base.start_lsn is not None else None
        settings = _recovery_settings(archive, target_time, target_name, target_lsn, command)
        restored = pg_factory(
            name, init=False, start=False, credentials_from=credentials_from, **settings
        )
        span = check_archive(step, archive, base)
        with _fetcher(archive, spool, base, command) as fetcher:
            restore_base(step, store, base.name, base.objects, restored.data_dir)
            step.processed(base.size)  # a physical backup is the cluster's size
            (restored.data_dir / "recovery.signal").touch()
            restored.adopt_data_dir()
            # Start, replay and promotion do not grow with the database (the replayed WAL
            # is the archive's, the restored files are already on disk): a projection to
            # production size holds them as measured and scales the unpacking alone.
            with step.fixed():
                _start(step, restored, until, span, timeout)
            if fetcher is not None:
                _fetched(step, fetcher)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    check_reached(step, restored, span, until if targets else None)
    return restored


@contextlib.contextmanager
def _fetcher(
    archive: WalArchive, spool: wal_fetch.Spool, base: Backup, command: str | None
) -> Iterator[wal_fetch.WalPrefetcher | None]:
    """The WAL prefetcher from the base backup's first segment on, while the block runs
    (none when the base's start is unknown: the archive's per-segment command then)."""
    if command is None or base.start_lsn is None or base.timeline is None:
        yield None
        return
    first = base.start_lsn // archive.segment_size
    with wal_fetch.prefetching(archive, spool, timeline=base.timeline, first_segno=first) as f:
        yield f


def _start(
    step: StepContext,
    restored: PostgresHandle,
    until: str,
    span: wal.ArchiveRange | None,
    timeout: float,
) -> None:
    """Start *restored* in recovery and wait until it is promoted; a server that exits
    instead says why (PITR_TARGET_UNREACHED, SERVER_START_FAILED)."""
    try:
        step.call(f"start {restored.name} in recovery (target: {until})", restored.start, timeout)
    except StepTimeout:
        raise
    except Exception as exc:
        raise start_failure(_log(restored), until, span) from exc
    step.call("wait until promoted (pg_is_in_recovery() = false)", wait_promoted, restored, timeout)


def _fetched(step: StepContext, fetcher: wal_fetch.WalPrefetcher) -> None:
    """The prefetcher's figures on the step; a segment it refused (its checksum is not
    the one recorded at push) is BACKUP_CORRUPT: replay stopped before it."""
    stats = fetcher.stats
    step.note("wal_fetch", stats.to_dict())
    for name, why in stats.refused.items():
        step.drill.finding("BACKUP_CORRUPT", f"WAL segment {name}: {why}; replay stopped before it")
    if stats.error:
        step.drill.finding("RESTORE_FAILED", f"the WAL prefetcher failed: {stats.error}")


def _log(pg: PostgresHandle) -> str:
    with contextlib.suppress(Exception):
        return pg.log_tail(LOG_LINES)
    return ""


def check_archive(step: StepContext, archive: WalArchive, base: Backup) -> wal.ArchiveRange | None:
    """The replay range of *base* in *archive*; a missing segment is WAL_ARCHIVE_GAP."""
    span = archive.replay_range(base)
    if span is None:
        step.note("wal_replay_range", "unknown: the base backup's start WAL location is not known")
        return None
    step.note(
        "wal_replay_range",
        {
            "first": span.name(span.first),
            "last": None if span.last is None else span.name(span.last),
            "missing": [span.name(n) for n in span.missing[:20]],
        },
    )
    if span.missing:
        step.drill.finding("WAL_ARCHIVE_GAP", f"PITR from {base.name}: {span.describe_gap()}")
    return span


def _archive_end(span: wal.ArchiveRange | None) -> str:
    end = None if span is None else span.end_lsn()
    if span is None or end is None or span.last is None:
        return "the end of the archive (unknown)"
    return f"the archive's end at {wal.format_lsn(end)} (segment {span.name(span.last)})"


def start_failure(log: str, until: str, span: wal.ArchiveRange | None) -> DrillFailure:
    """Why the restored server exited instead of promoting, as the drill's finding."""
    line = target_unreached(log)
    if line is None:
        return ServerStartFailed(classify_start(log).message)
    redo = re.search(r"redo done at ([0-9A-F]+/[0-9A-F]+)", log)
    last = re.search(r"last completed transaction was at log time (\S+ \S+)", log)
    reached = f"replay reached {redo.group(1)}" if redo else "replay ended"
    if last:
        reached += f" (last transaction at {last.group(1)})"
    return PitrTargetUnreached(
        f"PITR to {until}: {line}: {reached}, {_archive_end(span)}; the target lies beyond "
        "what the archive holds"
    )


def check_reached(
    step: StepContext, restored: PostgresHandle, span: wal.ArchiveRange | None, target: str | None
) -> None:
    """Replay must have reached *target* (None: the end of the archive), else
    PITR_TARGET_UNREACHED with the LSN reached and the one expected."""
    reached = replay_lsn(restored)
    log = _log(restored)
    stopped = STOPPED.search(log)
    step.note("replay_reached", None if reached is None else wal.format_lsn(reached))
    step.note("replay_stopped", stopped.group(0) if stopped else None)
    at = "an unknown LSN" if reached is None else wal.format_lsn(reached)
    consistent = "recovery stopping after reaching consistency" in log
    why = " (recovery stopping after reaching consistency: the base backup alone)"
    if target is not None:
        if stopped is None or consistent:
            step.drill.finding(
                "PITR_TARGET_UNREACHED",
                f"PITR to {target} stopped at {at} without reaching it"
                + (why if consistent else ": no 'recovery stopping' line in the server log"),
            )
        return
    end = None if span is None else span.end_lsn()
    if end is None or reached is None or span is None:
        return
    if reached <= end - span.segment_size:  # it never got into the archive's last segment
        step.drill.finding(
            "PITR_TARGET_UNREACHED",
            f"PITR to the end of the archive stopped at {at} (segment "
            f"{span.name(max(reached - 1, 0) // span.segment_size)}), expected "
            f"{_archive_end(span)}" + (why if consistent else ""),
        )


def wait_promoted(pg: PostgresHandle, timeout: float = 120.0) -> None:
    """Poll ``pg_is_in_recovery()`` on *pg* until recovery ended and the server accepts
    writes (TimeoutError after *timeout* seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = pg.execute("SELECT pg_is_in_recovery()")
        if rows and rows[0][0] is False:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{pg.name} still in recovery after {timeout:.0f} s")
        time.sleep(0.02)
