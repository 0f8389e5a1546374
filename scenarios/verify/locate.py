"""Which backup is the newest, and a local, digested copy of it to restore from.

A source names a place (``s3://bucket/prefix/``, a folder) or one backup (a key, a
file). In a place, the newest backup wins: a single file whose name matches the
source's ``pattern``, or a multi-file backup seen as one unit: a pg_dump directory
(a folder holding ``toc.dat``) or a pg_basebackup (``base.tar[.gz]`` and its WAL tar).
``*.sha256`` files are sidecars, never backups: when one sits next to the backup, its
digest is checked like a ``sha256`` in drills.toml.

S3 objects are downloaded into the verification's work folder, in one streamed GET
each, hashed while written; files on this machine are restored in place (every tool
only reads them) and hashed in one read pass, so the "download" figure is the time to
read the backup once at its real size.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drillbook.scenarios.verify.reader import Entry, FileSource, NoSuchBackup, S3Source
from drillbook.verify.source import S3Location

UNIT_MARKERS = ("toc.dat", "base.tar", "base.tar.gz")
SIDECAR = ".sha256"
_HEX64 = re.compile(r"\b([0-9a-fA-F]{64})\b")


@dataclass
class Located:
    """The backup chosen: one file, or several forming one backup (``root``)."""

    location: str
    root: str  # key prefix / folder of a multi-file backup; the key / path of a file
    members: list[Entry]
    multi: bool
    sidecar: str | None = None

    @property
    def size(self) -> int:
        return sum(m.size for m in self.members)

    @property
    def modified(self) -> float:
        return max(m.modified for m in self.members)

    @property
    def s3_checksum(self) -> str | None:
        return self.members[0].checksum_sha256 if not self.multi else None


@dataclass
class Fetched:
    """The local copy (or the file itself, for a path source) and what reading it cost."""

    path: Path
    sha256: str | None
    bytes: int
    seconds: float
    sidecar_digest: str | None = None


def _unit_prefix(key: str) -> str | None:
    """The key prefix a unit marker (``toc.dat``, ``base.tar``) makes one backup of."""
    head, name = posixpath.split(key)
    if name not in UNIT_MARKERS:
        return None
    return head + "/" if head else ""


def _s3_units(entries: list[Entry], prefix: str, pattern: str) -> dict[str, list[Entry]]:
    """Candidate backups under *prefix*: key -> members (a key ending in ``/`` or the
    empty key is a multi-file backup)."""
    roots = sorted({r for e in entries if (r := _unit_prefix(e.name)) is not None}, key=len)
    units: dict[str, list[Entry]] = {}
    for e in entries:
        root = next((r for r in reversed(roots) if e.name.startswith(r)), None)
        if root is not None:
            units.setdefault(root, []).append(e)
        elif not e.name.endswith((SIDECAR, "/")):
            units[e.name] = [e]

    def wanted(key: str) -> bool:
        if key == prefix:
            return True  # the prefix named is itself one backup
        return fnmatch.fnmatch(posixpath.basename(key.rstrip("/")), pattern)

    return {key: members for key, members in units.items() if wanted(key)}


def _newest(units: dict[str, list[Entry]]) -> str:
    return max(units, key=lambda key: (max(e.modified for e in units[key]), key))


def locate_s3(src: S3Source, loc: S3Location, pattern: str = "*") -> Located:
    """The newest backup under a prefix, or the one key named."""
    if not loc.is_prefix:
        entry = src.head(loc.key)
        keys = {e.name for e in src.list(loc.key + SIDECAR)}
        sidecar = loc.key + SIDECAR if loc.key + SIDECAR in keys else None
        return Located(f"s3://{loc.bucket}/{loc.key}", loc.key, [entry], False, sidecar)
    entries = list(src.list(loc.key))
    units = _s3_units(entries, loc.key, pattern)
    if not units:
        raise NoSuchBackup(
            f"s3://{loc.bucket}/{loc.key}: no backup matching {pattern!r} "
            f"({len(entries)} objects under the prefix)"
        )
    root = _newest(units)
    multi = root == "" or root.endswith("/")
    keys = {e.name for e in entries}
    sidecar = root + SIDECAR if not multi and root + SIDECAR in keys else None
    return Located(f"s3://{loc.bucket}/{root}", root, units[root], multi, sidecar)


def _is_unit(path: Path) -> bool:
    return path.is_dir() and any((path / m).is_file() for m in UNIT_MARKERS)


def _dir_unit(path: Path) -> Located:
    members = [FileSource.entry(p) for p in sorted(path.rglob("*")) if p.is_file()]
    return Located(str(path), str(path), members, True)


def locate_path(path: Path, pattern: str = "*") -> Located:
    """A file, a dump folder / base backup, or the newest backup in a folder."""
    entry = FileSource.entry(path)
    if path.is_file():
        return Located(str(path), str(path), [entry], False, _file_sidecar(path))
    if _is_unit(path):
        return _dir_unit(path)
    candidates = [
        p
        for p in FileSource.list(path, pattern)
        if not p.name.endswith(SIDECAR) and (p.is_file() or _is_unit(p))
    ]
    if not candidates:
        raise NoSuchBackup(f"{path}: no backup matching {pattern!r} in the folder")
    newest = max(candidates, key=lambda p: (_mtime(p), p.name))
    if newest.is_file():
        return Located(
            str(newest), str(newest), [FileSource.entry(newest)], False, _file_sidecar(newest)
        )
    return _dir_unit(newest)


def _mtime(path: Path) -> float:
    if path.is_file():
        return path.stat().st_mtime
    return max((p.stat().st_mtime for p in path.rglob("*") if p.is_file()), default=0.0)


def _file_sidecar(path: Path) -> str | None:
    side = path.with_name(path.name + SIDECAR)
    return str(side) if side.is_file() else None


def parse_sidecar(data: bytes) -> str | None:
    """The digest in a ``sha256sum`` style sidecar (``<hex>  name``), lower-case."""
    m = _HEX64.search(data.decode("utf-8", "replace"))
    return m.group(1).lower() if m else None


def fetch_s3(
    src: S3Source, found: Located, workdir: Path, progress: Callable[[int], None] | None = None
) -> Fetched:
    """Download every member into *workdir* (keeping the backup's own layout)."""
    start = time.monotonic()
    digest, total = None, 0
    if not found.multi:
        dest = workdir / posixpath.basename(found.root)
        digest, total = src.get(found.root, dest, progress)
    else:
        dest = workdir / (posixpath.basename(found.root.rstrip("/")) or "backup")
        for member in found.members:
            rel = member.name[len(found.root) :] if found.root else member.name
            _, n = src.get(member.name, dest / rel, progress)
            total += n
    side = parse_sidecar(src.read_small(found.sidecar)) if found.sidecar else None
    return Fetched(dest, digest, total, time.monotonic() - start, side)


def fetch_path(found: Located, progress: Callable[[int], None] | None = None) -> Fetched:
    """Read a local backup once (digest of a single file); it is restored in place."""
    start = time.monotonic()
    path = Path(found.root)
    if found.multi:
        total = 0
        for member in found.members:
            _, n = FileSource.digest(Path(member.name), progress)
            total += n
        return Fetched(path, None, total, time.monotonic() - start)
    digest, total = FileSource.digest(path, progress)
    side = None
    if found.sidecar:
        side = parse_sidecar(FileSource.head_bytes(Path(found.sidecar), 4096))
    return Fetched(path, digest, total, time.monotonic() - start, side)
