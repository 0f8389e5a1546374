"""What a backup says about itself, read from its bytes (pure: bytes in, facts out).

A restore must go into a server that can read it, and the age of a backup is best told
by the backup itself (the mtime of a copy, or an S3 LastModified after a re-upload, can
be much younger than the data). So the headers are read here:

- pg_dump custom / directory / tar archives start (tar: its ``toc.dat`` member) with
  ``PGDMP``, the archive version, the creation time, the database name, the server's
  and pg_dump's version strings (pg_backup_archiver.c, ``ReadHead``);
- a plain dump says ``-- Dumped from database version 15.6`` and ``-- Dumped by pg_dump
  version 15.6`` in its head, ``-- Started on ...`` with ``--verbose``, and ends with
  ``-- PostgreSQL database dump complete`` when pg_dump finished: psql restores a
  cut-off plain dump with exit 0, so a missing trailer is the only tell;
- a base backup's ``backup_label`` has ``START TIME``; ``PG_VERSION`` its major;
- a Redis RDB file starts with ``REDIS`` + a 4-digit version and auxiliary fields
  (``redis-ver``, ``ctime``: the snapshot's creation time).
"""

from __future__ import annotations

import calendar
import re
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime

PGDMP = b"PGDMP"
PLAIN_TRAILER = "-- PostgreSQL database dump complete"
CLUSTER_TRAILER = "-- PostgreSQL database cluster dump complete"
# The format byte: 1 in a custom archive; the toc.dat of a tar and of a directory
# archive both carry 3 (seen with pg_dump 15 and 18), so the container tells those apart.
_ARCHIVE_FORMATS = {1: "custom", 3: "tar-or-directory"}
_COMPRESSIONS = {0: "none", 1: "gzip", 2: "lz4", 3: "zstd"}


class FormatError(ValueError):
    """The bytes are not (or no longer) what their format requires."""


# -- sniffing --------------------------------------------------------------------------

MAGIC: tuple[tuple[bytes, str], ...] = (
    (PGDMP, "pgdmp"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"REDIS", "rdb"),
)


def sniff(head: bytes) -> str:
    """The kind of a file from its first bytes (at least 512 for tar)."""
    if not head:
        return "empty"
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) >= 263 and head[257:262] == b"ustar":
        return "tar"
    text = head[:4096].decode("utf-8", "replace")
    if text.lstrip().startswith("--") or re.search(r"^(SET|CREATE|COPY|\\connect) ", text, re.M):
        return "plain"
    return "unknown"


def major_of(version: str) -> int:
    """``15.6 (Debian ...)`` -> 15, ``18.1`` -> 18, ``9.6.24`` -> 9."""
    m = re.match(r"\s*(\d+)", version or "")
    if m is None:
        raise FormatError(f"no version number in {version!r}")
    return int(m.group(1))


# -- pg_dump archives --------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveHeader:
    """The header of a custom/directory/tar archive (``toc.dat`` for the last two)."""

    format: str
    version: str  # archive format version, e.g. "1.14"
    compression: str
    created: float | None  # epoch seconds; the dumping host's local time read as UTC
    dbname: str
    server_version: str
    dump_version: str

    @property
    def major(self) -> int:
        """The major a server needs to restore it: the newer of server and pg_dump."""
        majors = [major_of(v) for v in (self.server_version, self.dump_version) if v]
        if not majors:
            raise FormatError("archive records no server or pg_dump version")
        return max(majors)


class _Cursor:
    def __init__(self, data: bytes, pos: int, int_size: int) -> None:
        self.data, self.pos, self.int_size = data, pos, int_size

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise FormatError("archive header is cut off")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def int(self) -> int:
        sign = self.byte()
        raw = self.data[self.pos : self.pos + self.int_size]
        if len(raw) < self.int_size:
            raise FormatError("archive header is cut off")
        self.pos += self.int_size
        value = int.from_bytes(raw, "little")
        return -value if sign else value

    def str(self) -> str:
        length = self.int()
        if length < 0:
            return ""
        raw = self.data[self.pos : self.pos + length]
        if len(raw) < length:
            raise FormatError("archive header is cut off")
        self.pos += length
        return raw.decode("utf-8", "replace")


def parse_archive_header(data: bytes) -> ArchiveHeader:
    """Read pg_dump's archive header (``ReadHead``); FormatError when it is not one."""
    if not data.startswith(PGDMP):
        raise FormatError("no PGDMP magic: not a pg_dump custom/directory/tar archive")
    if len(data) < 11:
        raise FormatError("archive header is cut off")
    vmaj, vmin, _vrev, int_size, off_size, fmt = data[5:11]
    if vmaj != 1 or vmin < 10 or not 1 <= int_size <= 8 or not 1 <= off_size <= 8:
        raise FormatError(f"unsupported archive version {vmaj}.{vmin} (pg_dump before 9.0?)")
    cur = _Cursor(data, 11, int_size)
    if vmin >= 15:
        compression = _COMPRESSIONS.get(cur.byte(), "unknown")
    else:
        level = cur.int()
        compression = "none" if level == 0 else "gzip"
    sec, minute, hour, mday, mon, year, _isdst = (cur.int() for _ in range(7))
    created: float | None
    try:
        created = float(calendar.timegm((year + 1900, mon + 1, mday, hour, minute, sec)))
    except (ValueError, OverflowError):
        created = None
    dbname = cur.str()
    server_version, dump_version = cur.str(), cur.str()
    return ArchiveHeader(
        format=_ARCHIVE_FORMATS.get(fmt, f"unknown({fmt})"),
        version=f"{vmaj}.{vmin}",
        compression=compression,
        created=created,
        dbname=dbname,
        server_version=server_version,
        dump_version=dump_version,
    )


