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
from pathlib import Path
from typing import Any

from psycopg import sql

from drillbook.drill import StepContext
from drillbook.errors import DrillFailure
from drillbook.fixtures.postgres import PostgresHandle
from drillbook.record import Finding
from drillbook.scenarios.common import scratch_dir, source_of
from drillbook.scenarios.postgres.backup import Backup, download
from drillbook.scenarios.postgres.captures import standby_capture
from drillbook.scenarios.postgres.pitr import pitr, wait_promoted
from drillbook.scenarios.store import BackupCorrupt, BackupMissing, BackupStore
from drillbook.verify.classify import classify_restore

__all__ = [
    "RestoreFailed",
    "make_standby",
    "newest_good",
    "pitr",
    "promote",
    "restore_dump",
    "run_restore",
    "selective_restore",
    "wait_promoted",
    "wait_sync",
]

PgFactory = Callable[..., Any]


class RestoreFailed(DrillFailure):
    """The restore tool failed (RESTORE_FAILED, ROLE_MISSING ...: its classified error)."""

    code = "RESTORE_FAILED"


def newest_good(
    step: StepContext, store: BackupStore, backups: Sequence[Backup], dest: Path
) -> tuple[Backup, list[Path]]:
    """Download the newest of *backups* whose checksums verify into *dest*; older ones
    only if it fails. Each refusal is a finding of the drill (BACKUP_CORRUPT: a backup
    the team believed good is not); raises ``BackupCorrupt`` when every one is refused,
    ``BackupMissing`` when there is none."""
    errors = []
    for backup in sorted(backups, key=lambda b: b.taken_at, reverse=True):
        target = dest / backup.name.replace("/", "_")
        try:
            return backup, download(step, store, backup, target)
        except (BackupCorrupt, BackupMissing) as exc:
            errors.append(str(exc))
            step.note(f"skipped {backup.name}", str(exc))
            step.drill.finding(exc.code, f"backup {backup.name} refused: {exc}")
            shutil.rmtree(target, ignore_errors=True)
    if errors:
        raise BackupCorrupt("no good backup: " + "; ".join(errors))
    raise BackupMissing(f"no backup to restore from in {store.url(store.prefix)}")


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
        argv = [target.tool("pg_restore"), "-j", str(jobs), "--no-owner", "--exit-on-error"]
        run_restore(step, [*argv, "-d", dbname, str(source)], env=target.env())
        # Bytes restored = the rebuilt database's size: what `production_size` scales.
        size = target.execute("SELECT pg_database_size(%s)", (dbname,))[0][0]
        step.processed(int(size))
        step.note("restored_database_bytes", int(size))
        return backup
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_restore(
    step: StepContext, argv: list[str], *, env: dict[str, str], input: bytes | None = None
) -> bytes:
    """Run a restore tool (``pg_restore``, ``psql``); a failure raises what its stderr
    says (the shared classifier of ``drillbook verify``): BACKUP_CORRUPT for an archive
    it could not read, ROLE_MISSING, EXTENSION_MISSING, else RESTORE_FAILED, each with
    the decisive line. Returns its stdout."""
    tool = argv[0].rsplit("/", 1)[-1]
    res = step.run(argv, env=env, input=input, check=False)
    stderr = (res.stderr or b"").decode("utf-8", "replace")
    if res.returncode == 0:
        return res.stdout or b""
    found = classify_restore(stderr, res.returncode, tool).findings or [
        Finding("RESTORE_FAILED", f"{tool} exited {res.returncode}: no error line")
    ]
    first, *more = found
    for extra in more:
        step.drill.finding(extra.code, extra.message)
    if first.code == "BACKUP_CORRUPT":
        raise BackupCorrupt(first.message)
    raise RestoreFailed(first.message, code=first.code)


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
            psql = [target.tool("psql"), "-v", "ON_ERROR_STOP=1", "-q", "-d", dbname]
            run_restore(step, psql, env=target.env(), input=dump.stdout)
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
    # What the standby holds at t0 must survive a failover to it (or any recovery).
    step.drill.protect(
        standby_capture(source=source_of(primary), standby=standby, synchronous=synchronous)
    )
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
