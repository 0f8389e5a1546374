"""PostgreSQL faults: real damage, the way incidents cause it.

Each fault is a plain function that does the damage and returns a small dataclass saying
exactly what it did (rows touched, the file and offsets overwritten, the constraint
dropped), for the drill record (``dataclasses.asdict``) and for the checks that must find
it. A drill calls them inside ``with drill.fault(...)``, which marks t0.

- :func:`total_loss`: SIGKILL and the data directory wiped (procedure B).
- :func:`physical_corruption`: bytes in a table's data pages overwritten on disk, so
  reads fail with "invalid page in block" (data checksums) (procedure A).
- :func:`bad_update`, :func:`orphan_children`, :func:`duplicate_keys`: logical corruption
  (procedure A).
- :func:`drop_tables`, :func:`delete_without_where`: partial loss (procedure C).
- :func:`truncate_object`, :func:`delete_object`: damage to the backups kept in S3 (a
  truncated dump, a lost WAL segment).

The logical faults take a connection (they need a superuser for
``session_replication_role`` and catalog changes); the caller is responsible for the
handle allowing destruction (``handle.require(Capability.DESTRUCTIVE)`` on the external
backend).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from drillbook.errors import DrillNotRun
from drillbook.fixtures.base import Capability
from drillbook.scenarios.postgres.checks import (
    ident,
    list_foreign_keys,
    list_unique_keys,
    qualified,
)

PAGE_HEADER_SIZE = 24  # PageHeaderData; pd_lower at offset 12, pd_upper at 14


def _resolve(conn: psycopg.Connection[Any], table: str) -> tuple[str, str]:
    """(schema, table) of *table* as the server resolves it (search_path), or raise."""
    row = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
        (table if "." in table or '"' in table else ident(table),),
    ).fetchone()
    if row is None:
        raise ValueError(f"no table {table!r} in database {conn.info.dbname!r}")
    return str(row[0]), str(row[1])


# -- total loss -------------------------------------------------------------------------------


@dataclass
class TotalLoss:
    data_dir: str
    files_removed: int
    bytes_removed: int


def total_loss(handle: Any) -> TotalLoss:
    """SIGKILL the server (process group) and remove everything in its data directory.

    The directory itself stays (a wiped volume's mount point): a restore puts the base
    backup back into it.
    """
    handle.require(Capability.KILL, Capability.DATA_DIR, Capability.DESTRUCTIVE)
    data_dir = Path(handle.data_dir)
    handle.kill()
    files = nbytes = 0
    for dirpath, _dirs, filenames in os.walk(data_dir):
        for name in filenames:
            files += 1
            with contextlib.suppress(OSError):
                nbytes += os.lstat(os.path.join(dirpath, name)).st_size
    for entry in list(data_dir.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return TotalLoss(str(data_dir), files, nbytes)


# -- physical corruption ----------------------------------------------------------------------


@dataclass
class PageDamage:
    block: int
    file: str
    offset: int  # byte offset in *file* of the first overwritten byte
    length: int


@dataclass
class PhysicalCorruption:
    dbname: str
    table: str
    relation_path: str  # relative to the data directory (pg_relation_filepath)
    blocks_in_relation: int
    pages: list[PageDamage] = field(default_factory=list)

    @property
    def blocks(self) -> list[int]:
        return [p.block for p in self.pages]


def _pick_blocks(nblocks: int, pages: int) -> list[int]:
    """*pages* blocks spread evenly over the relation (the middle of each share)."""
    pages = min(pages, nblocks)
    return sorted({(i * nblocks) // pages + nblocks // (2 * pages) for i in range(pages)})


def physical_corruption(
    handle: Any,
    dbname: str,
    table: str,
    *,
    pages: int = 1,
    blocks: list[int] | None = None,
    length: int = 64,
    seed: int | None = None,
) -> PhysicalCorruption:
    """Overwrite *length* bytes in the tuple area of data pages of *table*'s main fork.

    The server is checkpointed and stopped cleanly first (so nothing in shared buffers or
    WAL replay writes the good page back), the bytes are changed on disk (each XORed with
    a non-zero random byte, so every one really changes), and the server is started again.
    With data checksums on, every read of a damaged page then fails with ``invalid page in
    block N of relation ...``. *blocks* picks the pages; by default *pages* blocks spread
    over the table. Needs a handle with data-dir access and stop/start (local backend).
    """
    handle.require(Capability.DATA_DIR, Capability.STOP_START, Capability.DESTRUCTIVE)
    with handle.connect(dbname) as conn:
        (checksums,) = conn.execute("SHOW data_checksums").fetchone() or ("off",)
        if checksums != "on":
            raise DrillNotRun(
                f"physical corruption needs data checksums, which are off on {handle.name}: "
                "initdb --data-checksums (or pg_checksums --enable on a stopped cluster)",
                code="BACKEND_UNSUPPORTED",
            )
        schema, name = _resolve(conn, table)
        rel = qualified(schema, name)
        row = conn.execute(
            "SELECT pg_relation_filepath(%s::regclass), pg_relation_size(%s::regclass),"
            " current_setting('block_size')::int,"
            " (SELECT setting::bigint FROM pg_settings WHERE name = 'segment_size')",
            (rel, rel),
        ).fetchone()
        assert row is not None
        relpath, size, block_size, seg_blocks = str(row[0]), int(row[1]), int(row[2]), int(row[3])
        nblocks = size // block_size
        if nblocks == 0:
            raise ValueError(f"table {schema}.{name} has no data pages to corrupt")
        conn.execute("CHECKPOINT")
    chosen = sorted(set(blocks)) if blocks else _pick_blocks(nblocks, pages)
    if any(b < 0 or b >= nblocks for b in chosen):
        raise ValueError(f"blocks {chosen} outside {schema}.{name}'s 0..{nblocks - 1}")
    rng = random.Random(seed)
    result = PhysicalCorruption(dbname, f"{schema}.{name}", relpath, nblocks)
    data_dir = Path(handle.data_dir)
    handle.stop()
    try:
        for block in chosen:
            segment, in_seg = divmod(block, seg_blocks)
            path = data_dir / (relpath if segment == 0 else f"{relpath}.{segment}")
            page_at = in_seg * block_size
            with open(path, "r+b") as f:
                f.seek(page_at)
                page = bytearray(f.read(block_size))
                lower, upper = struct.unpack_from("<HH", page, 12)
                # The tuple area runs from pd_upper to the special space (the page end for
                # a heap page); aim at its middle, never at the header or line pointers.
                start_min = max(upper, lower, PAGE_HEADER_SIZE)
                span = max(1, min(length, block_size - start_min))
                start = max(start_min, (start_min + block_size) // 2 - span // 2)
                start = min(start, block_size - span)
                for i in range(start, start + span):
                    page[i] ^= rng.randrange(1, 256)
                f.seek(page_at + start)
                f.write(page[start : start + span])
                f.flush()
                os.fsync(f.fileno())
            result.pages.append(PageDamage(block, str(path), page_at + start, span))
    finally:
        handle.start()
    return result


# -- logical corruption -----------------------------------------------------------------------


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

    *where* is SQL written by the drill (trusted; a literal ``%`` in it must be written
    ``%%``, as *value* is passed as a query parameter).
    """
    schema, name = _resolve(conn, table)
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
    are updated, so row counts stay the same: only the orphan check and content differ.
    """
    schema, name = _resolve(conn, child_table)
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
    find the copies (it reads the heap, never the index).
    """
    schema, name = _resolve(conn, table)
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
    rel = qualified(schema, name)
    if method == "drop_constraint":
        refs = [
            fk.key
            for fk in list_foreign_keys(conn)
            if fk.ref_schema == schema and fk.ref_table == name
        ]
        if refs:
            raise ValueError(
                f"{key.name} is referenced by {', '.join(refs)}: dropping it needs CASCADE; "
                "use method='disable_index' or another table"
            )
        if key.kind == "unique index":
            disable = f"DROP INDEX {qualified(schema, key.name)}"
        else:
            disable = f"ALTER TABLE {rel} DROP CONSTRAINT {ident(key.name)}"
    elif method == "disable_index":
        disable = (
            "UPDATE pg_index SET indisunique = false"
            f" WHERE indexrelid = '{qualified(schema, key.name)}'::regclass"
        )
    else:
        raise ValueError(f"unknown method {method!r}")
    columns = [
        str(r[0])
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
            " AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
            (rel,),
        ).fetchall()
    ]
    cols = ", ".join(ident(c) for c in columns)
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
    tables: list[str]
    rows: dict[str, int]  # rows each table had
    foreign_keys_dropped: list[str]  # FKs of other tables that CASCADE removed


