"""Redis faults: real damage, the way incidents cause it.

Each fault does the damage and returns a small dataclass saying exactly what it did (the
pid killed, the keys flushed, the files removed, the byte offsets cut or overwritten),
for the drill record (``dataclasses.asdict``) and for the checks that must find it. A
drill calls them inside ``with drill.fault(...)``, which marks t0.

- :func:`crash`: SIGKILL of redis-server (the process group).
- :func:`flushall`: the accidental ``FLUSHALL`` (it reaches the AOF too).
- :func:`lose_data_dir`: SIGKILL and everything in the data directory removed (a lost
  volume or host): dump.rdb and the AOF go with it.
- :func:`truncate_aof`: the server dies mid-write and the last INCR file ends in the
  middle of a record (*records_back* records before its end).
- :func:`corrupt_file` / :func:`corrupt_rdb`: bytes of an RDB overwritten (bit rot, a
  bad disk): the CRC64 at the end of the file no longer matches, and the server refuses
  to load it.
"""

from __future__ import annotations

import os
import random
import signal
from dataclasses import dataclass, field
from pathlib import Path

from drillbook.capture import destroyed
from drillbook.fixtures.base import Capability
from drillbook.fixtures.redis import RedisHandle
from drillbook.scenarios.common import WipedDirectory, source_of, wipe_directory
from drillbook.scenarios.redis.aof import (
    AofLayout,
    RespCommand,
    handle_aof_layout,
    iter_keys,
    resp_commands,
)
from drillbook.scenarios.redis.server import rdb_path

__all__ = [
    "AofCorruption",
    "AofTruncation",
    "Crash",
    "DataDirLoss",
    "FileCorruption",
    "Flushall",
    "corrupt_aof",
    "corrupt_file",
    "corrupt_rdb",
    "crash",
    "flushall",
    "lose_data_dir",
    "truncate_aof",
]

# -- crash ------------------------------------------------------------------------------------


@dataclass
class Crash:
    """What :func:`crash` did: the pid killed (when the backend knows it) and the signal."""

    pid: int | None
    signal: str


def crash(handle: RedisHandle) -> Crash:
    """SIGKILL the server: no shutdown, no final save, no AOF flush beyond what is written."""
    handle.require(Capability.KILL, Capability.DESTRUCTIVE)
    pid = getattr(handle, "pid", None)
    handle.kill(signal.SIGKILL)
    return Crash(pid, "SIGKILL")


# -- FLUSHALL ---------------------------------------------------------------------------------


@dataclass
class Flushall:
    """What :func:`flushall` did: the keys the server held before it."""

    keys_before: int
    command: str


def flushall(handle: RedisHandle) -> Flushall:
    """``FLUSHALL`` (synchronous): every key of every database gone, and logged to the AOF.

    With automatic save points configured the server would also rewrite dump.rdb with the
    empty dataset; drillbook's servers run ``save ""`` (the drill drives BGSAVE), so the
    local dump.rdb stays what the last snapshot wrote.
    """
    handle.require(Capability.DESTRUCTIVE)
    with handle.client() as c:
        before = int(c.dbsize())
        c.execute_command("FLUSHALL")
    destroyed(
        source_of(handle), ["aof"], "the AOF recorded the FLUSHALL: replaying it replays the loss"
    )
    return Flushall(before, "FLUSHALL")


# -- loss of the data directory ---------------------------------------------------------------


DataDirLoss = WipedDirectory


def lose_data_dir(handle: RedisHandle) -> DataDirLoss:
    """SIGKILL the server and remove everything in its data directory (dump.rdb, AOF): a
    lost volume or host.

    *handle*: the server (needs kill, its data dir, destruction allowed). The directory
    itself stays (the mount point): a restore puts a snapshot back into it. Returns the
    files removed; call it inside ``with drill.fault(...)``.
    """
    handle.require(Capability.KILL, Capability.DATA_DIR, Capability.DESTRUCTIVE)
    handle.kill(signal.SIGKILL)
    destroyed(source_of(handle), ["aof"], "the AOF went with the data directory")
    return wipe_directory(handle.data_dir)


# -- truncated AOF ----------------------------------------------------------------------------


@dataclass
class AofTruncation:
    """What the cut removed: whole commands after the cut plus the torn one."""

    file: str
    layout: str
    size_before: int
    size_after: int
    cut_at: int
    torn_command: str  # the record the cut lands in
    commands_removed: int  # the torn record and every record after it
    writes_removed: int  # of those, data commands (not SELECT/MULTI/EXEC)
    keys_removed: list[str] = field(default_factory=list)


def _last_writes(
    handle: RedisHandle, records_back: int, kill: bool
) -> tuple[AofLayout, Path, bytes, list[RespCommand], RespCommand]:
    """SIGKILL (*kill*) and read the AOF's last INCR file: (layout, file, bytes, its
    commands, the write *records_back* writes from its end)."""
    handle.require(Capability.DATA_DIR, Capability.DESTRUCTIVE)
    if records_back < 1:
        raise ValueError("records_back must be >= 1 (1: the last record)")
    if kill:
        handle.require(Capability.KILL)
        handle.kill(signal.SIGKILL)
    layout = handle_aof_layout(handle)
    target = layout.last_incr
    if target is None:
        raise ValueError(f"no AOF in {handle.data_dir} ({layout.kind}): is appendonly on?")
    if target.format != "resp":
        raise ValueError(
            f"{target.path.name} is an RDB preamble, not a command stream: write some keys "
            "after the last rewrite so the INCR file has records to damage"
        )
    data = target.path.read_bytes()
    commands = resp_commands(data).commands
    writes = [c for c in commands if c.is_write]
    if len(writes) < records_back:
        raise ValueError(
            f"{target.path.name} has {len(writes)} write records, cannot reach {records_back} back"
        )
    return layout, target.path, data, commands, writes[-records_back]


