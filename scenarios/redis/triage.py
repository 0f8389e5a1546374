"""The runbook's "Immediate Assessment" of a Redis incident and its choice of procedure.

``redis-cli ping``, ``INFO``, ``redis-check-rdb dump.rdb``, and the order of procedures of
runbooks/cache-failure.md: data in memory -> investigate; server down with its AOF ->
restart; down with only a good local dump.rdb -> restart; files gone or corrupt, or the
data flushed (a FLUSHALL is in the AOF too) -> restore the snapshot from S3.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from drillbook.drill import Drill, StepContext
from drillbook.fixtures.base import Capability
from drillbook.fixtures.redis import RedisHandle
from drillbook.record import Phase
from drillbook.scenarios.redis.aof import offline_aof_layout
from drillbook.scenarios.redis.server import check_rdb

__all__ = ["Assessment", "Procedure", "assess", "choose_procedure", "decide"]


class Procedure(str, Enum):
    """The procedures of runbooks/cache-failure.md, in the order the runbook tries them."""

    INVESTIGATE = "none: the data is in memory, investigate"
    RESTART_AOF = "quick recovery: restart, the server replays its AOF"
    RESTART_RDB = "quick recovery: restart, the server loads its local dump.rdb"
    RESTORE_S3 = "restore from backup: SHUTDOWN NOSAVE, dump.rdb from S3, start, DBSIZE"


@dataclass
class Assessment:
    """The runbook's immediate assessment: reachable, DBSIZE, files, AOF, RDB check."""

    reachable: bool
    dbsize: int | None = None
    error: str | None = None
    files: dict[str, int] = field(default_factory=dict)
    aof: dict[str, Any] | None = None
    rdb_check: dict[str, Any] | None = None
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess(
    step: StepContext, handle: RedisHandle, *, expected_keys: int | None = None
) -> Assessment:
    """``redis-cli ping``, ``INFO``/``DBSIZE``, the data files and ``redis-check-rdb`` of
    *handle*, every command recorded in *step* (note ``assessment``); *expected_keys*: how
    many keys a healthy server holds (for the evidence)."""
    a = Assessment(reachable=False)
    info: dict[str, Any] = {}
    try:
        with handle.client(timeout=2) as c:
            step.call("redis-cli ping", c.ping)
            a.dbsize = int(step.call("redis-cli DBSIZE", c.dbsize))
            a.reachable = True
            info = step.call("redis-cli INFO persistence", c.info, "persistence")
    except Exception as exc:
        a.error = f"{type(exc).__name__}: {exc}"[:300]
    a.evidence.append(
        f"ping: {'PONG' if a.reachable else 'no answer'}"
        + (f", DBSIZE {a.dbsize}" if a.dbsize is not None else f" ({a.error})")
    )
    if info:
        a.evidence.append(
            f"INFO: aof_enabled {info.get('aof_enabled')}, loading {info.get('loading')}, "
            f"rdb_changes_since_last_save {info.get('rdb_changes_since_last_save')}"
        )
    if expected_keys is not None and a.dbsize is not None:
        a.evidence.append(f"expected about {expected_keys} keys")
    if handle.supports(Capability.DATA_DIR):
        data_dir = Path(handle.data_dir)
        for path in sorted(data_dir.rglob("*")):
            if path.is_file():
                a.files[str(path.relative_to(data_dir))] = path.stat().st_size
        layout = offline_aof_layout(handle)
        a.aof = layout.describe()
        a.evidence.append(
            f"data dir: {len(a.files)} files; AOF {layout.kind}"
            + (f" ({layout.total_size} bytes)" if layout.kind != "none" else "")
        )
        rdb = data_dir / "dump.rdb"
        if rdb.exists():
            check = check_rdb(step, handle, rdb)
            a.rdb_check = check.to_dict()
            a.evidence.append(
                f"redis-check-rdb dump.rdb: {'OK' if check.ok else 'CORRUPT'}"
                + (f", {check.keys} keys" if check.keys is not None else "")
            )
        else:
            a.evidence.append("no local dump.rdb")
    step.note("assessment", a.to_dict())
    return a


def choose_procedure(a: Assessment, *, expected_keys: int | None = None) -> Procedure:
    """The runbook's order applied to assessment *a*: investigate, quick restart, restore
    from backup. With *expected_keys*, fewer than half of them counts as data lost."""
    if a.reachable:
        missing = a.dbsize == 0 or (
            expected_keys is not None and a.dbsize is not None and a.dbsize < expected_keys // 2
        )
        # A FLUSHALL is logged to the AOF: a restart replays it. Only the snapshot helps.
        return Procedure.RESTORE_S3 if missing else Procedure.INVESTIGATE
    if a.aof and a.aof.get("kind") != "none" and a.aof.get("files"):
        return Procedure.RESTART_AOF
    if a.rdb_check and a.rdb_check.get("ok"):
        return Procedure.RESTART_RDB
    return Procedure.RESTORE_S3


def decide(
    drill: Drill,
    handle: RedisHandle,
    *,
    expected: Procedure | None = None,
    expected_keys: int | None = None,
) -> Procedure:
    """Assess *handle* and choose the procedure, as the drill's decision phase.

    Records a DECISION step with the assessment, the decision (``drill.decision``, whose
    end is the moment the procedure is chosen) with its evidence, and the triage; a
    choice other than *expected* fails the drill (TRIAGE_MISMATCH). *expected_keys*: see
    :func:`choose_procedure`.
    """
    with drill.step(
        "assess: redis-cli ping, DBSIZE, data files, redis-check-rdb", Phase.DECISION
    ) as s:
        a = assess(s, handle, expected_keys=expected_keys)
    proc = choose_procedure(a, expected_keys=expected_keys)
    with drill.decision(proc.value) as d:
        d.note("evidence", a.evidence)
    drill.record.triage = {
        "observed": proc.name,
        "expected": expected.name if expected else None,
        "procedure": proc.value,
        "evidence": a.evidence,
    }
    return proc
