"""Integrity checks for the validation phase, generic over any schema (read from the catalogs).

The runbooks check a restore with hand-written SQL for their own tables
(runbooks/projects-corruption.md, "Data integrity"; runbooks/object-storage.md, "Verify
the restore"):

    SELECT COUNT(*) FROM scenes WHERE project_id NOT IN (SELECT id FROM projects);
    SELECT project_id, COUNT(*) FROM projects GROUP BY project_id HAVING COUNT(*) > 1;
    SELECT conname, conrelid::regclass FROM pg_constraint WHERE contype = 'f';

Here each of those is derived for every table from ``pg_constraint``/``pg_index``, so the
same checks run on the application schema, on northwind and on a schema a team wrote:

- :func:`orphans`: every foreign key (multi-column too), child rows without a parent.
- :func:`duplicates`: every primary key, unique constraint and unique index, by a GROUP BY
  on a forced sequential scan (a corrupt or dropped index cannot hide duplicates), plus
  keys of the snapshot that are gone or no longer enforced.
- :func:`foreign_keys`: every foreign key of the snapshot present, validated, enforced.
- :func:`sequences`: every column-owned sequence ahead of the column's max.
- :func:`amcheck`: ``bt_index_check(heapallindexed => true)`` on every B-tree index and
  ``verify_heapam`` on every table (:func:`verify_heap`).
- :func:`full_read`: every column of every row read, so a checksum failure ("invalid page
  in block") surfaces as a failed check with the server's error text.
- :func:`row_counts` and :func:`content`: exact counts and content digests against a
  :class:`Snapshot` taken before the fault (:func:`snapshot`).

Issue 14 made validation scale: the digest is a sum of a 64-bit hash per row computed by
the server in one sequential pass (no sort, no per-row md5), that pass is shared by the
full read, the row counts and the content comparison (each table is read once), GROUP BYs
sort instead of spilling a hash, and :func:`run_all` runs the checks on a small pool of
connections (:mod:`.pool`, 2 by default).

Each check works standalone on a psycopg connection and returns a list of
:class:`CheckResult`; :func:`run_all` runs them all in one recorded validation step of a
drill. A check that could not run (amcheck missing, a table unreadable) is a failed
result whose detail starts with NOT RUN, never a pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drillbook.record import Phase
from drillbook.scenarios.common import first_line
from drillbook.scenarios.postgres.checks import pool
from drillbook.scenarios.postgres.checks.catalog import Db as _Db
from drillbook.scenarios.postgres.checks.catalog import (
    SqlRecorder,
    list_foreign_keys,
    list_tables,
    list_unique_keys,
    snapshot,
    table_count,
    table_digest,
    table_exists,
)
from drillbook.scenarios.postgres.checks.compare import content, row_counts
from drillbook.scenarios.postgres.checks.model import (
    AMCHECK,
    AMCHECK_HEAP,
    CONTENT,
    DIGEST_HASH_SUM,
    DIGEST_MD5_SORTED,
    DUPLICATES,
    FOREIGN_KEYS,
    FULL_READ,
    ORPHANS,
    ROW_COUNTS,
    SEQUENCES,
    CheckResult,
    ExpectCounts,
    Reads,
    Snapshot,
    TableRead,
    not_run,
)
from drillbook.scenarios.postgres.checks.storage import amcheck, full_read, read_table, verify_heap
from drillbook.scenarios.postgres.checks.structure import (
    duplicates,
    foreign_keys,
    orphans,
    sequences,
)

__all__ = [
    "AMCHECK",
    "AMCHECK_HEAP",
    "CONTENT",
    "DIGEST_HASH_SUM",
    "DIGEST_MD5_SORTED",
    "DUPLICATES",
    "FOREIGN_KEYS",
    "FULL_READ",
    "ORPHANS",
    "ROW_COUNTS",
    "SEQUENCES",
    "CheckResult",
    "Reads",
    "Snapshot",
    "SqlRecorder",
    "TableRead",
    "amcheck",
    "check_all",
    "content",
    "duplicates",
    "foreign_keys",
    "full_read",
    "list_foreign_keys",
    "list_tables",
    "list_unique_keys",
    "not_run",
    "orphans",
    "read_table",
    "row_counts",
    "run_all",
    "sequences",
    "snapshot",
    "table_count",
    "table_digest",
    "table_exists",
    "verify_heap",
]

Conn = Any  # a psycopg connection or a SqlRecorder
DEFAULT_WORKERS = 2  # connections run_all validates with: a small pool, bounded


def _guarded(name: str, fn: Callable[[], list[CheckResult]]) -> list[CheckResult]:
    """A check that raised (lost connection ...) is NOT RUN with the error."""
    try:
        return fn()
    except Exception as exc:
        return _outcome(name, exc)


def check_all(
    conn: Conn,
    snapshot: Snapshot | None = None,
    *,
    expect_counts: ExpectCounts | None = "equal",
    compare_content: bool | None = None,
    heap: bool = True,
    connect: Callable[[], Conn] | None = None,
    workers: int = 1,
) -> list[CheckResult]:
    """Every check on *conn*, in the runbook's order; records nothing (see :func:`run_all`).

    *snapshot*: the state before the fault; without one only the structural and storage
    checks run. *expect_counts*: ``"equal"``, ``"at_least"`` (writes after the snapshot
    allowed) or None (no count comparison). *compare_content* defaults to
    ``expect_counts == "equal"`` (with writes allowed after the snapshot, digests would
    differ by design). *heap*: also ``verify_heapam`` on every table.

    Each table is read once (:func:`~.storage.read_table`): that pass is the full read and
    gives the exact counts and the digests the comparisons use. With *connect* (a
    function returning a new connection to the same database) up to *workers*
    connections run the passes and the other checks side by side (:mod:`.pool`).
    """
    if compare_content is None:
        compare_content = expect_counts == "equal"
    method = snapshot.digest_method if snapshot is not None else DIGEST_HASH_SUM
    try:
        tables = _largest_first(conn)
    except Exception:
        tables = []  # each check below reports why it could not run
    plan: list[tuple[str, Callable[[Conn], list[CheckResult]]]] = [
        (ORPHANS, orphans),
        (DUPLICATES, lambda c: duplicates(c, snapshot)),
        (FOREIGN_KEYS, lambda c: foreign_keys(c, snapshot)),
        (SEQUENCES, sequences),
        (AMCHECK, lambda c: amcheck(c, heap=heap)),
    ]
    passes = [(f"{schema}.{name}", _pass(schema, name, method)) for schema, name in tables]
    checks = dict(plan)
    # Longest first: the largest table's pass, then duplicates and amcheck, then the rest.
    first, last = [DUPLICATES, AMCHECK], [ORPHANS, FOREIGN_KEYS, SEQUENCES]
    jobs = [*passes[:1], *((n, checks[n]) for n in first), *passes[1:]]
    jobs += [(n, checks[n]) for n in last]
    done = pool.run_jobs(conn, [fn for _, fn in jobs], connect, workers)
    outcome = {k: r for (k, _), r in zip(jobs, done, strict=True)}
    # Table keys are "schema.table"; check names have no dot, so the two never collide.
    reads: Reads = {k: r for k, r in outcome.items() if isinstance(r, TableRead)}
    results: list[CheckResult] = []
    for name, _ in plan:
        results += _outcome(name, outcome[name])
    results += _guarded(FULL_READ, lambda: full_read(conn, reads=reads))
    if snapshot is not None and expect_counts is not None:
        mode: ExpectCounts = expect_counts
        results += _guarded(
            ROW_COUNTS, lambda: row_counts(conn, snapshot, expect=mode, reads=reads)
        )
    if snapshot is not None and compare_content:
        results += _guarded(CONTENT, lambda: content(conn, snapshot, reads=reads))
    return results


def _pass(schema: str, name: str, method: str) -> Callable[[Conn], TableRead]:
    return lambda c: read_table(c, schema, name, method)


def _largest_first(conn: Conn) -> list[tuple[str, str]]:
    """Every table (:func:`list_tables`), the largest on disk first."""
    tables = list_tables(conn)
    sizes = dict(
        (f"{s}.{n}", int(z))
        for s, n, z in _Db(conn).rows(
            "SELECT n.nspname, c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r'"
        )
    )
    return sorted(tables, key=lambda t: -sizes.get(f"{t[0]}.{t[1]}", 0))


def _outcome(name: str, result: Any) -> list[CheckResult]:
    """A pool job's result; one that raised (lost connection ...) is NOT RUN with the error."""
    if isinstance(result, Exception):
        return [
            not_run(name, f"check could not run: {type(result).__name__}: {first_line(result)}")
        ]
    return list(result)


