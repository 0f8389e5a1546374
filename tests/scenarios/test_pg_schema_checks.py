"""The application schema and the generic integrity checks on healthy databases.

Healthy direction: every check passes on the application database and on northwind (a
schema this project did not write). The checks' own failure modes that are not faults
(amcheck unavailable, NOT VALID / disabled foreign keys, sequences behind) fail here;
the faults' direction is in test_pg_faults.py. One test runs ``run_all`` inside a real
drill (a DELETE without WHERE repaired by a selective copy-back) and asserts the record.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from drillbook.drill import Drill
from drillbook.fixtures.postgres import PostgresHandle, PostgresView
from drillbook.record import DrillRecord, Phase
from drillbook.scenarios.postgres import checks, faults, schema, triage
from drillbook.scenarios.postgres.checks import Snapshot
from drillbook.triage import Incident
from tests.scenarios import (  # noqa: F401  (fixtures)
    app_db,
    app_template,
    northwind_db,
    northwind_template,
)

ALL_LIVE = {
    checks.ORPHANS,
    checks.DUPLICATES,
    checks.FOREIGN_KEYS,
    checks.SEQUENCES,
    checks.AMCHECK,
    checks.AMCHECK_HEAP,
    checks.FULL_READ,
}
ALL = ALL_LIVE | {checks.ROW_COUNTS, checks.CONTENT}


def take(db: PostgresView, **kw: Any) -> Snapshot:
    with db.connect() as conn:
        return checks.snapshot(conn, **kw)


def run(db: PostgresView, snap: Snapshot | None, **kw: Any) -> dict[str, checks.CheckResult]:
    with db.connect() as conn:
        return {r.name: r for r in checks.check_all(conn, snap, **kw)}


# -- the application schema -------------------------------------------------------------------


def test_app_schema_has_the_runbooks_keys(app_db: PostgresView) -> None:  # noqa: F811
    snap = take(app_db)
    counts = {t.name: t.rows for t in snap.tables.values()}
    assert counts == schema.row_counts_for(1)
    fks = {(fk.table, tuple(fk.columns), fk.ref_table) for fk in snap.foreign_keys}
    assert fks == {
        ("projects", ("user_id",), "users"),
        ("scenes", ("project_id",), "projects"),
        ("sessions", ("user_id",), "users"),
        ("orders", ("user_id",), "users"),
    }
    assert all(fk.validated and fk.enforced for fk in snap.foreign_keys)
    uniques = {(k.table, k.kind, tuple(k.expressions)) for k in snap.unique_keys}
    assert ("users", "unique constraint", ("email",)) in uniques
    assert ("sessions", "unique constraint", ("token",)) in uniques
    assert {t for t, kind, _ in uniques if kind == "primary key"} == set(schema.TABLES)
    assert {(s.table, s.column) for s in snap.sequences} == {(t, "id") for t in schema.TABLES}
    assert all(s.last_value == s.column_max for s in snap.sequences)
    # Every foreign-key column has a B-tree index; created_at is timestamptz NOT NULL.
    rows = app_db.execute(
        "SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]"
        " JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam"
        " WHERE am.amname = 'btree' AND c.relnamespace = 'public'::regnamespace"
    )
    indexed = {(t, c) for t, c in rows}
    assert {(fk.table, fk.columns[0]) for fk in snap.foreign_keys} <= indexed
    created = app_db.execute(
        "SELECT DISTINCT format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
        " WHERE attname = 'created_at' AND attrelid IN (SELECT oid FROM pg_class"
        " WHERE relnamespace = 'public'::regnamespace AND relkind = 'r')"
    )
    assert created == [("timestamp with time zone", True)]
    size_mb = app_db.execute("SELECT pg_database_size(current_database())")[0][0] / 1e6
    assert 10 < size_mb < 40, f"scale 1 is {size_mb:.1f} MB"


def test_load_is_deterministic(app_db: PostgresView, pg: PostgresView) -> None:  # noqa: F811
    """create_schema + load (constraints first) equals app_database (constraints after):
    same rows, same digests, same keys. A restore can be compared with a fresh load."""
    with pg.connect() as conn:
        schema.create_schema(conn)
        assert schema.load(conn, scale=1) == schema.row_counts_for(1)
    a, b = take(app_db), take(pg)
    assert {k: (t.rows, t.digest) for k, t in a.tables.items()} == {
        k: (t.rows, t.digest) for k, t in b.tables.items()
    }
    assert [(f.key, f.definition) for f in a.foreign_keys] == [
        (f.key, f.definition) for f in b.foreign_keys
    ]
    assert [k.definition for k in a.unique_keys] == [k.definition for k in b.unique_keys]


def test_app_database_creates_and_loads(pg_server: PostgresHandle) -> None:
    name = f"drill_app_{secrets.token_hex(3)}"
    try:
        assert schema.app_database(pg_server, name, scale=1) == name
        assert pg_server.execute("SELECT count(*) FROM scenes", dbname=name) == [(20_000,)]
    finally:
        pg_server.drop_database(name)
    with pytest.raises(ValueError, match="scale"):
        schema.row_counts_for(0)


def test_northwind_unconfigured_says_how_to_point_at_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The installed package looks nowhere by itself: only ``$DRILLBOOK_NORTHWIND``."""
    monkeypatch.delenv(schema.NORTHWIND_ENV, raising=False)
    with pytest.raises(schema.DatasetMissing, match="set DRILLBOOK_NORTHWIND="):
        schema.northwind_path()


