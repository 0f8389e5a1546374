"""What a restored PostgreSQL database contains: structure reference lines, row counts.

The structure reference (:mod:`drillbook.verify.reference`) lists every object a dump
carries, read from the catalogs of the restored database: schemas, extensions,
relations (tables, views, sequences ...), columns with their types and NULL-ness,
constraints, indexes, functions, triggers, types and policies. Objects an extension
owns are left out (the extension line stands for them), and so are NOT NULL
constraints as catalog rows (PostgreSQL 18 lists them in pg_constraint, 15 does not:
the column line carries ``not null`` on both), so one reference fits every major.
"""

from __future__ import annotations

from typing import Any

from drillbook.scenarios.postgres import checks

USER = checks.catalog.USER_SCHEMA
NOT_EXT = (
    "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = {cat}::regclass"
    " AND d.objid = {oid} AND d.deptype = 'e')"
)
RELKINDS = {
    "r": "table",
    "p": "partitioned-table",
    "v": "view",
    "m": "materialized-view",
    "S": "sequence",
    "f": "foreign-table",
}

QUERIES: tuple[str, ...] = (
    "SELECT 'schema', n.nspname, '' FROM pg_namespace n WHERE " + USER.format(n="n"),
    "SELECT 'extension', e.extname, '' FROM pg_extension e",
    "SELECT c.relkind::text, n.nspname || '.' || c.relname, '' FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relpersistence <> 't' AND "
    + USER.format(n="n")
    + " AND "
    + NOT_EXT.format(cat="'pg_class'", oid="c.oid"),
    "SELECT 'column', n.nspname || '.' || c.relname || '.' || a.attname,"
    " format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END"
    " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
    " AND c.relpersistence <> 't' AND "
    + USER.format(n="n")
    + " AND "
    + NOT_EXT.format(cat="'pg_class'", oid="c.oid"),
    "SELECT 'constraint', n.nspname || '.' || c.relname || '.' || con.conname,"
    " pg_get_constraintdef(con.oid) FROM pg_constraint con"
    " JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE con.contype IN ('p', 'u', 'f', 'c', 'x') AND "
    + USER.format(n="n")
    + " AND "
    + NOT_EXT.format(cat="'pg_class'", oid="c.oid"),
    "SELECT 'constraint', n.nspname || '.' || t.typname || '.' || con.conname,"
    " pg_get_constraintdef(con.oid) FROM pg_constraint con"
    " JOIN pg_type t ON t.oid = con.contypid JOIN pg_namespace n ON n.oid = t.typnamespace"
    " WHERE con.contypid <> 0 AND con.contype = 'c' AND "
    + USER.format(n="n")
    + " AND "
    + NOT_EXT.format(cat="'pg_type'", oid="t.oid"),
    "SELECT 'index', n.nspname || '.' || ic.relname, pg_get_indexdef(i.indexrelid)"
    " FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid"
    " JOIN pg_namespace n ON n.oid = ic.relnamespace WHERE "
    + USER.format(n="n")
    + " AND "
    + NOT_EXT.format(cat="'pg_class'", oid="i.indrelid"),
    "SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'"
    " WHEN 'w' THEN 'window-function' ELSE 'function' END,"
    " n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',"
    " 'returns ' || coalesce(pg_get_function_result(p.oid), '')"
    " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE "
    + USER.format(n="n")
    + " AND "
    + NOT_EXT.format(cat="'pg_proc'", oid="p.oid"),
    "SELECT 'trigger', n.nspname || '.' || c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)"
    " FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND "
    + USER.format(n="n"),
    "SELECT CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'r' THEN 'range'"
    " ELSE 'type' END, n.nspname || '.' || t.typname,"
    " CASE t.typtype WHEN 'e' THEN (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)"
    "  FROM pg_enum e WHERE e.enumtypid = t.oid)"
    " WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod) ELSE '' END"
    " FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
    " WHERE t.typtype IN ('e', 'd', 'r', 'c')"
    " AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')"
    " AND " + USER.format(n="n") + " AND " + NOT_EXT.format(cat="'pg_type'", oid="t.oid"),
    "SELECT 'policy', n.nspname || '.' || c.relname || '.' || pol.polname, ''"
    " FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace",
)


def structure(conn: Any) -> list[tuple[str, str, str]]:
    """(kind, qualified name, detail) of every object of the database *conn* is on."""
    rows: list[tuple[str, str, str]] = []
    for query in QUERIES:
        for kind, name, detail in conn.execute(query).fetchall():
            rows.append((RELKINDS.get(kind, kind), str(name), str(detail or "")))
    return rows


def row_counts(conn: Any) -> dict[str, int]:
    """Exact rows per user table (``schema.table``), read from the heap."""
    return {
        f"{schema}.{name}": checks.table_count(conn, schema, name)
        for schema, name in checks.list_tables(conn)
    }


def database_size(conn: Any) -> int:
    row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0
