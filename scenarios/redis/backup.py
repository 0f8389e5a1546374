"""Redis backups as the runbooks take them: RDB snapshots kept off-host in S3.

``save ""`` (no automatic snapshots) and a drill-driven schedule instead: BGSAVE every
*interval* seconds (a compressed stand-in for "RDB snapshots every 6 hours" / "hourly
RDB"), completion awaited through ``INFO persistence``, then ``dump.rdb`` copied off-host
to S3 with its SHA-256 (:class:`~drillbook.scenarios.store.BackupStore`), verified with
``redis-check-rdb`` first. Every snapshot knows when it was taken, so "the newest backup
is N s old at t0" is measured, never assumed.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from dataclasses import KW_ONLY, asdict, dataclass, field
from typing import Any, ClassVar

from drillbook.drill import Drill, StepContext
from drillbook.fixtures.base import Capability
from drillbook.fixtures.redis import RedisHandle
from drillbook.record import Phase
from drillbook.scenarios.common import scratch_dir
from drillbook.scenarios.redis.server import SnapshotFailed, bgsave, check_rdb, rdb_path
from drillbook.scenarios.store import BackupStore, StoredObject

__all__ = [
    "DEFAULT_DRILL_INTERVAL",
    "DEFAULT_RDB_PREFIX",
    "RdbSchedule",
    "RdbSnapshot",
    "snapshot_to_s3",
]

#: The drill's stand-in for a production snapshot interval (hours become seconds).
DEFAULT_DRILL_INTERVAL = 2.0
DEFAULT_RDB_PREFIX = "redis/rdb/"


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

    *step*: the drill step every command is recorded in (note ``snapshot``, the bytes
    uploaded); *handle*: the server (needs its data dir); *store*: where it goes, under
    *prefix*; *seq*: the snapshot's number in its schedule.

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
    scratch = scratch_dir("rdb-copy") / "dump.rdb"
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


@dataclass(eq=False)
class RdbSchedule:
    """The drill's snapshot cron: BGSAVE + upload to S3 every *interval* seconds.

    *drill*: each snapshot is a recorded SETUP step of it; *handle*: the server (needs
    its data dir); *store*: where the snapshots go, under *prefix*; *verify*:
    ``redis-check-rdb`` before each upload. Runs in a thread: ``stop()`` before the fault
    (a dead server cannot be snapshotted, and a snapshot racing the kill would muddle the
    RPO). ``pause()`` models a stalled backup job (the must-fail case). After
    ``MAX_FAILURES`` failed snapshots in a row the thread ends by itself.
    """

    MAX_FAILURES: ClassVar[int] = 3

    drill: Drill
    handle: RedisHandle
    store: BackupStore
    _: KW_ONLY
    interval: float = DEFAULT_DRILL_INTERVAL
    prefix: str = DEFAULT_RDB_PREFIX
    verify: bool = True
    name: str = "rdb schedule"
    _snapshots: list[RdbSnapshot] = field(default_factory=list, init=False, repr=False)
    _errors: list[str] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _paused: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _next_due: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.handle.require(Capability.DATA_DIR)

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
        """The backup job fires again (from its next due time)."""
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
        """Every snapshot taken so far, oldest first."""
        with self._lock:
            return list(self._snapshots)

    @property
    def errors(self) -> list[str]:
        """Why snapshots failed (a failed snapshot is data for the report)."""
        with self._lock:
            return list(self._errors)

    def newest(self, before_mono: float | None = None) -> RdbSnapshot | None:
        """The newest snapshot in S3 (uploaded before *before_mono*, if given)."""
        snaps = [s for s in self.snapshots if before_mono is None or s.uploaded_mono <= before_mono]
        return max(snaps, key=lambda s: s.point_mono) if snaps else None

    def wait_for(self, count: int, *, timeout: float = 30.0) -> None:
        """Block until *count* snapshots are in S3 (SnapshotFailed after *timeout* seconds)."""
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
