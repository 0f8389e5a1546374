"""Example drill (PostgreSQL): the database server and its disk are lost; the newest
nightly ``pg_dump`` is restored into a new server with ``pg_restore``.

Replace the schema with your own, the backup with the one your runbook takes, and the
checks with the ones your runbook lists. ``pytest drills/postgres_example`` runs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drillbook.record import Phase
from drillbook.scenarios.postgres import faults
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink

SCHEMA = """
CREATE TABLE accounts (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL);
INSERT INTO accounts (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 500) g;
"""


@pytest.mark.drill(service="app-db", scenario="server and disk lost -> restore the nightly dump")
def test_restore_nightly_dump(drill, pg_factory, tmp_path: Path) -> None:
    primary = pg_factory("app-db")
    primary.create_database("app")
    app = primary.with_database("app")
    app.execute(SCHEMA)
    ledger = drill.ledger(PostgresLedgerSink(app), name="app")  # numbered, acknowledged writes
    drill.wait_for_writes(ledger, 30)

    dump = tmp_path / "app.dump"
    # drill.backup: a SETUP step that, once done, holds every write acknowledged before it
    # began; a recovery that loses one of them fails (CAPTURED_WRITE_LOST) whatever the RPO.
    with drill.backup("nightly backup: pg_dump -Fc", method="pg_dump", of=ledger) as step:
        step.run([primary.tool("pg_dump"), "-Fc", "-d", "app", "-f", dump], env=primary.env())
    drill.wait_for_writes(ledger, 60)  # written after the dump: what the RPO costs

    with drill.fault("SIGKILL the database server and wipe its data directory"):  # t0
        faults.total_loss(primary)
    drill.detect(primary.probe, name="SELECT 1")
    drill.decide("server and disk lost: restore the newest dump into a new server")

    with drill.step("provision a new server", Phase.EXECUTION):
        fresh = pg_factory("app-db-restored")
        fresh.create_database("app")
    with drill.step("pg_restore -j2 the nightly dump", Phase.EXECUTION) as step:
        step.run([fresh.tool("pg_restore"), "-j2", "-d", "app", dump], env=fresh.env())
    restored = fresh.with_database("app")
    drill.wait_healthy(restored.probe, name="SELECT 1 on the restored database")

    accounts = restored.execute("SELECT count(*) FROM accounts")[0][0]
    drill.check("every account restored", accounts == 500, f"{accounts} accounts")
    drill.verify_ledger(ledger, read_from=restored)  # survived / lost / corrupted: the RPO
