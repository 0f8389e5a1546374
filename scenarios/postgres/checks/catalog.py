"""Reading the catalogs: quoting, SQL recorded in a drill step or not, tables, keys,
sequences, exact counts and content digests, and the :func:`snapshot` of all of them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg

from drillbook.scenarios.postgres.checks.model import (
    DEFAULT_DIGEST_ROW_LIMIT,
    DEFAULT_EXCLUDE,
    DIGEST_HASH_SUM,
    DIGEST_MD5_SORTED,
    DIGEST_METHODS,
    ForeignKey,
    SequenceState,
    Snapshot,
    TableState,
    UniqueKey,
)

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


# -- running SQL, recorded or not -------------------------------------------------------------


class SqlRecorder:
    """A connection whose statements are recorded in a drill step (``StepContext.sql``)."""

    def __init__(self, conn: psycopg.Connection[Any], ctx: Any) -> None:
        self.conn = conn
        self.ctx = ctx


Conn = psycopg.Connection[Any] | SqlRecorder


class Db:
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
    def tx(self, *settings: str) -> Iterator[Db]:
        """A transaction (a savepoint inside one): a failed statement leaves the
        connection usable for the next check; SET LOCAL settings end with it."""
        with self.conn.transaction():
            for s in settings:
                self.rows(s)
            yield self


def excluded(schema: str, name: str, exclude: Iterable[str]) -> bool:
    ex = set(exclude)
    return name in ex or f"{schema}.{name}" in ex


# -- catalog reads ------------------------------------------------------------------------------


def list_tables(conn: Conn, *, exclude: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(schema, table) of every ordinary table in user schemas (partitions included,
    partitioned parents and extension-owned tables left out)."""
    db = Db(conn)
    rows = db.rows(
        "SELECT n.nspname, c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND "
        + USER_SCHEMA.format(n="n")
        + " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
        " AND d.objid = c.oid AND d.deptype = 'e') ORDER BY 1, 2"
    )
    return [(s, t) for s, t in rows if not excluded(s, t, exclude)]


def list_foreign_keys(conn: Conn) -> list[ForeignKey]:
    """Every foreign key of the user schemas (partition clones left out), with its
    columns, definition, whether it is validated and whether its RI triggers are on."""
    rows = Db(conn).rows(
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
            r[0],
            r[1],
            r[2],
            list(r[3]),
            r[4],
            r[5],
            list(r[6]),
            r[7],
            validated=bool(r[8]),
            enforced=bool(r[9]),
            match_full=bool(r[10]),
        )
        for r in rows
    ]


