"""Each fault does real damage, the check meant to find it fails, and triage picks the
runbook's procedure for it (runbooks/database-recovery.md: A corruption, B total loss,
C partial loss).

"Exactly the relevant check": every other structural check still passes. The snapshot
comparisons (row counts, content digests) see any change of data by design, so each test
states which of them a fault also trips (an UPDATE changes content; an INSERT changes
counts) or runs them in the mode that tolerates it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from drillbook.errors import DrillNotRun
from drillbook.fixtures.postgres import PostgresHandle, PostgresView
from drillbook.scenarios.postgres import checks, faults, schema, triage
from drillbook.scenarios.postgres.checks import Snapshot
from drillbook.scenarios.s3 import faults as s3_faults
from drillbook.triage import Incident, classify
from tests.scenarios import (  # noqa: F401  (fixtures)
    app_db,
    app_template,
    northwind_db,
    northwind_template,
)


def take(db: PostgresHandle, dbname: str | None = None) -> Snapshot:
    with db.connect(dbname) as conn:
        return checks.snapshot(conn)


def failures(
    db: PostgresHandle, snap: Snapshot, dbname: str | None = None, **kw: Any
) -> dict[str, checks.CheckResult]:
    with db.connect(dbname) as conn:
        return {r.name: r for r in checks.check_all(conn, snap, **kw) if not r.passed}


def incident(db: PostgresHandle, snap: Snapshot | None, dbname: str | None = None) -> Incident:
    result = classify(triage.probes(db, snap, dbname=dbname or db.dbname))
    return result.observed


# -- logical corruption -> procedure A ---------------------------------------------------------


def test_orphaned_children_fail_the_orphan_check(app_db: PostgresView) -> None:  # noqa: F811
    snap = take(app_db)
    with app_db.connect() as conn:
        done = faults.orphan_children(conn, "scenes", "project_id", 7)
    assert done.rows == 7 and done.details["constraint"] == "scenes_project_id_fkey"
    assert done.details["missing_parent"] == "5001"
    # The runbook's own query (runbooks/projects-corruption.md, "Data integrity") agrees.
    assert app_db.execute(
        "SELECT COUNT(*) FROM scenes WHERE project_id NOT IN (SELECT id FROM projects)"
    ) == [(7,)]
    failed = failures(app_db, snap)
    assert set(failed) == {checks.ORPHANS, checks.CONTENT}  # UPDATE: same counts
    assert failed[checks.ORPHANS].actual == 7
    assert incident(app_db, snap) is Incident.CORRUPTION


def test_orphans_on_northwind_varchar_key(northwind_db: PostgresView) -> None:  # noqa: F811
    snap = take(northwind_db)
    with northwind_db.connect() as conn:
        done = faults.orphan_children(conn, "orders", "customer_id", 3)
    assert done.rows == 3 and done.details["missing_parent"] == "~0"
    failed = failures(northwind_db, snap)
    assert set(failed) == {checks.ORPHANS, checks.CONTENT}
    assert "public.orders" in failed[checks.ORPHANS].detail
    assert incident(northwind_db, snap) is Incident.CORRUPTION


def test_duplicate_keys_after_dropped_constraint(app_db: PostgresView) -> None:  # noqa: F811
    snap = take(app_db)
    with app_db.connect() as conn:
        done = faults.duplicate_keys(conn, "orders", 5)
    assert done.rows == 5 and done.details["key"] == "orders_pkey"
    # INSERTed copies: counts grow, so compare counts as "at least" and leave content out.
    failed = failures(app_db, snap, expect_counts="at_least", compare_content=False)
    assert set(failed) == {checks.DUPLICATES}
    detail = failed[checks.DUPLICATES].detail
    assert "primary key public.orders.orders_pkey is gone" in detail
    assert "5 duplicated values, 5 extra rows" in detail
    assert failed[checks.DUPLICATES].actual == {
        "duplicated_values": 5,
        "missing_keys": ["public.orders.orders_pkey"],
    }
    assert incident(app_db, snap) is Incident.CORRUPTION


def test_duplicates_found_although_the_constraint_is_still_there(
    app_db: PostgresView,  # noqa: F811
) -> None:
    """The index stops enforcing uniqueness but stays (and the FK to it too): the GROUP BY
    on a sequential scan finds the copies; without a snapshot too."""
    snap = take(app_db)
    with app_db.connect() as conn:
        done = faults.duplicate_keys(conn, "projects", 4, method="disable_index")
        still = conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'projects_pkey'")
        assert still.fetchone() == (1,)
    assert done.rows == 4
    failed = failures(app_db, snap, expect_counts="at_least", compare_content=False)
    assert set(failed) == {checks.DUPLICATES}
    assert "not enforced" in failed[checks.DUPLICATES].detail
    with app_db.connect() as conn:
        (res,) = checks.duplicates(conn)  # no snapshot
    assert not res.passed and res.actual["duplicated_values"] == 4
    # Refused: dropping a referenced key needs CASCADE; copies would hit another key.
    with pytest.raises(ValueError, match=r"referenced by public\.scenes"), app_db.connect() as c:
        faults.duplicate_keys(c, "projects", 1)
    with pytest.raises(ValueError, match="also violate users_email_key"), app_db.connect() as c:
        faults.duplicate_keys(c, "users", 1, method="disable_index")


def test_duplicates_on_northwind_composite_key(northwind_db: PostgresView) -> None:  # noqa: F811
    snap = take(northwind_db)
    with northwind_db.connect() as conn:
        done = faults.duplicate_keys(conn, "order_details", 2)
    assert done.details["key"] == "pk_order_details"
    failed = failures(northwind_db, snap, expect_counts="at_least", compare_content=False)
    assert set(failed) == {checks.DUPLICATES}
    assert "(order_id, product_id): 2 duplicated values" in failed[checks.DUPLICATES].detail
    assert incident(northwind_db, snap) is Incident.CORRUPTION


def test_bad_update_fails_only_the_content_digest(app_db: PostgresView) -> None:  # noqa: F811
    snap = take(app_db)
    with app_db.connect() as conn:
        done = faults.bad_update(conn, "orders", "status", "refunded", where="id <= 100")
    assert done.rows == 100
    failed = failures(app_db, snap)
    assert set(failed) == {checks.CONTENT}
    assert failed[checks.CONTENT].actual["differs"] == ["public.orders"]
    assert incident(app_db, snap) is Incident.CORRUPTION


def test_bad_update_on_northwind(northwind_db: PostgresView) -> None:  # noqa: F811
    snap = take(northwind_db)
    with northwind_db.connect() as conn:
        done = faults.bad_update(conn, "products", "unit_price", 0)
    assert done.rows == 77
    assert set(failures(northwind_db, snap)) == {checks.CONTENT}
    assert incident(northwind_db, snap) is Incident.CORRUPTION


# -- partial loss -> procedure C ----------------------------------------------------------------


def test_dropped_tables_fail_row_counts(app_db: PostgresView) -> None:  # noqa: F811
    snap = take(app_db)
    with app_db.connect() as conn:
        done = faults.drop_tables(conn, ["users"])
    assert done.rows == {"public.users": 2000}
    assert sorted(done.foreign_keys_dropped) == [
        "public.orders.orders_user_id_fkey",
        "public.projects.projects_user_id_fkey",
        "public.sessions.sessions_user_id_fkey",
    ]
    failed = failures(app_db, snap)
    assert set(failed) == {checks.ROW_COUNTS, checks.CONTENT, checks.FOREIGN_KEYS}
    assert "public.users: table missing (2000 rows expected)" in failed[checks.ROW_COUNTS].detail
    assert len(failed[checks.FOREIGN_KEYS].actual["missing"]) == 3
    assert incident(app_db, snap) is Incident.PARTIAL_LOSS


def test_delete_without_where(app_db: PostgresView) -> None:  # noqa: F811
    snap = take(app_db)
    with app_db.connect() as conn:
        done = faults.delete_without_where(conn, "projects")
    assert done.rows == 5000
    failed = failures(app_db, snap)
    assert set(failed) == {checks.ROW_COUNTS, checks.CONTENT}
    # ON DELETE CASCADE took the scenes with their projects.
    assert "public.scenes: 0 rows, expected 20000" in failed[checks.ROW_COUNTS].detail
    assert incident(app_db, snap) is Incident.PARTIAL_LOSS


def test_delete_without_where_on_northwind(northwind_db: PostgresView) -> None:  # noqa: F811
    snap = take(northwind_db)
    with northwind_db.connect() as conn:
        faults.delete_without_where(conn, "order_details")
    assert set(failures(northwind_db, snap)) == {checks.ROW_COUNTS, checks.CONTENT}
    assert incident(northwind_db, snap) is Incident.PARTIAL_LOSS


# -- physical corruption -> procedure A; total loss -> procedure B ------------------------------


@pytest.fixture(scope="module")
def own_server(drill_backend: Any) -> Iterator[PostgresHandle]:
    """A server of this module's own: these faults stop, corrupt or wipe it."""
    handle: PostgresHandle = drill_backend.postgres(f"faults-{secrets.token_hex(2)}")
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture
def own_pg(own_server: Any) -> Iterator[tuple[Any, str]]:
    """The application database on :func:`own_server` (re-initialised if a test wiped it)."""
    own_server.recover_for_next_test()
    name = schema.app_database(own_server, f"app_{secrets.token_hex(3)}", scale=1)
    try:
        yield own_server, name
    finally:
        if own_server.is_healthy():
            own_server.drop_database(name)


