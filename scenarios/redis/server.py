"""Talking to a Redis server about its persistence: INFO and CONFIG, BGSAVE to completion,
turning the AOF on live, the checker tools (``redis-check-rdb``, ``redis-check-aof``)."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis as redis_lib

from drillbook.drill import StepContext
from drillbook.fixtures.base import Capability
from drillbook.fixtures.redis import RedisHandle

__all__ = [
    "Bgsave",
    "RdbCheck",
    "RedisTool",
    "SnapshotFailed",
    "bgsave",
    "check_rdb",
    "config_value",
    "enable_aof",
    "parse_check_rdb",
    "persistence_info",
    "rdb_path",
    "redis_tool",
    "wait_info",
]


class SnapshotFailed(RuntimeError):
    """BGSAVE did not produce a snapshot (fork failure, disk error, timeout)."""


def persistence_info(client: redis_lib.Redis) -> dict[str, Any]:
    """``INFO persistence`` as a dict (numbers as numbers)."""
    return dict(client.info("persistence"))


def config_value(client: redis_lib.Redis, name: str) -> str | None:
    """``CONFIG GET name`` as text, or None when the server does not know the option."""
    raw = client.config_get(name)
    value = raw.get(name)
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def wait_info(
    client: redis_lib.Redis,
    ready: Callable[[dict[str, Any]], bool],
    *,
    timeout: float,
    describe: str,
    interval: float = 0.005,
) -> dict[str, Any]:
    """Poll ``INFO persistence`` until *ready* says so; a deadline, never a bare sleep."""
    deadline = time.monotonic() + timeout
    while True:
        info = persistence_info(client)
        if ready(info):
            return info
        if time.monotonic() >= deadline:
            raise SnapshotFailed(f"{describe}: not done after {timeout:.0f} s ({info})")
        time.sleep(interval)


@dataclass(frozen=True)
class Bgsave:
    """One completed BGSAVE, on the monotonic clock.

    Every write acknowledged before ``sent_mono`` is in the snapshot (the server handles
    commands one at a time, and the fork happens before the BGSAVE reply); writes
    acknowledged after ``reply_mono`` are not.
    """

    sent_mono: float
    reply_mono: float
    done_mono: float
    sent_wall: float
    saves: int | None
    bgsave_seconds: float

    @property
    def duration(self) -> float:
        return self.done_mono - self.sent_mono


def bgsave(client: redis_lib.Redis, *, timeout: float = 120.0) -> Bgsave:
    """``BGSAVE``, then wait until that save has finished and succeeded.

    A save already running is awaited first (ours must be a fresh fork); during an AOF
    rewrite ``BGSAVE SCHEDULE`` queues ours behind it. Completion: no save in progress
    and ``rdb_saves`` advanced (``rdb_last_save_time`` on servers without the counter,
    which only has 1 s resolution, so it waits for the next second first).
    """
    before = persistence_info(client)
    if before.get("rdb_bgsave_in_progress"):
        before = wait_info(
            client,
            lambda i: not i.get("rdb_bgsave_in_progress"),
            timeout=timeout,
            describe="a running BGSAVE",
        )
    has_counter = "rdb_saves" in before
    if not has_counter:
        # LASTSAVE has 1 s resolution: make sure ours lands in a later second.
        while int(time.time()) <= int(before.get("rdb_last_save_time", 0)):
            time.sleep(0.01)
    sent_wall = time.time()
    sent = time.monotonic()
    try:
        client.execute_command("BGSAVE")
    except redis_lib.ResponseError as exc:
        if "rewrit" not in str(exc).lower():
            raise SnapshotFailed(f"BGSAVE refused: {exc}") from exc
        client.execute_command("BGSAVE", "SCHEDULE")
    reply = time.monotonic()

    def finished(info: dict[str, Any]) -> bool:
        if info.get("rdb_bgsave_in_progress"):
            return False
        if has_counter:
            return int(info.get("rdb_saves", 0)) > int(before.get("rdb_saves", 0))
        return int(info.get("rdb_last_save_time", 0)) > int(before.get("rdb_last_save_time", 0))

    info = wait_info(client, finished, timeout=timeout, describe="BGSAVE")
    done = time.monotonic()
    if str(info.get("rdb_last_bgsave_status")) != "ok":
        raise SnapshotFailed(
            f"BGSAVE finished with rdb_last_bgsave_status={info.get('rdb_last_bgsave_status')}"
        )
    return Bgsave(
        sent_mono=sent,
        reply_mono=reply,
        done_mono=done,
        sent_wall=sent_wall,
        saves=int(info["rdb_saves"]) if has_counter else None,
        bgsave_seconds=float(info.get("rdb_last_bgsave_time_sec", -1)),
    )


def enable_aof(client: redis_lib.Redis, fsync: str = "everysec", *, timeout: float = 60.0) -> None:
    """Turn the AOF on in a running server (``CONFIG SET appendonly yes``).

    The server rewrites an AOF from memory first; only when that rewrite is done does
    the AOF protect anything, so this waits for it.
    """
    client.config_set("appendfsync", fsync)
    client.config_set("appendonly", "yes")
    wait_info(
        client,
        lambda i: (
            int(i.get("aof_enabled", 0)) == 1
            and not i.get("aof_rewrite_in_progress")
            and not i.get("aof_rewrite_scheduled")
        ),
        timeout=timeout,
        describe="AOF rewrite after CONFIG SET appendonly yes",
    )


@dataclass(frozen=True)
class RedisTool:
    """A redis-check-aof / redis-check-rdb and where it came from (for the record)."""

    path: str
    origin: str


def redis_tool(handle: RedisHandle, tool: str) -> RedisTool:
    """``redis-check-aof`` (tool="check-aof") or ``redis-check-rdb`` matching the server.

    The handle knows its own build: the local backend returns the checker installed
    beside the server binary, or a symlink named like the checker to the server binary
    (redis-server and valkey-server act as the checker under that name); other backends
    look on PATH. An older checker cannot read a newer server's RDB base (a Valkey 9
    ``VALKEY080`` preamble is "format error" to Redis 7.0's checker).
    """
    if tool not in ("check-aof", "check-rdb"):
        raise ValueError(f"unknown tool {tool!r}: check-aof or check-rdb")
    return RedisTool(handle.tool(tool), f"{type(handle).__name__}.tool()")


@dataclass(frozen=True)
class RdbCheck:
    """``redis-check-rdb`` on one file: readable or not, and what it counted."""

    path: str
    ok: bool
    exit_status: int
    keys: int | None
    expires: int | None
    already_expired: int | None
    tail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_RDB_INFO = re.compile(r"\[info\] (\d+) (keys read|expires|already expired)")
_RDB_ERROR = re.compile(r"returned error code [1-9]|--- RDB ERROR DETECTED ---")


def parse_check_rdb(path: Path | str, exit_status: int, output: str) -> RdbCheck:
    """Valkey 9's checker exits 0 even when the file is bad: the output decides."""
    counts = {m.group(2): int(m.group(1)) for m in _RDB_INFO.finditer(output)}
    ok = exit_status == 0 and "RDB looks OK" in output and not _RDB_ERROR.search(output)
    return RdbCheck(
        path=str(path),
        ok=ok,
        exit_status=exit_status,
        keys=counts.get("keys read"),
        expires=counts.get("expires"),
        already_expired=counts.get("already expired"),
        tail="\n".join(output.strip().splitlines()[-6:]),
    )


def check_rdb(step: StepContext, handle: RedisHandle, path: Path | str) -> RdbCheck:
    """``redis-check-rdb <file>`` (the runbook's "Check for corrupted RDB"), recorded."""
    tool = redis_tool(handle, "check-rdb")
    step.note("redis-check-rdb", f"{tool.path} ({tool.origin})")
    res = step.run([tool.path, str(path)], check=False, timeout=600)
    output = (res.stdout + res.stderr).decode("utf-8", "replace")
    return parse_check_rdb(path, res.returncode, output)


def rdb_path(handle: RedisHandle) -> Path:
    """The server's dump.rdb (``dir`` + ``dbfilename``; dbfilename from the live config)."""
    handle.require(Capability.DATA_DIR)
    name = "dump.rdb"
    with contextlib.suppress(Exception), handle.client(timeout=2) as c:
        name = config_value(c, "dbfilename") or name
    return Path(handle.data_dir) / name
