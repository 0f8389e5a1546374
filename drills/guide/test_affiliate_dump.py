"""The example drill of docs/writing-drills.md: the affiliate database lost, restored from
its newest pg_dump (runbooks/database-recovery.md, procedure B).

The guide walks through it; it is shipped and run with the other drills (and by
drillbook's own tests), so the guide cannot drift from the API.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drillbook.record import Phase
from drillbook.scenarios.postgres import checks, faults, recovery, schema, stack
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink

SCHEMA = Path(__file__).with_name("affiliate.sql")
PAYOUT_TOTAL = "SELECT count(*), sum(amount_cents)::bigint FROM payouts"


@pytest.mark.drill(service="affiliate", scenario="guide: database lost -> newest pg_dump")
def test_affiliate_lost_restored_from_dump(drill, pg_factory, s3):
    # 1. Load your own schema: a primary archiving WAL to S3, the team's SQL file loaded.
    st = stack.build(drill, pg_factory, s3, dbname="affiliate", loader=schema.sql_file(SCHEMA))
    ledger = drill.ledger(PostgresLedgerSink(st.db), name="affiliate")
    drill.wait_for_writes(ledger, 30)

    # 2. Take the backup the runbook takes: the daily pg_dump, kept off-host in S3.
    snapshot = checks.snapshot(st.db.connect())  # what "intact" means, before the fault
    payouts_before = st.db.execute(PAYOUT_TOTAL)[0]
    st.dump()
    drill.wait_for_writes(ledger, 80)  # writes after the dump: what the RPO will cost

    # 3. Break it.
    with drill.fault("SIGKILL the database server and wipe its data directory"):
        faults.total_loss(st.primary)
    drill.detect(st.primary.probe, name="SELECT 1")
    drill.decide(
        "B: restore the newest pg_dump into a new server",
        why="the data directory is gone: nothing to restart or repair in place",
    )

    # 4. Recover it, the way the runbook says.
    with drill.step("provision a new server", Phase.EXECUTION):
        new = pg_factory("replacement")
    with drill.step("newest good dump from S3, pg_restore -j2", Phase.EXECUTION) as s:
        recovery.restore_dump(s, st.store, st.dumps, new, dbname="affiliate", jobs=2)
    restored = new.with_database("affiliate")
    drill.wait_healthy(restored.probe, name="SELECT 1 on affiliate")

    # 5. Check it: the generic integrity checks, the team's own invariant, the ledger.
    checks.run_all(drill, new, snapshot)
    payouts_after = restored.execute(PAYOUT_TOTAL)[0]
    drill.check(
        "every payout is back, to the cent",
        payouts_after == payouts_before,
        f"{payouts_after[0]} payouts, {payouts_after[1]} cents after the restore",
        expected=list(payouts_before),
        actual=list(payouts_after),
    )
    drill.verify_ledger(ledger, read_from=restored)