def test_northwind_missing_is_a_clear_skip_reason(
    monkeypatch: pytest.MonkeyPatch, pg_server: PostgresHandle, tmp_path: Any
) -> None:
    monkeypatch.setenv(schema.NORTHWIND_ENV, str(tmp_path / "absent.sql"))
    with pytest.raises(schema.DatasetMissing, match="DRILLBOOK_NORTHWIND") as err:
        schema.load_northwind(pg_server, "never_created")
    assert str(tmp_path / "absent.sql") in str(err.value)
    assert not pg_server.execute("SELECT 1 FROM pg_database WHERE datname = 'never_created'")


# -- healthy: every check passes ----------------------------------------------------------------


def test_every_check_passes_on_healthy_app(app_db: PostgresView) -> None:  # noqa: F811
    snap = take(app_db)
    results = run(app_db, snap)
    assert set(results) == ALL
    assert [r for r in results.values() if not r.passed] == []
    assert all(r.ran for r in results.values())
    assert "4 foreign keys checked" in results[checks.ORPHANS].detail
    assert "7 unique keys checked" in results[checks.DUPLICATES].detail
    assert "5 tables identical" in results[checks.CONTENT].detail
    # The triage of a healthy database: nothing corrupt, nothing missing.
    verdict = _classify(app_db, snap)
    assert verdict.observed is Incident.DEGRADED, verdict.evidence


def test_every_check_passes_on_healthy_northwind(northwind_db: PostgresView) -> None:  # noqa: F811
    snap = take(northwind_db)
    assert len(snap.tables) == 14
    assert sum(t.rows for t in snap.tables.values()) > 3000
    # Composite keys (order_details), varchar keys, a self-reference (employees.reports_to).
    assert any(len(k.expressions) == 2 for k in snap.unique_keys)
    assert any(fk.table == fk.ref_table for fk in snap.foreign_keys)
    assert len(snap.foreign_keys) >= 10
    results = run(northwind_db, snap)
    assert set(results) == ALL
    assert [r for r in results.values() if not r.passed] == []
    assert _classify(northwind_db, snap).observed is Incident.DEGRADED


def test_snapshot_is_json_and_round_trips(app_db: PostgresView) -> None:  # noqa: F811
    snap = take(app_db)
    again = Snapshot.from_dict(json.loads(json.dumps(snap.to_dict())))
    assert again == snap
    assert not [r for r in run(app_db, again).values() if not r.passed]


def test_ledger_table_is_left_out_of_snapshots(app_db: PostgresView) -> None:  # noqa: F811
    app_db.execute("CREATE TABLE drill_ledger (seq bigint PRIMARY KEY, payload text NOT NULL)")
    snap = take(app_db)
    assert "public.drill_ledger" not in snap.tables
    app_db.execute("INSERT INTO drill_ledger SELECT g, 'w' FROM generate_series(1, 50) g")
    results = run(app_db, snap)
    assert [r.name for r in results.values() if not r.passed] == []
    assert "drill_ledger" not in results[checks.ROW_COUNTS].detail


def test_digest_row_limit_skips_large_tables(app_db: PostgresView) -> None:  # noqa: F811
    snap = take(app_db, digest_row_limit=5_000)
    digested = {t.name for t in snap.tables.values() if t.digest}
    assert digested == {"users", "projects"}
    with app_db.connect() as conn:
        (res,) = checks.content(conn, snap)
    assert res.passed and "not compared" in res.detail and "public.scenes" in res.detail
    none = take(app_db, digest_row_limit=10)
    with app_db.connect() as conn:
        (res,) = checks.content(conn, none)
    assert not res.passed and not res.ran and "digest_row_limit" in res.detail