def _database_size(conn: Any, ctx: Any) -> None:
    """The bytes the validation reads: ``pg_database_size``, recorded on the step."""
    try:
        (size,) = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    except Exception:
        return  # the checks will say why the database cannot be read
    ctx.processed(int(size))
    ctx.note("database_bytes", int(size))


def run_all(
    drill: Any,
    handle: Any,
    snapshot: Snapshot | None,
    *,
    dbname: str | None = None,
    expect_counts: ExpectCounts | None = "equal",
    compare_content: bool | None = None,
    heap: bool = True,
    label: str | None = None,
    step_name: str = "integrity checks",
    workers: int = DEFAULT_WORKERS,
) -> bool:
    """Every check of :func:`check_all` against the restored database, as the drill's
    validation: True when all passed.

    *handle*: the server the recovery produced (a restored server, a promoted standby);
    *dbname* defaults to the snapshot's database (the name restored into), else the
    handle's; *label* prefixes the check names (two databases in one drill); the other
    parameters are :func:`check_all`'s; *workers*: connections running checks side by
    side (1: one connection, one check after the other).

    Records one VALIDATION step named *step_name* holding every SQL statement the checks
    ran, the database's size as the bytes it processed (so the RTO projection scales the
    validation with the data, :mod:`drillbook.projection`), and one ``drill.check`` per
    result (a failed or NOT RUN check fails the drill). A database it cannot connect to
    is a NOT RUN "connect" check.
    """
    db = dbname or (snapshot.database if snapshot is not None else handle.dbname)
    prefix = f"{label}: " if label else ""
    with drill.step(step_name, Phase.VALIDATION) as ctx:
        ctx.note("database", db)
        try:
            conn = handle.connect(db)
        except Exception as exc:
            results = [not_run("connect", f"cannot connect to database {db!r}: {first_line(exc)}")]
        else:
            with conn:
                _database_size(conn, ctx)
                results = check_all(
                    SqlRecorder(conn, ctx),
                    snapshot,
                    expect_counts=expect_counts,
                    compare_content=compare_content,
                    heap=heap,
                    connect=lambda: SqlRecorder(handle.connect(db), ctx),
                    workers=workers,
                )
        for r in results:
            drill.check(prefix + r.name, r.passed, r.detail, expected=r.expected, actual=r.actual)
        ctx.note("checks", {prefix + r.name: r.passed for r in results})
    return all(r.passed for r in results)
