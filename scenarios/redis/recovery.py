"""Redis recovery procedures, the way the runbooks write them, every command recorded.

- :func:`restart_from_aof`: "Restart Redis ... Verify startup: redis-cli ping, DBSIZE"
  with ``appendonly yes``: the server replays its AOF (BASE + INCR files).
- :func:`restore_rdb_from_s3`: the session/cache restore of
  ../shared/runbooks/000_b9e419547e14e1e8.md: ``redis-cli SHUTDOWN NOSAVE``, the newest
  good ``dump.rdb`` from S3 (SHA-256 verified; a corrupt object is refused and the next
  older one taken) copied into place, the AOF moved aside and the server started with
  ``appendonly no`` so that the RDB is what loads, DBSIZE checked. Optionally the AOF
  is switched back on afterwards (``CONFIG SET appendonly yes``: a fresh rewrite).
- :func:`repair_aof`: ``redis-check-aof --fix`` (the step the server's own error message
  prescribes for a truncated or corrupted AOF), with a copy of the broken AOF kept
  first, and an account of exactly which commands the repair removed.
- :func:`remove_flushall`: AOF surgery after an accidental FLUSHALL: the FLUSHALL
  record is cut out of the INCR file and the server replays the rest (RPO 0, if no AOF
  rewrite happened since).

A server that will not start raises :class:`LoadFailed` with the server's log tail; the
drill records the failed check (a corrupt snapshot is a finding, never a hang).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from drillbook.drill import StepContext
from drillbook.fixtures import procs
from drillbook.fixtures.base import Capability, ServiceError
from drillbook.fixtures.redis import RedisHandle
from drillbook.scenarios.redis.persistence import (
    DEFAULT_RDB_PREFIX,
    AofLayout,
    RdbSnapshot,
    aof_layout,
    check_rdb,
    enable_aof,
    iter_keys,
    persistence_info,
    redis_tool,
    remember_settings,
    resp_commands,
    scan_damaged,
)
from drillbook.scenarios.s3.store import BackupCorrupt, BackupMissing, BackupStore

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


def _settings(handle: RedisHandle) -> dict[str, Any]:
    current = getattr(handle, "settings", None)
    return dict(current) if isinstance(current, dict) else {}


def handle_layout_offline(handle: RedisHandle) -> AofLayout:
    """The AOF of a stopped server (its file names from the handle's settings)."""
    handle.require(Capability.DATA_DIR)
    s = _settings(handle)
    names = {k: str(s[k]) for k in ("appendfilename", "appenddirname") if s.get(k)}
    return aof_layout(Path(handle.data_dir), **names)


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


# -- restart from the AOF ---------------------------------------------------------------------


def restart_from_aof(
    step: StepContext, handle: RedisHandle, *, timeout: float = 120.0
) -> LoadResult:
    """``systemctl restart redis`` with ``appendonly yes``: the AOF is replayed."""
    handle.require(Capability.STOP_START)
    if handle.supports(Capability.DATA_DIR):
        layout = handle_layout_offline(handle)
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
    """Restart with the configuration as it is (AOF if on, else the local dump.rdb)."""
    aof = str(_settings(handle).get("appendonly", "no")) == "yes"
    return start_server(
        step,
        handle,
        "aof" if aof else "rdb",
        "systemctl restart redis; redis-cli ping; DBSIZE",
        timeout=timeout,
    )


# -- restore dump.rdb from S3 -----------------------------------------------------------------


@dataclass
class RdbRestore:
    key: str
    size: int
    sha256: str
    load: LoadResult
    refused: list[str] = field(default_factory=list)  # newer backups that failed the checksum
    set_aside: list[str] = field(default_factory=list)  # AOF / old dump.rdb kept, renamed
    aof_reenabled: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _alive(handle: RedisHandle) -> bool:
    pid = getattr(handle, "pid", None)
    if pid is not None:
        return True
    return handle.is_healthy()


def restore_rdb_from_s3(
    step: StepContext,
    handle: RedisHandle,
    store: BackupStore,
    *,
    snapshot: RdbSnapshot | None = None,
    prefix: str = DEFAULT_RDB_PREFIX,
    reenable_aof: str | None = None,
    timeout: float = 120.0,
) -> RdbRestore:
    """SHUTDOWN NOSAVE, dump.rdb from S3 into the data dir, start with appendonly off.

    *snapshot* names the backup; by default the newest under *prefix* whose checksum
    holds. What was in the data dir (the AOF, a local dump.rdb) is renamed, not deleted:
    it is the evidence of the incident, and with ``appendonly yes`` the server would
    load the AOF instead of the snapshot. ``reenable_aof`` (an appendfsync mode) turns
    the AOF back on once the snapshot is loaded, as production must run.
    """
    handle.require(Capability.STOP_START, Capability.DATA_DIR)
    data_dir = Path(handle.data_dir)
    if _alive(handle):
        step.call("redis-cli SHUTDOWN NOSAVE", handle.stop)
    else:
        step.note("server", "already down: nothing to shut down")

    keys = [snapshot.key] if snapshot else [o.key for o in store.newest(prefix)]
    if not keys:
        raise BackupMissing(f"no RDB snapshot under {store.url(store.prefix + prefix)}")
    scratch = procs.current_run().mkdir("rdb-restore") / "dump.rdb"
    refused: list[str] = []
    chosen = None
    try:
        for key in keys:
            try:
                chosen = step.call(
                    f"s3 get {store.url(key)} (sha256 verified)", store.get_file, key, scratch
                )
                break
            except BackupCorrupt as exc:
                refused.append(str(exc))
        if chosen is None:
            raise BackupCorrupt(f"every RDB snapshot failed its checksum: {refused}")
        step.processed(chosen.size)

        stamp = time.strftime("%Y%m%dT%H%M%S")
        set_aside: list[str] = []
        layout = handle_layout_offline(handle)
        dbfilename = str(_settings(handle).get("dbfilename") or "dump.rdb")
        dest = data_dir / dbfilename
        for path in [*layout.paths, dest]:
            if path.exists():
                aside = path.with_name(f"{path.name}.before-restore-{stamp}")
                step.call(f"mv {path} {aside}", os.replace, path, aside)
                set_aside.append(str(aside))
        step.run(["cp", str(scratch), str(dest)])
    finally:
        shutil.rmtree(scratch.parent, ignore_errors=True)

    load = start_server(
        step,
        handle,
        "rdb",
        "systemctl start redis (appendonly no: dump.rdb is what loads); redis-cli DBSIZE",
        timeout=timeout,
        appendonly="no",
    )
    result = RdbRestore(
        key=chosen.key,
        size=chosen.size,
        sha256=chosen.sha256,
        load=load,
        refused=refused,
        set_aside=set_aside,
    )
    if reenable_aof:
        with handle.client(timeout=30) as c:
            step.call(
                f"redis-cli CONFIG SET appendonly yes (appendfsync {reenable_aof}); "
                "wait for the AOF rewrite",
                enable_aof,
                c,
                reenable_aof,
            )
        remember_settings(handle, appendonly="yes", appendfsync=reenable_aof)
        result.aof_reenabled = reenable_aof
    step.note("restore", {k: v for k, v in result.to_dict().items() if k != "load"})
    return result


# -- redis-check-aof --fix --------------------------------------------------------------------


@dataclass
class AofRepair:
    """What ``redis-check-aof --fix`` found and removed."""

    tool: str
    tool_origin: str
    target: str
    diagnosis_exit: int
    diagnosis: str
    fixed: bool
    method: str  # manifest | file (fallback) | none (nothing to fix)
    file: str | None = None
    size_before: int = 0
    size_after: int = 0
    commands_cut: int = 0  # commands in the bytes the repair removed (damaged ones included)
    writes_cut: int = 0  # of those, data commands (unreadable records counted as writes)
    damaged_records: int = 0  # torn or unreadable records among them (keys unknown)
    keys_cut: list[str] = field(default_factory=list)
    evidence: str | None = None  # copy of the AOF before the repair
    notes: list[str] = field(default_factory=list)

    @property
    def bytes_cut(self) -> int:
        return self.size_before - self.size_after

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes_cut": self.bytes_cut}


def _tail(res_out: bytes, res_err: bytes, lines: int = 8) -> str:
    text = (res_out + res_err).decode("utf-8", "replace")
    return "\n".join(text.strip().splitlines()[-lines:])


def _base_misread(output: str, layout: AofLayout) -> bool:
    """Valkey 9's checker reads a ``VALKEY080`` RDB base as RESP and calls it broken."""
    base = layout.base
    return (
        base is not None
        and base.format == "rdb"
        and "format error" in output
        and base.path.name in output
        and "RESP format" in output
    )


def repair_aof(step: StepContext, handle: RedisHandle) -> AofRepair:
    """``redis-check-aof --fix`` on a stopped server's AOF, the broken AOF kept first.

    The checker truncates the last file at its first bad record; everything from there
    on is gone. Which commands that was is read from the bytes it removed (the copy
    kept before the repair), so the drill can compare it with the ledger.
    """
    handle.require(Capability.DATA_DIR)
    layout = handle_layout_offline(handle)
    target = layout.check_target
    if target is None:
        raise FileNotFoundError(f"no AOF in {handle.data_dir}: nothing for redis-check-aof")
    tool = redis_tool(handle, "check-aof")
    evidence = procs.current_run().mkdir("aof-before-fix")
    for path in layout.paths:
        step.run(["cp", "-a", str(path), str(evidence / path.name)])
    sizes = {f.path: f.size for f in layout.files if f.path.exists()}

    diag = step.run([tool.path, str(target)], check=False)
    diag_text = _tail(diag.stdout, diag.stderr, 40)
    repair = AofRepair(
        tool=tool.path,
        tool_origin=tool.origin,
        target=str(target),
        diagnosis_exit=diag.returncode,
        diagnosis="\n".join(diag_text.splitlines()[-8:]),
        fixed=False,
        method="none",
        evidence=str(evidence),
    )
    if diag.returncode == 0 and not _base_misread(diag_text, layout):
        repair.notes.append("redis-check-aof found nothing to fix")
        step.note("repair", repair.to_dict())
        return repair

    fix = step.run([tool.path, "--fix", str(target)], input=b"y\n", check=False)
    fix_text = _tail(fix.stdout, fix.stderr, 40)
    repair.method = "manifest" if layout.kind == "multipart" else "file"
    if fix.returncode != 0 and layout.kind == "multipart" and _base_misread(fix_text, layout):
        # Check the base with the RDB checker instead, fix the last INCR file directly.
        repair.notes.append(
            "the checker misread the RDB base as RESP (Valkey 9 check-aof: VALKEY magic); "
            "checked the base with check-rdb and fixed the last INCR file directly"
        )
        base = layout.base
        assert base is not None
        rdb = check_rdb(step, handle, base.path)
        if not rdb.ok:
            raise ServiceError(f"the AOF base {base.path.name} is a corrupt RDB: {rdb.tail}")
        last = layout.last_incr
        assert last is not None
        fix = step.run([tool.path, "--fix", str(last.path)], input=b"y\n", check=False)
        fix_text = _tail(fix.stdout, fix.stderr, 40)
        repair.method = "file (last INCR)"
    if fix.returncode != 0:
        raise ServiceError(f"redis-check-aof --fix failed (exit {fix.returncode}): {fix_text}")

    for path, size in sizes.items():
        new_size = path.stat().st_size if path.exists() else 0
        if new_size >= size:
            continue
        # What the repair removed, read back from the copy kept before it.
        with open(evidence / path.relative_to(layout.data_dir), "rb") as kept:
            kept.seek(new_size)
            cut = scan_damaged(kept.read(), offset=new_size)
        repair.fixed = True
        repair.file = str(path)
        repair.size_before = size
        repair.size_after = new_size
        repair.damaged_records = cut.damaged
        repair.commands_cut = len(cut.commands) + cut.damaged
        repair.writes_cut = len(cut.writes) + cut.damaged
        repair.keys_cut = list(iter_keys(cut.writes))[:1000]
    repair.notes.append("\n".join(fix_text.splitlines()[-3:]))
    step.note("repair", repair.to_dict())
    return repair


# -- AOF surgery after FLUSHALL -----------------------------------------------------------------


@dataclass
class AofSurgery:
    file: str
    removed: list[str]  # the commands cut out, with their byte ranges
    size_before: int
    size_after: int
    kept_after: int  # commands after the FLUSHALL that stay (writes made after the flush)
    evidence: str


def remove_flushall(step: StepContext, handle: RedisHandle) -> AofSurgery:
    """Cut every FLUSHALL/FLUSHDB out of the AOF's INCR files of a stopped server.

    Possible only while the FLUSHALL is still a record in an INCR file: an AOF rewrite
    after it (``BGREWRITEAOF``, auto-rewrite) folds the empty dataset into a new BASE,
    and then only a snapshot can help. Writes made after the flush are kept.
    """
    handle.require(Capability.DATA_DIR)
    if _alive(handle):
        step.call("redis-cli SHUTDOWN NOSAVE", handle.stop)
    layout = handle_layout_offline(handle)
    files = layout.incrs if layout.kind == "multipart" else list(layout.files)
    evidence = procs.current_run().mkdir("aof-before-surgery")
    for path in layout.paths:
        step.run(["cp", "-a", str(path), str(evidence / path.name)])
    for f in reversed(files):
        if f.format != "resp":
            continue
        data = f.path.read_bytes()
        parsed = resp_commands(data)
        flushes = [c for c in parsed.commands if c.name in ("FLUSHALL", "FLUSHDB")]
        if not flushes:
            continue
        last = flushes[-1]
        kept_after = sum(1 for c in parsed.commands if c.start >= last.end and c.is_write)
        out = bytearray()
        pos = 0
        for c in flushes:
            out += data[pos : c.start]
            pos = c.end
        out += data[pos:]
        tmp = f.path.with_name(f.path.name + ".surgery")
        tmp.write_bytes(bytes(out))
        step.call(
            f"cut {len(flushes)} FLUSH record(s) out of {f.path.name}", os.replace, tmp, f.path
        )
        surgery = AofSurgery(
            file=str(f.path),
            removed=[f"{c.name} at bytes {c.start}-{c.end}" for c in flushes],
            size_before=len(data),
            size_after=len(out),
            kept_after=kept_after,
            evidence=str(evidence),
        )
        step.note("surgery", asdict(surgery))
        return surgery
    raise FileNotFoundError(
        "no FLUSHALL record in any INCR file of the AOF (rewritten since?): restore a "
        "snapshot instead"
    )


def kill_if_running(handle: RedisHandle) -> None:
    """Make sure no server process holds the data dir (before touching its files)."""
    if getattr(handle, "pid", None) is not None:
        with contextlib.suppress(Exception):
            handle.kill()
