"""PostgreSQL dumps: what a dump is, whether it is whole, and its restore.

Formats: custom (``-Fc``), directory (``-Fd``), tar (``-Ft``), plain SQL (``-Fp``) and
any of them gzip/bzip2/xz-compressed as a whole (``app.sql.gz``). The major version a
restore needs is read from the dump itself (the archive header, or the plain dump's
"Dumped from/by" lines), so the restore goes into a server that can take it.

Checked before any restore, because the tools do not:

- a plain dump must end with pg_dump's completion trailer: psql restores a dump cut
  off mid-way with exit status 0;
- a tar archive must be complete: pg_restore loops forever on a truncated tar
  (measured here: 640 s of CPU before it was killed), so every member's data and the
  end-of-archive blocks are checked first;
- a compressed dump must decompress to its end.

The restore runs ``pg_restore -j N`` (custom, directory) or ``pg_restore`` (tar) or
``psql`` (plain) of the target server's own build, without ``--exit-on-error`` so every
error is seen, and its stderr is classified (:mod:`drillbook.verify.classify`).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from drillbook.scenarios.verify.reader import CHUNK, FileSource
from drillbook.verify import formats
from drillbook.verify.classify import Classified, classify_restore
from drillbook.verify.model import NotVerified

DECOMPRESSORS: dict[str, Any] = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}
SUFFIXES = {"gzip": ".gz", "bzip2": ".bz2", "xz": ".xz"}
BASE_BACKUP_MEMBERS = ("PG_VERSION", "backup_label", "global/pg_control")


class DumpCorrupt(Exception):
    """The dump is damaged in a way found before any restore (BACKUP_CORRUPT)."""


@dataclass
class Dump:
    """A dump ready to restore: its restorable path and what it says about itself."""

    path: Path
    format: str  # custom | directory | tar | plain | basebackup
    compression: str | None = None
    created: float | None = None
    created_from: str | None = None
    server_version: str | None = None
    dump_version: str | None = None
    dbname: str | None = None
    major: int | None = None
    cluster: bool = False


def decompress(path: Path, kind: str, workdir: Path) -> Path:
    """*path* decompressed into *workdir*; DumpCorrupt when the stream is damaged."""
    name = path.name[: -len(SUFFIXES[kind])] if path.name.endswith(SUFFIXES[kind]) else path.name
    dest = workdir / (name if name != path.name else name + ".raw")
    try:
        with DECOMPRESSORS[kind](FileSource.open(path)) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
    except (EOFError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
        raise DumpCorrupt(f"{kind} stream of {path.name} is damaged: {exc}") from None
    return dest


def _archive(path: Path, header_bytes: bytes, fmt: str) -> Dump:
    try:
        head = formats.parse_archive_header(header_bytes)
    except formats.FormatError as exc:
        raise DumpCorrupt(f"{path.name}: {exc}") from None
    return Dump(
        path=path,
        format=fmt,
        compression=head.compression,
        created=head.created,
        created_from="archive header" if head.created else None,
        server_version=head.server_version,
        dump_version=head.dump_version,
        dbname=head.dbname or None,
        major=head.major,
    )


def _plain(path: Path) -> Dump:
    head = formats.parse_plain_head(FileSource.head_bytes(path))
    tail = FileSource.tail_bytes(path)
    if not formats.plain_trailer_ok(tail, head.trailer):
        raise DumpCorrupt(
            f"plain dump {path.name} ends without pg_dump's completion trailer "
            f"{head.trailer!r}: it was cut off (last line: {formats.last_line(tail)!r})"
        )
    return Dump(
        path=path,
        format="plain",
        created=head.started,
        created_from="'Started on' line" if head.started else None,
        server_version=head.server_version,
        dump_version=head.dump_version,
        major=head.major,
        cluster=head.cluster,
    )


def check_tar(path: Path) -> list[tarfile.TarInfo]:
    """Every member header and its data present, and the end-of-archive marker."""
    try:
        with tarfile.open(path, "r:") as tar:
            members = tar.getmembers()
    except tarfile.TarError as exc:
        raise DumpCorrupt(f"tar archive {path.name} is damaged: {exc}") from None
    size = path.stat().st_size
    for m in members:
        if m.offset_data + m.size > size:
            raise DumpCorrupt(
                f"tar archive {path.name} is truncated: member {m.name} needs "
                f"{m.offset_data + m.size} bytes, the file has {size}"
            )
    end = max((m.offset_data + m.size for m in members), default=0)
    end = (end + 511) // 512 * 512
    with FileSource.open(path) as fh:
        fh.seek(end)
        marker = fh.read(1024)
    if len(marker) < 1024 or marker.strip(b"\0"):
        raise DumpCorrupt(
            f"tar archive {path.name} has no end-of-archive marker after its last member "
            f"({path.stat().st_size} bytes): it was cut off"
        )
    return members


def _tar(path: Path) -> Dump:
    members = check_tar(path)
    names = {m.name.lstrip("./") for m in members}
    if "toc.dat" in names:
        toc = next(m for m in members if m.name.lstrip("./") == "toc.dat")
        with FileSource.open(path) as fh:
            fh.seek(toc.offset_data)
            return _archive(path, fh.read(min(toc.size, 65536)), "tar")
    if any(n in names for n in BASE_BACKUP_MEMBERS):
        return Dump(path=path, format="basebackup")
    raise DumpCorrupt(f"tar archive {path.name} is neither a pg_dump tar nor a base backup")


def inspect(path: Path, workdir: Path) -> Dump:
    """What the backup at *path* is; decompressed into *workdir* first when needed."""
    if path.is_dir():
        if (path / "toc.dat").is_file():
            return _archive(path, FileSource.head_bytes(path / "toc.dat"), "directory")
        if any((path / n).is_file() for n in ("base.tar", "base.tar.gz")):
            return Dump(path=path, format="basebackup")
        raise DumpCorrupt(f"{path}: a folder without toc.dat (pg_dump -Fd) or base.tar")
    kind = formats.sniff(FileSource.head_bytes(path, 4096))
    if kind in DECOMPRESSORS:
        inner = inspect(decompress(path, kind, workdir), workdir)
        inner.compression = kind if inner.compression in (None, "none") else inner.compression
        return inner
    if kind in ("zstd", "lz4"):
        raise NotVerified(
            "FORMAT_UNSUPPORTED",
            f"{path.name} is {kind}-compressed as a whole: decompress it in the backup job "
            "or use pg_dump's own compression (-Fc -Z)",
        )
    if kind == "pgdmp":
        return _archive(path, FileSource.head_bytes(path), "custom")
    if kind == "tar":
        return _tar(path)
    if kind == "plain":
        return _plain(path)
    if kind == "rdb":
        raise DumpCorrupt(f"{path.name} is a Redis RDB file, not a PostgreSQL dump")
    first = FileSource.head_bytes(path, 16)
    raise DumpCorrupt(
        f"{path.name} is not a PostgreSQL dump (custom, directory, tar or plain SQL): "
        f"it starts with {first!r}"
    )


def restore_argv(tool_dir: Any, dump: Dump, dbname: str, *, jobs: int, no_owner: bool) -> list[str]:
    """The restore command for *dump* with the target server's own client tools."""
    if dump.format == "plain":
        db = "postgres" if dump.cluster else dbname
        return [
            tool_dir("psql"),
            "-X",
            "-q",
            "-w",
            "-v",
            "ON_ERROR_STOP=0",
            "-d",
            db,
            "-f",
            str(dump.path),
        ]
    argv = [tool_dir("pg_restore"), "-w", "-d", dbname]
    if dump.format in ("custom", "directory") and jobs > 1:
        argv += ["-j", str(jobs)]
    if no_owner:
        argv.append("--no-owner")
    return [*argv, str(dump.path)]


def create_target(handle: Any, dbname: str, roles: tuple[str, ...]) -> None:
    """The empty database to restore into, and the roles the dump's objects need."""
    from psycopg import sql

    with handle.connect("postgres") as conn:
        for role in roles:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(dbname))
        )


def restore(
    ctx: Any,
    handle: Any,
    dump: Dump,
    dbname: str,
    *,
    jobs: int,
    no_owner: bool = False,
    roles: tuple[str, ...] = (),
    timeout: float,
) -> Classified:
    """Restore *dump* into a new database *dbname* on *handle*; the classified outcome."""
    create_target(handle, dbname, roles)
    argv = restore_argv(handle.tool, dump, dbname, jobs=jobs, no_owner=no_owner)
    env = {**handle.env(), "PGDATABASE": dbname, "PGOPTIONS": "-c client_min_messages=warning"}
    res = ctx.run(argv, env=env, timeout=timeout, check=False)
    stderr = _text(res.stderr) + _text(res.stdout)
    tool = os.path.basename(argv[0])
    return classify_restore(stderr, res.returncode, tool)


def _text(data: bytes | str | IO[Any] | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)
