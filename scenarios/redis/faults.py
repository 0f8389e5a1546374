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

import contextlib
import os
import random
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

from drillbook.fixtures.base import Capability
from drillbook.fixtures.redis import RedisHandle
from drillbook.scenarios.redis.persistence import (
    handle_aof_layout,
    iter_keys,
    rdb_path,
    resp_commands,
)

# -- crash ------------------------------------------------------------------------------------


@dataclass
class Crash:
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
    return Flushall(before, "FLUSHALL")


# -- loss of the data directory ---------------------------------------------------------------


@dataclass
class DataDirLoss:
    data_dir: str
    files_removed: int
    bytes_removed: int
    removed: list[str] = field(default_factory=list)


def lose_data_dir(handle: RedisHandle) -> DataDirLoss:
    """SIGKILL the server and remove everything in its data directory (dump.rdb, AOF).

    The directory itself stays (the mount point of the lost volume): a restore puts a
    snapshot back into it.
    """
    handle.require(Capability.KILL, Capability.DATA_DIR, Capability.DESTRUCTIVE)
    data_dir = Path(handle.data_dir)
    handle.kill(signal.SIGKILL)
    files = nbytes = 0
    removed: list[str] = []
    for dirpath, _dirs, filenames in os.walk(data_dir):
        for name in filenames:
            files += 1
            path = os.path.join(dirpath, name)
            removed.append(os.path.relpath(path, data_dir))
            with contextlib.suppress(OSError):
                nbytes += os.lstat(path).st_size
    for entry in list(data_dir.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return DataDirLoss(str(data_dir), files, nbytes, sorted(removed))


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


def truncate_aof(
    handle: RedisHandle,
    *,
    records_back: int = 1,
    kill: bool = True,
    rng: random.Random | None = None,
) -> AofTruncation:
    """The server dies mid-write: the AOF's last file ends inside a record.

    SIGKILL first (``kill=True``: the server must not append behind the cut), then cut
    the last INCR file (the single AOF on old servers) in the middle of the record that
    is *records_back* records from its end: that record is torn, every later one gone.
    """
    handle.require(Capability.DATA_DIR, Capability.DESTRUCTIVE)
    if records_back < 1:
        raise ValueError("records_back must be >= 1 (1: tear the last record)")
    if kill:
        handle.require(Capability.KILL)
        handle.kill(signal.SIGKILL)
    layout = handle_aof_layout(handle)
    target = layout.last_incr
    if target is None:
        raise ValueError(f"no AOF in {handle.data_dir} ({layout.kind}): is appendonly on?")
    data = target.path.read_bytes()
    if target.format == "rdb":
        raise ValueError(
            f"{target.path.name} is an RDB preamble, not a command stream: write some keys "
            "after the last rewrite so the INCR file has records to cut"
        )
    parsed = resp_commands(data)
    writes = [c for c in parsed.commands if c.is_write]
    if len(writes) < records_back:
        raise ValueError(
            f"{target.path.name} has {len(writes)} write records, cannot cut {records_back} back"
        )
    torn = writes[-records_back]
    rng = rng or random.Random()
    # Somewhere strictly inside the record: at least its first byte stays, never all.
    cut = torn.start + rng.randint(1, max(1, torn.end - torn.start - 1))
    removed = [c for c in parsed.commands if c.end > cut]
    with open(target.path, "r+b") as f:
        f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())
    return AofTruncation(
        file=str(target.path),
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
    INCR file (``*3`` becomes ``!3``): every intact record after it is lost to a repair."""
    handle.require(Capability.DATA_DIR, Capability.DESTRUCTIVE)
    if records_back < 1:
        raise ValueError("records_back must be >= 1")
    if kill:
        handle.require(Capability.KILL)
        handle.kill(signal.SIGKILL)
    layout = handle_aof_layout(handle)
    target = layout.last_incr
    if target is None or target.format != "resp":
        raise ValueError(f"no RESP INCR file to corrupt in {handle.data_dir} ({layout.kind})")
    data = target.path.read_bytes()
    parsed = resp_commands(data)
    writes = [c for c in parsed.commands if c.is_write]
    if len(writes) < records_back:
        raise ValueError(f"{target.path.name} has {len(writes)} write records (< {records_back})")
    hit = writes[-records_back]
    # Inside a MULTI block the repair cuts from the MULTI: count from the block start.
    from_cmds = [c for c in parsed.commands if c.start >= hit.start]
    with open(target.path, "r+b") as f:
        f.seek(hit.start)
        f.write(b"!")
        f.flush()
        os.fsync(f.fileno())
    return AofCorruption(
        file=str(target.path),
        layout=layout.kind,
        offset=hit.start,
        damaged_command=hit.name,
        commands_from_damage=len(from_cmds),
        writes_from_damage=sum(1 for c in from_cmds if c.is_write),
        keys_from_damage=list(iter_keys(from_cmds))[:1000],
    )
