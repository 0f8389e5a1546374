"""Triage: the runbook's decision tree over fake probes, every branch and every probe error.

reachable? no -> total loss (B); yes -> corrupt? yes -> corruption (A);
no -> missing? yes -> partial loss (C); no -> degraded (investigate)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drillbook.drill import Drill
from drillbook.record import DrillRecord, Phase
from drillbook.triage import PROCEDURES, Incident, TriageProbes, classify
from drillbook.verdict import evaluate


class Boom(Exception):
    pass


def answer(value: Any) -> Callable[[], Any]:
    """A probe answering *value*, or raising it when it is an exception."""

    def probe() -> Any:
        if isinstance(value, BaseException):
            raise value
        return value

    return probe


def never(name: str) -> Callable[[], Any]:
    def probe() -> Any:
        raise AssertionError(f"the {name} probe must not be asked on this branch")

    return probe


def probes(reachable: Any, corrupt: Any = None, missing: Any = None) -> TriageProbes:
    return TriageProbes(
        reachable=answer(reachable),
        corrupt=corrupt if callable(corrupt) else answer(corrupt),
        missing=missing if callable(missing) else answer(missing),
    )


# -- every branch ---------------------------------------------------------------------------


def test_unreachable_is_total_loss_without_asking_further() -> None:
    result = classify(probes(False, never("corrupt"), never("missing")))
    assert result.observed is Incident.TOTAL_LOSS
    assert result.procedure == PROCEDURES[Incident.TOTAL_LOSS]
    assert result.procedure.startswith("B:")
    assert result.evidence == ["reachable: no"]


def test_reachable_probe_raising_is_total_loss_with_the_error_as_evidence() -> None:
    result = classify(probes(ConnectionRefusedError("connection refused"), never("c"), never("m")))
    assert result.observed is Incident.TOTAL_LOSS
    assert result.evidence[0] == (
        "reachable: probe error ConnectionRefusedError: connection refused"
    )
    assert result.evidence[-1] == "reachable: no"


@pytest.mark.parametrize("corrupt", [True, "3 pages fail checksum", Boom("amcheck crashed")])
def test_reachable_and_corrupt_is_corruption(corrupt: Any) -> None:
    result = classify(probes(True, corrupt, never("missing")))
    assert result.observed is Incident.CORRUPTION
    assert result.procedure.startswith("A:")
    assert result.evidence[0] == "reachable: yes"
    if isinstance(corrupt, str):
        assert result.evidence[1] == "corrupt: yes (3 pages fail checksum)"
    elif isinstance(corrupt, Exception):
        # A probe that cannot even run answers "yes, with evidence": never a silent "no".
        assert result.evidence[1] == "corrupt: probe error Boom: amcheck crashed"
    else:
        assert result.evidence[1] == "corrupt: yes"


@pytest.mark.parametrize("missing", [True, "table orders missing", Boom("count failed")])
@pytest.mark.parametrize("clean", [None, False, ""])
def test_reachable_clean_and_missing_is_partial_loss(missing: Any, clean: Any) -> None:
    result = classify(probes(True, clean, missing))
    assert result.observed is Incident.PARTIAL_LOSS
    assert result.procedure.startswith("C:")
    assert result.evidence[:2] == ["reachable: yes", "corrupt: no"]
    assert result.evidence[2].startswith("missing data: ")
    if isinstance(missing, str):
        assert result.evidence[2] == "missing data: yes (table orders missing)"


@pytest.mark.parametrize("nothing", [None, False, ""])
def test_reachable_clean_and_complete_is_degraded(nothing: Any) -> None:
    result = classify(probes(True, nothing, nothing))
    assert result.observed is Incident.DEGRADED
    assert result.procedure == PROCEDURES[Incident.DEGRADED]
    assert result.evidence == ["reachable: yes", "corrupt: no", "missing data: no"]


@pytest.mark.parametrize("reachable", [1, "yes", object()])
def test_any_truthy_reachable_answer_is_reachable(reachable: Any) -> None:
    assert classify(probes(reachable)).observed is Incident.DEGRADED


def test_every_incident_has_a_procedure() -> None:
    assert set(PROCEDURES) == set(Incident)


# -- the tree against a reference, for every combination -------------------------------------

ANSWERS = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=10),
    st.builds(Boom, st.text(max_size=10)),
)


def reference(reachable: Any, corrupt: Any, missing: Any) -> Incident:
    """The runbook's tree, written out naively: a raising probe counts as the bad answer."""

    def yes(v: Any) -> bool:
        return isinstance(v, BaseException) or bool(v)

    if isinstance(reachable, BaseException) or not reachable:
        return Incident.TOTAL_LOSS
    if yes(corrupt):
        return Incident.CORRUPTION
    if yes(missing):
        return Incident.PARTIAL_LOSS
    return Incident.DEGRADED