def test_physical_corruption_fails_full_read_and_amcheck(
    own_pg: tuple[Any, str],
) -> None:
    handle, db = own_pg
    snap = take(handle, db)
    done = faults.physical_corruption(handle, db, "scenes", pages=2, seed=7)
    assert done.table == "public.scenes" and len(done.pages) == 2
    assert all(p.length == 64 for p in done.pages)
    assert handle.is_healthy()  # the server runs; the damage is in the data
    failed = failures(handle, snap, db)
    assert {checks.FULL_READ, checks.AMCHECK, checks.AMCHECK_HEAP} <= set(failed)
    for name in (checks.FULL_READ, checks.AMCHECK):
        assert "invalid page in block" in failed[name].detail
    assert set(failed[checks.FULL_READ].actual) == {"public.scenes"}  # the others read fine
    assert f"invalid page in block {done.blocks[0]} of relation" in (
        failed[checks.FULL_READ].detail
    )
    assert incident(handle, snap, db) is Incident.CORRUPTION
    # Without data checksums the damage would go unnoticed (or crash a backend): refused.
    handle.stop()
    handle.run_as_server_user(
        [handle.tool("pg_checksums"), "--disable", "-D", str(handle.data_dir)]
    )
    handle.start()
    with pytest.raises(DrillNotRun, match="needs data checksums"):
        faults.physical_corruption(handle, db, "orders")


