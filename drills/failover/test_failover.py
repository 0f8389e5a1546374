"""Primary lost -> standby promoted (runbooks/database-recovery.md, procedure D: region
failure; the zero-RPO orders database of the same runbook).

With synchronous replication (orders: RPO 0) every write acknowledged before t0 must be
on the promoted standby: one lost write fails the drill. With asynchronous replication
(affiliate) the loss is measured, not assumed.
"""

from __future__ import annotations

import pytest

from drillbook.record import Phase
from drillbook.scenarios.postgres import checks, faults, recovery, schema, triage
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink
from drillbook.triage import Incident


def promote_standby(drill, pg_factory, primary, standby):
    """Procedure D: promote the standby; the server the application moves to."""
    with drill.step("promote the standby", Phase.EXECUTION) as s:
        recovery.promote(s, standby)
    return standby


def failover_drill(drill, pg_factory, *, synchronous: bool, recover=promote_standby) -> None:
    """*recover(drill, pg_factory, primary, standby)* returns the server the application
    moves to (tests/mutants brings back the lost primary instead)."""
    with drill.step("primary with application data", Phase.SETUP):
        primary = pg_factory("primary")
        schema.app_database(primary, "orders")
    with drill.step(
        f"{'synchronous' if synchronous else 'asynchronous'} standby", Phase.SETUP
    ) as s:
        standby = recovery.make_standby(s, pg_factory, primary, synchronous=synchronous)
    drill.record.versions["postgres"] = primary.version()
    db = primary.with_database("orders")
    snap = checks.snapshot(db.connect())
    ledger = drill.ledger(PostgresLedgerSink(db), name="orders")
    drill.wait_for_writes(ledger, 30)

    with drill.fault("SIGKILL the primary and wipe its data directory (region lost)"):
        faults.total_loss(primary)
    drill.detect(primary.probe, name="SELECT 1 on the primary")
    drill.triage(triage.probes(primary, snap, dbname="orders"), expected=Incident.TOTAL_LOSS)
    server = recover(drill, pg_factory, primary, standby)
    promoted = server.with_database("orders")
    drill.wait_healthy(
        lambda: promoted.execute("CREATE TEMP TABLE drill_rw_probe (x int)"),
        name="a write on the promoted standby",
    )
    checks.run_all(drill, server, snap, dbname="orders", expect_counts="equal")
    drill.verify_ledger(ledger, read_from=promoted)


@pytest.mark.drill(service="orders", scenario="primary lost -> sync standby promoted (RPO 0)")
def test_sync_standby_promotion(drill, pg_factory):
    failover_drill(drill, pg_factory, synchronous=True)


@pytest.mark.drill(service="affiliate", scenario="primary lost -> async standby promoted")
def test_async_standby_promotion(drill, pg_factory):
    failover_drill(drill, pg_factory, synchronous=False)
