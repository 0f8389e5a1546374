"""Redis persistence as the runbooks configure it, and the files it leaves on disk.

- RDB: ``save ""`` (no automatic snapshots) and a drill-driven schedule instead: BGSAVE
  every *interval* seconds (a compressed stand-in for "RDB snapshots every 6 hours" /
  "hourly RDB"), completion awaited through ``INFO persistence``
  (``rdb_bgsave_in_progress``, ``rdb_saves`` / ``rdb_last_save_time``,
  ``rdb_last_bgsave_status``), then ``dump.rdb`` copied off-host to S3 with its SHA-256
  (``BackupStore``), optionally verified with ``redis-check-rdb`` first.
- AOF: ``appendonly yes`` with ``appendfsync everysec`` (or ``always``). Redis 7+ and
  Valkey write a multi-part AOF (``appendonlydir/`` with a manifest, a BASE file that is
  an RDB or RESP, and INCR files); older servers write one ``appendonly.aof``.
  :func:`aof_layout` reads either layout.
- Both together: the drill's snapshot schedule plus the AOF.
- Backup age: every snapshot knows when it was taken, so "the newest backup is N s old at
  t0" is measured, never assumed.

The RESP helpers (:func:`resp_commands`) parse an AOF's command stream: the truncation
fault cuts at a record boundary it found there, and the repair reports which commands it
removed.
"""

from __future__ import annotations

import contextlib
import random
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis as redis_lib

from drillbook.drill import Drill, StepContext
from drillbook.fixtures import procs
from drillbook.fixtures.base import Capability
from drillbook.fixtures.redis import RedisHandle
from drillbook.record import Phase
from drillbook.scenarios.s3.store import BackupStore, StoredObject

#: The drill's stand-in for a production snapshot interval (hours become seconds).
DEFAULT_DRILL_INTERVAL = 2.0
DEFAULT_RDB_PREFIX = "redis/rdb/"
AOF_MODES = ("everysec", "always", "no")


class SnapshotFailed(RuntimeError):
    """BGSAVE did not produce a snapshot (fork failure, disk error, timeout)."""


# --------------------------------------------------------------------------- configuration


def backup_params(target: Mapping[str, Any] | None, kind: str) -> dict[str, Any] | None:
    """The params of the service's declared backup method *kind* (drills.toml), or None."""
    for method in (target or {}).get("backups", []):
        if method.get("kind") == kind:
            return dict(method.get("params", {}))
    return None


@dataclass(frozen=True)
class RedisPersistence:
    """What the service declares (drills.toml) and how the drill compresses it.

    ``rdb_interval`` is the production interval ("rdb every 6h" -> 21600 s); the drill
    snapshots every ``drill_interval`` seconds instead and says so (``scale``).
    ``aof`` is the appendfsync mode, or None when the AOF is off.
    """

    aof: str | None = "everysec"
    rdb_interval: float | None = None
    rdb_duration: float = 0.0
    drill_interval: float = DEFAULT_DRILL_INTERVAL
    aof_load_truncated: bool = True

    def __post_init__(self) -> None:
        if self.aof is not None and self.aof not in AOF_MODES:
            raise ValueError(f"appendfsync {self.aof!r}: use one of {', '.join(AOF_MODES)}")
        if self.drill_interval <= 0:
            raise ValueError("the drill's snapshot interval must be > 0")

    @classmethod
    def from_target(
        cls,
        target: Mapping[str, Any] | None,
        *,
        drill_interval: float = DEFAULT_DRILL_INTERVAL,
        aof: str | bool | None = True,
        aof_load_truncated: bool = True,
    ) -> RedisPersistence:
        """The service's declared mechanisms: ``aof=True`` takes its AOF mode (if any),
        a string forces one, ``False``/None turns the AOF off."""
        rdb = backup_params(target, "rdb")
        declared = backup_params(target, "aof")
        mode: str | None
        if aof is True:
            mode = str(declared["mode"]) if declared else None
        elif aof is False or aof is None:
            mode = None
        else:
            mode = str(aof)
        return cls(
            aof=mode,
            rdb_interval=float(rdb["interval"]) if rdb else None,
            rdb_duration=float(rdb.get("duration", 0.0)) if rdb else 0.0,
            drill_interval=drill_interval,
            aof_load_truncated=aof_load_truncated,
        )

    @property
    def scale(self) -> float | None:
        """Production seconds per drill second of the snapshot schedule."""
        return None if self.rdb_interval is None else self.rdb_interval / self.drill_interval

    def server_settings(self) -> dict[str, Any]:
        """Settings for ``redis_factory``: no automatic saves (the drill drives BGSAVE)."""
        settings: dict[str, Any] = {
            "save": "",
            "dbfilename": "dump.rdb",
            "appendonly": "yes" if self.aof else "no",
            "aof-load-truncated": "yes" if self.aof_load_truncated else "no",
        }
        if self.aof:
            settings["appendfsync"] = self.aof
        return settings

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "scale": self.scale}


