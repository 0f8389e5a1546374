"""The AOF on disk: both layouts, and the RESP command stream inside it.

Redis 7+ and Valkey write a multi-part AOF (``appendonlydir/`` with a manifest, a BASE
file that is an RDB or RESP, and INCR files); older servers write one ``appendonly.aof``.
:func:`aof_layout` reads either. :func:`resp_commands` parses the command stream: the
truncation fault cuts at a record boundary it found there, and the repair reports which
commands it removed (:func:`scan_damaged` reads past damage).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillbook.fixtures.base import Capability
from drillbook.fixtures.redis import RedisHandle
from drillbook.scenarios.redis.server import config_value

__all__ = [
    "AofFile",
    "AofLayout",
    "RespCommand",
    "RespParse",
    "RespScan",
    "aof_layout",
    "handle_aof_layout",
    "iter_keys",
    "offline_aof_layout",
    "parse_manifest",
    "resp_commands",
    "scan_damaged",
    "server_settings",
]


@dataclass(frozen=True)
class AofFile:
    """One file of an AOF: the BASE (RDB or RESP), an INCR, a HISTORY, or the single file."""

    path: Path
    type: str  # base | incr | history | single
    seq: int
    format: str  # rdb | resp

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0


@dataclass(frozen=True)
class AofLayout:
    """The AOF files of a data dir: ``multipart`` (Redis 7+, Valkey), ``single`` or ``none``."""

    kind: str
    data_dir: Path
    directory: Path | None = None
    manifest: Path | None = None
    files: tuple[AofFile, ...] = ()

    @property
    def base(self) -> AofFile | None:
        return next((f for f in self.files if f.type == "base"), None)

    @property
    def incrs(self) -> list[AofFile]:
        return sorted((f for f in self.files if f.type == "incr"), key=lambda f: f.seq)

    @property
    def last_incr(self) -> AofFile | None:
        """The file the server appends to (the single file in the old layout)."""
        if self.kind == "single":
            return self.files[0]
        incrs = self.incrs
        return incrs[-1] if incrs else None

    @property
    def check_target(self) -> Path | None:
        """What ``redis-check-aof`` is pointed at: the manifest, or the single file."""
        if self.kind == "multipart":
            return self.manifest
        if self.kind == "single":
            return self.files[0].path
        return None

    @property
    def paths(self) -> list[Path]:
        """Everything that belongs to the AOF (the directory, or the single file)."""
        if self.kind == "multipart" and self.directory is not None:
            return [self.directory]
        return [f.path for f in self.files]

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "manifest": str(self.manifest) if self.manifest else None,
            "files": [
                {
                    "name": f.path.name,
                    "type": f.type,
                    "seq": f.seq,
                    "format": f.format,
                    "size": f.size,
                }
                for f in self.files
            ],
        }


def _file_format(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except FileNotFoundError:
        return "missing"
    return "rdb" if head.startswith((b"REDIS", b"VALKEY")) else "resp"


def parse_manifest(text: str) -> list[tuple[str, int, str]]:
    """``file <name> seq <n> type <b|h|i>`` lines -> (name, seq, type)."""
    out: list[tuple[str, int, str]] = []
    types = {"b": "base", "h": "history", "i": "incr"}
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        fields = dict(zip(words[0::2], words[1::2], strict=False))
        if "file" not in fields:
            raise ValueError(f"AOF manifest line without a file: {line!r}")
        out.append(
            (fields["file"], int(fields.get("seq", 0)), types.get(fields.get("type", ""), "?"))
        )
    return out


def aof_layout(
    data_dir: Path,
    *,
    appendfilename: str = "appendonly.aof",
    appenddirname: str = "appendonlydir",
) -> AofLayout:
    """Find the AOF in *data_dir*, whichever layout the server wrote."""
    data_dir = Path(data_dir)
    directory = data_dir / appenddirname
    manifest = directory / f"{appendfilename}.manifest"
    if manifest.exists():
        files = []
        for name, seq, ftype in parse_manifest(manifest.read_text()):
            path = directory / name
            files.append(AofFile(path, ftype, seq, _file_format(path)))
        return AofLayout("multipart", data_dir, directory, manifest, tuple(files))
    single = data_dir / appendfilename
    if single.exists():
        return AofLayout(
            "single", data_dir, files=(AofFile(single, "single", 1, _file_format(single)),)
        )
    return AofLayout("none", data_dir)


def handle_aof_layout(handle: RedisHandle) -> AofLayout:
    """The AOF of a handle's data dir, with file names from the live config if it runs."""
    handle.require(Capability.DATA_DIR)
    names: dict[str, str] = {}
    with contextlib.suppress(Exception), handle.client(timeout=1) as c:
        for key in ("appendfilename", "appenddirname"):
            value = config_value(c, key)
            if value:
                names[key] = value
    return aof_layout(Path(handle.data_dir), **names)


