"""Physical PostgreSQL faults: the server and its files (total loss, damaged pages)."""

from __future__ import annotations

import os
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from drillbook.errors import DrillNotRun
from drillbook.fixtures.base import Capability
from drillbook.scenarios.common import WipedDirectory, wipe_directory
from drillbook.scenarios.postgres.checks.catalog import qualified
from drillbook.scenarios.postgres.faults.logical import resolve

PAGE_HEADER_SIZE = 24  # PageHeaderData; pd_lower at offset 12, pd_upper at 14

TotalLoss = WipedDirectory


def total_loss(handle: Any) -> TotalLoss:
    """SIGKILL the server and remove everything in its data directory (procedure B).

    *handle*: the server (local or docker backend: needs kill, data-dir access and
    destruction allowed). The directory itself stays (a wiped volume's mount point): a
    restore puts the base backup back into it. Returns what was removed (files, bytes);
    records nothing itself: call it inside ``with drill.fault(...)``, which marks t0.
    """
    handle.require(Capability.KILL, Capability.DATA_DIR, Capability.DESTRUCTIVE)
    handle.kill()
    return wipe_directory(handle.data_dir, names=False)


@dataclass
class PageDamage:
    """One damaged page: its block, the segment file and the byte range overwritten."""

    block: int
    file: str
    offset: int  # byte offset in *file* of the first overwritten byte
    length: int


@dataclass
class PhysicalCorruption:
    """What :func:`physical_corruption` did: the relation's file and every page damaged."""

    dbname: str
    table: str
    relation_path: str  # relative to the data directory (pg_relation_filepath)
    blocks_in_relation: int
    pages: list[PageDamage] = field(default_factory=list)

    @property
    def blocks(self) -> list[int]:
        return [p.block for p in self.pages]


@dataclass(frozen=True)
class _Relation:
    schema: str
    name: str
    path: str  # pg_relation_filepath
    blocks: int
    block_size: int
    segment_blocks: int

    def file_of(self, data_dir: Path, block: int) -> tuple[Path, int]:
        """The segment file holding *block*, and the page's byte offset in it."""
        segment, in_segment = divmod(block, self.segment_blocks)
        name = self.path if segment == 0 else f"{self.path}.{segment}"
        return data_dir / name, in_segment * self.block_size


def _pick_blocks(nblocks: int, pages: int) -> list[int]:
    """*pages* blocks spread evenly over the relation (the middle of each share)."""
    pages = min(pages, nblocks)
    return sorted({(i * nblocks) // pages + nblocks // (2 * pages) for i in range(pages)})


def _relation(handle: Any, conn: psycopg.Connection[Any], table: str) -> _Relation:
    """Where *table*'s main fork lives, after checking data checksums are on."""
    (checksums,) = conn.execute("SHOW data_checksums").fetchone() or ("off",)
    if checksums != "on":
        raise DrillNotRun(
            f"physical corruption needs data checksums, which are off on {handle.name}: "
            "initdb --data-checksums (or pg_checksums --enable on a stopped cluster)",
            code="BACKEND_UNSUPPORTED",
        )
    schema, name = resolve(conn, table)
    rel = qualified(schema, name)
    row = conn.execute(
        "SELECT pg_relation_filepath(%s::regclass), pg_relation_size(%s::regclass),"
        " current_setting('block_size')::int,"
        " (SELECT setting::bigint FROM pg_settings WHERE name = 'segment_size')",
        (rel, rel),
    ).fetchone()
    assert row is not None
    size, block_size = int(row[1]), int(row[2])
    if size < block_size:
        raise ValueError(f"table {schema}.{name} has no data pages to corrupt")
    return _Relation(schema, name, str(row[0]), size // block_size, block_size, int(row[3]))


def _damage_page(
    path: Path, page_at: int, block: int, block_size: int, length: int, rng: Any
) -> PageDamage:
    """XOR *length* bytes in the middle of the page's tuple area with non-zero bytes."""
    with open(path, "r+b") as f:
        f.seek(page_at)
        page = bytearray(f.read(block_size))
        lower, upper = struct.unpack_from("<HH", page, 12)
        # The tuple area runs from pd_upper to the special space (the page end for a heap
        # page); aim at its middle, never at the header or line pointers.
        start_min = max(upper, lower, PAGE_HEADER_SIZE)
        span = max(1, min(length, block_size - start_min))
        start = min(max(start_min, (start_min + block_size) // 2 - span // 2), block_size - span)
        for i in range(start, start + span):
            page[i] ^= rng.randrange(1, 256)
        f.seek(page_at + start)
        f.write(page[start : start + span])
        f.flush()
        os.fsync(f.fileno())
    return PageDamage(block, str(path), page_at + start, span)


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
    """Overwrite *length* bytes in the tuple area of data pages of *table* (procedure A).

    *handle*: the server (needs data-dir access and stop/start: local or docker backend);
    *dbname*, *table*: what to damage; *blocks* picks the pages, by default *pages* blocks
    spread over the table; *seed* makes the bytes reproducible. The server is
    checkpointed and stopped cleanly first (nothing in shared buffers or WAL replay writes
    the good page back), each byte is XORed with a non-zero random byte, and the server
    is started again. With data checksums on (else NOT RUN), every read of a damaged page
    then fails with ``invalid page in block N of relation ...``. Returns the files and
    offsets changed; call it inside ``with drill.fault(...)``.
    """
    handle.require(Capability.DATA_DIR, Capability.STOP_START, Capability.DESTRUCTIVE)
    with handle.connect(dbname) as conn:
        rel = _relation(handle, conn, table)
        conn.execute("CHECKPOINT")
    chosen = sorted(set(blocks)) if blocks else _pick_blocks(rel.blocks, pages)
    if any(b < 0 or b >= rel.blocks for b in chosen):
        raise ValueError(f"blocks {chosen} outside {rel.schema}.{rel.name}'s 0..{rel.blocks - 1}")
    rng = random.Random(seed)
    result = PhysicalCorruption(dbname, f"{rel.schema}.{rel.name}", rel.path, rel.blocks)
    handle.stop()
    try:
        for block in chosen:
            path, page_at = rel.file_of(Path(handle.data_dir), block)
            result.pages.append(_damage_page(path, page_at, block, rel.block_size, length, rng))
    finally:
        handle.start()
    return result
