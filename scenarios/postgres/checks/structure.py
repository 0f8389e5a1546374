"""Structural checks, for every key the catalogs list: orphaned rows, duplicate keys,
foreign keys present and enforced, sequences ahead of their columns."""

from __future__ import annotations

import psycopg

from drillbook.scenarios.common import first_line
from drillbook.scenarios.postgres.checks.catalog import (
    SEQSCAN_SETTINGS,
    Conn,
    Db,
    ident,
    list_foreign_keys,
    list_unique_keys,
    owned_sequences,
    qualified,
    sequence_state,
    table_exists,
)
from drillbook.scenarios.postgres.checks.model import (
    DUPLICATES,
    FOREIGN_KEYS,
    ORPHANS,
    SEQUENCES,
    CheckResult,
    Snapshot,
    UniqueKey,
)


def orphans(conn: Conn) -> list[CheckResult]:
    """Child rows whose foreign key points at no parent row, for every foreign key.

    The runbook's ``SELECT COUNT(*) FROM scenes WHERE project_id NOT IN (SELECT id FROM
    projects)`` is the single-column case of this anti-join. Rows with a NULL in the key
    are not orphans (MATCH SIMPLE); under MATCH FULL a partly NULL key is one.
    """
    db = Db(conn)
    fks = list_foreign_keys(conn)
    counts: dict[str, int] = {}
    errors: dict[str, str] = {}
    for fk in fks:
        child = qualified(fk.schema, fk.table)
        parent = qualified(fk.ref_schema, fk.ref_table)
        on = " AND ".join(
            f"p.{ident(pc)} = c.{ident(cc)}"
            for cc, pc in zip(fk.columns, fk.ref_columns, strict=True)
        )
        not_null = " AND ".join(f"c.{ident(cc)} IS NOT NULL" for cc in fk.columns)
        query = (
            f"SELECT count(*) FROM {child} c LEFT JOIN {parent} p ON {on}"
            f" WHERE p.{ident(fk.ref_columns[0])} IS NULL AND {not_null}"
        )
        try:
            with db.tx(SEQSCAN_SETTINGS):
                (n,) = db.one(query)
                if fk.match_full and len(fk.columns) > 1:
                    cols = ", ".join(f"c.{ident(cc)}" for cc in fk.columns)
                    (partial,) = db.one(
                        f"SELECT count(*) FROM {child} c"
                        f" WHERE num_nulls({cols}) BETWEEN 1 AND {len(fk.columns) - 1}"
                    )
                    n += partial
            counts[fk.key] = int(n)
        except psycopg.Error as exc:
            errors[fk.key] = first_line(exc)
    bad = {k: v for k, v in counts.items() if v}
    total = sum(bad.values())
    parts = [f"{k}: {v} orphaned rows" for k, v in bad.items()]
    parts += [f"{k}: could not check ({e})" for k, e in errors.items()]
    detail = "; ".join(parts) or f"{len(fks)} foreign keys checked, no orphaned rows"
    by_name = {fk.key: fk.describe() for fk in fks}
    if bad:
        detail += " [" + "; ".join(f"{k} = {by_name[k]}" for k in bad) + "]"
    return [
        CheckResult(
            ORPHANS,
            not bad and not errors,
            detail,
            expected=0,
            actual=total if not errors else {"orphans": bad, "errors": errors},
            ran=not errors,
        )
    ]


# GROUP BY by sorting: a hash aggregate over every key of a large table overflows work_mem
# and spills in batches (4x slower here on 900k keys); the groups found are the same.
SORTED_GROUPS = "SET LOCAL enable_hashagg = off"


def _duplicate_query(table: str, key: UniqueKey) -> str:
    exprs = [f"({e})" for e in key.expressions]
    where = [] if key.nulls_not_distinct else [f"{e} IS NOT NULL" for e in exprs]
    if key.predicate:
        where.append(f"({key.predicate})")
    cond = f" WHERE {' AND '.join(where)}" if where else ""
    cols = ", ".join(exprs)
    return (
        "SELECT k, n, count(*) OVER (), sum(n - 1) OVER () FROM ("
        f"SELECT ROW({cols})::text AS k, count(*) AS n FROM {table}{cond}"
        f" GROUP BY {cols} HAVING count(*) > 1) d ORDER BY n DESC, k LIMIT 3"
    )


def _keys_to_check(
    conn: Conn, snapshot: Snapshot | None
) -> tuple[dict[str, UniqueKey], list[str], list[str], set[str]]:
    """(every key to scan, keys of the snapshot that are gone, problems, tables gone)."""
    live = list_unique_keys(conn)
    keys: dict[str, UniqueKey] = {k.key: k for k in live}
    problems: list[str] = []
    missing: list[str] = []
    skipped: set[str] = set()
    for old in snapshot.unique_keys if snapshot is not None else []:
        if not table_exists(conn, old.schema, old.table):
            skipped.add(f"{old.schema}.{old.table}")
        elif old.key not in keys:
            missing.append(old.key)
            problems.append(f"{old.kind} {old.key} is gone ({old.definition})")
            keys[old.key] = old
    for k in live:
        if not k.enforced and k.kind != "unique index":
            problems.append(f"{k.kind} {k.key} is not enforced (its index is not unique/valid)")
    return keys, missing, problems, skipped


