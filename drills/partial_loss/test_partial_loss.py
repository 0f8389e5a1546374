"""Partial data loss (runbooks/database-recovery.md, scenario 3 / procedure C).

"Delete specific tables in staging - Execute Recovery Procedure C - Restore selective data
- Verify data consistency." ``scenes`` and ``sessions`` are dropped (CASCADE drops the
foreign keys that pointed at them); the newest dump is restored into a side database and
the two tables copied back with their keys. The rest of the database keeps running.
"""

from __future__ import annotations

import pytest

from drillbook.record import Phase
from drillbook.scenarios.postgres import checks, faults, recovery, stack, triage
from drillbook.triage import Incident

LOST = ["scenes", "sessions"]


@pytest.mark.drill(service="affiliate", scenario="DROP TABLE scenes, sessions -> selective restore")
def test_partial_loss_selective_restore(drill, pg_factory, s3):
    st = stack.build(drill, pg_factory, s3, dbname="affiliate")
    snap = checks.snapshot(st.db.connect())
    st.dump()
    conn = st.db.connect()

    with drill.fault(f"DROP TABLE {', '.join(LOST)} CASCADE") as f:
        f.note("dropped", repr(faults.drop_tables(conn, LOST)))

    def scenes_exist() -> None:
        st.db.execute("SELECT 1 FROM scenes LIMIT 1")

    drill.detect(scenes_exist, name="SELECT FROM scenes")
    drill.triage(
        triage.probes(st.primary, snap, dbname="affiliate"), expected=Incident.PARTIAL_LOSS
    )
    with drill.step(
        "restore dump into a side database, copy lost tables back", Phase.EXECUTION
    ) as s:
        recovery.selective_restore(
            s, st.store, st.dumps, st.primary, dbname="affiliate", tables=LOST
        )
    drill.wait_healthy(scenes_exist, name="SELECT FROM scenes")
    checks.run_all(drill, st.primary, snap, dbname="affiliate", expect_counts="equal")