def _overwrite(
    path: Path, *, truncate_at: int | None = None, at: int = 0, data: bytes = b""
) -> None:
    with open(path, "r+b") as f:
        if truncate_at is not None:
            f.truncate(truncate_at)
        else:
            f.seek(at)
            f.write(data)
        f.flush()
        os.fsync(f.fileno())


def truncate_aof(
    handle: RedisHandle,
    *,
    records_back: int = 1,
    kill: bool = True,
    rng: random.Random | None = None,
) -> AofTruncation:
    """The server dies mid-write: the AOF's last file ends inside a record.

    *handle*: the server (needs its data dir; with *kill*, SIGKILL first so the server
    cannot append behind the cut). Cuts the last INCR file (the single AOF on old
    servers) in the middle of the record that is *records_back* writes from its end:
    that record is torn, every later one gone. *rng* picks the byte. Returns the commands
    and keys removed.
    """
    layout, path, data, commands, torn = _last_writes(handle, records_back, kill)
    destroyed(source_of(handle), ["aof"], f"the AOF's last file was cut ({path.name})")
    rng = rng or random.Random()
    # Somewhere strictly inside the record: at least its first byte stays, never all.
    cut = torn.start + rng.randint(1, max(1, torn.end - torn.start - 1))
    removed = [c for c in commands if c.end > cut]
    _overwrite(path, truncate_at=cut)
    return AofTruncation(
        file=str(path),
        layout=layout.kind,
        size_before=len(data),
        size_after=cut,
        cut_at=cut,
        torn_command=torn.name,
        commands_removed=len(removed),
        writes_removed=sum(1 for c in removed if c.is_write),
        keys_removed=list(iter_keys(removed))[:1000],
    )


# -- corrupted RDB ----------------------------------------------------------------------------


@dataclass
class FileCorruption:
    """The byte range :func:`corrupt_file` overwrote in a file."""

    path: str
    size: int
    offset: int
    length: int


def corrupt_file(
    path: Path | str,
    *,
    offset: int | None = None,
    length: int = 16,
    seed: int | None = None,
) -> FileCorruption:
    """XOR *length* bytes at *offset* (default: the middle of the file) with non-zero
    random bytes, so every one of them really changes."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path} is empty: nothing to corrupt")
    length = max(1, min(length, size))
    start = (size - length) // 2 if offset is None else max(0, min(offset, size - length))
    rng = random.Random(seed)
    with open(path, "r+b") as f:
        f.seek(start)
        chunk = bytearray(f.read(length))
        for i in range(len(chunk)):
            chunk[i] ^= rng.randrange(1, 256)
        f.seek(start)
        f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    return FileCorruption(str(path), size, start, length)


def corrupt_rdb(
    handle: RedisHandle, *, length: int = 16, seed: int | None = None, kill: bool = True
) -> FileCorruption:
    """The server's own dump.rdb damaged on disk (SIGKILLed first, so no save rewrites it)."""
    handle.require(Capability.DATA_DIR, Capability.DESTRUCTIVE)
    path = rdb_path(handle)
    if kill:
        handle.require(Capability.KILL)
        handle.kill(signal.SIGKILL)
    return corrupt_file(path, length=length, seed=seed)


# -- corrupted AOF ----------------------------------------------------------------------------


@dataclass
class AofCorruption:
    """A record header overwritten: ``redis-check-aof --fix`` truncates from there on."""

    file: str
    layout: str
    offset: int
    damaged_command: str
    commands_from_damage: int  # the damaged record and every record after it
    writes_from_damage: int
    keys_from_damage: list[str] = field(default_factory=list)


def corrupt_aof(handle: RedisHandle, *, records_back: int = 10, kill: bool = True) -> AofCorruption:
    """Overwrite the header of the record *records_back* writes from the end of the last
    INCR file (``*3`` becomes ``!3``): every intact record after it is lost to a repair.

    *handle*: the server (needs its data dir; *kill* SIGKILLs it first). Returns the
    commands and keys from the damage on (what ``redis-check-aof --fix`` will cut).
    """
    layout, path, _data, commands, hit = _last_writes(handle, records_back, kill)
    destroyed(source_of(handle), ["aof"], f"a record of the AOF was overwritten ({path.name})")
    # Inside a MULTI block the repair cuts from the MULTI: count from the block start.
    from_cmds = [c for c in commands if c.start >= hit.start]
    _overwrite(path, at=hit.start, data=b"!")
    return AofCorruption(
        file=str(path),
        layout=layout.kind,
        offset=hit.start,
        damaged_command=hit.name,
        commands_from_damage=len(from_cmds),
        writes_from_damage=sum(1 for c in from_cmds if c.is_write),
        keys_from_damage=list(iter_keys(from_cmds))[:1000],
    )
