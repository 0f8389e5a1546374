"""Q2 (runbooks/projects-corruption.md): projects database corruption.

The runbook's order: assess, pause queue processing, "Create backup of current state"
(the corrupted state is saved to S3 before anything is touched), restore from the
latest backup and replay the transaction logs, then the data integrity SQL (orphans,
duplicates, foreign keys) — here with amcheck, sequences and a full read on top.

Two variants: physical corruption (bytes overwritten in a data page of ``scenes``, so
reads fail on the checksum) and logical corruption (bad UPDATEs, orphaned scenes,
duplicated keys).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from drillbook.record import Phase
from drillbook.scenarios.postgres import backup, checks, faults, recovery, stack, triage
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink
from drillbook.triage import Incident


def save_corrupted_state(drill, st, *, physical: bool) -> None:
    """The runbook's first move: keep the evidence (in S3) before restoring over it."""
    with drill.step("save the corrupted state to S3 (before any repair)", Phase.EXECUTION) as s:
        if physical:
            # pg_dump would stop at the first bad page; a physical copy keeps every byte.
            backup.base_backup(
                s,
                st.primary,
                st.store,
                prefix="corrupted-state",
                include_wal=True,
                verify_checksums=False,
            )
        else:
            st.dumps.append(backup.pg_dump(s, st.primary, st.store, dbname=st.dbname))


def restore_to_before_t0(drill, st, base, pg_factory, t0_wall):
    st.archive_now()
    target = datetime.fromtimestamp(t0_wall, UTC)
    with drill.step(
        f"restore base backup + replay WAL to {target.isoformat()}", Phase.EXECUTION
    ) as s:
        return recovery.pitr(
            s,
            pg_factory,
            st.store,
            base,
            st.archive,
            credentials_from=st.primary,
            target_time=target,
        )


@pytest.mark.drill(service="projects", scenario="physical corruption of scenes -> restore + WAL")
def test_physical_corruption(drill, pg_factory, s3):
    st = stack.build(drill, pg_factory, s3, dbname="projects")
    base = st.base_backup()
    snap = checks.snapshot(st.db.connect())
    ledger = drill.ledger(PostgresLedgerSink(st.db), name="projects")
    drill.wait_for_writes(ledger, 50)

    with drill.fault("overwrite bytes in a data page of scenes (data checksums on)") as f:
        t0_wall = time.time()
        done = faults.physical_corruption(st.primary, "projects", "scenes")
        f.note("corruption", repr(done))

    def scenes_readable() -> None:
        st.db.execute("SELECT count(*), sum(length(t::text)) FROM scenes t")

    drill.detect(scenes_readable, name="full read of scenes")
    drill.triage(triage.probes(st.primary, snap, dbname="projects"), expected=Incident.CORRUPTION)
    save_corrupted_state(drill, st, physical=True)
    with drill.step("pause writers (queue processing)", Phase.EXECUTION):
        ledger.stop()
    restored = restore_to_before_t0(drill, st, base, pg_factory, t0_wall)
    drill.wait_healthy(restored.probe, name="SELECT 1 on the restored server")
    checks.run_all(drill, restored, snap, dbname="projects", expect_counts="equal")
    drill.verify_ledger(ledger, read_from=restored.with_database("projects"))


@pytest.mark.drill(service="projects", scenario="logical corruption -> save, restore + WAL")
def test_logical_corruption(drill, pg_factory, s3):
    st = stack.build(drill, pg_factory, s3, dbname="projects")
    base = st.base_backup()
    snap = checks.snapshot(st.db.connect())
    ledger = drill.ledger(PostgresLedgerSink(st.db), name="projects")
    drill.wait_for_writes(ledger, 50)
    conn = st.db.connect()

    with drill.fault(
        "bad UPDATE, orphaned scenes, duplicated project keys (unique index off)"
    ) as f:
        t0_wall = time.time()
        f.note("bad_update", repr(faults.bad_update(conn, "projects", "name", "CORRUPTED")))
        f.note("orphans", repr(faults.orphan_children(conn, "scenes", "project_id", 5)))
        f.note(
            "duplicates", repr(faults.duplicate_keys(conn, "projects", 3, method="disable_index"))
        )

    def integrity_sql() -> None:
        for result in checks.orphans(st.db.connect()) + checks.duplicates(st.db.connect()):
            if not result.passed:
                raise RuntimeError(f"{result.name}: {result.detail}")

    drill.detect(integrity_sql, name="runbook integrity SQL (orphans, duplicates)")
    drill.triage(triage.probes(st.primary, snap, dbname="projects"), expected=Incident.CORRUPTION)
    save_corrupted_state(drill, st, physical=False)
    with drill.step("pause writers (queue processing)", Phase.EXECUTION):
        ledger.stop()
    restored = restore_to_before_t0(drill, st, base, pg_factory, t0_wall)
    drill.wait_healthy(restored.probe, name="SELECT 1 on the restored server")
    checks.run_all(drill, restored, snap, dbname="projects", expect_counts="equal")
    drill.verify_ledger(ledger, read_from=restored.with_database("projects"))
