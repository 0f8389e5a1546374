"""The drill record: lossless JSON round trip, phase bounds and the RTO clock.

The record is the only thing reports ever see, so its numbers must mean exactly what
DESIGN.md "Definitions" says (RTO = validated - t0, or - detection when the target's
clock starts there; phases follow one another from t0) and survive JSON unchanged.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillbook.drill import Drill
from drillbook.ledger import LedgerWriter
from drillbook.record import (
    SCHEMA_VERSION,
    Check,
    Command,
    DrillRecord,
    Finding,
    Phase,
    Projection,
    Step,
)
from drillbook.verdict import finalize

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Whole records are big to generate: fewer, still varied, examples.
RECORDS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies -------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
mono = st.floats(min_value=0.0, max_value=1e7, allow_nan=False, allow_infinity=False)
opt_mono = st.none() | mono
text = st.text(max_size=30)
json_scalar = st.none() | st.booleans() | st.integers() | finite | text
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=5,
)
json_dict = st.dictionaries(text, json_value, max_size=3)

commands = st.builds(
    Command,
    kind=st.sampled_from(["argv", "sql", "api", "probe"]),
    text=text,
    start_mono=mono,
    end_mono=opt_mono,
    exit_status=st.none() | st.integers(-128, 255),
    output_tail=text,
)
steps = st.builds(
    Step,
    name=text,
    phase=st.sampled_from([p.value for p in Phase]),
    start_mono=mono,
    end_mono=opt_mono,
    outcome=st.sampled_from(["ok", "failed", "timeout", "running"]),
    error=st.none() | text,
    commands=st.lists(commands, max_size=3),
    bytes_processed=st.none() | st.integers(0, 2**62),
    notes=json_dict,
    fixed_seconds=st.none() | finite,
)
checks = st.builds(
    Check,
    name=text,
    passed=st.booleans(),
    detail=text,
    expected=json_value,
    actual=json_value,
    at_mono=mono,
)
findings = st.builds(
    Finding,
    code=st.sampled_from(["RTO_EXCEEDED", "DATA_LOST", "INTEGRITY_FAILED", "X"]),
    message=text,
    severity=st.sampled_from(["fail", "warn"]),
)
projections = st.builds(
    Projection,
    step=text,
    measured_bytes=st.integers(0, 2**62),
    measured_seconds=finite,
    throughput_bytes_per_s=finite,
    fixed_overhead_s=finite,
    production_size_bytes=st.integers(0, 2**62),
    projected_seconds=finite,
    rto_target=st.none() | finite,
)
# A ledger entry as LedgerResult.to_dict() makes it: summary() reads rpo_seconds.
ledger_dicts = st.fixed_dictionaries(
    {
        "rpo_seconds": st.none() | finite,
        "resolution_seconds": finite,
        "counts": st.dictionaries(
            st.sampled_from(["survived", "lost", "corrupted", "phantom"]), st.integers(0, 10**6)
        ),
        "lost_seqs": st.lists(st.integers(1, 10**6), max_size=5),
        "holes": st.integers(0, 100),
    }
)
targets = st.none() | st.fixed_dictionaries(
    {
        "name": text,
        "kind": st.sampled_from(["postgres", "redis", "s3"]),
        "rto": finite,
        "rpo": finite,
        "rto_clock": st.sampled_from(["fault", "detection"]),
        "rpo_bound": st.none() | finite,
        "backups": st.lists(st.fixed_dictionaries({"text": text}), max_size=2),
        "production_size": st.none() | st.integers(0, 2**62),
    }
)
records = st.builds(
    DrillRecord,
    drill_id=text,
    name=text,
    service=st.none() | text,
    scenario=st.none() | text,
    backend=st.none() | text,
    schema_version=st.just(SCHEMA_VERSION),
    versions=st.dictionaries(text, text, max_size=3),
    target=targets,
    targets_digest=st.none() | text,
    origin_mono=mono,
    origin_wall=st.floats(min_value=0, max_value=4e9),
    t0_mono=opt_mono,
    fault=st.none() | text,
    detected_mono=opt_mono,
    decided_mono=opt_mono,
    procedure=st.none() | text,
    executed_mono=opt_mono,
    first_healthy_mono=opt_mono,
    validated_mono=opt_mono,
    finished_mono=opt_mono,
    deadline_s=st.none() | finite,
    steps=st.lists(steps, max_size=4),
    checks=st.lists(checks, max_size=3),
    findings=st.lists(findings, max_size=3),
    ledgers=st.dictionaries(text, ledger_dicts, max_size=2),
    triage=st.none() | json_dict,
    projection=st.none() | projections,
    notes=json_dict,
    verdict=st.none() | st.sampled_from(["PASS", "FAIL", "NOT RUN"]),
    not_run_reason=st.none() | text,
    error=st.none() | text,
)


def _strict_json(text: str) -> Any:
    """JSON as any other tool reads it: NaN/Infinity are not JSON."""

    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


# -- round trip -----------------------------------------------------------------------


@RECORDS
@given(records)
def test_json_round_trip_is_lossless(record: DrillRecord) -> None:
    text = record.to_json()
    back = DrillRecord.from_json(text)
    assert back == record
    # Nested objects come back as their dataclasses, not as dicts.
    assert all(isinstance(s, Step) for s in back.steps)
    assert all(isinstance(c, Command) for s in back.steps for c in s.commands)
    assert all(isinstance(c, Check) for c in back.checks)
    assert all(isinstance(f, Finding) for f in back.findings)
    assert back.projection is None or isinstance(back.projection, Projection)
    # A second trip changes nothing either.
    assert back.to_json() == text
    data = _strict_json(text)
    assert data["schema_version"] == SCHEMA_VERSION
    # The summary is derived data: carried for readers, recomputed, never trusted back.
    assert data["summary"] == json.loads(json.dumps(record.summary()))
    data["summary"] = {"rto_s": "tampered"}
    assert DrillRecord.from_dict(data) == record


def _memory_sink() -> Any:
    class Sink:
        def __init__(self) -> None:
            self.rows: dict[int, str] = {}

        def prepare(self) -> None:
            pass

        def write(self, seq: int, payload: str) -> None:
            self.rows[seq] = payload

        def read_all(self) -> dict[int, str]:
            return dict(self.rows)

        def close(self) -> None:
            pass

    return Sink()


def test_a_record_made_by_a_live_drill_round_trips() -> None:
    """Everything the Drill API writes (commands, notes, ledgers, triage) survives JSON."""
    from drillbook.triage import Incident, TriageProbes

    record = DrillRecord(
        drill_id="tests/x.py::test_live",
        name="test_live",
        target={"rto": 60.0, "rpo": 1.0, "rto_clock": "fault", "production_size": 10**9},
    )
    drill = Drill(record, rto_target=60.0)
    sink = _memory_sink()
    ledger = drill.ledger(sink, name="memory", cadence=0.002)
    drill.wait_for_writes(ledger, 5, timeout=10)
    broken = {"yes": False}
    try:
        with drill.fault("stop answering") as f:
            f.call("break it", broken.update, yes=True)

        def probe() -> None:
            if broken["yes"]:
                raise ConnectionError("refused")

        assert drill.detect(probe, timeout=5) is not None
        drill.triage(
            TriageProbes(reachable=lambda: False, corrupt=lambda: None, missing=lambda: None),
            expected=Incident.TOTAL_LOSS,
        )
        with drill.step("restore", Phase.EXECUTION) as s:
            with s.fixed():  # e.g. the server's start inside a restore step
                s.run(["sh", "-c", "echo restored; echo warn >&2"])
            s.processed(4096)
            s.note("files", ["a", "b"])
            broken["yes"] = False
        drill.wait_healthy(probe, timeout=5)
        result = drill.verify_ledger(ledger)
        drill.check("ledger intact", result.lost == 0, detail="0 lost", expected=0, actual=0)
    finally:
        drill.close()
    finalize(record)
    assert record.verdict == "PASS", record.findings
    assert record.projection is not None
    back = DrillRecord.from_json(record.to_json())
    assert back == record
    assert back.summary() == record.summary()
    assert back.steps[-3].commands[0].output_tail  # the restore step's output tail
    restore = record.steps[-3]
    assert restore.fixed_seconds is not None
    assert restore.fixed_seconds >= restore.commands[0].duration  # type: ignore[operator]
    assert record.projection.steps[0].fixed_seconds == restore.fixed_seconds


# -- clock ----------------------------------------------------------------------------


def test_wall_and_iso_derive_from_the_single_origin_pair() -> None:
    record = DrillRecord("d", "d", origin_mono=1000.0, origin_wall=1_700_000_000.0)
    assert record.wall(1002.5) == 1_700_000_002.5
    assert record.wall(None) is None
    assert record.iso(1000.0) == "2023-11-14T22:13:20.000+00:00"
    assert record.rel(1001.0) == 1.0  # no t0 yet: since the record started
    record.t0_mono = 1001.0
    assert record.rel(1003.0) == 2.0


def test_default_origin_pairs_monotonic_and_wall_clock() -> None:
    before_wall = time.time()
    record = DrillRecord("d", "d")
    after_wall = time.time()
    assert before_wall - 0.01 <= record.origin_wall <= after_wall + 0.01
    assert abs(record.origin_mono - time.monotonic()) < 5


# -- RTO ------------------------------------------------------------------------------


def _timeline(clock: str | None = "fault", **marks: float | None) -> DrillRecord:
    record = DrillRecord("d", "d", target=None if clock is None else {"rto_clock": clock})
    record.t0_mono = 100.0
    for key, value in marks.items():
        setattr(record, key, value)
    return record


def test_rto_from_fault_is_validated_minus_t0() -> None:
    record = _timeline("fault", detected_mono=102.0, validated_mono=110.5)
    assert record.rto_clock == "fault"
    assert record.rto_seconds == 10.5


def test_rto_from_detection_is_validated_minus_first_failed_probe() -> None:
    record = _timeline("detection", detected_mono=102.0, validated_mono=110.5)
    assert record.rto_clock == "detection"
    assert record.rto_seconds == 8.5


def test_rto_from_detection_without_detection_falls_back_to_t0() -> None:
    assert _timeline("detection", validated_mono=110.5).rto_seconds == 10.5


def test_rto_clock_defaults_to_fault() -> None:
    assert _timeline(None, detected_mono=102.0, validated_mono=110.5).rto_clock == "fault"
    assert _timeline(None, detected_mono=102.0, validated_mono=110.5).rto_seconds == 10.5


@pytest.mark.parametrize("missing", ["t0_mono", "validated_mono"])
def test_no_rto_without_t0_or_validation(missing: str) -> None:
    record = _timeline("fault", detected_mono=102.0, validated_mono=110.5)
    setattr(record, missing, None)
    assert record.rto_seconds is None
    assert record.summary()["rto_s"] is None


def test_time_to_first_healthy_probe() -> None:
    record = _timeline(first_healthy_mono=104.25)
    assert record.time_to_first_healthy == 4.25
    record.t0_mono = None
    assert record.time_to_first_healthy is None


def test_observed_rpo_is_the_worst_ledger() -> None:
    record = _timeline()
    assert record.observed_rpo() is None
    record.ledgers = {
        "a": {"rpo_seconds": 0.25},
        "b": {"rpo_seconds": 1.5},
        "c": {"rpo_seconds": None},
        "d": {},
    }
    assert record.observed_rpo() == 1.5


# -- phases ---------------------------------------------------------------------------


def test_phase_bounds_follow_one_another_from_t0() -> None:
    record = _timeline(
        detected_mono=101.0, decided_mono=101.5, executed_mono=103.0, validated_mono=104.0
    )
    assert record.phase_bounds() == {
        "detection": (100.0, 101.0),
        "decision": (101.0, 101.5),
        "execution": (101.5, 103.0),
        "validation": (103.0, 104.0),
    }
    assert record.phase_durations() == {
        "detection": 1.0,
        "decision": 0.5,
        "execution": 1.5,
        "validation": 1.0,
    }
    assert sum(record.phase_durations().values()) == record.rto_seconds


def test_phase_without_a_mark_ends_with_its_last_step() -> None:
    record = _timeline(detected_mono=101.0, validated_mono=106.0)
    record.steps = [
        Step("restore a", Phase.EXECUTION.value, 101.2, 102.0, "ok"),
        Step("restore b", Phase.EXECUTION.value, 102.0, 104.5, "ok"),
        Step("unfinished", Phase.EXECUTION.value, 104.5, None, "running"),
        Step("setup", Phase.SETUP.value, 90.0, 99.0, "ok"),
    ]
    bounds = record.phase_bounds()
    # No decision at all: skipped, and execution starts where detection ended.
    assert "decision" not in bounds
    assert bounds["execution"] == (101.0, 104.5)
    assert bounds["validation"] == (104.5, 106.0)


def test_a_phase_ending_before_the_previous_one_is_zero_long() -> None:
    record = _timeline(detected_mono=103.0, decided_mono=102.0, validated_mono=105.0)
    bounds = record.phase_bounds()
    assert bounds["decision"] == (103.0, 103.0)
    assert bounds["validation"] == (103.0, 105.0)
    assert all(d >= 0 for d in record.phase_durations().values())


def test_no_phases_before_t0() -> None:
    record = DrillRecord("d", "d", detected_mono=1.0, validated_mono=2.0)
    assert record.phase_bounds() == {}
    assert record.phase_durations() == {}


@PROPERTY
@given(
    st.lists(st.none() | st.floats(0, 1000), min_size=4, max_size=4),
    st.lists(st.tuples(st.sampled_from(["detection", "decision", "execution", "validation"]),
                       st.floats(0, 1000)), max_size=6),
)  # fmt: skip
def test_phase_bounds_are_contiguous_and_sum_to_the_last_end(
    offsets: list[float | None], step_ends: list[tuple[str, float]]
) -> None:
    t0 = 500.0
    marks = [None if o is None else t0 + o for o in offsets]
    record = DrillRecord("d", "d", t0_mono=t0)
    record.detected_mono, record.decided_mono, record.executed_mono, record.validated_mono = marks
    record.steps = [Step("s", phase, t0, t0 + end, "ok") for phase, end in step_ends]
    bounds = record.phase_bounds()
    order = [p for p in ("detection", "decision", "execution", "validation") if p in bounds]
    assert list(bounds) == order
    start = t0
    for phase in order:
        s, e = bounds[phase]
        assert s == start and e >= s
        start = e
    total = sum(record.phase_durations().values())
    assert math.isclose(total, start - t0, abs_tol=1e-9)
    # With every phase marked in order, the phases add up to the RTO (fault clock).
    if all(m is not None for m in marks) and marks == sorted(marks):  # type: ignore[type-var]
        assert record.rto_seconds is not None
        assert math.isclose(total, record.rto_seconds, abs_tol=1e-9)


# -- steps ----------------------------------------------------------------------------


def test_step_and_command_durations_and_throughput() -> None:
    step = Step("restore", "execution", 10.0, 12.0, "ok", bytes_processed=4_000_000)
    assert step.duration == 2.0
    assert step.throughput == 2_000_000.0
    assert Step("x", "execution", 10.0).duration is None
    assert Step("x", "execution", 10.0, 12.0).throughput is None  # bytes unknown
    assert Step("x", "execution", 10.0, 10.0, bytes_processed=5).throughput is None
    assert Command("argv", "true", 1.0, 1.25).duration == 0.25
    assert Command("argv", "true", 1.0).duration is None


def test_a_ledger_writer_ledger_entry_round_trips_inside_the_record() -> None:
    writer = LedgerWriter(_memory_sink(), cadence=0.002)
    with writer:
        deadline = time.monotonic() + 10
        while len(writer.writes) < 3 and time.monotonic() < deadline:
            time.sleep(0.002)
        writer.mark_t0()
        result = writer.verify()
    record = DrillRecord("d", "d", t0_mono=result.t0_mono, ledgers={"m": result.to_dict()})
    back = DrillRecord.from_json(record.to_json())
    assert back.ledgers == record.ledgers
    assert back.observed_rpo() == result.rpo_seconds
