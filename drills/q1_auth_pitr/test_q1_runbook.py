"""Q1, runbook-driven: the recovery is runbooks/auth-pitr.md itself, not drillbook's Python.

The same incident as test_q1_auth_pitr's total loss (the auth database server SIGKILLed,
its data directory wiped), recovered by running the runbook's section "Database
Recovery: Point-in-Time Restore": every step a recorded step timed against its budget,
``systemctl start postgresql`` starting the drill's server, ``aws s3 cp`` fetching the
base backup from the drill's S3. The drill's own checks and the ledger then judge it.

One segment with ledger writes is archived before t0 (what ``archive_timeout`` does on
its own in production), so every write in it must come back: a runbook that does not
replay the archive fails with CAPTURED_WRITE_LOST whatever the RPO target.

The must-fail variants run the same runbook with one line wrong: the restore_command
points at an archive that does not exist (the server cannot reach a consistent state,
``systemctl start postgresql`` fails: RUNBOOK_STEP_FAILED), or the recovery stops at
the base backup (``recovery_target = 'immediate'``: the server starts, but the writes
the archive held are gone: CAPTURED_WRITE_LOST).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drillbook.record import Phase
from drillbook.scenarios.postgres import checks, faults, stack, triage
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink
from drillbook.scenarios.runbook import runbook_variant
from drillbook.scenarios.runbook.postgres import wal_fetch_script
from drillbook.triage import Incident

RUNBOOK = "runbooks/auth-pitr.md"
SECTION = "Database Recovery: Point-in-Time Restore"


def lose_and_recover(drill, pg_factory, s3, runbook: str | Path = RUNBOOK):
    st = stack.build(drill, pg_factory, s3, dbname="auth")
    st.base_backup()
    snap = checks.snapshot(st.db.connect())
    ledger = drill.ledger(PostgresLedgerSink(st.db), name="auth")
    drill.wait_for_writes(ledger, 40)
    st.archive_now(Phase.SETUP)  # what archive_timeout does on its own, every 60 s
    drill.wait_for_writes(ledger, 60)
    st.freshness()

    with drill.fault("SIGKILL the auth database server and wipe its data directory"):
        faults.total_loss(st.primary)
    drill.detect(st.primary.probe, name="SELECT 1")
    drill.triage(triage.probes(st.primary, snap, dbname="auth"), expected=Incident.TOTAL_LOSS)
    drill.runbook(
        runbook,
        section=SECTION,
        service="auth",
        handles={"postgres": st.db, "s3": s3},
        bucket=st.store.bucket,
        env={"WAL_FETCH": str(wal_fetch_script(st.archive.restore_command))},
    )
    return st, snap, ledger


def judge(drill, st, snap, ledger) -> None:
    drill.wait_healthy(st.db.probe, name="SELECT 1 on the restored auth database")
    checks.run_all(drill, st.primary, snap, dbname="auth", expect_counts="equal")
    drill.verify_ledger(ledger)


@pytest.mark.drill(service="auth", scenario="total loss -> runbooks/auth-pitr.md (PITR)")
def test_total_loss_runbook(drill, pg_factory, s3):
    judge(drill, *lose_and_recover(drill, pg_factory, s3))


@pytest.mark.drill(service="auth", scenario="runbook that replays no WAL must fail")
@pytest.mark.drill_expect_fail("CAPTURED_WRITE_LOST", match="archive")
def test_runbook_without_replay_fails(drill, pg_factory, s3, tmp_path):
    old = "recovery_target_timeline = 'latest'"
    new = "recovery_target_timeline = 'latest'\n   recovery_target = 'immediate'"
    broken = runbook_variant(RUNBOOK, old, new, tmp_path)
    judge(drill, *lose_and_recover(drill, pg_factory, s3, runbook=broken))


@pytest.mark.drill(service="auth", scenario="runbook with a wrong restore_command must fail")
@pytest.mark.drill_expect_fail("RUNBOOK_STEP_FAILED")
def test_runbook_wrong_restore_command_fails(drill, pg_factory, s3, tmp_path):
    old = "restore_command = '$WAL_FETCH %f %p'"
    broken = runbook_variant(RUNBOOK, old, "restore_command = 'false'", tmp_path)
    lose_and_recover(drill, pg_factory, s3, runbook=broken)