def test_total_loss(own_server: PostgresHandle) -> None:
    handle, db = own_server, "postgres"
    handle.recover_for_next_test()
    handle.execute(
        "CREATE TABLE IF NOT EXISTS accounts AS SELECT g AS id FROM generate_series(1, 100) g"
    )
    snap = take(handle, db)
    assert incident(handle, snap, db) is Incident.DEGRADED
    done = faults.total_loss(handle)
    assert done.files_removed > 100 and done.bytes_removed > 10_000_000
    assert list(handle.data_dir.iterdir()) == []
    assert not handle.is_healthy()
    assert incident(handle, snap, db) is Incident.TOTAL_LOSS
    assert getattr(handle, "pid", None) is None  # no postmaster left


# -- backups in S3 damaged (S3 faults a PostgreSQL restore must survive) -----------------------


def test_s3_truncate_and_delete(s3: Any) -> None:
    client = s3.client()
    client.create_bucket(Bucket="backups")
    client.put_object(Bucket="backups", Key="dump/app.dump", Body=b"x" * 5000)
    done = s3_faults.truncate_object(client, "backups", "dump/app.dump", 1000)
    assert (done.size_before, done.size_after) == (5000, 1000)
    assert client.head_object(Bucket="backups", Key="dump/app.dump")["ContentLength"] == 1000

    client.put_bucket_versioning(Bucket="backups", VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket="backups", Key="wal/000000010000000000000003", Body=b"w" * 300)
    client.put_object(Bucket="backups", Key="wal/000000010000000000000003", Body=b"w" * 400)
    gone = s3_faults.delete_object(
        client, "backups", "wal/000000010000000000000003", all_versions=True
    )
    assert gone.size_before == 400 and gone.size_after is None and gone.versions_deleted == 2
    versions = client.list_object_versions(Bucket="backups", Prefix="wal/")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")
    client.put_object(Bucket="backups", Key="wal/x", Body=b"1")
    s3_faults.delete_object(client, "backups", "wal/x")
    with pytest.raises(client.exceptions.ClientError):
        client.head_object(Bucket="backups", Key="wal/x")
