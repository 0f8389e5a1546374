"""Starting a Redis server from its files, and the quick recoveries: restart in place,
replay the AOF. A server that will not start raises :class:`LoadFailed` with its log."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from drillbook.drill import StepContext
from drillbook.fixtures.base import Capability, ServiceError
from drillbook.fixtures.redis import RedisHandle
from drillbook.scenarios.redis.aof import offline_aof_layout, server_settings
from drillbook.scenarios.redis.server import persistence_info

LOAD_LOG_WORDS = ("load", "aof", "truncat", "rdb", "fatal", "bad file", "error", "wrong")


class LoadFailed(ServiceError):
    """The server did not come up from its files; ``result`` says why (log tail)."""

    def __init__(self, result: LoadResult) -> None:
        super().__init__(f"redis did not start from {result.source}: {result.error}")
        self.result = result


@dataclass
class LoadResult:
    """One start of the server from its files."""

    source: str  # aof | rdb | empty
    loaded: bool
    seconds: float  # start requested -> ready (or -> failure)
    dbsize: int | None = None
    keys_loaded: int | None = None  # INFO persistence rdb_last_load_keys_loaded
    keys_expired: int | None = None
    aof_enabled: bool | None = None
    log: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _load_lines(handle: RedisHandle, lines: int = 80) -> str:
    text = handle.log_tail(lines)
    keep = [ln for ln in text.splitlines() if any(w in ln.lower() for w in LOAD_LOG_WORDS)]
    return "\n".join(keep[-12:])


def start_server(
    step: StepContext,
    handle: RedisHandle,
    source: str,
    description: str,
    *,
    timeout: float = 120.0,
    **settings: Any,
) -> LoadResult:
    """(Re)start the server with *settings* and wait until it answers DBSIZE.

    Raises :class:`LoadFailed` when it exits or never becomes ready (bad AOF, corrupt
    RDB): the log tail is in the result and in the step's notes.
    """
    t = time.monotonic()
    try:
        step.call(description, handle.restart, timeout, **settings)
    except ServiceError as exc:
        result = LoadResult(
            source=source,
            loaded=False,
            seconds=time.monotonic() - t,
            log=_load_lines(handle),
            error=str(exc).splitlines()[0][:300] + "\n" + _load_lines(handle),
        )
        step.note("load", result.to_dict())
        raise LoadFailed(result) from exc
    seconds = time.monotonic() - t
    with handle.client(timeout=10) as c:
        info = persistence_info(c)
        dbsize = int(c.dbsize())
    result = LoadResult(
        source=source,
        loaded=True,
        seconds=seconds,
        dbsize=dbsize,
        keys_loaded=_opt_int(info.get("rdb_last_load_keys_loaded")),
        keys_expired=_opt_int(info.get("rdb_last_load_keys_expired")),
        aof_enabled=bool(info.get("aof_enabled")),
        log=_load_lines(handle),
    )
    step.note("load", result.to_dict())
    return result


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def shutdown_nosave(step: StepContext, handle: RedisHandle) -> None:
    """``redis-cli SHUTDOWN NOSAVE`` (recorded) unless the server is down already: before
    its files are replaced, nothing may save over them."""
    if getattr(handle, "pid", None) is not None or handle.is_healthy():
        step.call("redis-cli SHUTDOWN NOSAVE", handle.stop)
    else:
        step.note("server", "already down: nothing to shut down")


def restart_from_aof(
    step: StepContext, handle: RedisHandle, *, timeout: float = 120.0
) -> LoadResult:
    """``systemctl restart redis`` with ``appendonly yes``: the server replays its AOF.

    *step*: the drill step the restart is recorded in (the AOF layout and its size as
    the bytes processed); *timeout*: seconds until the server must answer. Returns the
    :class:`LoadResult` (keys, seconds); raises :class:`LoadFailed` with the log tail.
    """
    handle.require(Capability.STOP_START)
    if handle.supports(Capability.DATA_DIR):
        layout = offline_aof_layout(handle)
        step.note("aof_layout", layout.describe())
        step.processed(layout.total_size)
    return start_server(
        step,
        handle,
        "aof",
        "start redis-server --appendonly yes (replays the AOF); redis-cli ping; DBSIZE",
        timeout=timeout,
        appendonly="yes",
    )


def restart_in_place(
    step: StepContext, handle: RedisHandle, *, timeout: float = 120.0
) -> LoadResult:
    """Restart with the configuration as it is (the AOF if it is on, else the local
    dump.rdb), recorded in *step*; like :func:`restart_from_aof` otherwise."""
    aof = str(server_settings(handle).get("appendonly", "no")) == "yes"
    return start_server(
        step,
        handle,
        "aof" if aof else "rdb",
        "systemctl restart redis; redis-cli ping; DBSIZE",
        timeout=timeout,
    )
