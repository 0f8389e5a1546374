"""Hand-made drill records for edge cases, built through the engine's own API.

No server: the ledger writes into a dict (a real :class:`LedgerWriter` thread at a real
cadence), steps run real commands (``sh -c``), and :func:`drillbook.verdict.finalize`
gives the verdict, so these records have the same shape as a drill's.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from drillbook.drill import Drill
from drillbook.record import DrillRecord, Phase, Verdict
from drillbook.targets import parse_targets
from drillbook.verdict import finalize

TARGETS = """
[services.auth]
kind = "postgres"
tier = "P0"
rto = "15m"
rpo = "5m"
backup = ["wal archive, archive_timeout 60s"]
production_size = "40GB"

[services.tight]
kind = "postgres"
tier = "P1"
rto = "50ms"
rpo = "0"
backup = ["pg_dump every 15m"]

[services.cache]
kind = "redis"
tier = "P2"
rto = "1h"
rpo = "24h"
backup = ["rdb every 6h", "aof everysec"]
"""
_TARGETS = parse_targets(TARGETS, "factories.toml")


class MemorySink:
    """A ledger sink in a dict; ``lose(n)`` drops the last n acknowledged writes."""

    def __init__(self) -> None:
        self.data: dict[int, str] = {}
        self.lock = threading.Lock()

    def prepare(self) -> None:
        pass

    def write(self, seq: int, payload: str) -> None:
        with self.lock:
            self.data[seq] = payload

    def read_all(self) -> dict[int, str]:
        with self.lock:
            return dict(self.data)

    def close(self) -> None:
        pass

    def lose(self, n: int) -> None:
        with self.lock:
            for seq in sorted(self.data)[-n:]:
                del self.data[seq]

    def corrupt(self, seq: int) -> None:
        with self.lock:
            self.data[seq] = "garbage"


def _record(drill_id: str, service: str | None, scenario: str) -> DrillRecord:
    rec = DrillRecord(
        drill_id=drill_id,
        name=drill_id.rsplit("::", 1)[-1],
        service=service,
        scenario=scenario,
        backend="local",
    )
    rec.targets_digest = _TARGETS.digest
    if service:
        rec.target = _TARGETS.get(service).to_dict()
    rec.versions = {"postgres": "15.18 (test)"}
    return rec


def _down() -> None:
    raise ConnectionRefusedError("connection refused")


def passing(
    drill_id: str = "drills/q1/test_auth.py::test_pitr", *, secret: str = ""
) -> DrillRecord:
    """A PASS with a ledger, commands, a check and a projection."""
    rec = _record(drill_id, "auth", "total loss, PITR")
    drill = Drill(rec)
    sink = MemorySink()
    ledger = drill.ledger(sink, name="postgres", cadence=0.005)
    drill.wait_for_writes(ledger, 10)
    with drill.fault("SIGKILL and wipe the data dir") as ctx:
        ctx.run(["sh", "-c", "echo killed"])
    drill.detect(_down, name="SELECT 1")
    with drill.decision("B: complete data loss -> restore from backup"):
        pass
    with drill.step("restore base backup", Phase.EXECUTION) as ctx:
        ctx.run(["sh", "-c", f"echo restoring {secret}; head -c 200000 /dev/zero | wc -c"])
        ctx.processed(200_000)
        time.sleep(0.01)
    drill.wait_healthy(lambda: None, name="SELECT 1")
    result = drill.verify_ledger(ledger)
    drill.check("no acknowledged write lost", result.lost == 0, detail=f"lost {result.lost}")
    drill.close()
    finalize(rec)
    return rec


def failing(drill_id: str = "drills/q2/test_projects.py::test_corruption") -> DrillRecord:
    """A FAIL: RTO over target, data lost and corrupted, a failed check, a failed command."""
    rec = _record(drill_id, "tight", "corruption, restore dump")
    drill = Drill(rec)
    sink = MemorySink()
    ledger = drill.ledger(sink, name="projects", cadence=0.005)
    drill.wait_for_writes(ledger, 20)
    with drill.fault("overwrite a heap page"):
        pass
    drill.observe_detection("amcheck reports corruption")
    with drill.decision("A: corruption -> save corrupted state, restore, verify"):
        pass
    try:
        with drill.step("pg_restore", Phase.EXECUTION) as ctx:
            time.sleep(0.06)
            ctx.run(["sh", "-c", "echo 'pg_restore: error: could not read' >&2; exit 3"])
    except Exception:
        pass
    with drill.step("pg_restore --clean (retry)", Phase.EXECUTION) as ctx:
        ctx.run(["sh", "-c", "echo ok"])
    sink.lose(3)
    sink.corrupt(2)
    result = drill.verify_ledger(ledger)
    drill.check("orphaned scenes", False, detail="4 orphans", expected=0, actual=4)
    drill.check("row count", True, detail="1000 rows")
    drill.validated()
    drill.close()
    assert result.lost >= 1
    finalize(rec)
    return rec


def not_run(
    drill_id: str = "drills/q4/test_region.py::test_region_loss", reason: str = ""
) -> DrillRecord:
    rec = _record(drill_id, "auth", "region loss")
    rec.verdict = Verdict.NOT_RUN.value
    rec.not_run_reason = reason or "[BACKEND_UNSUPPORTED] the docker backend is not available"
    return rec


def no_ledger(drill_id: str = "drills/q3/test_cache.py::test_cache_restart") -> DrillRecord:
    """A PASS whose drill kept no ledger (checks only): no RPO measured."""
    rec = _record(drill_id, "cache", "restart, AOF reload")
    drill = Drill(rec)
    with drill.fault("SIGKILL redis") as ctx:
        ctx.call("redis kill", lambda: None)
    drill.detect(_down, name="PING")
    with drill.decision("restart in place"):
        pass
    with drill.step("start redis", Phase.EXECUTION) as ctx:
        ctx.run(["sh", "-c", "echo started"])
    drill.wait_healthy(lambda: None, name="PING")
    drill.check("DBSIZE", True, detail="1000 keys", expected=1000, actual=1000)
    drill.close()
    finalize(rec)
    return rec


def history_row_like(
    rec: DrillRecord, started: float, rto: float | None, verdict: str, run_id: str
) -> dict[str, Any]:
    """A past history line for *rec*'s drill (what an earlier run appended)."""
    return {
        "schema": "drillbook.history/1",
        "run_id": run_id,
        "drill_id": rec.drill_id,
        "service": rec.service,
        "started": started,
        "rto_s": rto,
        "rto_target_s": (rec.target or {}).get("rto"),
        "rpo_s": 0.5,
        "rpo_target_s": (rec.target or {}).get("rpo"),
        "rpo_bound_s": (rec.target or {}).get("rpo_bound"),
        "verdict": verdict,
        "findings": [],
    }
