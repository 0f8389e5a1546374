"""Complete data loss (runbooks/database-recovery.md, scenario 2 / procedure B).

"Drop staging database - Execute Recovery Procedure B - Restore from S3 backup - Measure
recovery time - Validate completeness." The database server is SIGKILLed and its data
directory wiped; the newest good pg_dump (checksum verified) is restored with
``pg_restore -j2`` into a fresh server. Everything written after that dump is lost, and
the ledger measures exactly how much.
"""

from __future__ import annotations

import pytest

from drillbook.record import Phase
from drillbook.scenarios.postgres import checks, faults, recovery, stack, triage
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink
from drillbook.triage import Incident


@pytest.mark.drill(service="affiliate", scenario="total loss -> restore newest pg_dump from S3")
def test_total_loss_restore_from_dump(drill, pg_factory, s3):
    st = stack.build(drill, pg_factory, s3, dbname="affiliate")
    ledger = drill.ledger(PostgresLedgerSink(st.db), name="affiliate")
    drill.wait_for_writes(ledger, 30)
    snap = checks.snapshot(st.db.connect())
    st.dump()  # the "daily" backup, on a compressed schedule
    drill.wait_for_writes(ledger, 80)  # writes after the dump: what the RPO will cost
    st.freshness()

    with drill.fault("SIGKILL the database server and wipe its data directory"):
        faults.total_loss(st.primary)
    drill.detect(st.primary.probe, name="SELECT 1")
    drill.triage(triage.probes(st.primary, snap, dbname="affiliate"), expected=Incident.TOTAL_LOSS)

    with drill.step("provision a fresh server", Phase.EXECUTION):
        fresh = pg_factory("replacement")
    with drill.step("download newest good dump, pg_restore -j2", Phase.EXECUTION) as s:
        recovery.restore_dump(s, st.store, st.dumps, fresh, dbname="affiliate", jobs=2)
    drill.wait_healthy(fresh.with_database("affiliate").probe, name="SELECT 1 on affiliate")
    checks.run_all(drill, fresh, snap, dbname="affiliate", expect_counts="equal")
    drill.verify_ledger(ledger, read_from=fresh.with_database("affiliate"))
