"""The set-up Redis drills share: a server persisting the way its service declares in
drills.toml, the bucket its snapshots go to, and the snapshot schedule."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from drillbook.drill import Drill
from drillbook.fixtures.redis import RedisHandle
from drillbook.record import Phase
from drillbook.scenarios.common import declared_backup
from drillbook.scenarios.redis import captures
from drillbook.scenarios.redis.backup import DEFAULT_DRILL_INTERVAL, RdbSchedule
from drillbook.scenarios.store import BackupStore

__all__ = ["AOF_MODES", "RedisPersistence", "RedisStack", "build"]

AOF_MODES = ("everysec", "always", "no")


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
        rdb = declared_backup(target, "rdb")
        declared = declared_backup(target, "aof")
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


def build(
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
    """A Redis server persisting as its service declares, its backup bucket, and the
    snapshot schedule (not yet started: :meth:`RedisStack.start_schedule`).

    *drill*, *redis_factory*, *s3*: the fixtures; *name*: the server's name. The AOF mode
    and the production RDB interval come from the service's backup methods in
    drills.toml (``aof everysec``, ``rdb every 6h``); *aof* True takes the declared mode,
    a string forces one, False turns the AOF off. *drill_interval*: the drill's snapshot
    interval in seconds (the compressed schedule; its scale is recorded).
    *aof_load_truncated*: the server option of that name. *bucket*: where snapshots go;
    *verify*: ``redis-check-rdb`` on each snapshot before upload. Other keyword
    arguments are server settings. Records a SETUP step (the persistence, the bucket),
    the note ``persistence`` and the versions.
    """
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
    st = RedisStack(drill, handle, store, persistence, schedule)
    # What the snapshots and the AOF hold at t0 must survive the recovery.
    drill.protect(captures.rdb_capture(st))
    aof_log = captures.aof_capture(st)
    if aof_log is not None:
        drill.protect(aof_log)
    return st
