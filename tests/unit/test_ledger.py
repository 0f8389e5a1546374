"""Tests for the RPO write ledger: classification against a reference, and the writer.

The classifier is checked against an independent, deliberately naive reference written
straight from DESIGN.md "Definitions", on generated ledgers; concrete examples pin the
numbers a drill report will show; the writer is exercised with an in-memory sink and
only logical assertions (never "it was fast enough").
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillbook.ledger import (
    LIST_CAP,
    LedgerResult,
    LedgerSink,
    LedgerWrite,
    LedgerWriter,
    WriteClass,
    WriteStatus,
    checksum_of,
    classify,
    classify_writes,
    make_payload,
    next_tick,
)

C = WriteClass
S = WriteStatus


def hyp(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


# ----------------------------------------------------------------------------- reference


def ref_checksum(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def ref_class(w: LedgerWrite, readback: dict[int, str], t0: float) -> tuple[WriteClass, bool]:
    """Decision table from the spec, one question at a time."""
    after_t0 = w.sent_mono > t0
    present = w.seq in readback
    if present and ref_checksum(readback[w.seq]) != w.checksum:
        return C.CORRUPTED, after_t0
    if w.status == S.FAILED:
        return (C.INDETERMINATE if present else C.UNACKNOWLEDGED), after_t0
    if after_t0:
        if w.status == S.ACKED:
            return (C.SURVIVED if present else C.LOST), True
        return (C.INDETERMINATE if present else C.UNACKNOWLEDGED), True
    # started at/before t0
    acked_in_time = w.status == S.ACKED and w.ack_mono is not None and w.ack_mono < t0
    if not acked_in_time:
        return C.INDETERMINATE, False  # in flight at t0
    return (C.SURVIVED if present else C.LOST), False


@dataclass
class Ref:
    classes: dict[int, tuple[WriteClass, bool]]
    counts: dict[WriteClass, int]
    counts_after: dict[WriteClass, int]
    recovery_point: LedgerWrite | None
    rpo: float | None
    lower_bound: bool
    holes: int


def reference(writes: list[LedgerWrite], readback: dict[int, str], t0: float) -> Ref:
    by_seq = sorted(writes, key=lambda w: w.seq)
    classes = {w.seq: ref_class(w, readback, t0) for w in by_seq}
    written = {w.seq for w in by_seq}
    for seq in readback:
        if seq not in written:
            classes[seq] = (C.PHANTOM, False)
    counts = {c: 0 for c in C}
    counts_after = {c: 0 for c in C}
    for cls, after in classes.values():
        (counts_after if after else counts)[cls] += 1

    acked_before = [
        w
        for w in by_seq
        if w.status == S.ACKED and w.ack_mono is not None and w.ack_mono < t0 and w.sent_mono <= t0
    ]
    point = None
    for w in acked_before:
        if classes[w.seq][0] == C.SURVIVED:
            point = w
        else:
            break
    pre_writes = [w for w in by_seq if w.sent_mono <= t0]
    if point is not None:
        assert point.ack_mono is not None
        rpo: float | None = t0 - point.ack_mono
        lower = False
    elif pre_writes:
        rpo = t0 - pre_writes[0].sent_mono
        lower = True
    else:
        rpo, lower = None, False

    holes = 0
    for i, w in enumerate(pre_writes):
        if point is not None and w.seq <= point.seq:
            continue
        if classes[w.seq][0] != C.LOST:
            continue
        if any(classes[x.seq][0] == C.SURVIVED for x in pre_writes[i + 1 :]):
            holes += 1
    return Ref(classes, counts, counts_after, point, rpo, lower, holes)


# ---------------------------------------------------------------------------- strategies


def mk(
    seq: int, sent: float, ack: float | None, status: WriteStatus, token: str = "tok"
) -> LedgerWrite:
    payload = make_payload(token, seq, 32)
    return LedgerWrite(
        seq=seq,
        payload=payload,
        checksum=checksum_of(payload),
        sent_mono=sent,
        ack_mono=ack,
        status=status,
        error="boom" if status == S.FAILED else None,
        done_mono=ack,
    )


# Small, exact step sizes make ties (sent == t0, ack == t0, ack == next sent) common.
STEP = st.sampled_from([0.0, 0.25, 0.5, 1.0]) | st.floats(0, 2, allow_nan=False)
DELAY = st.sampled_from([0.0, 0.25, 1.0]) | st.floats(0, 3, allow_nan=False)
OUTCOME = st.sampled_from(["present", "present", "present", "absent", "corrupt"])


@dataclass
class Case:
    writes: list[LedgerWrite]
    readback: dict[int, str]
    t0: float
    phantoms: set[int]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    # One list element per write (a list shrinks by dropping elements, so a failure
    # minimises to the few writes that matter).
    specs = draw(
        st.lists(
            st.tuples(
                STEP,
                st.sampled_from([S.ACKED, S.ACKED, S.ACKED, S.FAILED, S.INFLIGHT]),
                DELAY,
                OUTCOME,
                st.sampled_from(["", "garbage", "+x"]),
            ),
            max_size=30,
        )
    )
    n = len(specs)
    t = draw(st.floats(0, 1000, allow_nan=False))
    writes: list[LedgerWrite] = []
    readback: dict[int, str] = {}
    for seq, (step, status, delay, outcome, bad) in enumerate(specs, start=1):
        t += step
        w = mk(seq, t, t + delay if status == S.ACKED else None, status)
        writes.append(w)
        if outcome == "present":
            readback[seq] = w.payload
        elif outcome == "corrupt":
            readback[seq] = w.payload + "x" if bad == "+x" else bad
    phantoms = draw(st.sets(st.integers(-2, 0) | st.integers(n + 1, n + 10), max_size=4))
    for s in phantoms:
        readback[s] = f"tok:{s}:phantom"
    times = [w.sent_mono for w in writes] + [w.ack_mono for w in writes if w.ack_mono is not None]
    t0_choices = st.floats(t - 5 if writes else 0, t + 5, allow_nan=False)
    if times:
        t0_choices = t0_choices | st.sampled_from(times)
    t0 = draw(t0_choices)
    return Case(writes, readback, t0, phantoms)


# ------------------------------------------------------------------- property-based tests


@hyp(100)
@given(cases(), st.sampled_from([0.001, 0.01, 0.5]))
def test_classification_matches_reference(case: Case, cadence: float) -> None:
    ref = reference(case.writes, case.readback, case.t0)
    per_write = classify_writes(case.writes, case.readback, case.t0)
    assert {c.seq: (c.cls, c.after_t0) for c in per_write} == ref.classes

    r = classify(case.writes, case.readback, case.t0, cadence)
    assert r.counts == ref.counts
    assert r.counts_after_t0 == ref.counts_after
    assert r.holes == ref.holes
    assert r.rpo_is_lower_bound == ref.lower_bound
    # exact: the same float subtraction, no tolerance
    assert r.rpo_seconds == ref.rpo
    if ref.recovery_point is None:
        assert r.recovery_point_seq is None and r.recovery_point_ack_mono is None
    else:
        assert r.recovery_point_seq == ref.recovery_point.seq
        assert r.recovery_point_ack_mono == ref.recovery_point.ack_mono
        assert r.rpo_seconds == case.t0 - ack(ref.recovery_point)

    def seqs(cls: WriteClass, after: bool) -> list[int]:
        return sorted(s for s, (c, a) in ref.classes.items() if c == cls and a == after)

    assert r.lost_seqs == seqs(C.LOST, False)
    assert r.corrupted_seqs == seqs(C.CORRUPTED, False)
    assert r.indeterminate_seqs == seqs(C.INDETERMINATE, False)
    assert r.phantom_seqs == sorted(case.phantoms)
    assert r.lost_after_t0_seqs == seqs(C.LOST, True)
    assert r.corrupted_after_t0_seqs == seqs(C.CORRUPTED, True)
    assert r.cadence == cadence
    # The resolution is the cadence, or the longest gap between writes sent before t0.
    pre_sent = sorted(w.sent_mono for w in case.writes if w.sent_mono <= case.t0)
    assert r.resolution_seconds == max([cadence, *(b - a for a, b in itertools.pairwise(pre_sent))])
    assert r.t0_mono == case.t0
    assert r.writes_total == len(case.writes)


@hyp(100)
@given(cases())
def test_invariants(case: Case) -> None:
    r = classify(case.writes, case.readback, case.t0, 0.01)
    assert sum(r.counts.values()) + sum(r.counts_after_t0.values()) == len(case.writes) + len(
        case.phantoms
    )
    assert r.counts[C.PHANTOM] == len(case.phantoms)
    assert r.counts_after_t0[C.PHANTOM] == 0
    # post-t0 writes are never in flight at t0: they are survived/lost/corrupted or not acked
    assert r.counts_after_t0[C.INDETERMINATE] == sum(
        1
        for w in case.writes
        if w.sent_mono > case.t0
        and w.status != S.ACKED
        and w.seq in case.readback
        and checksum_of(case.readback[w.seq]) == w.checksum
    )
    if r.recovery_point_seq is not None:
        assert r.rpo_seconds is not None and r.rpo_seconds > 0
        assert not r.rpo_is_lower_bound
    if r.rpo_seconds is not None:
        assert r.rpo_seconds >= 0
    else:
        assert all(w.sent_mono > case.t0 for w in case.writes)
    # every LOST pre-t0 write was acknowledged before t0
    by_seq = {w.seq: w for w in case.writes}
    for s in r.lost_seqs:
        ack = by_seq[s].ack_mono
        assert ack is not None and ack < case.t0
    # holes are a subset of pre-t0 losses
    assert r.holes <= r.counts[C.LOST]
    # deterministic and order independent
    shuffled = list(case.writes)
    random.Random(0).shuffle(shuffled)
    assert classify(shuffled, case.readback, case.t0, 0.01) == r


@hyp(100)
@given(
    st.lists(st.tuples(STEP, DELAY), min_size=1, max_size=40),
    st.floats(0.0, 5.0, allow_nan=False),
    st.booleans(),
)
def test_all_survived_writer_stopped_at_t0(
    steps: list[tuple[float, float]], margin: float, last_in_flight: bool
) -> None:
    """Sequential writer (each ack before the next send), everything read back."""
    writes: list[LedgerWrite] = []
    t = 100.0
    for seq, (step, delay) in enumerate(steps, start=1):
        sent = t + step
        ack = sent + delay
        writes.append(mk(seq, sent, ack, S.ACKED))
        t = ack
    last = writes[-1]
    assert last.ack_mono is not None
    before_last = writes[-2].ack_mono if len(writes) > 1 else None
    if last_in_flight and before_last is not None and before_last < last.sent_mono < last.ack_mono:
        # t0 lands while the last write is in flight: it is indeterminate, the one
        # before it is the recovery point.
        t0 = last.sent_mono
        expected_point = writes[-2]
    else:
        t0 = last.ack_mono + margin
        if t0 == last.ack_mono:
            t0 = last.ack_mono + 0.5
        expected_point = last
    readback = {w.seq: w.payload for w in writes}
    r = classify(writes, readback, t0, 0.01)
    assert expected_point.ack_mono is not None
    assert r.recovery_point_seq == expected_point.seq
    assert r.rpo_seconds == t0 - expected_point.ack_mono
    assert r.counts[C.LOST] == r.holes == 0
    assert not r.has_integrity_findings


@hyp(50)
@given(cases(), st.sampled_from([0.001, 0.01]))
def test_json_round_trip_is_lossless(case: Case, cadence: float) -> None:
    r = classify(case.writes, case.readback, case.t0, cadence)
    again = LedgerResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again == r
    assert again.to_dict() == r.to_dict()
    for w in case.writes:
        assert LedgerWrite.from_dict(json.loads(json.dumps(w.to_dict()))) == w


# --------------------------------------------------------------------- concrete examples

CAD = 0.01
DELAY_ACK = 0.002


def steady(n: int, start: float = 100.0) -> list[LedgerWrite]:
    """n writes at a 10 ms cadence, each acked 2 ms after it was sent."""
    return [
        mk(i, start + (i - 1) * CAD, start + (i - 1) * CAD + DELAY_ACK, S.ACKED)
        for i in range(1, n + 1)
    ]


def all_of(writes: Iterable[LedgerWrite], except_: Iterable[int] = ()) -> dict[int, str]:
    skip = set(except_)
    return {w.seq: w.payload for w in writes if w.seq not in skip}


def ack(w: LedgerWrite) -> float:
    assert w.ack_mono is not None
    return w.ack_mono


def test_tail_deleted_after_k() -> None:
    writes = steady(100)
    t0 = ack(writes[-1]) + 0.004
    k = 60
    r = classify(writes, all_of(writes[:k]), t0, CAD)
    assert r.counts[C.LOST] == 40 and r.lost_seqs == list(range(61, 101))
    assert r.counts[C.SURVIVED] == 60
    assert r.recovery_point_seq == 60
    assert r.rpo_seconds == t0 - ack(writes[59])
    assert r.rpo_seconds == pytest.approx(0.4 + 0.004 - 0.0)  # 40 writes * 10 ms + margin
    assert r.holes == 0 and not r.rpo_is_lower_bound
    assert r.acked_before_t0 == 100
    assert not r.has_integrity_findings  # tail loss is the RPO, not a finding


def test_hole_in_the_middle_is_counted_not_folded_into_rpo() -> None:
    writes = steady(20)
    t0 = ack(writes[-1]) + 0.001
    r = classify(writes, all_of(writes, except_=[8, 9, 15]), t0, CAD)
    assert r.recovery_point_seq == 7
    assert r.rpo_seconds == t0 - ack(writes[6])
    assert r.counts[C.LOST] == 3 and r.lost_seqs == [8, 9, 15]
    assert r.holes == 3
    assert r.has_integrity_findings


def test_tail_loss_after_a_hole_is_not_a_hole() -> None:
    writes = steady(10)
    t0 = ack(writes[-1]) + 0.001
    r = classify(writes, all_of(writes, except_=[4, 8, 9, 10]), t0, CAD)
    assert r.recovery_point_seq == 3
    assert r.holes == 1  # seq 4 (followed by surviving 5..7); 8..10 are the tail


def test_phantom() -> None:
    writes = steady(5)
    t0 = ack(writes[-1]) + 0.001
    rb = all_of(writes)
    rb[6] = "someone else's row"
    rb[999] = "tok:999:"
    r = classify(writes, rb, t0, CAD)
    assert r.counts[C.PHANTOM] == 2 and r.phantom_seqs == [6, 999]
    assert r.recovery_point_seq == 5 and r.rpo_seconds == t0 - ack(writes[-1])
    assert r.has_integrity_findings


def test_corrupted_stops_the_prefix_and_is_a_finding() -> None:
    writes = steady(5)
    t0 = ack(writes[-1]) + 0.001
    rb = all_of(writes)
    rb[3] = rb[3][:-1] + "!"
    r = classify(writes, rb, t0, CAD)
    assert r.corrupted_seqs == [3] and r.counts[C.CORRUPTED] == 1
    assert r.recovery_point_seq == 2
    assert r.holes == 0
    assert r.has_integrity_findings


def test_leftover_row_from_another_run_is_corrupted() -> None:
    writes = steady(3)
    rb = all_of(writes)
    rb[2] = make_payload("other-run", 2, 32)
    r = classify(writes, rb, ack(writes[-1]) + 1, CAD)
    assert r.corrupted_seqs == [2]


def test_nothing_survived_gives_lower_bound() -> None:
    writes = steady(10)
    t0 = ack(writes[-1]) + 0.001
    r = classify(writes, {}, t0, CAD)
    assert r.recovery_point_seq is None
    assert r.rpo_is_lower_bound
    assert r.rpo_seconds == t0 - writes[0].sent_mono
    assert r.holes == 0


def test_first_write_lost_but_rest_survived_is_lower_bound_with_no_holes_before() -> None:
    writes = steady(4)
    t0 = ack(writes[-1]) + 0.001
    r = classify(writes, all_of(writes, except_=[1]), t0, CAD)
    assert r.rpo_is_lower_bound and r.recovery_point_seq is None
    assert r.holes == 1


def test_empty_ledger() -> None:
    r = classify([], {}, 5.0, CAD)
    assert r.rpo_seconds is None and not r.rpo_is_lower_bound
    assert r.writes_total == 0 and r.achieved_rate is None


def test_ledger_started_after_t0_has_no_rpo() -> None:
    writes = steady(3, start=200.0)
    r = classify(writes, all_of(writes), 100.0, CAD)
    assert r.rpo_seconds is None
    assert r.counts_after_t0[C.SURVIVED] == 3


def test_in_flight_at_t0_is_indeterminate_present_or_not() -> None:
    writes = steady(5)
    t0 = writes[-1].sent_mono + 0.001  # seq 5 sent before t0, acked after
    for rb in (all_of(writes), all_of(writes, except_=[5])):
        r = classify(writes, rb, t0, CAD)
        assert r.indeterminate_seqs == [5]
        assert r.counts[C.LOST] == 0
        assert r.recovery_point_seq == 4
        assert r.rpo_seconds == t0 - ack(writes[3])
        assert r.acked_before_t0 == 4


def test_boundaries_sent_at_t0_is_pre_t0_and_ack_at_t0_is_in_flight() -> None:
    w1 = mk(1, 1.0, 1.5, S.ACKED)
    w2 = mk(2, 2.0, 3.0, S.ACKED)
    r = classify([w1, w2], {}, 2.0, CAD)  # w2 sent exactly at t0
    assert r.indeterminate_seqs == [2] and r.counts_after_t0[C.INDETERMINATE] == 0
    r = classify([w1, w2], all_of([w1]), 1.5, CAD)  # w1 acked exactly at t0
    assert r.indeterminate_seqs == [1]
    assert r.counts_after_t0[C.LOST] == 1  # w2 started after t0, acked, missing


def test_failed_and_inflight_writes() -> None:
    writes = [
        mk(1, 1.0, 1.1, S.ACKED),
        mk(2, 2.0, None, S.FAILED),
        mk(3, 3.0, None, S.FAILED),
        mk(4, 4.0, 4.1, S.ACKED),
        mk(5, 5.0, None, S.INFLIGHT),
    ]
    rb = all_of(writes, except_=[3, 5])
    r = classify(writes, rb, 10.0, CAD)
    assert r.counts[C.UNACKNOWLEDGED] == 1  # seq 3: failed and absent is correct
    assert r.indeterminate_seqs == [2, 5]  # failed yet present; in flight at t0
    assert r.recovery_point_seq == 4  # failed writes neither extend nor break the prefix
    assert r.rpo_seconds == 10.0 - 4.1
    assert not r.has_integrity_findings


def test_post_t0_writes_never_affect_rpo_but_their_loss_is_a_finding() -> None:
    writes = steady(10)
    t0 = ack(writes[4]) + 0.001  # writes 6..10 started after t0
    rb = all_of(writes, except_=[5, 9])
    r = classify(writes, rb, t0, CAD)
    assert r.recovery_point_seq == 4
    assert r.holes == 0  # the post-t0 survivors 6..8, 10 do not turn seq 5 into a hole
    assert r.counts_after_t0[C.SURVIVED] == 4
    assert r.lost_after_t0_seqs == [9]
    assert r.lost_seqs == [5]
    assert r.has_integrity_findings


def test_lists_are_capped_counts_are_exact() -> None:
    writes = steady(LIST_CAP * 2 + 500)
    t0 = ack(writes[-1]) + 0.001
    r = classify(writes, all_of(writes[:10]), t0, CAD)
    assert r.counts[C.LOST] == LIST_CAP * 2 + 490
    assert len(r.lost_seqs) == LIST_CAP and r.lost_seqs[0] == 11
    assert LedgerResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_achieved_rate() -> None:
    writes = [mk(1, 0.0, 0.5, S.ACKED), mk(2, 1.0, None, S.FAILED), mk(3, 1.5, 2.0, S.ACKED)]
    r = classify(writes, {}, 10.0, CAD)
    assert r.achieved_rate == 2 / 2.0


@pytest.mark.parametrize(
    ("writes", "match"),
    [
        ([mk(1, 0.0, 0.1, S.ACKED), mk(1, 1.0, 1.1, S.ACKED)], "twice"),
        ([mk(1, 0.0, None, S.ACKED)], "ack_mono"),
        ([mk(1, 1.0, 0.5, S.ACKED)], "before it was sent"),
    ],
)
def test_invalid_ledgers_are_refused(writes: list[LedgerWrite], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        classify(writes, {}, 5.0, CAD)


def test_invalid_cadence_and_t0_are_refused() -> None:
    with pytest.raises(ValueError, match="cadence"):
        classify([], {}, 5.0, 0.0)
    with pytest.raises(ValueError, match="t0"):
        classify([], {}, float("nan"), CAD)


def test_from_dict_refuses_foreign_schema() -> None:
    d = classify([], {}, 1.0, CAD).to_dict()
    d["schema"] = "something/9"
    with pytest.raises(ValueError, match="schema"):
        LedgerResult.from_dict(d)


def test_payload_is_deterministic_sized_and_self_describing() -> None:
    p = make_payload("abc", 42, 64)
    assert len(p) == 64 and p.startswith("abc:42:")
    assert p == make_payload("abc", 42, 64)
    assert p != make_payload("abc", 43, 64)[:7] + p[7:]
    assert make_payload("abc", 42, 3) == "abc:42:"  # the seq is never truncated away
    assert len(make_payload("t", 1, 1000)) == 1000


@pytest.mark.parametrize(
    ("tick", "now", "expected"),
    [
        (0, 0.0005, 1),  # on time: next tick
        (0, 0.0105, 1),  # one late: write it now
        (3, 0.0355, 4),
        (3, 0.0951, 9),  # far behind: one immediate write at tick 9, not a burst of 5
        (9, 0.0952, 10),  # after the catch-up write, the next tick is in the future
    ],
)
def test_next_tick_never_bursts(tick: int, now: float, expected: int) -> None:
    assert next_tick(tick, 0.0, now, 0.01) == expected


# ------------------------------------------------------------------------------- writer


class MemorySink:
    """Dict-backed sink with failure injection and an optional write that hangs."""

    def __init__(self, fail_seqs: Iterable[int] = (), block_seq: int | None = None) -> None:
        self.data: dict[int, str] = {}
        self.lock = threading.Lock()
        self.fail_seqs = set(fail_seqs)
        self.block_seq = block_seq
        self.release = threading.Event()
        self.prepared = 0
        self.closed = 0

    def prepare(self) -> None:
        self.prepared += 1

    def write(self, seq: int, payload: str) -> None:
        if seq in self.fail_seqs:
            raise ConnectionError(f"injected failure at {seq}")
        if seq == self.block_seq:
            self.release.wait(30)  # "forever" as far as stop() is concerned
        with self.lock:
            self.data[seq] = payload

    def read_all(self) -> dict[int, str]:
        with self.lock:
            return dict(self.data)

    def close(self) -> None:
        self.closed += 1


def wait_until(pred: Callable[[], bool], deadline: float = 5.0) -> None:
    end = time.monotonic() + deadline
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(0.001)


def assert_well_formed(writes: list[LedgerWrite]) -> None:
    assert [w.seq for w in writes] == list(range(1, len(writes) + 1))
    for prev, cur in itertools.pairwise(writes):
        assert cur.sent_mono >= prev.sent_mono
        # single writer: a write starts only after the previous one returned
        assert prev.done_mono is not None and cur.sent_mono >= prev.done_mono
    for w in writes:
        if w.status == S.ACKED:
            assert w.ack_mono is not None and w.ack_mono >= w.sent_mono
        else:
            assert w.ack_mono is None


def test_sink_protocol_is_satisfied_by_memory_sink() -> None:
    assert isinstance(MemorySink(), LedgerSink)


def test_writer_stop_at_t0_then_verify() -> None:
    sink = MemorySink()
    with LedgerWriter(sink, cadence=0.002, token="run1", payload_size=48) as w:
        wait_until(lambda: len(w.writes) >= 10)
        t0 = w.mark_t0()
        wait_until(lambda: not w.running)  # stop=True ends the thread by itself
        writes = w.writes
        result = w.verify()
    assert sink.prepared == 1 and sink.closed == 1
    assert_well_formed(writes)
    assert all(x.sent_mono <= t0 for x in writes)
    assert all(x.status == S.ACKED for x in writes)  # the in-flight one finished too
    assert all(len(x.payload) == 48 and x.payload.startswith(f"run1:{x.seq}:") for x in writes)
    assert result.counts[C.LOST] == 0 and not result.has_integrity_findings
    acked_before = [x for x in writes if x.ack_mono is not None and x.ack_mono < t0]
    assert result.recovery_point_seq == acked_before[-1].seq
    assert result.rpo_seconds == t0 - ack(acked_before[-1])
    sent = [x.sent_mono for x in writes]
    assert result.resolution_seconds == max([0.002, *(b - a for a, b in itertools.pairwise(sent))])
    assert result.resolution_seconds >= 0.002
    assert w.started_wall is not None and w.started_mono is not None


def test_writer_future_t0_leaves_no_write_sent_after_t0() -> None:
    clock = time.monotonic
    with LedgerWriter(MemorySink(), cadence=0.002) as w:
        t0 = w.mark_t0(clock() + 0.03)
        wait_until(lambda: not w.running)
        writes = w.writes
    assert writes and all(x.sent_mono <= t0 for x in writes)
    assert_well_formed(writes)


def test_writer_keeps_writing_through_outage_when_not_stopped() -> None:
    sink = MemorySink()
    with LedgerWriter(sink, cadence=0.002) as w:
        wait_until(lambda: len(w.writes) >= 3)
        t0 = w.mark_t0(stop=False)
        wait_until(lambda: sum(x.sent_mono > t0 for x in w.writes) >= 5)
        assert w.running
        result = w.verify()  # stops the writer first
        assert not w.running
        writes = w.writes
    assert_well_formed(writes)
    post = [x for x in writes if x.sent_mono > t0]
    assert len(post) >= 5
    assert result.counts_after_t0[C.SURVIVED] == len(post)
    assert result.counts[C.LOST] == 0


def test_writer_records_failures_and_keeps_going() -> None:
    sink = MemorySink(fail_seqs={3, 5})
    with LedgerWriter(sink, cadence=0.001) as w:
        wait_until(lambda: len(w.writes) >= 8)
        t0 = w.mark_t0()
        wait_until(lambda: not w.running)
        writes = w.writes
        result = w.verify()
    assert_well_formed(writes)
    failed = [x for x in writes if x.status == S.FAILED]
    assert [x.seq for x in failed] == [3, 5]
    assert all(x.error == f"ConnectionError: injected failure at {x.seq}" for x in failed)
    assert all(x.done_mono is not None and x.done_mono >= x.sent_mono for x in failed)
    assert result.counts[C.UNACKNOWLEDGED] == 2
    assert result.counts[C.LOST] == 0
    assert result.recovery_point_seq == max(
        x.seq for x in writes if x.ack_mono is not None and x.ack_mono < t0
    )


def test_stuck_sink_does_not_hang_stop() -> None:
    sink = MemorySink(block_seq=3)
    w = LedgerWriter(sink, cadence=0.001)
    w.start()
    try:
        wait_until(lambda: len(w.writes) == 3)
        assert w.stop(timeout=0.1) is False
        assert w.stuck
        assert w.stop() is False  # idempotent, returns at once
        frozen = w.writes
        assert [x.status for x in frozen] == [S.ACKED, S.ACKED, S.INFLIGHT]
        result = w.verify(t0_mono=frozen[-1].sent_mono + 1e-9)
        assert result.indeterminate_seqs == [3]
        assert result.recovery_point_seq == 2
    finally:
        sink.release.set()
        w.close()
    thread = w._thread
    assert thread is not None
    thread.join(5)
    assert not thread.is_alive()
    assert w.writes == frozen  # a late ack does not rewrite a frozen ledger
    assert sink.data.keys() == {1, 2, 3}  # the store did apply it: indeterminate is right
    assert w.crash is None


def test_context_manager_stops_on_exception_and_stop_is_idempotent() -> None:
    sink = MemorySink()
    with pytest.raises(RuntimeError, match="drill blew up"), LedgerWriter(sink, cadence=0.001) as w:
        wait_until(lambda: len(w.writes) >= 2)
        raise RuntimeError("drill blew up")
    assert not w.running and sink.closed == 1
    assert w.stop() is True and w.stop() is True
    w.close()
    assert sink.closed == 1
    assert w._thread is not None and not w._thread.is_alive()
    n = len(w.writes)
    time.sleep(0.01)
    assert len(w.writes) == n


def test_writer_misuse_is_refused() -> None:
    w = LedgerWriter(MemorySink(), cadence=0.001)
    with pytest.raises(RuntimeError, match="no t0"):
        w.verify()
    w.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            w.start()
        w.mark_t0(stop=False)
        with pytest.raises(RuntimeError, match="already marked"):
            w.mark_t0()
    finally:
        w.close()
    with pytest.raises(ValueError, match="cadence"):
        LedgerWriter(MemorySink(), cadence=0)


def test_writer_verify_detects_deleted_tail() -> None:
    sink = MemorySink()
    with LedgerWriter(sink, cadence=0.001) as w:
        wait_until(lambda: len(w.writes) >= 20)
        t0 = w.mark_t0()
        wait_until(lambda: not w.running)
        writes = w.writes
        for seq in range(11, len(writes) + 1):  # "the restore lost everything after 10"
            del sink.data[seq]
        result = w.verify()
    acked_before = [x for x in writes if x.ack_mono is not None and x.ack_mono < t0]
    assert result.recovery_point_seq == 10
    assert result.rpo_seconds == t0 - ack(writes[9])
    assert result.counts[C.LOST] == len([x for x in acked_before if x.seq > 10])
    assert result.holes == 0
