"""Integrity checks for the validation phase, generic over any schema (read from the catalogs).

The source runbooks check a restore with hand-written SQL for their own tables
(../shared/runbooks/000_…, "Data Integrity Check"; 004_…, "Verify Restore Procedure"):

    SELECT COUNT(*) FROM scenes WHERE project_id NOT IN (SELECT id FROM projects);
    SELECT project_id, COUNT(*) FROM projects GROUP BY project_id HAVING COUNT(*) > 1;
    SELECT * FROM information_schema.table_constraints WHERE constraint_type = 'FOREIGN KEY';
    SELECT conname, conrelid::regclass FROM pg_constraint WHERE contype = 'f';
    SELECT COUNT(*) FROM content_jobs j LEFT JOIN users u ON j.user_id = u.id WHERE u.id IS NULL;

Here each of those is derived for every table from ``pg_constraint``/``pg_index``, so the
same checks run on the application schema, on northwind and on a schema a user wrote:

- :func:`orphans`: every foreign key (multi-column too), child rows without a parent.
- :func:`duplicates`: every primary key, unique constraint and unique index, by a GROUP BY
  on a forced sequential scan (a corrupt or dropped index cannot hide duplicates), plus
  keys of the snapshot that are gone or no longer enforced.
- :func:`foreign_keys`: every foreign key of the snapshot present, validated, enforced.
- :func:`sequences`: every column-owned sequence ahead of the column's max.
- :func:`amcheck`: ``bt_index_check(heapallindexed => true)`` on every B-tree index and
  ``verify_heapam`` on every table (when the server has it).
- :func:`full_read`: every column of every row read, so a checksum failure ("invalid page
  in block") surfaces as a failed check with the server's error text.
- :func:`row_counts` and :func:`content`: exact counts and content digests against a
  :class:`Snapshot` taken before the fault.

Each function works standalone on a psycopg connection and returns a list of
:class:`CheckResult`; :func:`run_all` runs them in one recorded validation step of a drill.
A check that could not run (amcheck missing, a table unreadable) is a failed result with
the reason, never a pass.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import psycopg

# The drill's RPO ledger keeps being written during a drill and is verified on its own
# (drill.verify_ledger); snapshots and comparisons leave it out by default.
DEFAULT_EXCLUDE: tuple[str, ...] = ("drill_ledger",)
DEFAULT_DIGEST_ROW_LIMIT = 1_000_000

# Check names (stable: reports and tests key on them).
ORPHANS = "orphaned rows"
DUPLICATES = "duplicate keys"
FOREIGN_KEYS = "foreign keys present and validated"
SEQUENCES = "sequences ahead of max(column)"
AMCHECK = "amcheck B-tree indexes"
AMCHECK_HEAP = "amcheck heap tables"
FULL_READ = "full read of every table"
ROW_COUNTS = "row counts vs snapshot"
CONTENT = "table contents vs snapshot"

ExpectCounts = Literal["equal", "at_least"]

# A row's text form depends on these settings; a digest must not.
TEXT_SETTINGS = (
    "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; "
    "SET LOCAL IntervalStyle = 'postgres'; SET LOCAL extra_float_digits = 1; "
    "SET LOCAL bytea_output = 'hex'"
)
# Read the heap itself, never an index that could be corrupt or missing entries.
SEQSCAN_SETTINGS = (
    "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; "
    "SET LOCAL enable_indexonlyscan = off"
)

USER_SCHEMA = (
    "{n}.nspname NOT IN ('pg_catalog', 'information_schema') AND {n}.nspname NOT LIKE 'pg\\_%'"
)


# -- quoting -------------------------------------------------------------------------------


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}"


def literal(text: str) -> str:
    """A quoted SQL string literal (standard_conforming_strings is on since PostgreSQL 9.1)."""
    return "'" + text.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# -- results and snapshot ---------------------------------------------------------------------


@dataclass
class CheckResult:
    """One check's outcome. ``ran`` False: the check could not run (never a pass)."""

    name: str
    passed: bool
    detail: str = ""
    expected: Any = None
    actual: Any = None
    ran: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TableState:
    schema: str
    name: str
    rows: int
    digest: str | None = None  # None: above the snapshot's digest_row_limit

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def sql_name(self) -> str:
        return qualified(self.schema, self.name)


