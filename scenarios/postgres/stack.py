"""The set-up PostgreSQL drills share: a primary archiving WAL to S3, the application's
data, backups in S3.

:func:`build` reads the service's backup method from drills.toml (``archive_timeout`` of
its ``wal archive`` method), so the drill runs the schedule the team declared; the
:class:`PgStack` it returns takes the backups the runbook takes (:meth:`PgStack.dump`,
:meth:`PgStack.base_backup`), each as a recorded SETUP step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drillbook.drill import Drill
from drillbook.fixtures.postgres import PostgresHandle, PostgresView
from drillbook.fixtures.s3 import S3Handle
from drillbook.record import Phase
from drillbook.scenarios.common import declared_backup, source_of
from drillbook.scenarios.postgres import backup as bk
from drillbook.scenarios.postgres import captures, schema
from drillbook.scenarios.store import BackupStore

__all__ = ["DEFAULT_ARCHIVE_TIMEOUT", "PgStack", "build"]

DEFAULT_ARCHIVE_TIMEOUT = 1.0


@dataclass
class PgStack:
    """The primary, its WAL archive and the backup store, and the backups taken so far."""

    drill: Drill
    primary: PostgresHandle
    archive: bk.WalArchive
    store: BackupStore
    dbname: str
    archive_timeout: float
    dumps: list[bk.Backup] = field(default_factory=list)
    bases: list[bk.Backup] = field(default_factory=list)

    @property
    def db(self) -> PostgresView:
        """The application database's view of the primary."""
        return self.primary.with_database(self.dbname)

    def base_backup(self) -> bk.Backup:
        """``pg_basebackup`` to S3 as a SETUP step; kept in :attr:`bases` (a PITR's base)."""
        with self.drill.step("pg_basebackup to S3", Phase.SETUP) as s:
            b = bk.base_backup(s, self.primary, self.store)
        self.bases.append(b)
        return b

    def dump(self, fmt: str = "custom") -> bk.Backup:
        """``pg_dump`` of the application database to S3 as a SETUP step; kept in
        :attr:`dumps` (what ``recovery.restore_dump`` picks the newest good one from)."""
        with self.drill.step(f"pg_dump -F{fmt[0]} {self.dbname} to S3", Phase.SETUP) as s:
            b = bk.pg_dump(s, self.primary, self.store, dbname=self.dbname, fmt=fmt)
        self.dumps.append(b)
        return b

    def archive_now(self, phase: Phase = Phase.EXECUTION) -> str:
        """Switch the WAL segment and wait until it is archived (the primary is alive):
        after t0 an EXECUTION step, the runbook's "make sure the last WAL is in the
        archive"; before it (``Phase.SETUP``), what ``archive_timeout`` does on its own."""
        with self.drill.step("pg_switch_wal and wait for the archive", phase) as s:
            seg = s.call(
                "SELECT pg_switch_wal(); wait until archived",
                self.archive.wait_archived,
                self.primary,
            )
        return str(seg)

    def freshness(self) -> dict[str, Any]:
        """Backup age and archive lag, which the runbooks alert on; kept as the drill
        note ``backup_freshness``."""
        out: dict[str, Any] = {
            "newest_dump_age_s": bk.newest_backup_age(self.dumps),
            "newest_base_backup_age_s": bk.newest_backup_age(self.bases),
        }
        try:
            out["archive"] = self.archive.lag(self.primary)
        except Exception as exc:  # the primary may be gone already
            out["archive"] = f"unavailable: {type(exc).__name__}"
        self.drill.note("backup_freshness", out)
        return out


def _archive_timeout(drill: Drill, given: float | None) -> float:
    if given is not None:
        return given
    declared = declared_backup(drill.record.target, "wal_archive") or {}
    if "archive_timeout" in declared:
        return float(declared["archive_timeout"])
    return DEFAULT_ARCHIVE_TIMEOUT


def build(
    drill: Drill,
    pg_factory: Callable[..., Any],
    s3: S3Handle,
    *,
    dbname: str = "app",
    scale: int = 1,
    archive_timeout: float | None = None,
    loader: schema.Loader | None = None,
    name: str = "primary",
) -> PgStack:
    """A primary with continuous WAL archiving to S3, the application's data loaded, and
    the bucket backups go to.

    *drill*, *pg_factory*, *s3*: the fixtures. *dbname*: the application database.
    *archive_timeout*: seconds; by default the ``archive_timeout`` of the service's
    ``wal archive`` method in drills.toml, else 1 s.

    *loader* loads the application's data; by default :func:`schema.app_database` at
    *scale* (the runbooks' users/projects/scenes/sessions/orders). A team loads its own
    schema through it: ``loader(db)`` is called once with *db*, a view of database
    *dbname* (already created, empty) on the primary. It must create its tables and
    insert its rows through ``db.connect()`` / ``db.execute()`` (or
    ``schema.load_sql_file``) and leave everything committed when it returns; it must not
    create or drop databases, nor restart the server. ``schema.sql_file(path)`` is a
    loader that runs a SQL file. The drill takes its snapshot afterwards
    (``checks.snapshot(st.db.connect())``).

    Records one SETUP step (the archive_command, the archive timeout) and the server
    versions.
    """
    timeout = _archive_timeout(drill, archive_timeout)
    with drill.step("primary with WAL archiving to S3 and application data", Phase.SETUP) as s:
        archive = bk.WalArchive.create(s3, "wal-archive")
        s.note("archive_command", archive.archive_command)
        s.note("archive_timeout_s", timeout)
        primary = pg_factory(name, **archive.server_settings(timeout))
        if loader is None:
            schema.app_database(primary, dbname, scale=scale)
        else:
            primary.create_database(dbname)
            s.note("loader", getattr(loader, "__qualname__", repr(loader)))
            loader(primary.with_database(dbname))
        store = BackupStore(s3, "backups")
        store.ensure_bucket()
        archive.segment_size = int(
            primary.execute(
                "SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'"
            )[0][0]
        )
    drill.record.versions.setdefault("postgres", primary.version())
    drill.record.versions.setdefault("s3", s3.version())
    st = PgStack(drill, primary, archive, store, dbname, timeout)
    _protect(st)
    return st


def _protect(st: PgStack) -> None:
    """The stack's protections, sampled at t0: the WAL archive (with the base backups)
    and the dumps of the application database."""
    source = source_of(st.primary)
    st.drill.protect(
        captures.wal_capture(
            name=f"WAL archive {st.archive.store.url(st.archive.prefix)}",
            source=source,
            bases=lambda: st.bases,
            catalog=st.archive.catalog,
            segment_size=st.archive.segment_size,
        )
    )
    st.drill.protect(
        captures.dump_capture(source=source_of(st.primary, st.dbname), dumps=lambda: st.dumps)
    )