# -- plain SQL dumps -----------------------------------------------------------------------


@dataclass(frozen=True)
class PlainHead:
    server_version: str | None
    dump_version: str | None
    started: float | None
    cluster: bool  # pg_dumpall output

    @property
    def major(self) -> int | None:
        majors = [major_of(v) for v in (self.server_version, self.dump_version) if v]
        return max(majors) if majors else None

    @property
    def trailer(self) -> str:
        return CLUSTER_TRAILER if self.cluster else PLAIN_TRAILER


_STARTED = re.compile(r"^-- Started on (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*(\S+)?", re.M)


def parse_plain_head(head: bytes) -> PlainHead:
    """Versions (and ``Started on`` of a verbose dump) from a plain dump's first lines."""
    text = head[:65536].decode("utf-8", "replace")
    server = re.search(r"^-- Dumped from database version (.+)$", text, re.M)
    dump = re.search(r"^-- Dumped by pg_dump(?:all)? version (.+)$", text, re.M)
    started = None
    if m := _STARTED.search(text):
        when = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        started = when.timestamp()
    return PlainHead(
        server_version=server.group(1).strip() if server else None,
        dump_version=dump.group(1).strip() if dump else None,
        started=started,
        cluster="PostgreSQL database cluster dump" in text[:2000],
    )


def plain_trailer_ok(tail: bytes, trailer: str = PLAIN_TRAILER) -> bool:
    """True when the dump's last lines hold pg_dump's completion trailer.

    Only comments, blank lines and psql's ``\\unrestrict`` may follow it.
    """
    lines = tail.decode("utf-8", "replace").splitlines()
    for line in reversed(lines):
        stripped = line.strip()
        if stripped == trailer:
            return True
        if stripped and stripped != "--" and not stripped.startswith("\\unrestrict"):
            return False
    return False


def last_line(tail: bytes, limit: int = 80) -> str:
    """The dump's last non-blank line, shortened (for a finding)."""
    lines = [ln for ln in tail.decode("utf-8", "replace").splitlines() if ln.strip()]
    text = lines[-1] if lines else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- base backups ----------------------------------------------------------------------------


def parse_backup_label(text: str) -> dict[str, str | float]:
    """``backup_label`` fields; ``start_time`` as epoch seconds when it can be read."""
    out: dict[str, str | float] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower().replace(" ", "_")] = value.strip()
    raw = str(out.get("start_time", ""))
    m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*(\S*)", raw)
    if m:
        when = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
        if m.group(2) in ("", "UTC", "GMT"):
            out["start_epoch"] = when.replace(tzinfo=UTC).timestamp()
    return out


# -- Redis RDB -----------------------------------------------------------------------------

_RDB_AUX = 0xFA


@dataclass(frozen=True)
class RdbHeader:
    version: int
    aux: dict[str, str] = field(default_factory=dict)

    @property
    def created(self) -> float | None:
        raw = self.aux.get("ctime")
        return float(raw) if raw and raw.lstrip("-").isdigit() else None


def _rdb_length(data: bytes, pos: int) -> tuple[int, bool, int]:
    """(length or special code, is_special, new position) of an RDB length encoding."""
    first = data[pos]
    kind = first >> 6
    if kind == 0:
        return first & 0x3F, False, pos + 1
    if kind == 1:
        return ((first & 0x3F) << 8) | data[pos + 1], False, pos + 2
    if kind == 3:
        return first & 0x3F, True, pos + 1
    if first == 0x80:
        return struct.unpack(">I", data[pos + 1 : pos + 5])[0], False, pos + 5
    if first == 0x81:
        return struct.unpack(">Q", data[pos + 1 : pos + 9])[0], False, pos + 9
    raise FormatError(f"bad RDB length byte 0x{first:02x} at {pos}")


def _rdb_string(data: bytes, pos: int) -> tuple[str, int]:
    length, special, pos = _rdb_length(data, pos)
    if special:
        sizes = {0: ("<b", 1), 1: ("<h", 2), 2: ("<i", 4)}
        if length not in sizes:
            raise FormatError("compressed RDB string in the header")
        fmt, size = sizes[length]
        return str(struct.unpack(fmt, data[pos : pos + size])[0]), pos + size
    if pos + length > len(data):
        raise FormatError("RDB header is cut off")
    return data[pos : pos + length].decode("utf-8", "replace"), pos + length


def parse_rdb_header(data: bytes) -> RdbHeader:
    """The RDB version and the auxiliary fields at the start of the file."""
    if not data.startswith(b"REDIS") or len(data) < 9 or not data[5:9].isdigit():
        raise FormatError("no REDIS magic and version: not an RDB file")
    header = RdbHeader(int(data[5:9]))
    pos = 9
    try:
        while pos < len(data) and data[pos] == _RDB_AUX:
            name, pos = _rdb_string(data, pos + 1)
            value, pos = _rdb_string(data, pos)
            header.aux[name] = value
    except (IndexError, struct.error):
        pass  # a header cut off here still has its version; the load decides the rest
    return header
