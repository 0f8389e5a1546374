"""The RTO projection's arithmetic (pure logic, no server).

Issue 14: the old projection scaled the restore step alone and held the validation
constant. Every step that recorded its bytes now scales by its own measured rate; every
other second of the RTO stays fixed.
"""

from __future__ import annotations

import pytest

from drillbook.projection import Measured, measured_steps, project, scale
from drillbook.record import DrillRecord, Phase, Step

MB = 10**6
T0 = 1000.0


def test_a_step_with_a_rate_scales_and_the_rest_stays_fixed() -> None:
    # 10 MB restored in 1 s of a 5 s RTO; production is 100 MB.
    fixed, [restore] = scale(5.0, [Measured("restore", "execution", 10 * MB, 1.0)], 100 * MB)
    assert fixed == pytest.approx(4.0)
    assert restore.throughput_bytes_per_s == pytest.approx(10 * MB)
    assert restore.projected_seconds == pytest.approx(10.0)


def test_validation_scales_by_its_own_rate_instead_of_staying_constant() -> None:
    measured = [
        Measured("restore", "execution", 100 * MB, 2.0),  # 50 MB/s
        Measured("integrity checks", "validation", 80 * MB, 0.5),  # 160 MB/s
    ]
    fixed, steps = scale(4.0, measured, 800 * MB)
    assert fixed == pytest.approx(1.5)
    assert [s.projected_seconds for s in steps] == pytest.approx([16.0, 5.0])
    # At the measured size itself the projection gives the measured RTO back.
    fixed, steps = scale(4.0, measured[:1], 100 * MB)
    assert fixed + steps[0].projected_seconds == pytest.approx(4.0)


def test_steps_without_bytes_or_time_are_fixed_and_overlap_never_goes_negative() -> None:
    fixed, steps = scale(
        3.0,
        [
            Measured("start", "execution", 0, 2.0),
            Measured("instant", "execution", MB, 0.0),
            Measured("a", "execution", MB, 2.0),
            Measured("b", "validation", MB, 2.0),  # overlapping a: 4 s of steps in 3 s
        ],
        2 * MB,
    )
    assert fixed == 0.0
    assert [s.name for s in steps] == ["a", "b"]


def record(steps: list[Step], *, size: int | None = 500 * MB, rto: float = 6.0) -> DrillRecord:
    r = DrillRecord(
        drill_id="d",
        name="d",
        target={"rto": 60.0, "rto_clock": "fault", "production_size": size},
    )
    r.t0_mono, r.validated_mono = T0, T0 + rto
    r.steps = steps
    return r


def steps() -> list[Step]:
    return [
        Step("snapshot", Phase.SETUP.value, T0 - 2, T0 - 1, bytes_processed=100 * MB),
        Step("detect", Phase.DETECTION.value, T0, T0 + 0.5),
        Step("restore", Phase.EXECUTION.value, T0 + 1, T0 + 3, bytes_processed=100 * MB),
        Step("checks", Phase.VALIDATION.value, T0 + 3, T0 + 4, bytes_processed=100 * MB),
    ]


def test_project_scales_restore_and_validation_of_the_record() -> None:
    p = project(record(steps()))
    assert p is not None
    assert (p.step, p.measured_bytes, p.fixed_overhead_s) == ("restore", 100 * MB, 3.0)
    assert [(s.name, s.projected_seconds) for s in p.steps] == [("restore", 10.0), ("checks", 5.0)]
    assert p.projected_seconds == pytest.approx(18.0)
    assert p.rto_target == 60.0
    back = DrillRecord.from_json(record(steps()).to_json())
    assert back.steps[2].throughput == pytest.approx(50 * MB)


def test_projection_survives_the_json_record() -> None:
    r = record(steps())
    r.projection = project(r)
    back = DrillRecord.from_json(r.to_json())
    assert back.projection == r.projection


def test_no_projection_without_size_rto_or_a_measured_restore() -> None:
    assert project(record(steps(), size=None)) is None
    r = record(steps())
    r.validated_mono = None
    assert project(r) is None
    # Only the validation knows its bytes: no restore rate to project from.
    assert project(record([s for s in steps() if s.name != "restore"])) is None
    assert [m.name for m in measured_steps(steps())] == ["restore", "checks"]


def test_the_part_a_step_marks_fixed_is_held_and_only_the_rest_scales() -> None:
    # A PITR step of 3 s: 1 s unpacking 100 MB, 2 s start + replay + promotion marked fixed.
    pitr = Measured("pitr", "execution", 100 * MB, 3.0, fixed=2.0)
    fixed, [step] = scale(4.0, [pitr], 500 * MB)
    assert step.throughput_bytes_per_s == pytest.approx(100 * MB)  # 100 MB in 1 s, not 3
    assert step.projected_seconds == pytest.approx(5.0)
    assert step.fixed_seconds == pytest.approx(2.0)
    assert fixed == pytest.approx(3.0)  # the 2 s marked + the 1 s outside the step
    # Unmarked, the same step would be scaled whole: 15 s instead of 5 s.
    _, [whole] = scale(4.0, [Measured("pitr", "execution", 100 * MB, 3.0)], 500 * MB)
    assert whole.projected_seconds == pytest.approx(15.0)


def test_a_step_that_is_all_fixed_is_not_scaled() -> None:
    fixed, steps = scale(3.0, [Measured("start", "execution", MB, 2.0, fixed=2.0)], 10 * MB)
    assert steps == []
    assert fixed == pytest.approx(3.0)


def test_the_record_s_fixed_seconds_reach_the_projection() -> None:
    s = steps()
    s[2].fixed_seconds = 1.0  # of the restore's 2 s
    p = project(record(s))
    assert p is not None
    assert s[2].throughput == pytest.approx(100 * MB)  # the sized second only
    restore = p.steps[0]
    assert (restore.measured_seconds, restore.fixed_seconds) == (pytest.approx(1.0), 1.0)
    assert restore.projected_seconds == pytest.approx(5.0)
    assert p.fixed_overhead_s == pytest.approx(4.0)
    assert p.projected_seconds == pytest.approx(14.0)  # 4 fixed + 5 restore + 5 checks
