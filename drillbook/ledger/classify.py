"""Classification: every write against what was read back after recovery, and the RPO.

Pure and deterministic: the same writes, read-back and t0 always give the same result.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence

from drillbook.ledger.model import (
    LIST_CAP,
    ClassifiedWrite,
    LedgerResult,
    LedgerWrite,
    WriteClass,
    WriteStatus,
    checksum_of,
)


def _is_pre_t0(write: LedgerWrite, t0_mono: float) -> bool:
    """A write started at or before t0 was exposed to the fault (in flight at t0 at worst)."""
    return write.sent_mono <= t0_mono


def _acked_before_t0(write: LedgerWrite, t0_mono: float) -> bool:
    return (
        write.status is WriteStatus.ACKED
        and write.ack_mono is not None
        and write.ack_mono < t0_mono
    )


def classify_write(write: LedgerWrite, read_payload: str | None, t0_mono: float) -> WriteClass:
    """Classify one ledger write given what was read back for its seq (None: absent).

    Wrong content is CORRUPTED whatever the write's status: payloads are deterministic
    per seq, so a record with other bytes is something the store made up or mangled
    (a torn page, a leftover from another run), never a legitimate outcome of a write
    that was in flight or failed.
    """
    present = read_payload is not None
    if read_payload is not None and checksum_of(read_payload) != write.checksum:
        return WriteClass.CORRUPTED
    pre = _is_pre_t0(write, t0_mono)
    if write.status is WriteStatus.ACKED:
        if pre and not _acked_before_t0(write, t0_mono):
            return WriteClass.INDETERMINATE  # in flight at t0: acked at/after t0
        return WriteClass.SURVIVED if present else WriteClass.LOST
    if write.status is WriteStatus.INFLIGHT and pre:
        return WriteClass.INDETERMINATE  # in flight at t0, never acked
    # FAILED (either side of t0) or never-acked post-t0: absence is the correct outcome;
    # presence means the store applied a write it did not confirm.
    return WriteClass.INDETERMINATE if present else WriteClass.UNACKNOWLEDGED


def _validated(writes: Iterable[LedgerWrite]) -> list[LedgerWrite]:
    ordered = sorted(writes, key=lambda w: w.seq)
    for prev, cur in itertools.pairwise(ordered):
        if prev.seq == cur.seq:
            raise ValueError(f"ledger has seq {cur.seq} twice; seqs must be unique")
    for w in ordered:
        if not math.isfinite(w.sent_mono):
            raise ValueError(f"ledger write {w.seq}: sent_mono must be finite, got {w.sent_mono}")
        if w.status is WriteStatus.ACKED:
            if w.ack_mono is None or not math.isfinite(w.ack_mono):
                raise ValueError(f"ledger write {w.seq} is ACKED but has no finite ack_mono")
            if w.ack_mono < w.sent_mono:
                raise ValueError(
                    f"ledger write {w.seq} acked ({w.ack_mono}) before it was sent "
                    f"({w.sent_mono}): sent/ack must come from the same monotonic clock"
                )
    return ordered


def classify_writes(
    writes: Sequence[LedgerWrite], readback: Mapping[int, str], t0_mono: float
) -> list[ClassifiedWrite]:
    """Every ledger write and every phantom record with its class, in seq order."""
    if not math.isfinite(t0_mono):
        raise ValueError(f"t0_mono must be finite, got {t0_mono}")
    ordered = _validated(writes)
    out = [
        ClassifiedWrite(
            seq=w.seq,
            cls=classify_write(w, readback.get(w.seq), t0_mono),
            after_t0=not _is_pre_t0(w, t0_mono),
            write=w,
        )
        for w in ordered
    ]
    written = {w.seq for w in ordered}
    out.extend(
        ClassifiedWrite(seq=s, cls=WriteClass.PHANTOM, after_t0=False, write=None)
        for s in readback
        if s not in written
    )
    out.sort(key=lambda c: c.seq)
    return out


def _last_seen(write: LedgerWrite) -> float:
    if write.ack_mono is not None:
        return write.ack_mono
    return write.done_mono if write.done_mono is not None else write.sent_mono


def _achieved_rate(writes: Sequence[LedgerWrite]) -> float | None:
    """Acked writes per second from the first send to the last thing the writer saw.

    A writer that could not keep its cadence (slow sink) coarsens the real resolution;
    comparing this with 1/cadence shows it.
    """
    if not writes:
        return None
    start = min(w.sent_mono for w in writes)
    end = max(_last_seen(w) for w in writes)
    period = end - start
    if period <= 0:
        return None
    acked = sum(1 for w in writes if w.status is WriteStatus.ACKED)
    return acked / period


def achieved_resolution(writes: Sequence[LedgerWrite], t0_mono: float, cadence: float) -> float:
    """The RPO's real resolution: the cadence, or the longest gap between consecutive
    writes sent before t0 when the sink could not keep up (a slow S3 PUT)."""
    sent = sorted(w.sent_mono for w in writes if w.sent_mono <= t0_mono)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    return max([cadence, *gaps])


def classify(
    writes: Sequence[LedgerWrite],
    readback: Mapping[int, str],
    t0_mono: float,
    cadence: float,
) -> LedgerResult:
    """Classify every write against the read-back and measure the RPO (exact, deterministic).

    ``writes`` may come in any order (they are sorted by seq); seqs must be unique.
    """
    if not (math.isfinite(cadence) and cadence > 0):
        raise ValueError(f"cadence must be a positive number of seconds, got {cadence}")
    classified = classify_writes(writes, readback, t0_mono)
    result = LedgerResult(
        t0_mono=t0_mono,
        cadence=cadence,
        resolution_seconds=achieved_resolution(writes, t0_mono, cadence),
        writes_total=len(writes),
        achieved_rate=_achieved_rate(writes),
    )
    _count(result, classified)
    pre = [c for c in classified if c.write is not None and not c.after_t0]
    point = _recovery_point(result, pre, t0_mono)
    result.holes = _holes(pre, point.seq if point is not None else None)
    return result


def _count(result: LedgerResult, classified: list[ClassifiedWrite]) -> None:
    """Counts per class (before / after t0) and the first LIST_CAP seqs of each finding."""
    pre_lists = {
        WriteClass.LOST: result.lost_seqs,
        WriteClass.CORRUPTED: result.corrupted_seqs,
        WriteClass.PHANTOM: result.phantom_seqs,
        WriteClass.INDETERMINATE: result.indeterminate_seqs,
    }
    post_lists = {
        WriteClass.LOST: result.lost_after_t0_seqs,
        WriteClass.CORRUPTED: result.corrupted_after_t0_seqs,
    }
    for c in classified:
        counts = result.counts_after_t0 if c.after_t0 else result.counts
        counts[c.cls] += 1
        target = (post_lists if c.after_t0 else pre_lists).get(c.cls)
        if target is not None and len(target) < LIST_CAP:
            target.append(c.seq)


def _recovery_point(
    result: LedgerResult, pre: list[ClassifiedWrite], t0_mono: float
) -> LedgerWrite | None:
    """The last write of the longest surviving prefix, and the RPO it gives.

    Walk the writes acknowledged before t0 in seq order while every one survived. Writes
    not acknowledged before t0 neither extend nor break the prefix: nobody was promised
    they were durable.
    """
    acked = [c for c in pre if c.write is not None and _acked_before_t0(c.write, t0_mono)]
    result.acked_before_t0 = len(acked)
    point: LedgerWrite | None = None
    for c in acked:
        if c.cls is not WriteClass.SURVIVED:
            break
        point = c.write
    if point is not None:
        assert point.ack_mono is not None  # guaranteed by _acked_before_t0
        result.recovery_point_seq = point.seq
        result.recovery_point_ack_mono = point.ack_mono
        result.rpo_seconds = t0_mono - point.ack_mono
    elif pre:
        first_sent = min(c.write.sent_mono for c in pre if c.write is not None)
        result.rpo_seconds = t0_mono - first_sent
        result.rpo_is_lower_bound = True
    return point


def _holes(pre: list[ClassifiedWrite], floor: int | None) -> int:
    """LOST pre-t0 writes after the recovery point with a SURVIVED pre-t0 write later.

    Post-t0 survivors do not count: after a point-in-time restore new writes land on the
    restored store, which would turn every tail loss into "holes". Scan backwards,
    remembering whether a survivor lies ahead.
    """
    holes = 0
    survivor_ahead = False
    for c in reversed(pre):
        if floor is not None and c.seq <= floor:
            break
        if c.cls is WriteClass.SURVIVED:
            survivor_ahead = True
        elif c.cls is WriteClass.LOST and survivor_ahead:
            holes += 1
    return holes
