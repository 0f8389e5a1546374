"""PostgreSQL backups as the runbooks take them, kept off-host in the drill's S3 service.

- Logical: ``pg_dump`` in custom (``-Fc``) or directory (``-Fd -j N``) format, uploaded
  with a SHA-256 each (directory format: one object per file plus a manifest).
- Physical: ``pg_basebackup -D - -Ft -X none -c fast`` streamed to S3 while it is taken
  (``basestream.py``: no copy on local disk, SHA-256 computed on the stream), plus continuous
  WAL archiving to S3 (``archive_command`` / ``restore_command`` run
  ``drillbook/scenarios/postgres/wal_s3.py``), with ``archive_timeout`` from drills.toml.
- Freshness: the age of the newest backup and the archive lag (the runbooks alert on a
  backup older than the RPO and on lag above 60 % of it).

Every command runs through a drill step (``StepContext.run``) so it is recorded.
"""

from __future__ import annotations

import json
import shutil
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillbook.drill import StepContext
from drillbook.fixtures.binaries import others_can_reach
from drillbook.fixtures.local import OsUser
from drillbook.fixtures.postgres import PostgresHandle
from drillbook.fixtures.s3 import S3Handle
from drillbook.scenarios.common import scratch_dir
from drillbook.scenarios.postgres import wal
from drillbook.scenarios.postgres.basestream import extract_tar, parse_label, stream_base_backup
from drillbook.scenarios.postgres.wal_push import push_command, write_push
from drillbook.scenarios.store import BackupStore, StoredObject

__all__ = [
    "Backup",
    "WalArchive",
    "backup_start",
    "base_backup",
    "download",
    "extract_base",
    "newest_backup_age",
    "pg_dump",
    "server_python",
]

WAL_SCRIPT = Path(__file__).with_name("wal_s3.py")


