"""The set-up PostgreSQL drills share: a primary archiving WAL to S3, application data,
backups in S3, a snapshot of the data before the fault.

It reads the service's backup method from drills.toml (``archive_timeout`` of its
``wal archive`` method), so the drill runs the schedule the team declared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drillbook.drill import Drill
from drillbook.fixtures.postgres import PostgresHandle
from drillbook.fixtures.s3 import S3Handle
from drillbook.record import Phase
from drillbook.scenarios.postgres import backup as bk
from drillbook.scenarios.postgres import schema
from drillbook.scenarios.s3.store import BackupStore

DEFAULT_ARCHIVE_TIMEOUT = 1.0


def backup_param(target: dict[str, Any] | None, kind: str, param: str) -> float | None:
    """A parameter of the service's declared backup method, e.g. wal_archive/archive_timeout."""
    for method in (target or {}).get("backups", []):
        if method.get("kind") == kind and param in method.get("params", {}):
            return float(method["params"][param])
    return None


@dataclass
class PgStack:
    drill: Drill
    primary: PostgresHandle
    archive: bk.WalArchive
    store: BackupStore
    dbname: str
    archive_timeout: float
    dumps: list[bk.Backup] = field(default_factory=list)
    bases: list[bk.Backup] = field(default_factory=list)

    @property
    def db(self) -> PostgresHandle:
        """The application database's view of the primary."""
        return self.primary.with_database(self.dbname)

    def base_backup(self) -> bk.Backup:
        with self.drill.step("pg_basebackup to S3", Phase.SETUP) as s:
            b = bk.base_backup(s, self.primary, self.store)
        self.bases.append(b)
        return b

    def dump(self, fmt: str = "custom") -> bk.Backup:
        with self.drill.step(f"pg_dump -F{fmt[0]} {self.dbname} to S3", Phase.SETUP) as s:
            b = bk.pg_dump(s, self.primary, self.store, dbname=self.dbname, fmt=fmt)
        self.dumps.append(b)
        return b

    def archive_now(self) -> str:
        """Switch the WAL segment and wait until it is archived (the primary is alive)."""
        with self.drill.step("pg_switch_wal and wait for the archive", Phase.EXECUTION) as s:
            seg = s.call(
                "SELECT pg_switch_wal(); wait until archived",
                self.archive.wait_archived,
                self.primary,
            )
        return seg

    def freshness(self) -> dict[str, Any]:
        """Backup age and archive lag, which the runbooks alert on."""
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


def build(
    drill: Drill,
    pg_factory: Callable[..., Any],
    s3: S3Handle,
    *,
    dbname: str = "app",
    scale: int = 1,
    archive_timeout: float | None = None,
    loader: Callable[[PostgresHandle, str], Any] | None = None,
    name: str = "primary",
) -> PgStack:
    """Primary with continuous WAL archiving to S3 and the application data loaded."""
    timeout = archive_timeout
    if timeout is None:
        timeout = backup_param(drill.record.target, "wal_archive", "archive_timeout")
    if timeout is None:
        timeout = DEFAULT_ARCHIVE_TIMEOUT
    with drill.step("primary with WAL archiving to S3 and application data", Phase.SETUP) as s:
        archive = bk.WalArchive.create(s3, "wal-archive")
        s.note("archive_command", archive.archive_command)
        s.note("archive_timeout_s", timeout)
        primary = pg_factory(name, **archive.server_settings(timeout))
        if loader is None:
            schema.app_database(primary, dbname, scale=scale)
        else:
            loader(primary, dbname)
        store = BackupStore(s3, "backups")
        store.ensure_bucket()
    drill.record.versions.setdefault("postgres", primary.version())
    drill.record.versions.setdefault("s3", s3.version())
    return PgStack(drill, primary, archive, store, dbname, timeout)
