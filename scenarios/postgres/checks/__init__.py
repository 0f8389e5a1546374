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
    DUPLICATES,
    FOREIGN_KEYS,
    FULL_READ,
    ORPHANS,
    ROW_COUNTS,
    SEQUENCES,
    CheckResult,
    ExpectCounts,
    Snapshot,
    not_run,
)
from drillbook.scenarios.postgres.checks.storage import amcheck, full_read, verify_heap
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
    "DUPLICATES",
    "FOREIGN_KEYS",
    "FULL_READ",
    "ORPHANS",
    "ROW_COUNTS",
    "SEQUENCES",
    "CheckResult",
    "Snapshot",
    "SqlRecorder",
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


def _guarded(name: str, fn: Callable[[], list[CheckResult]]) -> list[CheckResult]:
    """A check that raised (lost connection ...) is NOT RUN with the error."""
    try:
        return fn()
    except Exception as exc:
        return [not_run(name, f"check could not run: {type(exc).__name__}: {first_line(exc)}")]


def check_all(
    conn: Conn,
    snapshot: Snapshot | None = None,
    *,
    expect_counts: ExpectCounts | None = "equal",
    compare_content: bool | None = None,
    heap: bool = True,
) -> list[CheckResult]:
    """Every check on *conn*, in the runbook's order; records nothing (see :func:`run_all`).

    *snapshot*: the state before the fault; without one only the structural and storage
    checks run. *expect_counts*: ``"equal"``, ``"at_least"`` (writes after the snapshot
    allowed) or None (no count comparison). *compare_content* defaults to
    ``expect_counts == "equal"`` (with writes allowed after the snapshot, digests would
    differ by design). *heap*: also ``verify_heapam`` on every table.
    """
    if compare_content is None:
        compare_content = expect_counts == "equal"
    plan: list[tuple[str, Callable[[], list[CheckResult]]]] = [
        (ORPHANS, lambda: orphans(conn)),
        (DUPLICATES, lambda: duplicates(conn, snapshot)),
        (FOREIGN_KEYS, lambda: foreign_keys(conn, snapshot)),
        (SEQUENCES, lambda: sequences(conn)),
        (AMCHECK, lambda: amcheck(conn, heap=heap)),
        (FULL_READ, lambda: full_read(conn)),
    ]
    if snapshot is not None and expect_counts is not None:
        counts_mode: ExpectCounts = expect_counts
        plan.append((ROW_COUNTS, lambda: row_counts(conn, snapshot, expect=counts_mode)))
    if snapshot is not None and compare_content:
        plan.append((CONTENT, lambda: content(conn, snapshot)))
    results: list[CheckResult] = []
    for name, fn in plan:
        results += _guarded(name, fn)
    return results


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
) -> bool:
    """Every check of :func:`check_all` against the restored database, as the drill's
    validation: True when all passed.

    *handle*: the server the recovery produced (a restored server, a promoted standby);
    *dbname* defaults to the snapshot's database (the name restored into), else the
    handle's; *label* prefixes the check names (two databases in one drill); the other
    parameters are :func:`check_all`'s.

    Records one VALIDATION step named *step_name* holding every SQL statement the checks
    ran, and one ``drill.check`` per result (a failed or NOT RUN check fails the drill).
    A database it cannot connect to is a NOT RUN "connect" check.
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
                results = check_all(
                    SqlRecorder(conn, ctx),
                    snapshot,
                    expect_counts=expect_counts,
                    compare_content=compare_content,
                    heap=heap,
                )
        for r in results:
            drill.check(prefix + r.name, r.passed, r.detail, expected=r.expected, actual=r.actual)
        ctx.note("checks", {prefix + r.name: r.passed for r in results})
    return all(r.passed for r in results)