# --------------------------------------------------------------------------- INFO helpers


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


def remember_settings(handle: RedisHandle, **settings: Any) -> None:
    """Keep settings changed live (CONFIG SET) for the handle's next start."""
    handle.remember_settings(**settings)


# --------------------------------------------------------------------------- server tools


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


# --------------------------------------------------------------------------- RDB snapshots


@dataclass(frozen=True)
class RdbSnapshot:
    """A dump.rdb taken by BGSAVE and kept in S3 (key, size, SHA-256) with its timing."""

    key: str
    size: int
    sha256: str
    seq: int
    sent_mono: float
    reply_mono: float
    done_mono: float
    uploaded_mono: float
    sent_wall: float
    keys: int | None  # keys in the file, from redis-check-rdb (None: not verified)

    @property
    def point_mono(self) -> float:
        """Writes acknowledged before this instant are in the snapshot."""
        return self.sent_mono

    @property
    def duration(self) -> float:
        """BGSAVE sent -> snapshot in S3: how long the newest backup lags behind."""
        return self.uploaded_mono - self.sent_mono

    def age(self, at_mono: float | None = None) -> float:
        """Seconds of writes the snapshot does not have at *at_mono* (default: now)."""
        return (time.monotonic() if at_mono is None else at_mono) - self.point_mono

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "duration_s": self.duration}


def rdb_path(handle: RedisHandle) -> Path:
    """The server's dump.rdb (``dir`` + ``dbfilename``; dbfilename from the live config)."""
    handle.require(Capability.DATA_DIR)
    name = "dump.rdb"
    with contextlib.suppress(Exception), handle.client(timeout=2) as c:
        name = config_value(c, "dbfilename") or name
    return Path(handle.data_dir) / name


def snapshot_to_s3(
    step: StepContext,
    handle: RedisHandle,
    store: BackupStore,
    *,
    prefix: str = DEFAULT_RDB_PREFIX,
    seq: int = 0,
    verify: bool = True,
) -> RdbSnapshot:
    """BGSAVE, wait for it, copy dump.rdb aside, (check it,) upload it with its SHA-256.

    The copy is taken while no other save runs (the drill drives every BGSAVE), and the
    server writes dump.rdb by rename, so the copy is a whole snapshot. ``verify`` runs
    ``redis-check-rdb`` on the copy first and records the key count: a snapshot that
    cannot be read is refused before it becomes "the newest backup".
    """
    handle.require(Capability.DATA_DIR)
    with handle.client(timeout=10) as c:
        save = step.call(
            "redis-cli BGSAVE; poll INFO persistence until rdb_bgsave_in_progress:0", bgsave, c
        )
    src = rdb_path(handle)
    scratch = procs.current_run().mkdir("rdb-copy") / "dump.rdb"
    try:
        step.call(f"cp {src} {scratch}", shutil.copyfile, src, scratch)
        keys: int | None = None
        if verify:
            check = check_rdb(step, handle, scratch)
            if not check.ok:
                raise SnapshotFailed(f"redis-check-rdb refused the new snapshot: {check.tail}")
            keys = check.keys
        key = f"{prefix}{store.stamp()}-{seq:04d}/dump.rdb"
        obj: StoredObject = step.call(f"s3 put {store.url(key)}", store.put_file, scratch, key)
        step.processed(obj.size)
    finally:
        shutil.rmtree(scratch.parent, ignore_errors=True)
    snap = RdbSnapshot(
        key=obj.key,
        size=obj.size,
        sha256=obj.sha256,
        seq=seq,
        sent_mono=save.sent_mono,
        reply_mono=save.reply_mono,
        done_mono=save.done_mono,
        uploaded_mono=time.monotonic(),
        sent_wall=save.sent_wall,
        keys=keys,
    )
    step.note("snapshot", snap.to_dict())
    return snap