def drop_tables(conn: psycopg.Connection[Any], tables: list[str]) -> TablesDropped:
    """``DROP TABLE ... CASCADE``: the tables and the foreign keys pointing at them go."""
    resolved = [_resolve(conn, t) for t in tables]
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
    """``DELETE FROM table`` (the forgotten WHERE); ON DELETE CASCADE children go too."""
    schema, name = _resolve(conn, table)
    statement = f"DELETE FROM {qualified(schema, name)}"
    cur = conn.execute(statement)
    return RowsChanged(f"{schema}.{name}", statement, cur.rowcount)


# -- backups in S3 ----------------------------------------------------------------------------


@dataclass
class ObjectDamage:
    bucket: str
    key: str
    size_before: int
    size_after: int | None  # None: deleted
    versions_deleted: int = 0


def truncate_object(s3_client: Any, bucket: str, key: str, keep_bytes: int) -> ObjectDamage:
    """Replace an S3 object by its first *keep_bytes* bytes (an upload cut short).

    On a versioned bucket the good version stays reachable by its version id, as it
    would in a real incident.
    """
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    kept = body[: max(0, keep_bytes)]
    s3_client.put_object(Bucket=bucket, Key=key, Body=kept)
    return ObjectDamage(bucket, key, len(body), len(kept))


def delete_object(
    s3_client: Any, bucket: str, key: str, *, all_versions: bool = False
) -> ObjectDamage:
    """Delete an S3 object (e.g. a WAL segment of the archive).

    On a versioned bucket a plain delete only adds a delete marker; *all_versions* removes
    every version too (what a lifecycle rule or a purge does).
    """
    head = s3_client.head_object(Bucket=bucket, Key=key)
    size = int(head.get("ContentLength", 0))
    deleted = 0
    if all_versions:
        paginator = s3_client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                if v["Key"] == key:
                    s3_client.delete_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])
                    deleted += 1
    else:
        s3_client.delete_object(Bucket=bucket, Key=key)
        deleted = 1
    return ObjectDamage(bucket, key, size, None, deleted)
