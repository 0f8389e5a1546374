"""The content digest (issue 14's hash-sum) and the connection pool the checks run on.

The digest must stay a real content digest while getting cheaper: one changed row, one
deleted row, or two rows' values swapped change it (a swap keeps the row count and the
multiset of each column's values), and the same content restored elsewhere, in another
physical order, digests equal. A snapshot taken before issue 14 (md5-sorted, no
``digest_method`` key) still compares with its own method. The pool: checks really run
on several connections at once, and no connection outlives ``run_all`` or ``run_jobs``,
also when a job fails or the call is interrupted.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drillbook.drill import Drill
from drillbook.fixtures.postgres import PostgresView
from drillbook.record import DrillRecord
from drillbook.scenarios.postgres import checks
from drillbook.scenarios.postgres.checks import pool
from drillbook.scenarios.postgres.checks.model import DIGEST_MD5_SORTED
from tests.scenarios import app_db, app_template  # noqa: F401  (fixtures)

METHODS = [checks.DIGEST_HASH_SUM, DIGEST_MD5_SORTED]


def digest(db: PostgresView, table: str, method: str = checks.DIGEST_HASH_SUM) -> tuple[int, str]:
    with db.connect() as conn:
        return checks.table_digest(conn, "public", table, method=method)


def content_after(db: PostgresView, change: str) -> checks.CheckResult:
    """The content check after *change*, against a snapshot taken before it."""
    with db.connect() as conn:
        snap = checks.snapshot(conn)
        conn.execute(change)
        (result,) = checks.content(conn, snap)
    return result


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "change",
    [
        "UPDATE users SET name = name || 'x' WHERE id = 7",  # one changed row
        "DELETE FROM sessions WHERE id = 11",  # one deleted row (FK-free table)
        # two rows' values swapped: same multiset of names, same count
        "UPDATE users u SET name = o.name FROM users o WHERE (u.id, o.id) IN ((3, 4), (4, 3))",
    ],
    ids=["changed", "deleted", "swapped"],
)
def test_digest_sees_one_row(app_db: PostgresView, change: str, method: str) -> None:  # noqa: F811
    table = "sessions" if "sessions" in change else "users"
    before = digest(app_db, table, method)
    names = app_db.execute("SELECT name FROM users WHERE id IN (3, 4) ORDER BY id")
    assert names[0] != names[1], "the swap needs two different values"
    app_db.execute(change)
    after = digest(app_db, table, method)
    assert after != before
    if "o.name" in change:
        assert after[0] == before[0]  # the count alone cannot see a swap


def test_content_check_fails_on_the_changed_table_only(app_db: PostgresView) -> None:  # noqa: F811
    result = content_after(app_db, "UPDATE orders SET amount = amount + 0.01 WHERE id = 5")
    assert not result.passed and result.ran
    assert result.actual["differs"] == ["public.orders"]
    assert "public.orders: content differs" in result.detail


def test_same_content_restored_elsewhere_digests_equal(
    app_db: PostgresView,  # noqa: F811
    pg_factory: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """pg_dump to another server, and a copy written in the reverse physical order."""
    dump = tmp_path / "app.dump"
    env = {**os.environ, **app_db.env(), "PGDATABASE": app_db.dbname}
    subprocess.run([app_db.tool("pg_dump"), "-Fc", "-f", str(dump)], env=env, check=True)
    other = pg_factory("digest-elsewhere")
    other.create_database("restored")
    env = {**os.environ, **other.env(), "PGDATABASE": "restored"}
    subprocess.run(
        [other.tool("pg_restore"), "--no-owner", "-d", "restored", str(dump)], env=env, check=True
    )
    restored = other.with_database("restored")
    app_db.execute("CREATE TABLE users_reversed AS SELECT * FROM users ORDER BY id DESC")
    for method in METHODS:
        for table in ("users", "scenes", "orders"):
            assert digest(restored, table, method) == digest(app_db, table, method), table
        assert digest(app_db, "users_reversed", method) == digest(app_db, "users", method)
    with app_db.connect() as conn:
        snap = checks.snapshot(conn, exclude=("drill_ledger", "users_reversed"))
    with restored.connect() as conn:
        (result,) = checks.content(conn, snap)
    assert result.passed, result.detail


def test_snapshot_from_before_issue_14_compares_with_its_method(app_db: PostgresView) -> None:  # noqa: F811
    with app_db.connect() as conn:
        data = checks.snapshot(conn, digest=DIGEST_MD5_SORTED).to_dict()
    del data["digest_method"]  # as an older version wrote it
    old = checks.Snapshot.from_dict(data)
    assert old.digest_method == DIGEST_MD5_SORTED
    res = {r.name: r for r in run_checks(app_db, old)}
    assert res[checks.CONTENT].passed, res[checks.CONTENT].detail
    app_db.execute("UPDATE scenes SET title = title || '!' WHERE id = 1")
    res = {r.name: r for r in run_checks(app_db, old)}
    assert not res[checks.CONTENT].passed
    assert res[checks.CONTENT].actual["differs"] == ["public.scenes"]


def run_checks(db: PostgresView, snap: checks.Snapshot) -> list[checks.CheckResult]:
    with db.connect() as conn:
        return checks.check_all(conn, snap, connect=db.connect, workers=2)


def test_unknown_digest_method_says_which_exist(app_db: PostgresView) -> None:  # noqa: F811
    with app_db.connect() as conn, pytest.raises(ValueError, match="hash-sum-v1"):
        checks.table_digest(conn, "public", "users", method="crc")


# -- the pool -------------------------------------------------------------------------------


def backends(db: PostgresView) -> int:
    """Client connections to *db* other than the one asking."""
    rows = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )
    return int(rows[0][0])


def test_jobs_run_on_several_connections_at_once_and_all_close(app_db: PostgresView) -> None:  # noqa: F811
    before = backends(app_db)
    together = threading.Barrier(3, timeout=30)  # only passes with 3 jobs running at once

    def job(conn: Any) -> int:
        together.wait()
        (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()
        return int(pid)

    def failing(conn: Any) -> None:
        conn.execute("SELECT 1/0")

    with app_db.connect() as conn:
        out = pool.run_jobs(conn, [job, job, job, failing], app_db.connect, 3)
    assert len(set(out[:3])) == 3
    assert isinstance(out[3], Exception) and "division by zero" in str(out[3])
    assert backends(app_db) == before


def test_interrupted_pool_cancels_and_closes_its_connections(app_db: PostgresView) -> None:  # noqa: F811
    before = backends(app_db)
    started = threading.Barrier(2, timeout=30)

    def job(conn: Any) -> None:
        started.wait()  # both jobs running: Ctrl-C reaches the calling thread only
        if threading.current_thread() is threading.main_thread():
            raise KeyboardInterrupt
        conn.execute("SELECT pg_sleep(60)")  # cancelled by the pool, not waited for

    with app_db.connect() as conn, pytest.raises(KeyboardInterrupt):
        pool.run_jobs(conn, [job, job], app_db.connect, 2)
    assert backends(app_db) == before


def test_run_all_leaves_no_connection_open(app_db: PostgresView) -> None:  # noqa: F811
    with app_db.connect() as conn:
        snap = checks.snapshot(conn)
    before = backends(app_db)
    drill = Drill(DrillRecord("pool", "test"))
    try:
        assert checks.run_all(drill, app_db, snap, dbname=app_db.dbname, workers=3)
        app_db.execute("DELETE FROM sessions WHERE id = 2")
        assert not checks.run_all(drill, app_db, snap, dbname=app_db.dbname, workers=3)
    finally:
        drill.close()
    assert backends(app_db) == before
    step = drill.record.steps[0]
    assert step.bytes_processed and step.bytes_processed == step.notes["database_bytes"]
    failed = {c.name for c in drill.record.checks if not c.passed}
    assert failed == {checks.ROW_COUNTS, checks.CONTENT}
