"""The recovery-point oracle: what a backup method had captured at t0 must come back.

Pure logic and a live Drill with an in-memory ledger sink: which writes a point covers
(by acknowledgement time, by position, by seq, or all of them), which ledgers a point
protects, a protection the fault destroyed, one the service does not declare, and the
findings a lost captured write and an RPO above the method's bound give (both
directions: a recovery that kept the promise has none).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from typing import Any

import pytest

from drillbook.capture import Capture, destroyed, injecting
from drillbook.drill import Drill
from drillbook.ledger import LedgerWrite, WriteStatus, checksum_of, classify, make_payload
from drillbook.ledger.captured import CapturePoint, check, covers
from drillbook.record import DrillRecord, Phase, Verdict
from drillbook.verdict import evaluate, finalize

T0 = 100.0
SRC = "postgres://127.0.0.1:5432"


def writes(n: int) -> list[LedgerWrite]:
    """n writes acknowledged 10 ms apart before t0, position 1000 * seq."""
    out = []
    for seq in range(1, n + 1):
        payload = make_payload("tok", seq, 24)
        sent = T0 - 1.0 + seq * 0.01
        out.append(
            LedgerWrite(
                seq, payload, checksum_of(payload), sent, sent + 0.001, WriteStatus.ACKED,
                done_mono=sent + 0.001, position=1000 * seq,
            )
        )  # fmt: skip
    return out


def back(ws: list[LedgerWrite], *, without: Collection[int] = ()) -> dict[int, str]:
    return {w.seq: w.payload for w in ws if w.seq not in without}


def point(**cuts: Any) -> CapturePoint:
    return CapturePoint(
        "wal_archive", "WAL archive", SRC, "through X", kinds=("wal_archive",), **cuts
    )


@pytest.mark.parametrize(
    ("cuts", "captured"),
    [
        ({}, 50),
        ({"acked_before_mono": T0 - 1.0 + 20 * 0.01 + 0.0015}, 20),
        ({"position_through": 30_000}, 30),
        ({"seq_through": 7}, 7),
        ({"position_through": 30_000, "seq_through": 7}, 7),
        ({"position_through": -1}, 0),
    ],
    ids=["every write", "acked before", "position", "seq", "both", "nothing"],
)
def test_a_point_captures_the_writes_its_cuts_name(cuts: dict[str, Any], captured: int) -> None:
    ws = writes(50)
    [c] = check([point(**cuts)], ws, back(ws), T0, source=SRC + "/auth")
    assert (c.captured, c.lost, c.judged) == (captured, 0, True)


def test_a_write_acknowledged_at_or_after_t0_or_without_position_is_never_claimed() -> None:
    ws = writes(3)
    late = LedgerWrite(4, "x", checksum_of("x"), T0 - 0.001, T0, WriteStatus.ACKED)
    no_pos = LedgerWrite(5, "y", checksum_of("y"), T0 - 0.5, T0 - 0.4, WriteStatus.ACKED)
    p = point(position_through=10**9)
    assert [p.has(w, T0) for w in [*ws, late, no_pos]] == [True, True, True, False, False]
    assert point().has(no_pos, T0)  # no position cut: acknowledged before t0 is enough


def test_missing_and_corrupted_captured_writes_are_lost() -> None:
    ws = writes(20)
    readback = back(ws, without={3, 4})
    readback[9] = "wrong bytes"
    [c] = check([point(seq_through=10)], ws, readback, T0, source=SRC)
    assert (c.captured, c.lost, c.lost_seqs, c.last_captured_seq) == (10, 3, [3, 4, 9], 10)
    # Losses past the point are the RPO's business, not the method's.
    [c] = check([point(seq_through=2)], ws, readback, T0, source=SRC)
    assert c.lost == 0


def test_a_point_protects_its_source_and_what_lies_under_it() -> None:
    assert covers(SRC, SRC + "/auth") and covers(SRC + "/", SRC + "/auth")
    assert covers(SRC, SRC)
    assert not covers(SRC, "postgres://127.0.0.1:54321/auth")  # another port
    assert not covers(SRC + "/auth", SRC + "/authz")
    assert not covers(SRC, None)
    ws = writes(5)
    assert check([point()], ws, {}, T0, source="redis://127.0.0.1:6379/0") == []


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"destroyed": "the AOF went with the data directory"}, "destroyed by the fault"),
        ({"error": "ConnectionError: gone"}, "not sampled at t0"),
        ({"kinds": ("pg_dump",)}, "not a backup method of service auth"),
    ],
    ids=["destroyed", "not sampled", "not declared"],
)
def test_a_point_that_does_not_count_is_listed_with_the_reason(
    change: dict[str, object], why: str
) -> None:
    ws = writes(10)
    p = point()
    for key, value in change.items():
        setattr(p, key, value)
    [c] = check([p], ws, {}, T0, source=SRC, declared={"wal_archive"}, service="auth")
    assert not c.judged and c.lost == 10 and why in (c.why_not or "")


def test_destroyed_marks_matching_points_only_inside_a_fault() -> None:
    aof = CapturePoint("aof", "AOF", "redis://h:1", "p")
    rdb = CapturePoint("rdb", "RDB", "redis://h:1", "p")
    other = CapturePoint("aof", "AOF", "redis://h:2", "p")
    destroyed("redis://h:1", ["aof"], "outside any fault")  # a no-op
    assert aof.destroyed is None
    with injecting([aof, rdb, other]):
        destroyed("redis://h:1", ["aof"], "wiped")
    assert (aof.destroyed, rdb.destroyed, other.destroyed) == ("wiped", None, None)


def test_a_sample_that_raises_claims_nothing() -> None:
    def broken() -> CapturePoint:
        raise ConnectionError("standby unreachable")

    taken = Capture("async_replication", "standby", SRC, broken).take()
    assert taken.error == "ConnectionError: standby unreachable"
    assert taken.kinds == ("async_replication",) and taken.sampled_mono is not None


# -- a live drill: sampled before t0, judged at the read-back --------------------------------


class MemorySink:
    """A ledger in a dict; *keep* says which seqs a recovery brings back."""

    source = SRC + "/auth"

    def __init__(self) -> None:
        self.data: dict[int, str] = {}
        self.keep: int | None = None
        self.read_handle = None

    def prepare(self) -> None:
        pass

    def write(self, seq: int, payload: str) -> None:
        self.data[seq] = payload

    def position(self) -> int:
        return max(self.data) * 1000

    def read_all(self) -> dict[int, str]:
        return {s: p for s, p in self.data.items() if self.keep is None or s <= self.keep}

    def close(self) -> None:
        pass


@pytest.fixture
def drill() -> Iterator[Drill]:
    target = {
        "rto": 60.0,
        "rpo": 300.0,
        "rpo_bound": 1.0,
        "backups": [{"kind": "wal_archive", "text": "wal archive", "rpo_bound": 1.0}],
    }
    live = Drill(DrillRecord("d", "d", service="auth", target=target), probe_interval=0.005)
    yield live
    live.close()


def recovered(drill: Drill, sink: MemorySink, keep: int | None, through: int) -> DrillRecord:
    drill.protect(
        Capture("wal_archive", "WAL archive", SRC, lambda: point(position_through=through * 1000))
    )
    ledger = drill.ledger(sink, name="auth", cadence=0.002)
    drill.wait_for_writes(ledger, 40)
    return fault_and_recover(drill, sink, ledger, keep)


def fault_and_recover(drill: Drill, sink: MemorySink, ledger: Any, keep: int | None) -> DrillRecord:
    """t0, detection, decision; the recovery brings back the seqs up to *keep*."""
    with drill.fault("kill"):
        pass
    drill.observe_detection("probe")
    drill.decide("restore")
    with drill.step("restore", Phase.EXECUTION):
        sink.keep = keep
    drill.verify_ledger(ledger)
    drill.check("restored", True)
    return drill.record


def test_a_recovery_that_loses_a_captured_write_fails_whatever_the_target(drill: Drill) -> None:
    record = recovered(drill, MemorySink(), keep=10, through=30)
    [point_] = record.recovery_points
    assert point_["sampled_mono"] < record.t0_mono  # sampled just before t0
    assert finalize(record) is Verdict.FAIL
    [lost] = [f for f in record.findings if f.code == "CAPTURED_WRITE_LOST"]
    assert "20 of the 30 acknowledged writes the WAL archive had captured" in lost.message
    assert "seq 11, 12, 13, 14, 15, ..." in lost.message
    assert "RPO_EXCEEDED" not in {f.code for f in record.findings}  # 300 s target


def test_a_recovery_that_keeps_the_promise_has_no_capture_finding(drill: Drill) -> None:
    record = recovered(drill, MemorySink(), keep=None, through=30)
    assert finalize(record) is Verdict.PASS, record.findings
    assert record.findings == []


def backed_up(drill: Drill, sink: MemorySink, keep: int | None) -> DrillRecord:
    """40 writes, ``drill.backup`` (a pg_dump as the service declares it), 20 more."""
    drill.record.target = {
        **(drill.record.target or {}),
        "backups": [{"kind": "pg_dump", "text": "pg_dump every 1h"}],
    }
    ledger = drill.ledger(sink, name="auth", cadence=0.002)
    drill.wait_for_writes(ledger, 40)
    with drill.backup("my dump script", method="pg_dump", of=ledger):
        pass
    drill.wait_for_writes(ledger, 60)
    return fault_and_recover(drill, sink, ledger, keep)


def test_a_backup_of_the_drills_own_holds_what_was_acknowledged_before_it(drill: Drill) -> None:
    sink = MemorySink()
    record = backed_up(drill, sink, keep=None)
    [step] = [s for s in record.steps if s.name == "my dump script"]
    assert step.phase == Phase.SETUP.value
    [point_] = record.recovery_points
    assert point_["method"] == "pg_dump" and point_["acked_before_mono"] == step.start_mono
    assert finalize(record) is Verdict.PASS, record.findings


def test_a_recovery_losing_what_the_backup_held_fails(drill: Drill) -> None:
    record = backed_up(drill, MemorySink(), keep=20)  # an older backup: 20 of its writes
    assert finalize(record) is Verdict.FAIL
    [lost] = [f for f in record.findings if f.code == "CAPTURED_WRITE_LOST"]
    assert "'my dump script'" in lost.message and "seq 21, 22" in lost.message


def test_a_backup_that_failed_or_names_no_ledger_protects_nothing(drill: Drill) -> None:
    no_ledger = pytest.raises(ValueError, match="names no ledger")
    with no_ledger, drill.backup("dump", method="pg_dump", of=object()):
        pass
    with pytest.raises(RuntimeError), drill.backup("dump", method="pg_dump", of=SRC):
        raise RuntimeError("pg_dump: connection refused")
    assert drill.captures == []
    with drill.fault("kill"):
        pass
    with drill.backup("dump what is left", method="pg_dump", of=MemorySink()):  # a bare sink
        pass
    assert drill.captures == []  # after t0: it protects nothing the fault broke
    step = drill.record.steps[-1]
    assert step.phase == Phase.EXECUTION.value and "after t0" in step.notes["protects"]


def test_injection_is_its_own_span_and_detection_starts_after_it(drill: Drill) -> None:
    with drill.fault("kill, wipe"):
        time.sleep(0.05)
    drill.observe_detection("probe")
    rec = drill.record
    assert rec.injected_mono is not None and rec.t0_mono is not None
    bounds = rec.phase_bounds()
    assert bounds[Phase.FAULT.value] == (rec.t0_mono, rec.injected_mono)
    assert bounds[Phase.DETECTION.value][0] == rec.injected_mono
    assert rec.phase_durations()[Phase.FAULT.value] >= 0.05


# -- the method's bound ------------------------------------------------------------------------


def bound_record(*, rpo_target: float, scale: float, keep: int) -> DrillRecord:
    ws = writes(100)
    led = classify(ws, back(ws, without=set(range(keep + 1, 101))), T0, 0.01)
    method = point(seq_through=keep, bound_s=0.2)
    method.scale = scale
    led.captured = check([method], ws, back(ws), T0, source=SRC)
    rec = DrillRecord("d", "d", target={"rpo": rpo_target, "rpo_bound": 0.2, "backups": []})
    rec.t0_mono = T0
    rec.ledgers = {"auth": led.to_dict()}
    return rec


def test_an_rpo_above_the_methods_bound_warns_while_the_target_holds() -> None:
    [f] = [
        f
        for f in evaluate(bound_record(rpo_target=60.0, scale=1.0, keep=40))
        if f.code == "RPO_BOUND_EXCEEDED"
    ]
    assert f.severity == "warn" and "the RPO target is still met" in f.message
    assert "> the 0.200 s bound of the WAL archive" in f.message


def test_an_rpo_above_the_bound_fails_when_at_production_scale_it_misses_the_target() -> None:
    [f] = [
        f
        for f in evaluate(bound_record(rpo_target=1800.0, scale=3600.0, keep=40))
        if f.code == "RPO_BOUND_EXCEEDED"
    ]
    assert f.severity == "fail" and "at production scale" in f.message
    assert "misses the RPO target" in f.message


def test_an_rpo_within_the_bound_is_no_finding() -> None:
    findings = evaluate(bound_record(rpo_target=60.0, scale=1.0, keep=85))
    assert "RPO_BOUND_EXCEEDED" not in {f.code for f in findings}


def test_a_lower_bound_rpo_says_so_everywhere() -> None:
    from drillbook.plugin_terminal import record_line

    rec = bound_record(rpo_target=0.1, scale=1.0, keep=0)
    finalize(rec)
    assert rec.summary()["rpo_is_lower_bound"] is True
    messages = {f.code: f.message for f in rec.findings}
    assert "RPO ≥ " in messages["RPO_EXCEEDED"] and "RPO ≥ " in messages["RPO_BOUND_EXCEEDED"]
    assert " RPO ≥0.990s / bound" in record_line(rec)


def test_the_report_shows_the_injection_span_and_the_lower_bound(drill: Drill) -> None:
    from drillbook.reports.metrics import drill_gauges
    from drillbook.reports.svg_timeline import timeline

    with drill.fault("kill, wipe"):
        time.sleep(0.02)
    drill.observe_detection("probe")
    svg = timeline(drill.record) or ""
    assert "<title>fault: " in svg and "<title>detection: " in svg
    rec = bound_record(rpo_target=0.1, scale=1.0, keep=0)
    gauges = {m.name: m.samples for m in drill_gauges([rec])}
    assert [s.value for s in gauges["drill_rpo_is_lower_bound"]] == [1.0]
