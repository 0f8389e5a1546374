"""Q2, runbook-driven: the recovery is runbooks/projects-corruption.md itself.

Logical corruption of the projects database (a bad UPDATE, orphaned scenes, duplicated
project keys with the unique index disabled), recovered by running the runbook's
"Projects Service Recovery": assessment SQL, pause, the corrupted state saved to S3, the
base backup restored and the WAL replayed to ``$INCIDENT_TIME``, the runbook's own
integrity SQL, resume. The drill's checks (rows and content against the snapshot,
amcheck, sequences) and the ledger judge the result.

Must-fail: the same runbook replaying the WAL to its end instead of to the incident
(``recovery_target_timeline = 'latest'``): the corruption comes back, the runbook's own
Data Integrity Check stops it, and the drill FAILs with RUNBOOK_STEP_FAILED.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drillbook.scenarios.postgres import checks, faults, stack, triage
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink
from drillbook.scenarios.runbook import runbook_variant
from drillbook.scenarios.runbook.postgres import wal_fetch_script
from drillbook.triage import Incident

RUNBOOK = "runbooks/projects-corruption.md"
SECTION = "Projects Service Recovery"


def corrupt_and_recover(drill, pg_factory, s3, runbook: str | Path = RUNBOOK):
    st = stack.build(drill, pg_factory, s3, dbname="projects")
    st.base_backup()
    snap = checks.snapshot(st.db.connect())
    ledger = drill.ledger(PostgresLedgerSink(st.db), name="projects")
    drill.wait_for_writes(ledger, 50)
    conn = st.db.connect()

    with drill.fault("bad UPDATE, orphaned scenes, duplicated project keys") as f:
        t0_wall = time.time()
        f.note("bad_update", repr(faults.bad_update(conn, "projects", "name", "CORRUPTED")))
        f.note("orphans", repr(faults.orphan_children(conn, "scenes", "project_id", 5)))
        dupes = faults.duplicate_keys(conn, "projects", 3, method="disable_index")
        f.note("duplicates", repr(dupes))

    def no_orphans() -> None:
        failed = [r for r in checks.orphans(st.db.connect()) if not r.passed]
        if failed:
            raise RuntimeError(f"{failed[0].name}: {failed[0].detail}")

    drill.detect(no_orphans, name="orphaned scenes (the runbook's integrity SQL)")
    drill.triage(triage.probes(st.primary, snap, dbname="projects"), expected=Incident.CORRUPTION)
    drill.runbook(
        runbook,
        section=SECTION,
        service="projects",
        handles={"postgres": st.db, "s3": s3},
        bucket=st.store.bucket,
        env={
            "WAL_FETCH": str(wal_fetch_script(st.archive.restore_command)),
            "INCIDENT_TIME": datetime.fromtimestamp(t0_wall, UTC).isoformat(),
        },
    )
    return st, snap, ledger


@pytest.mark.drill(service="projects", scenario="logical corruption -> runbook (restore + WAL)")
def test_logical_corruption_runbook(drill, pg_factory, s3):
    st, snap, ledger = corrupt_and_recover(drill, pg_factory, s3)
    drill.wait_healthy(st.db.probe, name="SELECT 1 on the restored projects database")
    checks.run_all(drill, st.primary, snap, dbname="projects", expect_counts="equal")
    drill.verify_ledger(ledger)


@pytest.mark.drill(service="projects", scenario="runbook replaying past the incident must fail")
@pytest.mark.drill_expect_fail("RUNBOOK_STEP_FAILED")
def test_runbook_replay_past_incident_fails(drill, pg_factory, s3, tmp_path):
    old = "recovery_target_time = '$INCIDENT_TIME'"
    broken = runbook_variant(RUNBOOK, old, "recovery_target_timeline = 'latest'", tmp_path)
    corrupt_and_recover(drill, pg_factory, s3, runbook=broken)
