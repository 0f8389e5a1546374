"""Issue 11: a must-fail drill that failed as required reads as a PASS in every artefact.

``@pytest.mark.drill_expect_fail(CODE)`` records ``notes["expected_fail"]`` and the
drill's own verdict FAIL. Failing as required, it is a PASS in the HTML banner, in
drills.json's ``overall`` and in ``drill_success``, shown as "failed as expected: CODE";
not failing as required (a PASS, or a FAIL without the code) is a failure everywhere.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from drillbook.record import DrillRecord
from drillbook.reports.artefacts import write_artefacts
from drillbook.reports.gaps import gaps_for
from drillbook.reports.history import read_history
from drillbook.reports.model import ExpectedFail, outcome

from . import factories


@pytest.fixture(scope="module")
def base() -> dict[str, DrillRecord]:
    return {"fail": factories.failing(), "pass": factories.passing()}


def must_fail(rec: DrillRecord, note: object, drill_id: str) -> DrillRecord:
    copy = DrillRecord.from_dict({**rec.to_dict(), "drill_id": drill_id})
    copy.notes["expected_fail"] = note
    return copy


def write(records: list[DrillRecord], tmp_path: Path):
    now = time.time()
    return write_artefacts(
        records,
        out_dir=tmp_path / "out",
        run_dir_name="run",
        history_path=tmp_path / "history.jsonl",
        metrics_path=tmp_path / "out" / "drills.prom",
        started=now,
        finished=now,
    )


def samples(text: str, name: str) -> dict[str, float]:
    return {
        s.labels.get("drill") or s.labels["service"]: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == name
    }


def test_failed_as_expected_is_a_pass_everywhere(
    base: dict[str, DrillRecord], tmp_path: Path
) -> None:
    rec = must_fail(base["fail"], ["DATA_LOST"], "tests/test_mutants.py::test_wal_gap")
    assert rec.verdict == "FAIL"  # the drill itself failed, as it had to
    result = outcome(rec)
    assert (result.verdict, result.label) == ("PASS", "failed as expected: DATA_LOST")
    assert gaps_for(rec) == []  # its findings are what it had to produce
    written = write([rec], tmp_path)
    assert written.errors == []
    assert written.index is not None
    page = written.index.read_text()
    assert '<div class="banner"><span class="badge v-PASS">PASS</span>' in page
    assert "failed as expected: DATA_LOST" in page
    assert 'class="badge v-FAIL"' not in page
    doc = json.loads((tmp_path / "out" / "run" / "drills.json").read_text())
    assert doc["overall"] == "PASS"
    assert doc["counts"] == {"PASS": 1, "FAIL": 0, "NOT RUN": 0, "total": 1}
    (entry,) = doc["drills"]
    assert (entry["verdict"], entry["drill_verdict"]) == ("PASS", "FAIL")
    assert entry["expected_fail"] == ["DATA_LOST"]
    assert entry["outcome"] == "failed as expected: DATA_LOST"
    assert DrillRecord.from_dict(entry["record"]).verdict == "FAIL"  # the record unchanged
    prom = (tmp_path / "out" / "drills.prom").read_text()
    assert samples(prom, "drill_success") == {rec.drill_id: 1.0}
    # It tested the harness, not the service's restore: no restore-test attempt.
    assert samples(prom, "backup_restore_test_total") == {}
    (row,) = read_history(tmp_path / "history.jsonl").rows
    assert (row["verdict"], row["drill_verdict"], row["expected_fail"]) == (
        "PASS",
        "FAIL",
        ["DATA_LOST"],
    )


@pytest.mark.parametrize(
    ("which", "note", "label"),
    [
        (
            "pass",
            ["DATA_LOST"],
            "did not fail as required: expected FAIL with DATA_LOST, ended PASS",
        ),
        ("fail", ["STEP_TIMEOUT"], "did not fail as required: expected FAIL with STEP_TIMEOUT"),
        (
            "fail",
            {"codes": ["DATA_LOST"], "match": "no such text"},
            "did not fail as required: expected FAIL with DATA_LOST (message containing",
        ),
    ],
)
def test_not_failing_as_required_is_a_failure_everywhere(
    base: dict[str, DrillRecord], tmp_path: Path, which: str, note: object, label: str
) -> None:
    rec = must_fail(base[which], note, "tests/test_mutants.py::test_broken")
    result = outcome(rec)
    assert result.verdict == "FAIL" and result.label.startswith(label)
    assert "EXPECTED_FAIL_MISSED" in {g.code for g in gaps_for(rec)}
    written = write([rec], tmp_path)
    assert written.index is not None
    page = written.index.read_text()
    assert '<div class="banner"><span class="badge v-FAIL">FAIL</span>' in page
    assert "did not fail as required" in page and "EXPECTED_FAIL_MISSED" in page
    doc = json.loads((tmp_path / "out" / "run" / "drills.json").read_text())
    assert doc["overall"] == "FAIL" and doc["drills"][0]["verdict"] == "FAIL"
    prom = (tmp_path / "out" / "drills.prom").read_text()
    assert samples(prom, "drill_success") == {rec.drill_id: 0.0}
    assert samples(prom, "backup_restore_test_total") == {"tight" if which == "fail" else "auth": 1}


def test_expected_fail_note_shapes(base: dict[str, DrillRecord]) -> None:
    rec = base["fail"]
    message = next(f.message for f in rec.findings if f.code == "DATA_LOST")
    assert ExpectedFail.from_note("DATA_LOST").met_by(rec)
    assert ExpectedFail.from_note(["DATA_LOST", "RPO_EXCEEDED"]).met_by(rec)
    assert ExpectedFail.from_note({"codes": ["DATA_LOST"], "match": message[:12]}).met_by(rec)
    assert not ExpectedFail.from_note(["DATA_LOST", "STEP_TIMEOUT"]).met_by(rec)
    assert not ExpectedFail.from_note(["DATA_LOST"]).met_by(base["pass"])
    not_run = must_fail(factories.not_run(), ["DATA_LOST"], "x::y")
    assert outcome(not_run).verdict == "NOT RUN"  # never a pass