@settings(max_examples=200, deadline=None)
@given(ANSWERS, ANSWERS, ANSWERS, st.none() | st.sampled_from(list(Incident)))
def test_classify_matches_the_runbook_tree(
    reachable: Any, corrupt: Any, missing: Any, expected: Incident | None
) -> None:
    asked: list[str] = []

    def track(name: str, value: Any) -> Callable[[], Any]:
        def probe() -> Any:
            asked.append(name)
            return answer(value)()

        return probe

    result = classify(
        TriageProbes(
            reachable=track("reachable", reachable),
            corrupt=track("corrupt", corrupt),
            missing=track("missing", missing),
        ),
        expected,
    )
    want = reference(reachable, corrupt, missing)
    assert result.observed is want
    assert result.procedure == PROCEDURES[want]
    assert result.expected is expected
    # Each question asked once, in order, and none after the decisive answer.
    depth = {Incident.TOTAL_LOSS: 1, Incident.CORRUPTION: 2}.get(want, 3)
    assert asked == ["reachable", "corrupt", "missing"][:depth]
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["observed"] == want.value
    assert data["expected"] == (expected.value if expected else None)


# -- in a drill ------------------------------------------------------------------------------


@pytest.fixture
def drill() -> Iterator[Drill]:
    d = Drill(DrillRecord("d", "d"))
    with d.fault("kill"):
        pass
    yield d
    d.close()


def test_drill_triage_records_the_decision_phase(drill: Drill) -> None:
    result = drill.triage(probes(False), expected=Incident.TOTAL_LOSS)
    record = drill.record
    assert result.observed is Incident.TOTAL_LOSS
    assert record.procedure == PROCEDURES[Incident.TOTAL_LOSS]
    assert record.decided_mono is not None
    [step] = [s for s in record.steps if s.phase == Phase.DECISION.value]
    assert step.name == f"decide: {PROCEDURES[Incident.TOTAL_LOSS]}"
    assert step.outcome == "ok"
    assert step.notes["evidence"] == ["reachable: no"]
    assert record.triage == {
        "observed": "total_loss",
        "procedure": PROCEDURES[Incident.TOTAL_LOSS],
        "evidence": ["reachable: no"],
        "expected": "total_loss",
    }
    assert "TRIAGE_MISMATCH" not in {f.code for f in evaluate(record)}


def test_drill_triage_choosing_another_procedure_is_triage_mismatch(drill: Drill) -> None:
    drill.triage(probes(True, None, None), expected=Incident.CORRUPTION)
    [f] = [f for f in evaluate(drill.record) if f.code == "TRIAGE_MISMATCH"]
    assert "degraded" in f.message and "corruption" in f.message


def test_drill_triage_without_expectation_is_no_finding(drill: Drill) -> None:
    drill.triage(probes(True, "bad pages", None))
    assert drill.record.triage is not None
    assert drill.record.triage["expected"] is None
    assert "TRIAGE_MISMATCH" not in {f.code for f in evaluate(drill.record)}
