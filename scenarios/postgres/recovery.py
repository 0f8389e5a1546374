"""PostgreSQL recovery procedures, the real commands the runbooks describe.

- :func:`restore_dump`: the newest good dump (checksum verified) into a fresh server,
  ``pg_restore -j N``.
- :func:`pitr`: base backup + archived WAL replayed to a target time or a named restore
  point, ``recovery_target_action = promote``; the restored server runs with
  ``archive_mode = off`` so it can never archive into the archive it restores from.
- :func:`selective_restore`: the partial-loss procedure: the dump into a side database,
  then the lost tables copied back (with the foreign keys that pointed at them).
- :func:`make_standby` / :func:`promote`: streaming replication and failover.

Each function takes the drill's :class:`StepContext` so every command is recorded.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg import sql

from drillbook.drill import StepContext
from drillbook.fixtures.postgres import PostgresHandle
from drillbook.scenarios.common import scratch_dir
from drillbook.scenarios.postgres.backup import Backup, WalArchive, download, extract_base
from drillbook.scenarios.store import BackupCorrupt, BackupMissing, BackupStore

__all__ = [
    "make_standby",
    "newest_good",
    "pitr",
    "promote",
    "restore_dump",
    "selective_restore",
    "wait_promoted",
    "wait_sync",
]

PgFactory = Callable[..., Any]


def newest_good(
    step: StepContext, store: BackupStore, backups: Sequence[Backup], dest: Path
) -> tuple[Backup, list[Path]]:
    """Download the newest of *backups* whose checksums verify into *dest*; older ones
    only if it fails (each refusal is a note of *step*). Raises ``BackupMissing`` when
    none is good."""
    errors = []
    for backup in sorted(backups, key=lambda b: b.taken_at, reverse=True):
        target = dest / backup.name.replace("/", "_")
        try:
            return backup, download(step, store, backup, target)
        except BackupCorrupt as exc:
            errors.append(str(exc))
            step.note(f"skipped {backup.name}", str(exc))
            shutil.rmtree(target, ignore_errors=True)
    raise BackupMissing("no good backup: " + "; ".join(errors) if errors else "no backup taken")


def restore_dump(
    step: StepContext,
    store: BackupStore,
    backups: Sequence[Backup],
    target: PostgresHandle,
    *,
    dbname: str,
    jobs: int = 2,
) -> Backup:
    """Restore the newest good dump of *backups* (from *store*) into database *dbname* on
    *target*, created here: ``CREATE DATABASE``, then ``pg_restore -j jobs``.

    Every command is recorded in *step*; the rebuilt database's size is the step's bytes
    processed (what ``production_size`` projections scale) and its note
    ``restored_database_bytes``. Returns the backup restored.
    """
    scratch = scratch_dir("restore")
    try:
        backup, paths = newest_good(step, store, backups, scratch)
        step.sql(target.connect("postgres"), f'CREATE DATABASE "{dbname}"')
        source = paths[0] if backup.kind == "dump-custom" else paths[0].parent
        step.run(
            [
                target.tool("pg_restore"),
                "-j",
                str(jobs),
                "--no-owner",
                "--exit-on-error",
                "-d",
                dbname,
                str(source),
            ],
            env=target.env(),
        )
        # Bytes restored = the rebuilt database's size: what `production_size` scales.
        size = target.execute("SELECT pg_database_size(%s)", (dbname,))[0][0]
        step.processed(int(size))
        step.note("restored_database_bytes", int(size))
        return backup
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _recovery_settings(
    archive: WalArchive,
    target_time: datetime | None,
    target_name: str | None,
    target_lsn: str | None,
) -> dict[str, Any]:
    """The restored server's settings: replay from *archive* to at most one target."""
    if sum(t is not None for t in (target_time, target_name, target_lsn)) > 1:
        raise ValueError("give one recovery target: time, name or lsn")
    settings: dict[str, Any] = {
        # Never archive into the archive this server restores from.
        "archive_mode": "off",
        "restore_command": archive.restore_command,
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
    (``archive_mode = off``) and accepts no connection before it is promoted. A target
    past the end of the archive makes PostgreSQL exit ("recovery ended before configured
    recovery target was reached"): the start fails at once with that log.
    """
    targets = [t for t in (target_time, target_name, target_lsn) if t is not None]
    settings = _recovery_settings(archive, target_time, target_name, target_lsn)
    restored = pg_factory(
        name, init=False, start=False, credentials_from=credentials_from, **settings
    )
    scratch = scratch_dir("pitr")
    try:
        paths = download(step, store, base, scratch)
        extract_base(step, paths, restored.data_dir)
        step.processed(base.size)  # a physical backup is the cluster's size
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    (restored.data_dir / "recovery.signal").touch()
    restored.adopt_data_dir()
    until = ", ".join(map(str, targets)) or "end of archive"
    step.call(f"start {restored.name} in recovery (target: {until})", restored.start, timeout)
    step.call("wait until promoted (pg_is_in_recovery() = false)", wait_promoted, restored, timeout)
    return restored


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


def selective_restore(
    step: StepContext,
    store: BackupStore,
    backups: Sequence[Backup],
    target: PostgresHandle,
    *,
    dbname: str,
    tables: Sequence[str],
    jobs: int = 2,
) -> None:
    """Partial loss: restore the newest dump into a side database, copy the lost
    *tables* back into *dbname* on *target* (``pg_dump -t`` | ``psql``), drop the side
    database; every command recorded in *step*.

    Foreign keys of other tables that pointed at the lost tables were dropped with them
    (CASCADE); they are re-created from the side database's definitions. ``pg_dump -t``
    carries the tables' owned sequences with their values.
    """
    side = f"{dbname}_side"
    restore_dump(step, store, backups, target, dbname=side, jobs=jobs)
    try:
        for table in tables:
            dump = step.run(
                [target.tool("pg_dump"), "-d", side, "-t", table, "--no-owner"],
                env=target.env(),
            )
            step.run(
                [target.tool("psql"), "-v", "ON_ERROR_STOP=1", "-q", "-d", dbname],
                env=target.env(),
                input=dump.stdout,
            )
        with target.connect(side) as side_conn:
            fks = side_conn.execute(
                "SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid)"
                " FROM pg_constraint WHERE contype = 'f'"
            ).fetchall()
        with target.connect(dbname) as conn:
            present = {
                r[0] for r in conn.execute("SELECT conname FROM pg_constraint WHERE contype = 'f'")
            }
            for conname, table, definition in fks:
                if conname not in present:
                    step.sql(
                        conn,
                        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ")
                        .format(sql.SQL(table), sql.Identifier(conname))
                        .as_string(conn)
                        + definition,
                    )
    finally:
        step.sql(target.connect("postgres"), f'DROP DATABASE IF EXISTS "{side}" WITH (FORCE)')


def make_standby(
    step: StepContext,
    pg_factory: PgFactory,
    primary: PostgresHandle,
    *,
    synchronous: bool = False,
    name: str = "standby",
    timeout: float = 120.0,
) -> PostgresHandle:
    """A streaming-replication standby of *primary*, named *name*, from
    ``pg_basebackup -R`` (every command recorded in *step*); with *synchronous*, the
    primary's ``synchronous_standby_names`` names it and this waits until it is. The
    standby comes from *pg_factory*, a hot standby."""
    standby = pg_factory(
        name,
        init=False,
        start=False,
        credentials_from=primary,
        cluster_name=name,
        hot_standby="on",
    )
    step.run(
        [
            primary.tool("pg_basebackup"),
            "-D",
            str(standby.data_dir),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        ],
        env=primary.env(),
    )
    standby.adopt_data_dir()
    step.call(f"start standby {standby.name}", standby.start, timeout)
    if synchronous:
        with primary.connect() as conn:
            step.sql(conn, f"ALTER SYSTEM SET synchronous_standby_names = '{name}'")
            step.sql(conn, "SELECT pg_reload_conf()")
        wait_sync(primary, name, timeout=timeout)
    return standby


def wait_sync(primary: PostgresHandle, name: str, *, timeout: float = 60.0) -> None:
    """Wait until *primary* reports standby *name* as ``sync`` in pg_stat_replication."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = primary.execute(
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s", (name,)
        )
        if rows and rows[0][0] == "sync":
            return
        time.sleep(0.05)
    raise TimeoutError(f"standby {name} did not become synchronous within {timeout:.0f} s")


def promote(step: StepContext, standby: PostgresHandle, *, timeout: int = 60) -> None:
    """``SELECT pg_promote(wait => true)`` on *standby* (recorded in *step*): it becomes a
    primary within *timeout* seconds, or RuntimeError."""
    with standby.connect() as conn:
        rows = step.sql(conn, f"SELECT pg_promote(true, {int(timeout)})")
    if not rows or rows[0][0] is not True:
        raise RuntimeError(f"pg_promote did not complete within {timeout} s")