@dataclass
class ForeignKey:
    schema: str
    table: str
    name: str
    columns: list[str]
    ref_schema: str
    ref_table: str
    ref_columns: list[str]
    definition: str
    validated: bool
    enforced: bool = True  # its RI triggers are enabled
    match_full: bool = False

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.table}.{self.name}"

    def describe(self) -> str:
        return (
            f"{self.schema}.{self.table}({', '.join(self.columns)}) -> "
            f"{self.ref_schema}.{self.ref_table}({', '.join(self.ref_columns)})"
        )


@dataclass
class UniqueKey:
    """A primary key, unique constraint or unique index (by its index)."""

    schema: str
    table: str
    name: str  # the index name (= the constraint name for PK/UNIQUE constraints)
    kind: str  # "primary key" | "unique constraint" | "unique index"
    expressions: list[str]  # key columns or expressions, as pg_get_indexdef prints them
    definition: str
    predicate: str | None = None  # partial index WHERE
    nulls_not_distinct: bool = False
    enforced: bool = True  # the index is unique and valid

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.table}.{self.name}"


@dataclass
class SequenceState:
    schema: str
    name: str
    table_schema: str
    table: str
    column: str
    last_value: int
    is_called: bool
    increment: int
    column_max: int | None  # max (min for a descending sequence) of the owning column

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class Snapshot:
    """The state a restore is compared with, taken before the fault. JSON-able."""

    database: str
    taken_at: float  # wall-clock epoch seconds
    server_version: str
    tables: dict[str, TableState] = field(default_factory=dict)  # "schema.table" -> state
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    unique_keys: list[UniqueKey] = field(default_factory=list)
    sequences: list[SequenceState] = field(default_factory=list)
    digest_row_limit: int = DEFAULT_DIGEST_ROW_LIMIT
    excluded: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        data = dict(data)
        data["tables"] = {k: TableState(**v) for k, v in data.get("tables", {}).items()}
        data["foreign_keys"] = [ForeignKey(**v) for v in data.get("foreign_keys", [])]
        data["unique_keys"] = [UniqueKey(**v) for v in data.get("unique_keys", [])]
        data["sequences"] = [SequenceState(**v) for v in data.get("sequences", [])]
        return cls(**data)

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables.values())


# -- running SQL, recorded or not -------------------------------------------------------------


class SqlRecorder:
    """A connection whose statements are recorded in a drill step (``StepContext.sql``)."""

    def __init__(self, conn: psycopg.Connection[Any], ctx: Any) -> None:
        self.conn = conn
        self.ctx = ctx


Conn = psycopg.Connection[Any] | SqlRecorder


class _Db:
    def __init__(self, conn: Conn) -> None:
        if isinstance(conn, SqlRecorder):
            self.conn = conn.conn
            self.ctx: Any = conn.ctx
        else:
            self.conn = conn
            self.ctx = None

    def rows(self, query: str, params: Any = None) -> list[Any]:
        if self.ctx is not None:
            return list(self.ctx.sql(self.conn, query, params))
        cur = self.conn.execute(query, params)
        return cur.fetchall() if cur.description else []

    def one(self, query: str, params: Any = None) -> Any:
        rows = self.rows(query, params)
        return rows[0] if rows else None

    @contextlib.contextmanager
    def tx(self, *settings: str) -> Iterator[_Db]:
        """A transaction (a savepoint inside one): a failed statement leaves the
        connection usable for the next check; SET LOCAL settings end with it."""
        with self.conn.transaction():
            for s in settings:
                self.rows(s)
            yield self


