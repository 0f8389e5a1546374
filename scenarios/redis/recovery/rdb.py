"""The Session Recovery / Restore from Backup of runbooks/cache-failure.md: the newest
good ``dump.rdb`` from S3 into a stopped server, the AOF set aside, start, DBSIZE."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from drillbook.drill import StepContext
from drillbook.fixtures.base import Capability
from drillbook.fixtures.redis import RedisHandle
from drillbook.scenarios.common import scratch_dir
from drillbook.scenarios.redis.aof import offline_aof_layout, server_settings
from drillbook.scenarios.redis.backup import DEFAULT_RDB_PREFIX, RdbSnapshot
from drillbook.scenarios.redis.recovery.start import LoadResult, shutdown_nosave, start_server
from drillbook.scenarios.redis.server import enable_aof
from drillbook.scenarios.store import BackupCorrupt, BackupMissing, BackupStore, StoredObject


@dataclass
class RdbRestore:
    """The snapshot restored (key, size, SHA-256), its load, what was refused or set aside."""

    key: str
    size: int
    sha256: str
    load: LoadResult
    refused: list[str] = field(default_factory=list)  # newer backups that failed the checksum
    set_aside: list[str] = field(default_factory=list)  # AOF / old dump.rdb kept, renamed
    aof_reenabled: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fetch_newest_good(
    step: StepContext, store: BackupStore, keys: Sequence[str], dest: Path
) -> tuple[StoredObject, list[str]]:
    """The first of *keys* whose checksum holds, downloaded to *dest*; the refused ones."""
    refused: list[str] = []
    for key in keys:
        try:
            got = step.call(f"s3 get {store.url(key)} (sha256 verified)", store.get_file, key, dest)
        except BackupCorrupt as exc:
            refused.append(str(exc))
            continue
        step.processed(got.size)
        return got, refused
    raise BackupCorrupt(f"every RDB snapshot failed its checksum: {refused}")


def _put_in_place(step: StepContext, handle: RedisHandle, rdb: Path) -> list[str]:
    """Rename the AOF and the old dump.rdb aside (the incident's evidence; with
    ``appendonly yes`` the AOF would load instead), copy *rdb* in; what was set aside."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    dest = Path(handle.data_dir) / str(server_settings(handle).get("dbfilename") or "dump.rdb")
    set_aside: list[str] = []
    for path in [*offline_aof_layout(handle).paths, dest]:
        if path.exists():
            aside = path.with_name(f"{path.name}.before-restore-{stamp}")
            step.call(f"mv {path} {aside}", os.replace, path, aside)
            set_aside.append(str(aside))
    step.run(["cp", str(rdb), str(dest)])
    return set_aside


def _reenable_aof(step: StepContext, handle: RedisHandle, fsync: str) -> None:
    with handle.client(timeout=30) as c:
        step.call(
            f"redis-cli CONFIG SET appendonly yes (appendfsync {fsync}); wait for the AOF rewrite",
            enable_aof,
            c,
            fsync,
        )
    handle.remember_settings(appendonly="yes", appendfsync=fsync)


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

    *step*: the drill step every command is recorded in; *handle*: the server (needs
    stop/start and its data dir); *store*: where the snapshots are. *snapshot* names the
    backup; by default the newest under *prefix* whose checksum holds (a corrupt one is
    refused and listed, the next older one taken). What was in the data dir (the AOF, a
    local dump.rdb) is renamed, not deleted: it is the evidence of the incident.
    *reenable_aof* (an appendfsync mode) turns the AOF back on once the snapshot is
    loaded, as production must run. Records the bytes downloaded, the load (note
    ``load``) and the restore (note ``restore``); raises ``LoadFailed`` when the server
    does not start from the snapshot.
    """
    handle.require(Capability.STOP_START, Capability.DATA_DIR)
    shutdown_nosave(step, handle)
    keys = [snapshot.key] if snapshot else [o.key for o in store.newest(prefix)]
    if not keys:
        raise BackupMissing(f"no RDB snapshot under {store.url(store.prefix + prefix)}")
    scratch = scratch_dir("rdb-restore") / "dump.rdb"
    try:
        chosen, refused = _fetch_newest_good(step, store, keys, scratch)
        set_aside = _put_in_place(step, handle, scratch)
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
    result = RdbRestore(chosen.key, chosen.size, chosen.sha256, load, refused, set_aside)
    if reenable_aof:
        _reenable_aof(step, handle, reenable_aof)
        result.aof_reenabled = reenable_aof
    step.note("restore", {k: v for k, v in result.to_dict().items() if k != "load"})
    return result