class RdbSchedule:
    """The drill's snapshot cron: BGSAVE + upload to S3 every *interval* seconds.

    Runs in a thread; each snapshot is a recorded SETUP step. ``stop()`` before the
    fault (a dead server cannot be snapshotted, and a snapshot racing the kill would
    muddle the RPO). ``pause()`` models a stalled backup job (the must-fail case).
    After ``MAX_FAILURES`` failed snapshots in a row the thread ends by itself.
    """

    MAX_FAILURES = 3

    def __init__(
        self,
        drill: Drill,
        handle: RedisHandle,
        store: BackupStore,
        *,
        interval: float = DEFAULT_DRILL_INTERVAL,
        prefix: str = DEFAULT_RDB_PREFIX,
        verify: bool = True,
        name: str = "rdb schedule",
    ) -> None:
        handle.require(Capability.DATA_DIR)
        self.drill = drill
        self.handle = handle
        self.store = store
        self.interval = interval
        self.prefix = prefix
        self.verify = verify
        self.name = name
        self._snapshots: list[RdbSnapshot] = []
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_due: float | None = None

    # -- control ------------------------------------------------------------------
    def start(self, *, first_now: bool = True) -> RdbSchedule:
        """Take the first snapshot now (in this thread), then every interval in the background."""
        if first_now:
            self.take()
        self._next_due = time.monotonic() + self.interval
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def take(self) -> RdbSnapshot:
        """One snapshot, now (recorded as its own step)."""
        with self._lock:
            seq = len(self._snapshots) + 1
        with self.drill.step(f"{self.name}: BGSAVE #{seq} + dump.rdb to S3", Phase.SETUP) as s:
            snap = snapshot_to_s3(
                s, self.handle, self.store, prefix=self.prefix, seq=seq, verify=self.verify
            )
        with self._lock:
            self._snapshots.append(snap)
        return snap

    def pause(self) -> None:
        """The backup job stops firing (cron broken, disk full ...): snapshots age."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop firing; a snapshot already running is finished first. Idempotent."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            due = self._next_due or time.monotonic()
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            self._next_due = due + self.interval
            if self._paused.is_set():
                continue
            try:
                self.take()
                failures = 0
            except Exception as exc:  # a failed snapshot is data for the report
                failures += 1
                with self._lock:
                    self._errors.append(f"{type(exc).__name__}: {exc}"[:500])
                if failures >= self.MAX_FAILURES:
                    # The server is gone (a drill that ended without stop()): give up.
                    return

    # -- state --------------------------------------------------------------------
    @property
    def snapshots(self) -> list[RdbSnapshot]:
        with self._lock:
            return list(self._snapshots)

    @property
    def errors(self) -> list[str]:
        with self._lock:
            return list(self._errors)

    def newest(self, before_mono: float | None = None) -> RdbSnapshot | None:
        """The newest snapshot in S3 (uploaded before *before_mono*, if given)."""
        snaps = [s for s in self.snapshots if before_mono is None or s.uploaded_mono <= before_mono]
        return max(snaps, key=lambda s: s.point_mono) if snaps else None

    def wait_for(self, count: int, *, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.snapshots) < count:
            if time.monotonic() >= deadline:
                raise SnapshotFailed(
                    f"{self.name}: {len(self.snapshots)}/{count} snapshots after {timeout:.0f} s;"
                    f" errors: {self.errors[-1:] or 'none'}"
                )
            time.sleep(0.01)

    def wait_random_point(self, rng: random.Random | None = None) -> float:
        """Sleep until a uniformly random instant of the current snapshot cycle.

        A fault aligned with the schedule flatters (or damns) the RDB RPO; a random
        moment in the cycle is what an incident does. Returns the offset into the cycle
        (seconds after the newest snapshot was taken).
        """
        rng = rng or random.Random()
        newest = self.newest()
        base = newest.point_mono if newest else time.monotonic()
        # Not in the first 5 % (the upload may still be running) nor at the very end
        # (the next BGSAVE is about to fire).
        offset = rng.uniform(0.05, 0.95) * self.interval
        at = base + offset
        while time.monotonic() < at:
            time.sleep(min(0.01, max(0.0, at - time.monotonic())))
        return time.monotonic() - base

    def summary(self, at_mono: float | None = None) -> dict[str, Any]:
        """Schedule facts for the record: count, durations, newest age at *at_mono*."""
        snaps = self.snapshots
        newest = self.newest(at_mono)
        return {
            "interval_s": self.interval,
            "snapshots": len(snaps),
            "errors": self.errors,
            "max_duration_s": max((s.duration for s in snaps), default=None),
            "newest_key": newest.key if newest else None,
            "newest_keys": newest.keys if newest else None,
            "newest_age_s": newest.age(at_mono) if newest else None,
        }


# --------------------------------------------------------------------------- AOF layout


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


# --------------------------------------------------------------------------- RESP (AOF body)


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


# --------------------------------------------------------------------------- the drill's set-up


@dataclass
class RedisStack:
    """A Redis server persisting the way its service declares, with backups in S3."""

    drill: Drill
    handle: RedisHandle
    store: BackupStore
    persistence: RedisPersistence
    schedule: RdbSchedule
    fault_offset: float | None = None

    def start_schedule(self) -> RdbSchedule:
        """First snapshot now, then one every drill interval (in the background)."""
        return self.schedule.start()

    def fault_point(self, rng: random.Random | None = None) -> float:
        """Wait for a random instant of the snapshot cycle, then stop the schedule.

        The drill injects its fault right after; the offset is recorded (a fault aligned
        with the schedule would flatter or damn the RDB RPO).
        """
        offset = self.schedule.wait_random_point(rng)
        self.schedule.stop()
        self.fault_offset = offset
        self.drill.note(
            "fault_in_snapshot_cycle",
            f"{offset:.3f} s after the newest BGSAVE, in a {self.schedule.interval:.3f} s "
            "cycle (randomised)",
        )
        return offset

    def rdb_bound(self, slack: float = 0.25) -> float:
        """Worst age of the newest snapshot a healthy schedule allows (drill seconds)."""
        longest = max((s.duration for s in self.schedule.snapshots), default=0.0)
        return self.schedule.interval + longest + slack


def build_stack(
    drill: Drill,
    redis_factory: Callable[..., Any],
    s3: Any,
    *,
    name: str = "redis",
    drill_interval: float = DEFAULT_DRILL_INTERVAL,
    aof: str | bool | None = True,
    aof_load_truncated: bool = True,
    bucket: str = "backups",
    verify: bool = True,
    **settings: Any,
) -> RedisStack:
    """Server (AOF as declared, ``save ""``), backup bucket, snapshot schedule (not yet
    started), all from the drill's target in drills.toml."""
    persistence = RedisPersistence.from_target(
        drill.record.target,
        drill_interval=drill_interval,
        aof=aof,
        aof_load_truncated=aof_load_truncated,
    )
    with drill.step(f"{name}: redis-server with its declared persistence", Phase.SETUP) as s:
        s.note("persistence", persistence.to_dict())
        handle: RedisHandle = redis_factory(name, **{**persistence.server_settings(), **settings})
        store = BackupStore(s3, bucket)
        s.call(f"create bucket {bucket}", store.ensure_bucket)
    drill.record.versions.setdefault("redis", handle.version())
    drill.record.versions.setdefault("s3", s3.version())
    drill.note("persistence", persistence.to_dict())
    schedule = RdbSchedule(drill, handle, store, interval=drill_interval, verify=verify)
    return RedisStack(drill, handle, store, persistence, schedule)


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