def _excluded(schema: str, name: str, exclude: Iterable[str]) -> bool:
    ex = set(exclude)
    return name in ex or f"{schema}.{name}" in ex


# -- catalog reads ------------------------------------------------------------------------------


def list_tables(conn: Conn, *, exclude: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(schema, table) of every ordinary table in user schemas (partitions included,
    partitioned parents and extension-owned tables left out)."""
    db = _Db(conn)
    rows = db.rows(
        "SELECT n.nspname, c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND "
        + USER_SCHEMA.format(n="n")
        + " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
        " AND d.objid = c.oid AND d.deptype = 'e') ORDER BY 1, 2"
    )
    return [(s, t) for s, t in rows if not _excluded(s, t, exclude)]


def list_foreign_keys(conn: Conn) -> list[ForeignKey]:
    db = _Db(conn)
    rows = db.rows(
        "SELECT n.nspname, c.relname, con.conname,"
        " ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)"
        "  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord),"
        " fn.nspname, fc.relname,"
        " ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)"
        "  JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num"
        "  ORDER BY k.ord),"
        " pg_get_constraintdef(con.oid), con.convalidated,"
        " (SELECT coalesce(bool_and(t.tgenabled <> 'D'), true) FROM pg_trigger t"
        "  WHERE t.tgconstraint = con.oid),"
        " con.confmatchtype = 'f'"
        " FROM pg_constraint con"
        " JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_class fc ON fc.oid = con.confrelid"
        " JOIN pg_namespace fn ON fn.oid = fc.relnamespace"
        " WHERE con.contype = 'f' AND con.conparentid = 0 AND "
        + USER_SCHEMA.format(n="n")
        + " ORDER BY 1, 2, 3"
    )
    return [
        ForeignKey(
            schema=r[0],
            table=r[1],
            name=r[2],
            columns=list(r[3]),
            ref_schema=r[4],
            ref_table=r[5],
            ref_columns=list(r[6]),
            definition=r[7],
            validated=bool(r[8]),
            enforced=bool(r[9]),
            match_full=bool(r[10]),
        )
        for r in rows
    ]


def list_unique_keys(conn: Conn) -> list[UniqueKey]:
    """Unique indexes, and PK/UNIQUE constraints whatever their index's state."""
    db = _Db(conn)
    rows = db.rows(
        "SELECT n.nspname, c.relname, ic.relname, con.contype,"
        " ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)"
        "  FROM generate_series(1, i.indnkeyatts) k ORDER BY k),"
        " coalesce(pg_get_constraintdef(con.oid), pg_get_indexdef(i.indexrelid)),"
        " pg_get_expr(i.indpred, i.indrelid, true),"
        " coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false),"
        " i.indisunique AND i.indisvalid"
        " FROM pg_index i"
        " JOIN pg_class ic ON ic.oid = i.indexrelid"
        " JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid"
        "  AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u')"
        " WHERE (i.indisunique OR con.oid IS NOT NULL) AND c.relkind IN ('r', 'p', 'm')"
        " AND c.relpersistence <> 't' AND " + USER_SCHEMA.format(n="n") + " ORDER BY 1, 2, 3"
    )
    kinds = {"p": "primary key", "u": "unique constraint", None: "unique index"}
    return [
        UniqueKey(
            schema=r[0],
            table=r[1],
            name=r[2],
            kind=kinds.get(r[3], "unique index"),
            expressions=list(r[4]),
            definition=r[5],
            predicate=r[6],
            nulls_not_distinct=bool(r[7]),
            enforced=bool(r[8]),
        )
        for r in rows
    ]


def _owned_sequences(db: _Db) -> list[tuple[str, str, str, str, str, int]]:
    return [
        tuple(r)
        for r in db.rows(
            "SELECT sn.nspname, s.relname, tn.nspname, t.relname, a.attname, seq.seqincrement"
            " FROM pg_depend d"
            " JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
            " JOIN pg_namespace sn ON sn.oid = s.relnamespace"
            " JOIN pg_sequence seq ON seq.seqrelid = s.oid"
            " JOIN pg_class t ON t.oid = d.refobjid"
            " JOIN pg_namespace tn ON tn.oid = t.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
            " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
            " AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0 AND t.relkind IN ('r', 'p')"
            " AND " + USER_SCHEMA.format(n="tn") + " ORDER BY 1, 2"
        )
    ]


def _sequence_state(db: _Db, row: tuple[str, str, str, str, str, int]) -> SequenceState:
    sschema, sname, tschema, table, column, increment = row
    last_value, is_called = db.one(f"SELECT last_value, is_called FROM {qualified(sschema, sname)}")
    agg = "max" if increment > 0 else "min"
    (col_max,) = db.one(f"SELECT {agg}({ident(column)})::bigint FROM {qualified(tschema, table)}")
    return SequenceState(
        schema=sschema,
        name=sname,
        table_schema=tschema,
        table=table,
        column=column,
        last_value=int(last_value),
        is_called=bool(is_called),
        increment=int(increment),
        column_max=None if col_max is None else int(col_max),
    )


def table_exists(conn: Conn, schema: str, name: str) -> bool:
    row = _Db(conn).one("SELECT to_regclass(%s) IS NOT NULL", (qualified(schema, name),))
    return bool(row and row[0])


def table_count(conn: Conn, schema: str, name: str) -> int:
    """Exact row count, read from the heap (no index-only scan)."""
    db = _Db(conn)
    with db.tx(SEQSCAN_SETTINGS):
        (n,) = db.one(f"SELECT count(*) FROM {qualified(schema, name)}")
    return int(n)


def table_digest(conn: Conn, schema: str, name: str) -> tuple[int, str]:
    """(rows, md5 of the rows' md5s in sorted order): equal for equal row sets, whatever
    their physical order, so a restored table compares equal to its source."""
    db = _Db(conn)
    with db.tx(TEXT_SETTINGS, SEQSCAN_SETTINGS):
        n, digest = db.one(
            "SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), ''))"
            f' FROM (SELECT md5(t::text) COLLATE "C" AS h FROM {qualified(schema, name)} t) s'
        )
    return int(n), str(digest)


def snapshot(
    conn: Conn,
    *,
    digest_row_limit: int = DEFAULT_DIGEST_ROW_LIMIT,
    exclude: Iterable[str] = DEFAULT_EXCLUDE,
) -> Snapshot:
    """Counts, content digests (tables up to *digest_row_limit* rows), keys and sequences.

    Take it right before the fault (after the backup it will be restored from, when the
    application tables stay unchanged in between, as in a drill).
    """
    db = _Db(conn)
    exclude = list(exclude)
    dbname, version = db.one("SELECT current_database(), current_setting('server_version')")
    snap = Snapshot(
        database=str(dbname),
        taken_at=time.time(),
        server_version=str(version),
        digest_row_limit=digest_row_limit,
        excluded=exclude,
    )
    for schema, name in list_tables(conn, exclude=exclude):
        rows = table_count(conn, schema, name)
        digest = None
        if rows <= digest_row_limit:
            rows, digest = table_digest(conn, schema, name)
        state = TableState(schema, name, rows, digest)
        snap.tables[state.key] = state
    snap.foreign_keys = [
        fk for fk in list_foreign_keys(conn) if not _excluded(fk.schema, fk.table, exclude)
    ]
    snap.unique_keys = [
        k for k in list_unique_keys(conn) if not _excluded(k.schema, k.table, exclude)
    ]
    snap.sequences = [
        _sequence_state(db, row)
        for row in _owned_sequences(db)
        if not _excluded(row[2], row[3], exclude)
    ]
    return snap


# -- the checks ---------------------------------------------------------------------------------


def orphans(conn: Conn) -> list[CheckResult]:
    """Child rows whose foreign key points at no parent row, for every foreign key.

    The runbook's ``SELECT COUNT(*) FROM scenes WHERE project_id NOT IN (SELECT id FROM
    projects)`` is the single-column case of this anti-join. Rows with a NULL in the key
    are not orphans (MATCH SIMPLE); under MATCH FULL a partly NULL key is one.
    """
    db = _Db(conn)
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
            errors[fk.key] = _first_line(exc)
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


def duplicates(conn: Conn, snapshot: Snapshot | None = None) -> list[CheckResult]:
    """Duplicate values of every PK/UNIQUE constraint and unique index, and (with a
    snapshot) unique keys that were dropped or are no longer enforced.

    Each GROUP BY runs on a sequential scan: the index that should guarantee uniqueness is
    the last thing to trust when looking for its violations. Keys of tables that are gone
    are the row-count check's business (missing data), not duplicates.
    """
    db = _Db(conn)
    live = list_unique_keys(conn)
    live_by_key = {k.key: k for k in live}
    keys: dict[str, UniqueKey] = dict(live_by_key)
    problems: list[str] = []
    missing_keys: list[str] = []
    skipped_tables: set[str] = set()
    if snapshot is not None:
        for old in snapshot.unique_keys:
            if not table_exists(conn, old.schema, old.table):
                skipped_tables.add(f"{old.schema}.{old.table}")
                continue
            now = live_by_key.get(old.key)
            if now is None:
                missing_keys.append(old.key)
                problems.append(f"{old.kind} {old.key} is gone ({old.definition})")
                keys[old.key] = old
    for k in live:
        if not k.enforced and k.kind != "unique index":
            problems.append(f"{k.kind} {k.key} is not enforced (its index is not unique/valid)")
    dup_groups: dict[str, int] = {}
    errors: dict[str, str] = {}
    for k in keys.values():
        try:
            with db.tx(SEQSCAN_SETTINGS):
                rows = db.rows(_duplicate_query(qualified(k.schema, k.table), k))
        except psycopg.Error as exc:
            errors[k.key] = _first_line(exc)
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
    passed = not problems
    detail = "; ".join(problems) or f"{len(keys)} unique keys checked, no duplicates"
    if skipped_tables:
        detail += f" (not checked, table gone: {', '.join(sorted(skipped_tables))})"
    return [
        CheckResult(
            DUPLICATES,
            passed,
            detail,
            expected={"duplicated_values": 0, "missing_keys": []},
            actual={"duplicated_values": sum(dup_groups.values()), "missing_keys": missing_keys},
            ran=not errors,
        )
    ]


def foreign_keys(conn: Conn, snapshot: Snapshot | None = None) -> list[CheckResult]:
    """Every foreign key of the snapshot still there, unchanged, validated and enforced
    (RI triggers enabled); without a snapshot, every present foreign key."""
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
    db = _Db(conn)
    behind: list[str] = []
    errors: dict[str, str] = {}
    checked = 0
    for row in _owned_sequences(db):
        try:
            with db.tx():
                s = _sequence_state(db, row)
        except psycopg.Error as exc:
            errors[f"{row[0]}.{row[1]}"] = _first_line(exc)
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


def _amcheck_schema(db: _Db) -> tuple[str | None, str]:
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
            return None, _first_line(exc)
        row = db.one(query)
    return (str(row[0]), "") if row else (None, "extension not installed")


def amcheck(conn: Conn, *, heap: bool = True) -> list[CheckResult]:
    """``bt_index_check(heapallindexed => true)`` on every B-tree index; with *heap*, also
    ``verify_heapam`` on every table (amcheck 1.3, PostgreSQL 14+).

    Missing amcheck is a failed result saying so (a check that could not run never passes).
    """
    db = _Db(conn)
    schema, why = _amcheck_schema(db)
    if schema is None:
        reason = (
            f"amcheck not available: {why}. It ships with the PostgreSQL server (contrib: "
            "postgresql-contrib on older Debian/Ubuntu) and CREATE EXTENSION needs a superuser"
        )
        results = [CheckResult(AMCHECK, False, reason, expected="no errors", ran=False)]
        if heap:
            results.append(
                CheckResult(AMCHECK_HEAP, False, reason, expected="no errors", ran=False)
            )
        return results
    fn = ident(schema)
    indexes = db.rows(
        "SELECT n.nspname, ic.relname FROM pg_index i"
        " JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam"
        " JOIN pg_namespace n ON n.oid = ic.relnamespace"
        " WHERE am.amname = 'btree' AND ic.relkind = 'i' AND ic.relpersistence <> 't'"
        " AND i.indisvalid AND i.indisready AND " + USER_SCHEMA.format(n="n") + " ORDER BY 1, 2"
    )
    errors: dict[str, str] = {}
    for ischema, iname in indexes:
        name = qualified(ischema, iname)
        try:
            with db.tx():
                db.rows(
                    f"SELECT {fn}.bt_index_check({literal(name)}::regclass, heapallindexed => true)"
                )
        except psycopg.Error as exc:
            errors[f"{ischema}.{iname}"] = _first_line(exc)
    detail = "; ".join(f"{k}: {v}" for k, v in errors.items()) or (
        f"{len(indexes)} B-tree indexes checked (heapallindexed), no corruption"
    )
    results = [
        CheckResult(AMCHECK, not errors, detail, expected="no errors", actual=errors or "no errors")
    ]
    if heap:
        results.append(_verify_heap(conn, schema))
    return results


def _verify_heap(conn: Conn, schema: str) -> CheckResult:
    db = _Db(conn)
    fn = ident(schema)
    has = db.one(
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE p.proname = 'verify_heapam' AND n.nspname = %s",
        (schema,),
    )
    if not has or not has[0]:
        return CheckResult(
            AMCHECK_HEAP,
            True,
            "verify_heapam not available (amcheck < 1.3, PostgreSQL < 14): heap checked by "
            "the full read only",
            expected="no errors",
            actual="not available",
        )
    problems: dict[str, str] = {}
    tables = list_tables(conn)
    for tschema, name in tables:
        rel = qualified(tschema, name)
        try:
            with db.tx():
                rows = db.rows(
                    f"SELECT blkno, offnum, attnum, msg FROM {fn}.verify_heapam("
                    f"{literal(rel)}::regclass) LIMIT 5"
                )
        except psycopg.Error as exc:
            problems[f"{tschema}.{name}"] = _first_line(exc)
            continue
        if rows:
            problems[f"{tschema}.{name}"] = "; ".join(
                f"block {r[0]} offset {r[1]}: {r[3]}" for r in rows
            )
    detail = "; ".join(f"{k}: {v}" for k, v in problems.items()) or (
        f"{len(tables)} tables checked with verify_heapam, no corruption"
    )
    return CheckResult(
        AMCHECK_HEAP, not problems, detail, expected="no errors", actual=problems or "no errors"
    )


def full_read(conn: Conn, *, exclude: Iterable[str] = ()) -> list[CheckResult]:
    """Read every column of every row of every table (TOAST included), sequentially.

    With data checksums on, a damaged page fails the read with "invalid page in block N
    of relation ..."; that text is the check's detail.
    """
    db = _Db(conn)
    tables = list_tables(conn, exclude=exclude)
    errors: dict[str, str] = {}
    rows_read = 0
    for schema, name in tables:
        try:
            with db.tx(SEQSCAN_SETTINGS):
                (n, _) = db.one(
                    f"SELECT count(*), max(md5(t::text)) FROM {qualified(schema, name)} t"
                )
            rows_read += int(n)
        except psycopg.Error as exc:
            errors[f"{schema}.{name}"] = _first_line(exc)
    detail = "; ".join(f"{k}: {v}" for k, v in errors.items()) or (
        f"{len(tables)} tables, {rows_read} rows read without error"
    )
    return [
        CheckResult(
            FULL_READ, not errors, detail, expected="no errors", actual=errors or "no errors"
        )
    ]


def row_counts(
    conn: Conn, snapshot: Snapshot, *, expect: ExpectCounts = "equal"
) -> list[CheckResult]:
    """Exact row counts against the snapshot: ``equal``, or ``at_least`` (writes after the
    snapshot are allowed). A table of the snapshot that is gone counts as 0 rows."""
    expected: dict[str, int] = {}
    actual: dict[str, int | None] = {}
    problems: list[str] = []
    for key, t in snapshot.tables.items():
        expected[key] = t.rows
        try:
            if not table_exists(conn, t.schema, t.name):
                actual[key] = None
                problems.append(f"{key}: table missing ({t.rows} rows expected)")
                continue
            n = table_count(conn, t.schema, t.name)
        except psycopg.Error as exc:
            actual[key] = None
            problems.append(f"{key}: could not count ({_first_line(exc)})")
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


def content(conn: Conn, snapshot: Snapshot) -> list[CheckResult]:
    """Each table's content digest equals the snapshot's (tables the snapshot has a digest
    for; larger ones are listed as not compared)."""
    problems: list[str] = []
    compared = 0
    skipped = [k for k, t in snapshot.tables.items() if t.digest is None]
    differs: list[str] = []
    for key, t in snapshot.tables.items():
        if t.digest is None:
            continue
        try:
            if not table_exists(conn, t.schema, t.name):
                problems.append(f"{key}: table missing")
                differs.append(key)
                continue
            n, digest = table_digest(conn, t.schema, t.name)
        except psycopg.Error as exc:
            problems.append(f"{key}: could not read ({_first_line(exc)})")
            differs.append(key)
            continue
        compared += 1
        if digest != t.digest:
            differs.append(key)
            problems.append(f"{key}: content differs ({n} rows now, {t.rows} in the snapshot)")
    if not compared and not problems:
        return [
            CheckResult(
                CONTENT,
                False,
                f"no table digest in the snapshot (all {len(skipped)} tables above "
                f"digest_row_limit={snapshot.digest_row_limit}): raise the limit or leave the "
                "content check out",
                ran=False,
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


# -- all of them, in a drill --------------------------------------------------------------------


def _guarded(name: str, fn: Callable[[], list[CheckResult]]) -> list[CheckResult]:
    """A check that raised (lost connection ...) is a failed result with the error."""
    try:
        return fn()
    except Exception as exc:
        return [
            CheckResult(
                name,
                False,
                f"check could not run: {type(exc).__name__}: {_first_line(exc)}",
                ran=False,
            )
        ]


def check_all(
    conn: Conn,
    snapshot: Snapshot | None = None,
    *,
    expect_counts: ExpectCounts | None = "equal",
    compare_content: bool | None = None,
    heap: bool = True,
) -> list[CheckResult]:
    """Every check, in the runbook's order; snapshot comparisons only with a snapshot.

    *compare_content* defaults to ``expect_counts == "equal"`` (with writes allowed after
    the snapshot, digests would differ by design).
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
    """Run every check in one validation step; each SQL statement is recorded in it and
    each result becomes a ``drill.check``. True when all passed.

    *dbname* defaults to the snapshot's database (the name restored into), else the
    handle's. *label* prefixes the check names (two databases in one drill).
    """
    from drillbook.record import Phase

    db = dbname or (snapshot.database if snapshot is not None else handle.dbname)
    prefix = f"{label}: " if label else ""
    with drill.step(step_name, Phase.VALIDATION) as ctx:
        ctx.note("database", db)
        try:
            conn = handle.connect(db)
        except Exception as exc:
            results = [
                CheckResult(
                    "connect",
                    False,
                    f"cannot connect to database {db!r}: {_first_line(exc)}",
                    ran=False,
                )
            ]
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


def failed(results: Sequence[CheckResult]) -> list[str]:
    """Names of the failed results (for tests and triage)."""
    return [r.name for r in results if not r.passed]