@dataclass(frozen=True)
class RespCommand:
    """One command in an AOF: byte range [start, end) and its arguments."""

    start: int
    end: int
    args: tuple[bytes, ...]

    @property
    def name(self) -> str:
        return self.args[0].decode("ascii", "replace").upper() if self.args else ""

    @property
    def is_write(self) -> bool:
        """A data command (not SELECT / MULTI / EXEC bookkeeping)."""
        return self.name not in ("SELECT", "MULTI", "EXEC", "")


@dataclass
class RespParse:
    """The commands of a RESP stream up to its first incomplete or malformed record."""

    commands: list[RespCommand] = field(default_factory=list)
    ok_up_to: int = 0  # end of the last complete command
    trailing: int = 0  # bytes after ok_up_to (a partial or malformed record)
    error: str | None = None


def _line(data: bytes, pos: int) -> tuple[bytes, int] | None:
    end = data.find(b"\r\n", pos)
    if end < 0:
        return None
    return data[pos:end], end + 2


def resp_commands(data: bytes, *, offset: int = 0) -> RespParse:
    """Parse an AOF's RESP command stream (``*N`` arrays of ``$len`` bulk strings).

    Annotations (``#TS:...`` lines) are skipped. Parsing stops at the first incomplete
    or malformed record: ``ok_up_to`` is where a repair would truncate.
    """
    res = RespParse(ok_up_to=offset)
    pos = 0
    n = len(data)
    while pos < n:
        start = pos
        if data[pos : pos + 1] == b"#":
            got = _line(data, pos)
            if got is None:
                break
            pos = got[1]
            res.ok_up_to = pos + offset
            continue
        head = _line(data, pos)
        if head is None or not head[0].startswith(b"*"):
            res.error = f"bad record header at byte {start + offset}" if head else None
            break
        try:
            argc = int(head[0][1:])
        except ValueError:
            res.error = f"bad array length at byte {start + offset}"
            break
        pos = head[1]
        args: list[bytes] = []
        complete = True
        for _ in range(argc):
            blen = _line(data, pos)
            if blen is None or not blen[0].startswith(b"$"):
                complete = False
                break
            try:
                size = int(blen[0][1:])
            except ValueError:
                complete = False
                break
            body_end = blen[1] + size
            if body_end + 2 > n or data[body_end : body_end + 2] != b"\r\n":
                complete = False
                break
            args.append(data[blen[1] : body_end])
            pos = body_end + 2
        if not complete:
            break
        res.commands.append(RespCommand(start + offset, pos + offset, tuple(args)))
        res.ok_up_to = pos + offset
    res.trailing = n + offset - res.ok_up_to
    return res


def iter_keys(commands: list[RespCommand]) -> Iterator[str]:
    """The first key argument of each write command (for "which keys did the cut remove")."""
    for cmd in commands:
        if cmd.is_write and len(cmd.args) > 1:
            yield cmd.args[1].decode("utf-8", "replace")


def offline_aof_layout(handle: RedisHandle) -> AofLayout:
    """The AOF of a stopped server (its file names from the settings it was started with)."""
    handle.require(Capability.DATA_DIR)
    s = server_settings(handle)
    names = {k: str(s[k]) for k in ("appendfilename", "appenddirname") if s.get(k)}
    return aof_layout(Path(handle.data_dir), **names)


def server_settings(handle: RedisHandle) -> dict[str, Any]:
    """The settings the handle starts its server with (empty when it does not say)."""
    current = getattr(handle, "settings", None)
    return dict(current) if isinstance(current, dict) else {}


_RECORD_START = re.compile(rb"\r\n\*\d+\r\n\$")


@dataclass
class RespScan:
    """Every readable command of a damaged stream, and how many records were unreadable."""

    commands: list[RespCommand] = field(default_factory=list)
    damaged: int = 0  # unreadable records (torn or with a broken header)

    @property
    def writes(self) -> list[RespCommand]:
        return [c for c in self.commands if c.is_write]


def scan_damaged(data: bytes, *, offset: int = 0) -> RespScan:
    """Parse past damage: at an unreadable record, count it, then resynchronise on the
    next record header. A record whose only damage is its first byte (``!3`` for ``*3``)
    is still read, so its key is known, and counted as a command."""
    scan = RespScan()
    pos = 0
    while pos < len(data):
        parsed = resp_commands(data[pos:], offset=offset + pos)
        scan.commands += parsed.commands
        stop = parsed.ok_up_to - offset
        if stop >= len(data):
            break
        nxt = _RECORD_START.search(data, stop + 1)
        end = nxt.start() + 2 if nxt else len(data)
        patched = resp_commands(b"*" + data[stop + 1 : end], offset=offset + stop)
        if patched.commands and patched.trailing == 0:
            scan.commands += patched.commands
        else:
            scan.damaged += 1
        if nxt is None:
            break
        pos = end
    return scan
