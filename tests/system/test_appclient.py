"""The application's downtime measurement (drillbook.appclient): pure logic, fed
outcomes whose times are chosen."""

from __future__ import annotations

import pytest

from drillbook.appclient import JourneyOutcome, error_budget, failing_windows, measure, segments

T0 = 100.0


def runs(journey: str, pattern: str, *, start: float = 98.0, step: float = 0.5):
    """One outcome per character: '+' ok, '-' failed (with the dependency 'database')."""
    out = []
    for i, ch in enumerate(pattern):
        t = start + i * step
        ok = ch == "+"
        out.append(
            JourneyOutcome(journey, t, t + 0.1, ok, 2, 0 if ok else 1,
                           None if ok else "HTTP 503", None if ok else "database")
        )  # fmt: skip
    return out


def test_rto_is_the_latest_journey_back_and_names_it():
    # t0 at index 4; login back from index 8 (t=102.0), project from index 11 (t=103.5)
    outcomes = runs("login", "++++----++++++++") + runs("project", "++++-------+++++")
    m = measure(outcomes, T0, cadence_s=0.5)
    assert m.recovered and m.outage_seen
    assert m.per_journey["login"].rto_s == pytest.approx(102.1 - T0)
    assert m.per_journey["project"].rto_s == pytest.approx(103.6 - T0)
    assert m.rto_s == pytest.approx(3.6)
    assert m.recovered_last == "project"
    assert m.failed_runs == 11 and m.failed_requests == 11 and m.requests == 64
    assert m.failures_by_dependency == {"database": 11}
    assert m.first_failure_s == pytest.approx(0.1)
    assert m.failed_before_t0 == 0


def test_a_flap_moves_recovery_after_the_last_failure():
    m = measure(runs("media", "++++--+-++++"), T0, cadence_s=0.5)
    # failures at indexes 4, 5, 7: back at index 8 (t=102.0)
    assert m.rto_s == pytest.approx(2.1)


def test_still_failing_is_not_recovered():
    outcomes = runs("login", "++++++++") + runs("media", "++++----")
    m = measure(outcomes, T0, cadence_s=0.5)
    assert not m.recovered and m.rto_s is None
    assert m.recovered_last == "media"
    assert m.per_journey["media"].rto_s is None
    assert m.downtime_s == pytest.approx(101.6 - 100.1)


def test_no_outage_seen_when_every_journey_succeeds():
    m = measure(runs("login", "++++++"), T0, cadence_s=0.5)
    assert not m.outage_seen and m.recovered_last is None and m.downtime_s is None
    assert m.error_budget["used_fraction"] == 0.0


def test_segments_merge_and_windows_span_journeys():
    outcomes = runs("a", "++--++", start=99.0) + runs("b", "+---++", start=99.0)
    segs = segments(outcomes, T0)
    assert [(s["journey"], s["ok"], s["runs"]) for s in segs] == [
        ("a", True, 2), ("a", False, 2), ("a", True, 2),
        ("b", True, 1), ("b", False, 3), ("b", True, 2),
    ]  # fmt: skip
    assert failing_windows(segs) == [(pytest.approx(-0.5), pytest.approx(0.6))]


def test_error_budget_of_a_999_slo_over_30_days():
    budget = error_budget(259.2)
    assert budget["budget_s"] == pytest.approx(2592.0)
    assert budget["used_fraction"] == pytest.approx(0.1)
    assert error_budget(60.0, slo=0.99, window_s=6000.0)["used_fraction"] == pytest.approx(1.0)