def test_row_counts_at_least_allows_new_rows(app_db: PostgresView) -> None:  # noqa: F811
    snap = take(app_db)
    app_db.execute("INSERT INTO users (email, name) VALUES ('new@example.com', 'New')")
    with app_db.connect() as conn:
        (equal,) = checks.row_counts(conn, snap, expect="equal")
        (at_least,) = checks.row_counts(conn, snap, expect="at_least")
    assert not equal.passed and "public.users: 2001 rows, expected 2000 (+1)" in equal.detail
    assert at_least.passed
    assert equal.expected["public.users"] == 2000 and equal.actual["public.users"] == 2001


# -- the checks' own failure modes ----------------------------------------------------------------


def test_amcheck_unavailable_is_a_failed_check_not_an_error(app_db: PostgresView) -> None:  # noqa: F811
    role, password = f"drill_ro_{secrets.token_hex(3)}", secrets.token_hex(12)
    app_db.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        import psycopg

        with psycopg.connect(
            host=app_db.host,
            port=app_db.port,
            user=role,
            password=password,
            dbname=app_db.dbname,
            autocommit=True,
        ) as conn:
            results = checks.amcheck(conn)
    finally:
        app_db.execute(f"DROP ROLE {role}")
    assert [r.name for r in results] == [checks.AMCHECK, checks.AMCHECK_HEAP]
    for r in results:
        assert not r.passed and not r.ran
        assert r.detail.startswith("NOT RUN: amcheck not available: permission denied")


def test_heap_check_without_verify_heapam_is_not_run(app_db: PostgresView) -> None:  # noqa: F811
    """amcheck before 1.3 (PostgreSQL < 14) has no verify_heapam: the heap check says NOT
    RUN and fails the drill's validation; asked not to run it (heap=False), nothing is
    claimed and the rest passes."""
    snap = take(app_db)
    app_db.execute("DROP EXTENSION IF EXISTS amcheck")
    app_db.execute("CREATE EXTENSION amcheck VERSION '1.2'")  # bt_index_check, no heap
    with app_db.connect() as conn:
        btree, heap = checks.amcheck(conn)
    assert btree.passed and btree.ran
    assert not heap.passed and not heap.ran
    assert heap.detail.startswith("NOT RUN: verify_heapam not available")
    assert "heap=False" in heap.detail

    drill = Drill(DrillRecord(drill_id="heap", name="heap"))
    assert not checks.run_all(drill, app_db, snap)
    recorded = {c.name: c for c in drill.record.checks}
    assert not recorded[checks.AMCHECK_HEAP].passed
    assert recorded[checks.AMCHECK_HEAP].detail.startswith("NOT RUN")
    assert [c.name for c in drill.record.checks if not c.passed] == [checks.AMCHECK_HEAP]

    drill = Drill(DrillRecord(drill_id="no-heap", name="no-heap"))
    assert checks.run_all(drill, app_db, snap, heap=False)
    assert checks.AMCHECK_HEAP not in {c.name for c in drill.record.checks}


def test_foreign_keys_not_valid_or_disabled_fail(app_db: PostgresView) -> None:  # noqa: F811
    snap = take(app_db)
    app_db.execute("ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey")
    app_db.execute(
        "ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id)"
        " REFERENCES users (id) NOT VALID"
    )
    app_db.execute("ALTER TABLE scenes DISABLE TRIGGER ALL")
    with app_db.connect() as conn:
        (res,) = checks.foreign_keys(conn, snap)
    assert not res.passed
    assert res.actual["not_valid"] == ["public.orders.orders_user_id_fkey"]
    assert res.actual["disabled"] == ["public.scenes.scenes_project_id_fkey"]
    assert res.actual["changed"] == ["public.orders.orders_user_id_fkey"]  # NOT VALID shows
    app_db.execute("ALTER TABLE scenes ENABLE TRIGGER ALL")
    app_db.execute("ALTER TABLE orders VALIDATE CONSTRAINT orders_user_id_fkey")
    with app_db.connect() as conn:
        (res,) = checks.foreign_keys(conn, snap)
    assert res.passed, res.detail


