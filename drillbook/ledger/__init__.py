"""The RPO write ledger: numbered, acknowledged writes and their classification after recovery.

Why a ledger: a backup mechanism's *claimed* recovery point says nothing about what a
restore actually brought back. The only honest RPO measurement is to write small,
numbered, acknowledged records at a fixed cadence while the service is healthy, break
it at t0, recover, read everything back and ask for every single write whether it is
still there with the right content (Jepsen's discipline: never infer "nothing lost"
from a count).

Definitions (``DESIGN.md`` → "Definitions"; the numbers mean exactly this):

- t0 is the instant the fault injection starts. A write *started* at or before t0
  (``sent_mono <= t0``) is a pre-t0 write; a write started after t0 is a post-t0 write
  (``after_t0``) and never affects the RPO.
- A write is *acknowledged before t0* when it is ACKED and ``ack_mono < t0``. A pre-t0
  write acknowledged at/after t0, or never, was *in flight at t0*: whether it survives
  is legitimately undecided (INDETERMINATE).
- The recovery point is the last write of the longest prefix (in seq order) of the
  writes acknowledged before t0 in which every write SURVIVED.
  ``rpo_seconds = t0 - ack_mono(recovery point)``. Its resolution is the cadence.
- Holes after the recovery point, corrupted and phantom writes are integrity findings,
  reported as counts and seq lists, never folded into the RPO number.

This module is pure logic plus a service-agnostic background writer. Service-specific
code (a table row, a Redis key, an S3 object) lives in sinks elsewhere that implement
:class:`LedgerSink`. No pytest import here.
"""

from __future__ import annotations

from drillbook.ledger.classify import classify, classify_write, classify_writes
from drillbook.ledger.model import (
    LIST_CAP,
    RESULT_SCHEMA,
    CaptureCheck,
    ClassifiedWrite,
    LedgerResult,
    LedgerWrite,
    WriteClass,
    WriteStatus,
    checksum_of,
    make_payload,
)
from drillbook.ledger.writer import LedgerSink, LedgerWriter, next_tick

__all__ = [
    "LIST_CAP",
    "RESULT_SCHEMA",
    "CaptureCheck",
    "ClassifiedWrite",
    "LedgerResult",
    "LedgerSink",
    "LedgerWrite",
    "LedgerWriter",
    "WriteClass",
    "WriteStatus",
    "checksum_of",
    "classify",
    "classify_write",
    "classify_writes",
    "make_payload",
    "next_tick",
]