def duplicates(conn: Conn, snapshot: Snapshot | None = None) -> list[CheckResult]:
    """Duplicate values of every PK/UNIQUE constraint and unique index, and (with a
    snapshot) unique keys that were dropped or are no longer enforced.

    Each GROUP BY runs on a sequential scan: the index that should guarantee uniqueness is
    the last thing to trust when looking for its violations. Keys of tables that are gone
    are the row-count check's business (missing data), not duplicates.
    """
    db = Db(conn)
    keys, missing_keys, problems, skipped_tables = _keys_to_check(conn, snapshot)
    dup_groups: dict[str, int] = {}
    errors: dict[str, str] = {}
    for k in keys.values():
        try:
            with db.tx(SEQSCAN_SETTINGS, SORTED_GROUPS):
                rows = db.rows(_duplicate_query(qualified(k.schema, k.table), k))
        except psycopg.Error as exc:
            errors[k.key] = first_line(exc)
            continue
        if rows:
            groups, extra = int(rows[0][2]), int(rows[0][3])
            dup_groups[k.key] = groups
            examples = ", ".join(f"{r[0]} x{r[1]}" for r in rows)
            problems.append(
                f"{k.key} ({', '.join(k.expressions)}): {groups} duplicated values, "
                f"{extra} extra rows (e.g. {examples})"
            )
    problems += [f"{k}: could not check ({e})" for k, e in errors.items()]
    detail = "; ".join(problems) or f"{len(keys)} unique keys checked, no duplicates"
    if skipped_tables:
        detail += f" (not checked, table gone: {', '.join(sorted(skipped_tables))})"
    return [
        CheckResult(
            DUPLICATES,
            not problems,
            detail,
            expected={"duplicated_values": 0, "missing_keys": []},
            actual={"duplicated_values": sum(dup_groups.values()), "missing_keys": missing_keys},
            ran=not errors,
        )
    ]


def foreign_keys(conn: Conn, snapshot: Snapshot | None = None) -> list[CheckResult]:
    """Every foreign key of *snapshot* still there on *conn*, unchanged, validated and
    enforced (RI triggers enabled); without a snapshot, every present foreign key."""
    live = {fk.key: fk for fk in list_foreign_keys(conn)}
    expected = {fk.key: fk for fk in snapshot.foreign_keys} if snapshot else dict(live)
    missing = sorted(k for k in expected if k not in live)
    changed = sorted(
        k for k, fk in expected.items() if k in live and live[k].definition != fk.definition
    )
    unvalidated = sorted(k for k, fk in live.items() if not fk.validated)
    disabled = sorted(k for k, fk in live.items() if not fk.enforced)
    problems = []
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    if changed:
        problems.append(
            "changed: "
            + ", ".join(f"{k} ({expected[k].definition} -> {live[k].definition})" for k in changed)
        )
    if unvalidated:
        problems.append(f"NOT VALID: {', '.join(unvalidated)}")
    if disabled:
        problems.append(f"triggers disabled (not enforced): {', '.join(disabled)}")
    detail = "; ".join(problems) or f"{len(expected)} foreign keys present and validated"
    return [
        CheckResult(
            FOREIGN_KEYS,
            not problems,
            detail,
            expected=len(expected),
            actual={
                "present": len(expected) - len(missing),
                "missing": missing,
                "changed": changed,
                "not_valid": unvalidated,
                "disabled": disabled,
            },
        )
    ]


def sequences(conn: Conn) -> list[CheckResult]:
    """Every sequence owned by a column (serial, identity) hands out values above the
    column's max (below its min when descending): otherwise the next INSERT collides."""
    db = Db(conn)
    behind: list[str] = []
    errors: dict[str, str] = {}
    checked = 0
    for row in owned_sequences(db):
        try:
            with db.tx():
                s = sequence_state(db, row)
        except psycopg.Error as exc:
            errors[f"{row[0]}.{row[1]}"] = first_line(exc)
            continue
        checked += 1
        if s.column_max is None:
            continue
        nxt = s.last_value + s.increment if s.is_called else s.last_value
        ok = nxt > s.column_max if s.increment > 0 else nxt < s.column_max
        if not ok:
            agg = "max" if s.increment > 0 else "min"
            behind.append(
                f"{s.key}: next value {nxt} but {agg}({s.table}.{s.column}) = {s.column_max}"
            )
    problems = behind + [f"{k}: could not check ({e})" for k, e in errors.items()]
    return [
        CheckResult(
            SEQUENCES,
            not problems,
            "; ".join(problems) or f"{checked} owned sequences ahead of their columns",
            expected=0,
            actual=len(behind),
            ran=not errors,
        )
    ]