def test_sequence_behind_max_fails(app_db: PostgresView) -> None:  # noqa: F811
    app_db.execute("SELECT setval('orders_id_seq', 9000)")
    app_db.execute("SELECT setval(pg_get_serial_sequence('users', 'id'), 10, false)")
    with app_db.connect() as conn:
        (res,) = checks.sequences(conn)
    assert not res.passed and res.actual == 2
    assert "public.orders_id_seq: next value 9001 but max(orders.id) = 10000" in res.detail
    assert "public.users_id_seq: next value 10 but max(users.id) = 2000" in res.detail
    # A sequence behind max(id) is not corruption of stored data: triage says degraded.
    assert _classify(app_db, None).observed is Incident.DEGRADED


# -- run_all inside a drill ---------------------------------------------------------------------


def _classify(db: PostgresView, snap: Snapshot | None) -> Any:
    from drillbook.triage import classify

    return classify(triage.probes(db, snap, dbname=db.dbname))


def _copy_table(src: PostgresView, dst: PostgresView, table: str) -> int:
    """Selective restore: stream one table's rows from a good copy back (COPY)."""
    n = 0
    with (
        src.connect() as s,
        dst.connect() as d,
        s.cursor().copy(f"COPY {table} TO STDOUT (FORMAT binary)") as out,
        d.cursor().copy(f"COPY {table} FROM STDIN (FORMAT binary)") as inp,
    ):
        for chunk in out:
            n += len(chunk)
            inp.write(chunk)
    return n


def test_run_all_in_a_drill(drill: Drill, app_db: PostgresView, pg_server: PostgresHandle) -> None:  # noqa: F811
    """DELETE without WHERE -> detected -> triage C -> copy the table back -> run_all."""
    backup = pg_server.with_database(f"drill_bk_{secrets.token_hex(3)}")
    pg_server.create_database(backup.dbname, template=app_db.dbname)
    try:
        snap = take(app_db)
        with drill.fault("DELETE FROM orders (no WHERE)"), app_db.connect() as conn:
            done = faults.delete_without_where(conn, "orders")
        assert done.rows == 10_000

        def orders_present() -> None:
            with app_db.connect() as conn:
                assert triage.missing_evidence(conn, snap) is None

        assert drill.detect(orders_present, name="row counts vs snapshot") is not None
        result = drill.triage(
            triage.probes(app_db, snap, dbname=app_db.dbname), expected=Incident.PARTIAL_LOSS
        )
        assert result.observed is Incident.PARTIAL_LOSS
        with drill.step("copy orders back from the backup", Phase.EXECUTION) as step:
            step.processed(_copy_table(backup, app_db, "orders"))
        assert checks.run_all(drill, app_db, snap, dbname=app_db.dbname) is True
    finally:
        pg_server.drop_database(backup.dbname)
    record = drill.record
    assert {c.name for c in record.checks} == ALL
    assert all(c.passed for c in record.checks)
    (checked,) = [s for s in record.steps if s.name == "integrity checks"]
    assert checked.phase == Phase.VALIDATION.value and checked.outcome == "ok"
    sql = [c.text for c in checked.commands if c.kind == "sql"]
    assert any("bt_index_check" in q for q in sql)
    assert any("LEFT JOIN" in q and '"scenes"' in q for q in sql)
    assert all(c.exit_status == 0 for c in checked.commands)


def test_run_all_records_failures(app_db: PostgresView) -> None:  # noqa: F811
    """The other direction, on a bare Drill (a failed check would fail a fixture drill)."""
    drill = Drill(DrillRecord(drill_id="t", name="t"))
    snap = take(app_db)
    with app_db.connect() as conn:
        faults.orphan_children(conn, "scenes", "project_id", 3)
    assert checks.run_all(drill, app_db, snap, dbname=app_db.dbname) is False
    failed = {c.name: c for c in drill.record.checks if not c.passed}
    assert set(failed) == {checks.ORPHANS, checks.CONTENT}
    assert failed[checks.ORPHANS].actual == 3 and failed[checks.ORPHANS].expected == 0
    assert "public.scenes.scenes_project_id_fkey: 3 orphaned rows" in failed[checks.ORPHANS].detail
    # A database that cannot be reached is a failed check, never an exception or a pass.
    drill2 = Drill(DrillRecord(drill_id="u", name="u"))
    assert checks.run_all(drill2, app_db, snap, dbname="no_such_db") is False
    assert [(c.name, c.passed) for c in drill2.record.checks] == [("connect", False)]
