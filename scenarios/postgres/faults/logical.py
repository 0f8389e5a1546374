"""Logical PostgreSQL faults: statements that damage the data while the server runs
(bad UPDATEs, orphans, duplicated keys: procedure A; dropped tables, a DELETE without
WHERE: procedure C).

They take a psycopg connection (orphans and duplicated keys need a superuser, for
``session_replication_role`` and catalog changes) and return a :class:`RowsChanged` or
:class:`TablesDropped` saying what the statement did. The caller makes sure the handle
allows destruction (``handle.require(Capability.DESTRUCTIVE)`` on the external backend).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg

from drillbook.scenarios.postgres.checks.catalog import (
    ident,
    list_foreign_keys,
    list_unique_keys,
    qualified,
)
from drillbook.scenarios.postgres.checks.model import UniqueKey


def resolve(conn: psycopg.Connection[Any], table: str) -> tuple[str, str]:
    """(schema, table) of *table* as the server resolves it (search_path), or raise."""
    row = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
        (table if "." in table or '"' in table else ident(table),),
    ).fetchone()
    if row is None:
        raise ValueError(f"no table {table!r} in database {conn.info.dbname!r}")
    return str(row[0]), str(row[1])


@dataclass
class RowsChanged:
    """What an UPDATE/DELETE/INSERT fault did."""

    table: str
    statement: str
    rows: int
    details: dict[str, Any] = field(default_factory=dict)


def bad_update(
    conn: psycopg.Connection[Any],
    table: str,
    column: str,
    value: Any,
    where: str | None = None,
) -> RowsChanged:
    """``UPDATE table SET column = value [WHERE where]``: the classic bad deploy or typo.

    *conn*: a connection to the database; *where* is SQL written by the drill (trusted;
    a literal ``%`` in it must be written ``%%``, as *value* is passed as a query
    parameter). Returns the statement and the rows it changed.
    """
    schema, name = resolve(conn, table)
    statement = f"UPDATE {qualified(schema, name)} SET {ident(column)} = %s"
    if where:
        statement += f" WHERE {where}"
    cur = conn.execute(statement, (value,))
    return RowsChanged(f"{schema}.{name}", statement, cur.rowcount, {"column": column})


def _missing_value(conn: psycopg.Connection[Any], fk: Any, column: str) -> Any:
    """A value of the parent key column that no parent row has."""
    parent = qualified(fk.ref_schema, fk.ref_table)
    pcol = fk.ref_columns[fk.columns.index(column)]
    row = conn.execute(
        "SELECT t.typcategory, a.atttypmod FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
        " WHERE a.attrelid = %s::regclass AND a.attname = %s",
        (parent, pcol),
    ).fetchone()
    assert row is not None
    category, typmod = str(row[0]), int(row[1])
    if category == "N":
        (value,) = conn.execute(
            f"SELECT coalesce(max({ident(pcol)}), 0) + 1 FROM {parent}"
        ).fetchone() or (None,)
        return value
    if category == "S":
        width = typmod - 4 if typmod > 4 else None  # varchar(n)/char(n): n = typmod - 4
        for i in range(1000):
            candidate = f"~{i}"  # sorts after letters and digits: unlikely to be a real key
            if width is not None and len(candidate) > width:
                break
            exists = conn.execute(
                f"SELECT 1 FROM {parent} WHERE {ident(pcol)} = %s", (candidate,)
            ).fetchone()
            if not exists:
                return candidate
    if category == "U":
        (value,) = conn.execute("SELECT gen_random_uuid()").fetchone() or (None,)
        return value
    raise ValueError(
        f"cannot make up a missing value for {fk.describe()} (type category {category})"
    )


def orphan_children(
    conn: psycopg.Connection[Any], child_table: str, fk_column: str, count: int
) -> RowsChanged:
    """Point *count* child rows at a parent that does not exist, past the foreign key.

    ``session_replication_role = replica`` skips the RI triggers (what a faulty logical
    replication apply or a careless bulk load does); needs a superuser. Existing rows
    of *child_table* are updated, so row counts stay the same: only the orphan check and
    content differ. Returns the statement, the rows and the constraint bypassed.
    """
    schema, name = resolve(conn, child_table)
    fks = [
        fk
        for fk in list_foreign_keys(conn)
        if fk.schema == schema and fk.table == name and fk_column in fk.columns
    ]
    if not fks:
        raise ValueError(f"{schema}.{name}.{fk_column} is in no foreign key")
    fk = fks[0]
    value = _missing_value(conn, fk, fk_column)
    child = qualified(schema, name)
    statement = (
        f"UPDATE {child} SET {ident(fk_column)} = %s WHERE ctid IN (SELECT ctid FROM {child}"
        f" WHERE {ident(fk_column)} IS NOT NULL ORDER BY ctid LIMIT %s)"
    )
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        cur = conn.execute(statement, (value, count))
    return RowsChanged(
        f"{schema}.{name}",
        statement,
        cur.rowcount,
        {"constraint": fk.name, "references": fk.describe(), "missing_parent": str(value)},
    )


def _only_key(
    conn: psycopg.Connection[Any], schema: str, name: str, constraint: str | None
) -> UniqueKey:
    """The unique key to break: *constraint*, or the primary key; refused when another
    unique key of the table would be violated by the copies too."""
    keys = [k for k in list_unique_keys(conn) if k.schema == schema and k.table == name]
    if constraint:
        key = next((k for k in keys if k.name == constraint), None)
    else:
        key = next((k for k in keys if k.kind == "primary key"), None) or next(iter(keys), None)
    if key is None:
        raise ValueError(f"{schema}.{name} has no unique key {constraint or '(primary key)'}")
    others = [k.name for k in keys if k.name != key.name]
    if others:
        raise ValueError(
            f"copies of {schema}.{name} rows would also violate {', '.join(others)}: "
            "choose a table whose only unique key is the one to break"
        )
    return key


def _disable_statement(conn: psycopg.Connection[Any], key: UniqueKey, method: str) -> str:
    """The statement that stops *key* from being enforced."""
    index = qualified(key.schema, key.name)
    if method == "disable_index":
        return f"UPDATE pg_index SET indisunique = false WHERE indexrelid = '{index}'::regclass"
    if method != "drop_constraint":
        raise ValueError(f"unknown method {method!r}: drop_constraint or disable_index")
    refs = [
        fk.key
        for fk in list_foreign_keys(conn)
        if fk.ref_schema == key.schema and fk.ref_table == key.table
    ]
    if refs:
        raise ValueError(
            f"{key.name} is referenced by {', '.join(refs)}: dropping it needs CASCADE; "
            "use method='disable_index' or another table"
        )
    if key.kind == "unique index":
        return f"DROP INDEX {index}"
    return f"ALTER TABLE {qualified(key.schema, key.table)} DROP CONSTRAINT {ident(key.name)}"


def duplicate_keys(
    conn: psycopg.Connection[Any],
    table: str,
    count: int,
    *,
    constraint: str | None = None,
    method: Literal["drop_constraint", "disable_index"] = "drop_constraint",
) -> RowsChanged:
    """Stop a unique key from being enforced, then insert *count* copies of existing rows.

    *constraint* names the PK/UNIQUE constraint or unique index (default: the primary key).
    ``drop_constraint``: ``ALTER TABLE ... DROP CONSTRAINT`` (refused when foreign keys
    reference it: dropping would need CASCADE). ``disable_index``: the constraint stays in
    the catalog but its index is marked non-unique (``pg_index.indisunique``, superuser),
    like a unique index that silently stopped enforcing; the duplicate check must still
    find the copies (it reads the heap, never the index). Returns the statements run and
    the rows inserted.
    """
    schema, name = resolve(conn, table)
    key = _only_key(conn, schema, name, constraint)
    disable = _disable_statement(conn, key, method)
    rel = qualified(schema, name)
    columns = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
        " AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        (rel,),
    ).fetchall()
    cols = ", ".join(ident(str(c[0])) for c in columns)
    insert = (
        f"INSERT INTO {rel} ({cols}) OVERRIDING SYSTEM VALUE"
        f" SELECT {cols} FROM {rel} ORDER BY ctid LIMIT %s"
    )
    with conn.transaction():
        conn.execute(disable)
        cur = conn.execute(insert, (count,))
    return RowsChanged(
        f"{schema}.{name}",
        f"{disable}; {insert}",
        cur.rowcount,
        {"key": key.name, "kind": key.kind, "definition": key.definition, "method": method},
    )


# -- partial loss -----------------------------------------------------------------------------


@dataclass
class TablesDropped:
    """What :func:`drop_tables` did: the tables, their rows, the foreign keys CASCADE took."""

    tables: list[str]
    rows: dict[str, int]  # rows each table had
    foreign_keys_dropped: list[str]  # FKs of other tables that CASCADE removed


def drop_tables(conn: psycopg.Connection[Any], tables: list[str]) -> TablesDropped:
    """``DROP TABLE ... CASCADE`` of *tables* on *conn*: the tables and the foreign keys
    pointing at them go. Returns the rows each table had and the foreign keys dropped."""
    resolved = [resolve(conn, t) for t in tables]
    names = {f"{s}.{n}" for s, n in resolved}
    rows: dict[str, int] = {}
    for s, n in resolved:
        row = conn.execute(f"SELECT count(*) FROM {qualified(s, n)}").fetchone()
        rows[f"{s}.{n}"] = int(row[0]) if row else 0
    cascaded = [
        fk.key
        for fk in list_foreign_keys(conn)
        if f"{fk.ref_schema}.{fk.ref_table}" in names and f"{fk.schema}.{fk.table}" not in names
    ]
    conn.execute("DROP TABLE " + ", ".join(qualified(s, n) for s, n in resolved) + " CASCADE")
    return TablesDropped(sorted(names), rows, cascaded)


def delete_without_where(conn: psycopg.Connection[Any], table: str) -> RowsChanged:
    """``DELETE FROM table`` on *conn* (the forgotten WHERE); ON DELETE CASCADE children
    go too. Returns the statement and the rows deleted."""
    schema, name = resolve(conn, table)
    statement = f"DELETE FROM {qualified(schema, name)}"
    cur = conn.execute(statement)
    return RowsChanged(f"{schema}.{name}", statement, cur.rowcount)
