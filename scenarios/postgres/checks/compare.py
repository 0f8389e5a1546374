"""Comparisons with the :class:`~.model.Snapshot` taken before the fault: exact row
counts, and content digests of every table small enough to hash."""

from __future__ import annotations

import psycopg

from drillbook.scenarios.common import first_line
from drillbook.scenarios.postgres.checks.catalog import (
    Conn,
    list_tables,
    table_count,
    table_digest,
    table_exists,
)
from drillbook.scenarios.postgres.checks.model import (
    CONTENT,
    ROW_COUNTS,
    CheckResult,
    ExpectCounts,
    Reads,
    Snapshot,
    TableRead,
    not_run,
)


def _done(reads: Reads | None, key: str, method: str | None = None) -> TableRead | None:
    """The pass already made over *key* (by *method*, if given), unless it failed: a
    failed pass is redone by the check itself, so its own error is what it reports."""
    r = (reads or {}).get(key)
    if r is None or r.error is not None or (method is not None and r.method != method):
        return None
    return r


def row_counts(
    conn: Conn,
    snapshot: Snapshot,
    *,
    expect: ExpectCounts = "equal",
    reads: Reads | None = None,
) -> list[CheckResult]:
    """Exact row counts on *conn* against *snapshot*: *expect* ``equal``, or ``at_least``
    (writes after the snapshot are allowed). A table of the snapshot that is gone counts
    as 0 rows; tables the snapshot does not know are named in the detail. *reads*: passes
    already made over the tables (``check_all``), whose exact counts are used."""
    expected: dict[str, int] = {}
    actual: dict[str, int | None] = {}
    problems: list[str] = []
    for key, t in snapshot.tables.items():
        expected[key] = t.rows
        done = _done(reads, key)
        try:
            if done is not None:
                n = done.rows
            elif not table_exists(conn, t.schema, t.name):
                actual[key] = None
                problems.append(f"{key}: table missing ({t.rows} rows expected)")
                continue
            else:
                n = table_count(conn, t.schema, t.name)
        except psycopg.Error as exc:
            actual[key] = None
            problems.append(f"{key}: could not count ({first_line(exc)})")
            continue
        actual[key] = n
        if (expect == "equal" and n != t.rows) or (expect == "at_least" and n < t.rows):
            problems.append(
                f"{key}: {n} rows, expected {'' if expect == 'equal' else '>= '}"
                f"{t.rows} ({n - t.rows:+d})"
            )
    current = {f"{s}.{n}" for s, n in list_tables(conn, exclude=snapshot.excluded)}
    new = sorted(current - set(snapshot.tables))
    detail = "; ".join(problems) or (
        f"{len(snapshot.tables)} tables, {sum(v or 0 for v in actual.values())} rows"
        f" ({expect.replace('_', ' ')} the snapshot)"
    )
    if new:
        detail += f" (tables not in the snapshot: {', '.join(new)})"
    return [CheckResult(ROW_COUNTS, not problems, detail, expected=expected, actual=actual)]


def content(conn: Conn, snapshot: Snapshot, *, reads: Reads | None = None) -> list[CheckResult]:
    """Each table's content digest on *conn* equals *snapshot*'s (tables the snapshot has
    a digest for; larger ones are listed as not compared, and a snapshot without any
    digest makes the check NOT RUN), computed by the snapshot's digest method. *reads*:
    passes already made (``check_all``); their digests are used when of that method."""
    problems: list[str] = []
    compared = 0
    skipped = [k for k, t in snapshot.tables.items() if t.digest is None]
    differs: list[str] = []
    for key, t in snapshot.tables.items():
        if t.digest is None:
            continue
        done = _done(reads, key, snapshot.digest_method)
        try:
            if done is not None:
                n, digest = done.rows, done.digest
            elif not table_exists(conn, t.schema, t.name):
                problems.append(f"{key}: table missing")
                differs.append(key)
                continue
            else:
                n, digest = table_digest(conn, t.schema, t.name, method=snapshot.digest_method)
        except psycopg.Error as exc:
            problems.append(f"{key}: could not read ({first_line(exc)})")
            differs.append(key)
            continue
        compared += 1
        if digest != t.digest:
            differs.append(key)
            problems.append(f"{key}: content differs ({n} rows now, {t.rows} in the snapshot)")
    if not compared and not problems:
        return [
            not_run(
                CONTENT,
                f"no table digest in the snapshot (all {len(skipped)} tables above "
                f"digest_row_limit={snapshot.digest_row_limit}): raise the limit or leave the "
                "content check out",
            )
        ]
    detail = "; ".join(problems) or f"{compared} tables identical to the snapshot"
    if skipped:
        detail += f" (not compared, above {snapshot.digest_row_limit} rows: {', '.join(skipped)})"
    return [
        CheckResult(
            CONTENT,
            not problems,
            detail,
            expected="identical",
            actual={"differs": differs, "compared": compared, "skipped": skipped},
        )
    ]
