"""Q1 (runbooks/auth-pitr.md): user authentication recovery.

"Simulate auth service failure - Test PITR restore within 5-minute RPO - Verify RTO
<15 minutes." Two incidents, both recovered by point-in-time recovery from the base
backup and the WAL archived to S3:

- total loss of the auth database server (SIGKILL, data directory wiped): replay every
  archived segment; what was not yet archived is lost, and the ledger measures it. One
  segment with ledger writes is archived before t0 (what ``archive_timeout`` does on its
  own, every 60 s in production), so every write in it must come back: a replay that
  stops early or skips it fails (CAPTURED_WRITE_LOST, PITR_TARGET_UNREACHED);
- an accidental ``DELETE FROM sessions`` (no WHERE): recover to the instant before it,
  proven on both sides of the boundary (a marker written before t0 is back, one written
  after t0 is not).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from drillbook.record import Phase
from drillbook.scenarios.postgres import checks, faults, recovery, stack, triage
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink
from drillbook.triage import Incident


def total_loss_pitr(drill, pg_factory, s3, *, segments: int = 1, before_recovery=None):
    """The total-loss drill; *segments*: segments of ledger writes archived before t0;
    *before_recovery(st)* runs after triage (tests/mutants breaks the archive there)."""
    st = stack.build(drill, pg_factory, s3, dbname="auth")
    base = st.base_backup()
    snap = checks.snapshot(st.db.connect())
    ledger = drill.ledger(PostgresLedgerSink(st.db), name="auth")
    drill.wait_for_writes(ledger, 40)
    for i in range(segments):  # what archive_timeout does on its own, every 60 s
        st.archive_now(Phase.SETUP)
        drill.wait_for_writes(ledger, 60 + 20 * i)
    st.freshness()

    with drill.fault("SIGKILL the auth database server and wipe its data directory"):
        faults.total_loss(st.primary)
    drill.detect(st.primary.probe, name="SELECT 1")
    drill.triage(triage.probes(st.primary, snap, dbname="auth"), expected=Incident.TOTAL_LOSS)
    if before_recovery is not None:
        before_recovery(st)

    with drill.step("PITR: base backup + every archived WAL segment", Phase.EXECUTION) as s:
        restored = recovery.pitr(
            s, pg_factory, st.store, base, st.archive, credentials_from=st.primary
        )
    drill.wait_healthy(restored.probe, name="SELECT 1 on the restored server")
    drill.check(
        "restored server does not archive (archive_mode=off)",
        restored.execute("SHOW archive_mode") == [("off",)],
    )
    checks.run_all(drill, restored, snap, dbname="auth", expect_counts="equal")
    drill.verify_ledger(ledger, read_from=restored.with_database("auth"))


@pytest.mark.drill(service="auth", scenario="total loss -> PITR from base backup + WAL archive")
def test_total_loss_pitr(drill, pg_factory, s3):
    total_loss_pitr(drill, pg_factory, s3)


def delete_pitr(drill, pg_factory, s3, *, target_after_t0: timedelta = timedelta(0)):
    """The DELETE drill; the PITR target is t0 + *target_after_t0* (tests/mutants moves
    it past the end of the archive)."""
    st = stack.build(drill, pg_factory, s3, dbname="auth")
    base = st.base_backup()
    snap = checks.snapshot(st.db.connect())
    ledger = drill.ledger(PostgresLedgerSink(st.db), name="auth")
    drill.wait_for_writes(ledger, 50)
    conn = st.db.connect()
    conn.execute("CREATE TABLE IF NOT EXISTS drill_markers (name text PRIMARY KEY)")
    conn.execute("INSERT INTO drill_markers VALUES ('before-t0')")

    with drill.fault("DELETE FROM sessions, without WHERE") as f:
        t0_wall = time.time()
        f.sql(conn, "DELETE FROM sessions")
    conn.execute("INSERT INTO drill_markers VALUES ('after-t0')")

    def sessions_present() -> None:
        if st.db.execute("SELECT count(*) FROM sessions")[0][0] == 0:
            raise RuntimeError("no sessions: every user is logged out")

    drill.detect(sessions_present, name="sessions present")
    drill.triage(triage.probes(st.primary, snap, dbname="auth"), expected=Incident.PARTIAL_LOSS)

    st.archive_now()
    target = datetime.fromtimestamp(t0_wall, UTC) + target_after_t0
    with drill.step(f"PITR to {target.isoformat()} (just before t0)", Phase.EXECUTION) as s:
        restored = recovery.pitr(
            s,
            pg_factory,
            st.store,
            base,
            st.archive,
            credentials_from=st.primary,
            target_time=target,
        )
    drill.wait_healthy(restored.probe, name="SELECT 1 on the restored server")
    markers = {r[0] for r in restored.execute("SELECT name FROM drill_markers", dbname="auth")}
    drill.check("marker written before t0 survived", "before-t0" in markers, f"markers: {markers}")
    drill.check(
        "marker written after t0 is absent", "after-t0" not in markers, f"markers: {markers}"
    )
    checks.run_all(drill, restored, snap, dbname="auth", expect_counts="equal")
    drill.verify_ledger(ledger, read_from=restored.with_database("auth"))


@pytest.mark.drill(service="auth", scenario="DELETE without WHERE -> PITR to just before t0")
def test_accidental_delete_pitr_to_time(drill, pg_factory, s3):
    delete_pitr(drill, pg_factory, s3)
