"""Q3, runbook-driven: the recovery is runbooks/cache-failure.md itself.

The same incident and application as test_q3_cache's complete failure (Redis SIGKILLed,
its data directory lost; a read-through workload on PostgreSQL the whole time), recovered
by running the runbook's "Cache Service Recovery": assessment, the quick restart (which
comes back empty), the newest dump.rdb fetched from S3 and checked, Redis started with
the AOF off so the snapshot loads, the AOF turned back on, the hit rate watched until it
is above 70 %. The drill then measures what the snapshot lost (ledger) and the hit rate
over its own sliding window.

Must-fail: the runbook copying the snapshot to the wrong file name, which Redis never
loads: the runbook's own "Verify data" (DBSIZE > 0) stops it, RUNBOOK_STEP_FAILED.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from drillbook.scenarios.redis import checks, faults
from drillbook.scenarios.runbook import runbook_variant
from drills.q3_cache.test_q3_cache import Q3, ledger_and_baseline, q3, validate_and_measure

RUNBOOK = "runbooks/cache-failure.md"
SECTION = "Cache Service Recovery"
__all__ = ["q3"]  # the Q3 fixture (cache server, snapshot schedule, warm cache, workload)


def fail_and_recover(drill, q: Q3, s3, runbook: str | Path = RUNBOOK):
    st = q.st
    ledger = ledger_and_baseline(drill, q)
    newest = st.schedule.newest()
    with drill.fault("Redis complete failure: SIGKILL and the data directory lost") as f:
        f.note("fault", dataclasses.asdict(faults.lose_data_dir(st.handle)))
    drill.detect(st.handle.probe, name="redis-cli ping")
    drill.decide("restore the newest snapshot from S3 (runbook: Restore from Backup)")
    drill.runbook(
        runbook,
        section=SECTION,
        service="cache",
        handles={"redis": st.handle, "s3": s3},
        bucket=st.store.bucket,
    )
    return ledger, newest


@pytest.mark.drill(service="cache", scenario="complete failure -> runbooks/cache-failure.md")
def test_complete_failure_runbook(drill, q3: Q3, s3):
    ledger, newest = fail_and_recover(drill, q3, s3)
    t0 = drill.record.t0_mono
    checks.check_snapshot_age(
        drill, newest, at_mono=t0, bound=q3.st.rdb_bound(), scale=q3.st.persistence.scale
    )
    result = drill.verify_ledger(ledger)
    drill.check(
        "ledger: the snapshot restore lost only writes after the snapshot (no holes)",
        not result.has_integrity_findings,
        detail=", ".join(f"{k} {v}" for k, v in result.to_dict()["counts"].items() if v),
    )
    validate_and_measure(drill, q3, after=drill.record.first_healthy_mono or t0)


@pytest.mark.drill(service="cache", scenario="runbook restoring to the wrong file must fail")
@pytest.mark.drill_expect_fail("RUNBOOK_STEP_FAILED")
def test_runbook_wrong_restore_path_fails(drill, q3: Q3, s3, tmp_path):
    old = "cp /backup/latest/dump.rdb /var/lib/redis/dump.rdb"
    new = "cp /backup/latest/dump.rdb /var/lib/redis/dump-latest.rdb"  # never loaded
    broken = runbook_variant(RUNBOOK, old, new, tmp_path)
    fail_and_recover(drill, q3, s3, runbook=broken)
