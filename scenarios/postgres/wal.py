"""WAL positions, segments and the archive's own record of them: what a PITR can reach.

A point-in-time recovery is only as good as the archive it replays: a segment missing in
the middle stops the replay there, and PostgreSQL promotes anyway, losing everything
after the gap. This module knows

- LSNs (``0/6008298``) as integers and back, and which segment holds one;
- the archive's segments: the catalog ``wal_s3.py`` keeps at each acknowledged push
  (kept apart from the objects) and the objects actually in S3;
- :func:`archive_range`: the segments a PITR from a base backup needs, and those of them
  missing (WAL_ARCHIVE_GAP).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ArchiveRange",
    "CatalogEntry",
    "archive_range",
    "format_lsn",
    "parse_lsn",
    "read_catalog",
    "segment_name",
    "segment_of",
]

DEFAULT_SEGMENT = 16 * 1024 * 1024


def parse_lsn(text: str) -> int:
    """``'0/6008298'`` -> 100696728."""
    high, low = text.strip().split("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def segment_of(name: str, segment_size: int = DEFAULT_SEGMENT) -> tuple[int, int] | None:
    """(timeline, segment number) of a WAL file name, None for anything else (a
    ``.history``, ``.backup`` or ``.partial`` file)."""
    if len(name) != 24 or any(c not in "0123456789ABCDEF" for c in name):
        return None
    per_id = 0x100000000 // segment_size
    return int(name[:8], 16), int(name[8:16], 16) * per_id + int(name[16:], 16)


def segment_name(timeline: int, segno: int, segment_size: int = DEFAULT_SEGMENT) -> str:
    per_id = 0x100000000 // segment_size
    return f"{timeline:08X}{segno // per_id:08X}{segno % per_id:08X}"


@dataclass(frozen=True)
class CatalogEntry:
    """One push the archive acknowledged, as ``wal_s3.py`` recorded it locally."""

    name: str
    sha256: str
    size: int
    at: float  # epoch seconds


def read_catalog(path: Path) -> list[CatalogEntry]:
    """Every push of the catalog at *path* (none when it does not exist yet)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2].isdigit():
            with contextlib.suppress(ValueError):  # a line cut short by a kill
                out.append(CatalogEntry(parts[0], parts[1], int(parts[2]), float(parts[3])))
    return out


@dataclass
class ArchiveRange:
    """The segments a replay from a base backup needs, from its start to the newest one
    the archive ever held (in S3 or in its catalog), and which of them are missing."""

    timeline: int
    first: int  # segment number holding the base backup's start
    last: int | None  # the newest segment archived (None: nothing since the base)
    segment_size: int
    present: set[int] = field(default_factory=set)
    catalogued: dict[int, CatalogEntry] = field(default_factory=dict)

    @property
    def missing(self) -> list[int]:
        if self.last is None:
            return []
        return [n for n in range(self.first, self.last + 1) if n not in self.present]

    def name(self, segno: int) -> str:
        return segment_name(self.timeline, segno, self.segment_size)

    def end_lsn(self) -> int | None:
        """Where WAL ends in the archive: the end of its newest segment."""
        return None if self.last is None else (self.last + 1) * self.segment_size

    def contiguous_end(self, of: set[int]) -> int | None:
        """End LSN of the last segment reached from the base without a gap in *of*."""
        segno = self.first
        if segno not in of:
            return None
        while segno + 1 in of:
            segno += 1
        return (segno + 1) * self.segment_size

    def describe_gap(self) -> str:
        missing = self.missing
        names = ", ".join(self.name(n) for n in missing[:3]) + (" ..." if len(missing) > 3 else "")
        pushed = [self.catalogued[n] for n in missing if n in self.catalogued]
        when = (
            f"; the archive acknowledged {len(pushed)} of them at push "
            f"({time.strftime('%H:%M:%S', time.gmtime(pushed[0].at))} UTC first)"
            if pushed
            else ""
        )
        assert self.last is not None
        return (
            f"{len(missing)} WAL segment(s) missing from the archive between the base "
            f"backup's {self.name(self.first)} and the newest {self.name(self.last)}: "
            f"{names}{when}; replay stops at the first gap, everything after it is lost"
        )


def archive_range(
    start_lsn: int,
    timeline: int,
    names_in_store: Sequence[str],
    catalog: Sequence[CatalogEntry],
    segment_size: int = DEFAULT_SEGMENT,
) -> ArchiveRange:
    """The replay range of a base backup starting at *start_lsn* on *timeline*: the
    segments in S3 (*names_in_store*) and those the catalog says were archived."""
    first = start_lsn // segment_size
    present: set[int] = set()
    for name in names_in_store:
        seg = segment_of(name, segment_size)
        if seg is not None and seg[0] == timeline and seg[1] >= first:
            present.add(seg[1])
    catalogued: dict[int, CatalogEntry] = {}
    for entry in catalog:
        seg = segment_of(entry.name, segment_size)
        if seg is not None and seg[0] == timeline and seg[1] >= first:
            catalogued[seg[1]] = entry
    known = present | set(catalogued)
    return ArchiveRange(
        timeline, first, max(known) if known else None, segment_size, present, catalogued
    )