def list_unique_keys(conn: Conn) -> list[UniqueKey]:
    """Unique indexes, and PK/UNIQUE constraints whatever their index's state."""
    rows = Db(conn).rows(
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
    kinds = {"p": "primary key", "u": "unique constraint"}
    return [
        UniqueKey(
            r[0],
            r[1],
            r[2],
            kinds.get(r[3], "unique index"),
            list(r[4]),
            r[5],
            r[6],
            nulls_not_distinct=bool(r[7]),
            enforced=bool(r[8]),
        )
        for r in rows
    ]


def owned_sequences(db: Db) -> list[tuple[str, str, str, str, str, int]]:
    """(sequence schema, sequence, table schema, table, column, increment) of every
    sequence a column owns (serial, identity)."""
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


def sequence_state(db: Db, row: tuple[str, str, str, str, str, int]) -> SequenceState:
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
    """Whether *schema*.*name* exists (a dropped table is not an error here)."""
    row = Db(conn).one("SELECT to_regclass(%s) IS NOT NULL", (qualified(schema, name),))
    return bool(row and row[0])


def estimated_rows(db: Db, schema: str, name: str) -> float:
    """The planner's row estimate (``pg_class.reltuples``; -1 or 0 when never analyzed)."""
    row = db.one(
        "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (qualified(schema, name),)
    )
    return float(row[0]) if row and row[0] is not None else 0.0


def table_count(conn: Conn, schema: str, name: str) -> int:
    """Exact row count, read from the heap (no index-only scan)."""
    db = Db(conn)
    with db.tx(SEQSCAN_SETTINGS):
        (n,) = db.one(f"SELECT count(*) FROM {qualified(schema, name)}")
    return int(n)


def digest_query(rel: str, method: str) -> str:
    """(rows, digest) of the table *rel* (quoted) by *method* in one statement that reads
    every column of every row (TOAST included): the shared full-read pass.

    hash-sum: ``sum(hashtextextended(row text))`` over a sequential scan, an exact numeric
    sum of a 64-bit hash per row, so any changed, deleted, added or swapped row changes it
    (except with probability ~2^-64), whatever the physical order; no sort and no per-row
    md5, and PostgreSQL may run it as a parallel scan. md5-sorted: the pre-issue-14 digest,
    kept to compare with snapshots taken by earlier versions.
    """
    if method == DIGEST_HASH_SUM:
        return (
            "SELECT count(*), count(*)::text || ':' ||"
            f' coalesce(sum(hashtextextended(t::text COLLATE "C", 0)), 0)::text FROM {rel} t'
        )
    if method == DIGEST_MD5_SORTED:
        return (
            "SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), ''))"
            f' FROM (SELECT md5(t::text) COLLATE "C" AS h FROM {rel} t) s'
        )
    raise ValueError(f"unknown digest method {method!r}: one of {', '.join(DIGEST_METHODS)}")


def table_digest(
    conn: Conn, schema: str, name: str, *, method: str = DIGEST_HASH_SUM
) -> tuple[int, str]:
    """(rows, content digest by *method*): equal for equal row sets, whatever their
    physical order, so a restored table compares equal to its source."""
    db = Db(conn)
    with db.tx(TEXT_SETTINGS, SEQSCAN_SETTINGS):
        n, digest = db.one(digest_query(qualified(schema, name), method))
    return int(n), str(digest)


def snapshot(
    conn: Conn,
    *,
    digest_row_limit: int = DEFAULT_DIGEST_ROW_LIMIT,
    exclude: Iterable[str] = DEFAULT_EXCLUDE,
    digest: str = DIGEST_HASH_SUM,
) -> Snapshot:
    """What "intact" means for the database *conn* is connected to: exact row counts,
    content digests (tables up to *digest_row_limit* rows), keys and sequences.

    Take it right before the fault (after the backup it will be restored from, when the
    application tables stay unchanged in between, as in a drill) and pass it to the
    checks. *exclude*: tables left out (the RPO ledger, verified on its own). Records
    nothing; the :class:`Snapshot` is JSON-able (``to_dict``/``from_dict``). *digest*: the
    content digest method (``model.DIGEST_METHODS``); the comparison uses the same one.
    """
    db = Db(conn)
    exclude = list(exclude)
    dbname, version = db.one("SELECT current_database(), current_setting('server_version')")
    snap = Snapshot(
        database=str(dbname),
        taken_at=time.time(),
        server_version=str(version),
        digest_row_limit=digest_row_limit,
        excluded=exclude,
        digest_method=digest,
    )
    for schema, name in list_tables(conn, exclude=exclude):
        big = estimated_rows(db, schema, name) > digest_row_limit
        if digest == DIGEST_HASH_SUM and not big:  # one cheap pass: count and digest together
            rows, text = table_digest(conn, schema, name, method=digest)
            state = TableState(schema, name, rows, text if rows <= digest_row_limit else None)
        else:
            rows = table_count(conn, schema, name)
            text = None
            if rows <= digest_row_limit:
                rows, text = table_digest(conn, schema, name, method=digest)
            state = TableState(schema, name, rows, text)
        snap.tables[state.key] = state
    snap.foreign_keys = [
        fk for fk in list_foreign_keys(conn) if not excluded(fk.schema, fk.table, exclude)
    ]
    snap.unique_keys = [
        k for k in list_unique_keys(conn) if not excluded(k.schema, k.table, exclude)
    ]
    snap.sequences = [
        sequence_state(db, row)
        for row in owned_sequences(db)
        if not excluded(row[2], row[3], exclude)
    ]
    return snap