def server_python() -> str:
    """A python3 the unprivileged server user can execute (for archive_command)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        if Path(candidate).exists() and others_can_reach(Path(candidate)):
            return candidate
    return sys.executable


def _q(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


@dataclass
class WalArchive:
    """WAL segments pushed to / fetched from ``s3://bucket/prefix``.

    ``catalog_path``: the archive's own record of every acknowledged push (name, sha256,
    size, time), a local file kept apart from the objects (``wal_s3.py``); a fetch is
    checked against it, and it says what the archive had captured at t0.
    """

    store: BackupStore
    prefix: str
    config_path: Path
    script: Path
    python: str
    catalog_path: Path | None = None
    segment_size: int = wal.DEFAULT_SEGMENT

    @classmethod
    def create(cls, s3: S3Handle, bucket: str, prefix: str = "wal/") -> WalArchive:
        """Set up the archive: bucket, a private config for the server user, the script."""
        store = BackupStore(s3, bucket)
        store.ensure_bucket()
        home = scratch_dir("wal-archive")
        user = OsUser.unprivileged()
        config = home / "wal_s3.json"
        catalog = home / "catalog.txt"
        cfg = {
            "endpoint": s3.endpoint,
            "bucket": bucket,
            "prefix": prefix,
            "access_key": s3.access_key,
            "secret_key": s3.secret_key,
            "region": s3.region,
            "catalog": str(catalog),
        }
        config.write_text(json.dumps(cfg))
        write_push(home, cfg)
        config.chmod(0o600)
        script = home / "wal_s3.py"
        shutil.copy(WAL_SCRIPT, script)
        script.chmod(0o755)
        user.own(home)
        return cls(store, prefix, config, script, server_python(), catalog)

    @property
    def archive_command(self) -> str:
        """``sha256sum`` + ``curl --aws-sigv4`` where curl can sign (``wal_push.py``),
        else ``wal_s3.py push``: the same object, metadata and catalog line."""
        shell = push_command(self.config_path.parent)
        if shell is not None:
            return shell
        return f"{_q(self.python)} {_q(str(self.script))} push {_q(str(self.config_path))} %p %f"

    @property
    def restore_command(self) -> str:
        return f"{_q(self.python)} {_q(str(self.script))} fetch {_q(str(self.config_path))} %f %p"

    def server_settings(self, archive_timeout: float) -> dict[str, Any]:
        """Settings for the primary: continuous archiving with *archive_timeout* seconds."""
        return {
            "archive_mode": "on",
            "archive_command": self.archive_command,
            "archive_timeout": f"{max(1, round(archive_timeout))}s",
        }

    def segments(self) -> list[str]:
        return sorted(k[len(self.prefix) :] for k in self.store.keys(self.prefix))

    def catalog(self) -> list[wal.CatalogEntry]:
        """Every push the archive acknowledged so far, from its local catalog."""
        return wal.read_catalog(self.catalog_path) if self.catalog_path else []

    def replay_range(self, base: Backup) -> wal.ArchiveRange | None:
        """The segments a PITR from *base* replays, and which are missing (None: the
        base's start is unknown)."""
        if base.start_lsn is None or base.timeline is None:
            return None
        return wal.archive_range(
            base.start_lsn, base.timeline, self.segments(), self.catalog(), self.segment_size
        )

    def lag(self, pg: PostgresHandle) -> dict[str, Any]:
        """Archive lag: seconds since the last archived segment, and failures."""
        rows = pg.execute(
            "SELECT last_archived_wal, extract(epoch FROM now() - last_archived_time),"
            " failed_count, last_failed_wal FROM pg_stat_archiver"
        )
        wal, age, failed, last_failed = rows[0]
        return {
            "last_archived_wal": wal,
            "seconds_since_last_archive": None if age is None else float(age),
            "failed_count": int(failed),
            "last_failed_wal": last_failed,
        }

    def wait_archived(self, pg: PostgresHandle, *, timeout: float = 30.0) -> str:
        """Force a segment switch and wait until that segment is in the archive."""
        with pg.connect() as conn:
            row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None
        segment = str(row[0])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = pg.execute("SELECT last_archived_wal FROM pg_stat_archiver")
            if rows and rows[0][0] and rows[0][0] >= segment:
                return segment
            time.sleep(0.05)
        raise TimeoutError(f"WAL segment {segment} not archived within {timeout:.0f} s")


@dataclass
class Backup:
    """One backup in the store: its objects (with checksums) and what it was taken of."""

    kind: str  # dump-custom | dump-directory | base
    name: str
    objects: list[StoredObject] = field(default_factory=list)
    dbname: str | None = None
    taken_at: float = field(default_factory=time.time)
    size: int = 0
    label: str | None = None
    #: When the backup began, on the drill's clock: a dump has every write acknowledged
    #: before it (its snapshot is taken after the start).
    started_mono: float | None = None
    #: A base backup's START WAL LOCATION and timeline (from its backup_label).
    start_lsn: int | None = None
    timeline: int | None = None

    @property
    def age(self) -> float:
        """Seconds since the backup was taken."""
        return time.time() - self.taken_at


def _upload(
    step: StepContext, store: BackupStore, backup: Backup, files: list[tuple[Path, str]]
) -> Backup:
    """Put each (file, key) into the store with its SHA-256; count the bytes on the step."""
    for path, key in files:
        obj = step.call(f"s3 put {store.url(key)}", store.put_file, path, key)
        backup.objects.append(obj)
        backup.size += obj.size
    step.processed(backup.size)
    return backup


def pg_dump(
    step: StepContext,
    pg: PostgresHandle,
    store: BackupStore,
    *,
    dbname: str | None = None,
    fmt: str = "custom",
    jobs: int = 2,
) -> Backup:
    """``pg_dump`` of one database into the store, as a daily/15-minute dump job does.

    *step*: the drill step the commands are recorded in (``pg_dump`` argv, each S3 put);
    *pg*: the server; *store*: where the backup goes; *dbname* defaults to the handle's;
    *fmt*: ``custom`` (``-Fc``, one object) or ``directory`` (``-Fd -j jobs``, one object
    per file). Records the bytes uploaded on the step; returns the :class:`Backup` that a
    restore takes (keep it in a list: :func:`~.recovery.restore_dump` picks the newest
    good one).
    """
    db = dbname or pg.dbname
    name = f"dump-{fmt}/{db}/{store.stamp()}"
    scratch = scratch_dir("pgdump")
    started = time.monotonic()
    try:
        if fmt == "custom":
            out = scratch / f"{db}.dump"
            step.run([pg.tool("pg_dump"), "-Fc", "-d", db, "-f", str(out)], env=pg.env())
            files = [(out, f"{name}/{out.name}")]
        elif fmt == "directory":
            out = scratch / db
            step.run(
                [pg.tool("pg_dump"), "-Fd", "-j", str(jobs), "-d", db, "-f", str(out)],
                env=pg.env(),
            )
            files = [(p, f"{name}/{p.relative_to(out)}") for p in sorted(out.iterdir())]
        else:
            raise ValueError(f"pg_dump format {fmt!r}: use custom or directory")
        backup = Backup(kind=f"dump-{fmt}", name=name, dbname=db, started_mono=started)
        return _upload(step, store, backup, files)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def base_backup(
    step: StepContext,
    pg: PostgresHandle,
    store: BackupStore,
    *,
    label: str = "drillbook",
    prefix: str = "base",
    include_wal: bool = False,
    verify_checksums: bool = True,
) -> Backup:
    """``pg_basebackup -Ft -c fast`` of the whole cluster, streamed to S3 as it is taken.

    *step*: the drill step the commands are recorded in; *pg*: the server; *store*: where
    it goes, as *prefix*/<stamp>/base.tar (one object, the ``backup_manifest`` inside;
    its SHA-256 computed on the stream and kept in the store's catalog). By default
    without WAL (``-X none``: the WAL archive has it), the base of a PITR. To keep the
    evidence of a corrupted cluster before restoring over it
    (runbooks/projects-corruption.md: "back up the current state first"), pass
    ``include_wal=True`` (``-X fetch``: self-contained) and ``verify_checksums=False``
    (``--no-verify-checksums``: pg_dump would stop at the first bad page). Records the
    bytes uploaded on the step. A cluster with tablespaces (one tar each, which stdout
    cannot carry) is written to a scratch directory first and uploaded file by file.
    """
    name = f"{prefix}/{store.stamp()}"
    argv = [pg.tool("pg_basebackup"), "-Ft", "-c", "fast", "-v", "-l", label]
    argv += ["-X", "fetch" if include_wal else "none"]
    if not verify_checksums:
        argv.append("--no-verify-checksums")
    backup = Backup(kind="base", name=name, label=label, started_mono=time.monotonic())
    spaces = pg.execute("SELECT count(*) FROM pg_tablespace WHERE spcname !~ '^pg_'")
    if spaces[0][0]:
        return _base_backup_via_disk(step, pg, store, backup, argv)
    obj, backup.start_lsn, backup.timeline = stream_base_backup(
        step, [*argv, "-D", "-"], pg.env(), store, f"{name}/base.tar"
    )
    step.note("start_wal_location", wal.format_lsn(backup.start_lsn or 0))
    backup.objects.append(obj)
    backup.size += obj.size
    step.processed(backup.size)
    return backup


def _base_backup_via_disk(
    step: StepContext, pg: PostgresHandle, store: BackupStore, backup: Backup, argv: list[str]
) -> Backup:
    """``pg_basebackup -D scratch``, then each tar (and the manifest) uploaded."""
    scratch = scratch_dir("basebackup")
    try:
        step.run([*argv, "-D", str(scratch / "b"), "--no-sync"], env=pg.env())
        files = [(p, f"{backup.name}/{p.name}") for p in sorted((scratch / "b").iterdir())]
        backup.start_lsn, backup.timeline = backup_start(scratch / "b" / "base.tar")
        step.note("start_wal_location", wal.format_lsn(backup.start_lsn or 0))
        return _upload(step, store, backup, files)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def backup_start(base_tar: Path) -> tuple[int | None, int | None]:
    """(START WAL LOCATION, START TIMELINE) from the backup_label in *base_tar*."""
    try:
        with tarfile.open(base_tar) as tf:
            member = tf.extractfile("backup_label")
            text = member.read().decode() if member else ""
    except (OSError, KeyError, tarfile.TarError):
        return None, None
    return parse_label(text)


def download(step: StepContext, store: BackupStore, backup: Backup, dest: Path) -> list[Path]:
    """Fetch every object of *backup* from *store* into *dest*, verifying each checksum.

    Each GET is a recorded call of *step*; a mismatch raises ``BackupCorrupt`` (the file
    is removed). Returns the local paths. The bytes a restore step moved are counted by
    the restore itself (the database it rebuilt), not here: a projection at production
    size needs database bytes.
    """
    paths = []
    for obj in backup.objects:
        rel = obj.key[len(store.prefix + backup.name) + 1 :]
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        step.call(f"s3 get {store.url(obj.key)} (verify sha256)", store.get_file, obj.key, path)
        paths.append(path)
    return paths


def extract_base(step: StepContext, tar_paths: list[Path], data_dir: Path) -> None:
    """Unpack base.tar (and tablespace tars) of *tar_paths* into the empty *data_dir*,
    each ``tar -xf`` a recorded call of *step*."""
    for tar in tar_paths:
        if not tar.name.endswith(".tar"):
            continue
        target = data_dir if tar.name == "base.tar" else data_dir / "pg_tblspc" / tar.stem
        step.call(f"tar -xf {tar} -C {target}", extract_tar, tar, target)


def newest_backup_age(backups: list[Backup]) -> float | None:
    """Seconds since the newest of *backups* was taken (None: no backup yet)."""
    return min((b.age for b in backups), default=None)
