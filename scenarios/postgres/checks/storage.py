"""Checks of the data pages themselves: amcheck on every B-tree index and heap, and a
full read of every row (a checksum failure surfaces as the server's error text)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import psycopg

from drillbook.scenarios.common import first_line
from drillbook.scenarios.postgres.checks.catalog import (
    USER_SCHEMA,
    Conn,
    Db,
    ident,
    list_tables,
    literal,
    qualified,
    table_digest,
)
from drillbook.scenarios.postgres.checks.model import (
    AMCHECK,
    AMCHECK_HEAP,
    DIGEST_HASH_SUM,
    FULL_READ,
    CheckResult,
    Reads,
    TableRead,
    not_run,
)


def _amcheck_schema(db: Db) -> tuple[str | None, str]:
    """Install amcheck if needed; (schema of its functions, or None, and why not).

    CREATE EXTENSION only when it is missing: on a hot standby (read-only) even
    ``IF NOT EXISTS`` fails, while the extension replicated from the primary is usable.
    """
    query = (
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'amcheck'"
    )
    row = db.one(query)
    if row is None:
        try:
            with db.tx():
                db.rows("CREATE EXTENSION IF NOT EXISTS amcheck")
        except psycopg.Error as exc:
            return None, first_line(exc)
        row = db.one(query)
    return (str(row[0]), "") if row else (None, "extension not installed")


def amcheck(conn: Conn, *, heap: bool = True) -> list[CheckResult]:
    """amcheck's verdict on the data pages.

    ``bt_index_check(heapallindexed => true)`` on every valid B-tree index of the user
    schemas; with *heap* also ``verify_heapam`` on every table (:func:`verify_heap`).
    *conn*: a psycopg connection, or a :class:`~.catalog.SqlRecorder` to record every
    statement in a drill step. Installs the extension when it is missing (superuser).
    Returns one result per check; amcheck missing makes both NOT RUN (failed, ``ran``
    False, the detail saying how to get it): a check that could not run never passes.
    """
    db = Db(conn)
    schema, why = _amcheck_schema(db)
    if schema is None:
        reason = (
            f"amcheck not available: {why}. It ships with the PostgreSQL server (contrib: "
            "postgresql-contrib on older Debian/Ubuntu) and CREATE EXTENSION needs a superuser"
        )
        names = [AMCHECK, AMCHECK_HEAP] if heap else [AMCHECK]
        return [not_run(name, reason, expected="no errors") for name in names]
    indexes = db.rows(
        "SELECT n.nspname, ic.relname FROM pg_index i"
        " JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam"
        " JOIN pg_namespace n ON n.oid = ic.relnamespace"
        " WHERE am.amname = 'btree' AND ic.relkind = 'i' AND ic.relpersistence <> 't'"
        " AND i.indisvalid AND i.indisready AND " + USER_SCHEMA.format(n="n") + " ORDER BY 1, 2"
    )
    query = f"SELECT {ident(schema)}.bt_index_check({{}}::regclass, heapallindexed => true)"

    def check(rel: str) -> str:
        db.rows(query.format(literal(rel)))  # an error is its finding
        return ""

    errors = _each_relation(db, indexes, check)
    results = [_result(AMCHECK, errors, f"{len(indexes)} B-tree indexes checked (heapallindexed)")]
    if heap:
        results.append(verify_heap(conn, schema))
    return results


def verify_heap(conn: Conn, amcheck_schema: str) -> CheckResult:
    """``verify_heapam`` (amcheck 1.3, PostgreSQL 14+) on every table of the user schemas.

    *amcheck_schema* is the schema the amcheck extension lives in. Without
    ``verify_heapam`` there (an older amcheck) the result is NOT RUN, never a pass: pass
    ``heap=False`` to :func:`amcheck` / ``run_all`` to rely on the full read alone.
    """
    db = Db(conn)
    has = db.one(
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE p.proname = 'verify_heapam' AND n.nspname = %s",
        (amcheck_schema,),
    )
    if not has or not has[0]:
        return not_run(
            AMCHECK_HEAP,
            f"verify_heapam not available in schema {amcheck_schema!r} (amcheck < 1.3, "
            "PostgreSQL < 14): run the checks with heap=False to rely on the full read alone",
            expected="no errors",
            actual="not available",
        )
    tables = list_tables(conn)
    query = (
        f"SELECT blkno, offnum, msg FROM {ident(amcheck_schema)}.verify_heapam({{}}::regclass)"
        " LIMIT 5"
    )

    def verify(rel: str) -> str:
        rows = db.rows(query.format(literal(rel)))
        return "; ".join(f"block {r[0]} offset {r[1]}: {r[2]}" for r in rows)

    problems = _each_relation(db, tables, verify)
    return _result(AMCHECK_HEAP, problems, f"{len(tables)} tables checked with verify_heapam")


def read_table(conn: Conn, schema: str, name: str, method: str = DIGEST_HASH_SUM) -> TableRead:
    """Every column of every row of *schema*.*name* read once, sequentially: its rows and
    content digest (:func:`~.catalog.table_digest`), or the server's error text (a damaged
    page: "invalid page in block N of relation ...")."""
    try:
        rows, digest = table_digest(conn, schema, name, method=method)
    except psycopg.Error as exc:
        return TableRead(method=method, error=first_line(exc))
    return TableRead(rows, digest, method)


def full_read(
    conn: Conn, *, exclude: Iterable[str] = (), reads: Reads | None = None
) -> list[CheckResult]:
    """Read every column of every row of every table (TOAST included), sequentially.

    With data checksums on, a damaged page fails the read with "invalid page in block N
    of relation ..."; that text is the check's detail. *exclude*: table names (or
    ``schema.table``) left out. *reads*: passes already made (:func:`read_table`, as
    ``check_all`` does to share them with the row counts and digests); a table without
    one is read here.
    """
    tables = list_tables(conn, exclude=exclude)
    rows_read = 0
    errors: dict[str, str] = {}
    for schema, name in tables:
        key = f"{schema}.{name}"
        done = (reads or {}).get(key) or read_table(conn, schema, name)
        if done.error is not None:
            errors[key] = done.error
        else:
            rows_read += done.rows
    return [_result(FULL_READ, errors, f"{len(tables)} tables, {rows_read} rows read")]


def _each_relation(
    db: Db,
    relations: Iterable[tuple[str, str]],
    run: Callable[[str], str],
    *,
    settings: tuple[str, ...] = (),
) -> dict[str, str]:
    """*run* on each (schema, name), in its own transaction: what it reports, or the
    server's error, per relation that has a problem."""
    problems: dict[str, str] = {}
    for schema, name in relations:
        try:
            with db.tx(*settings):
                found = run(qualified(schema, name))
        except psycopg.Error as exc:
            found = first_line(exc)
        if found:
            problems[f"{schema}.{name}"] = found
    return problems


def _result(name: str, problems: dict[str, str], checked: str) -> CheckResult:
    detail = "; ".join(f"{k}: {v}" for k, v in problems.items()) or f"{checked}, no corruption"
    return CheckResult(
        name, not problems, detail, expected="no errors", actual=problems or "no errors"
    )
