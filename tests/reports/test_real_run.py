"""Every artefact of a real pytest run of real drills (see conftest.py: ``real_run``)."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from drillbook.record import DrillRecord
from drillbook.reports.cli import main_report
from drillbook.reports.fmt import fmt_s
from drillbook.reports.history import HISTORY_SCHEMA, read_history
from drillbook.reports.jsonout import SCHEMA, load_document
from drillbook.reports.model import anchor

from .conftest import RealRun

CRASH = "test_drills.py::test_crash_restart"
LEAKY = "test_drills.py::test_leaky_error"
NOT_RUN = "test_drills.py::test_needs_docker"


def _run_dirs(run: RealRun) -> list[Path]:
    return sorted(p for p in run.out.iterdir() if p.is_dir())


def _first_doc(run: RealRun) -> dict:
    return load_document(_run_dirs(run)[0] / "drills.json")


def _by_id(doc: dict) -> dict[str, dict]:
    return {d["drill_id"]: d for d in doc["drills"]}


# ------------------------------------------------------------------------- terminal, files


def test_terminal_summary_names_the_report(real_run: RealRun) -> None:
    first = _run_dirs(real_run)[0]
    assert f"drill report: {first / 'index.html'}" in real_run.first.output
    assert "drill report: " in real_run.second.output
    assert "could not write" not in real_run.first.output + real_run.second.output


def test_controller_writes_once_under_xdist(real_run: RealRun) -> None:
    # Run 1 used two xdist workers: one run folder per pytest run, no worker wrote one.
    assert "2 workers" in real_run.first.output
    dirs = _run_dirs(real_run)
    assert len(dirs) == 2
    for d in dirs:
        assert sorted(p.name for p in d.iterdir()) == ["drills.json", "index.html"]
    # Atomic writes leave no temp files behind.
    assert not [p for p in real_run.out.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.name]


# ------------------------------------------------------------------------- JSON


def test_drills_json_holds_the_full_records(real_run: RealRun) -> None:
    doc = _first_doc(real_run)
    assert doc["schema"] == SCHEMA and doc["schema_version"] == 1
    assert doc["counts"] == {"PASS": 1, "FAIL": 1, "NOT RUN": 1, "total": 3}
    assert doc["overall"] == "FAIL"
    assert doc["run"]["backends"] == ["local"]
    assert doc["run"]["workers"] == 2
    assert doc["run"]["targets_digests"] and len(doc["run"]["targets_digests"][0]) == 64
    drills = _by_id(doc)
    assert {d: e["verdict"] for d, e in drills.items()} == {
        CRASH: "PASS",
        LEAKY: "FAIL",
        NOT_RUN: "NOT RUN",
    }
    crash = DrillRecord.from_dict(drills[CRASH]["record"])  # lossless round trip
    assert crash.rto_seconds is not None and crash.rto_seconds > 0
    assert crash.ledgers["postgres"]["writes_total"] >= 20
    assert crash.versions["postgres"]
    assert drills[CRASH]["summary"]["rto_s"] == crash.rto_seconds
    assert "DRILL_ERROR" in drills[LEAKY]["findings"]
    assert drills[NOT_RUN]["record"]["not_run_reason"].startswith("[BACKEND_UNSUPPORTED]")
    latest = json.loads((real_run.out / "latest.json").read_text())
    assert latest["run"]["run_id"] != doc["run"]["run_id"]  # the second run's


# ------------------------------------------------------------------------- HTML


def test_html_report_has_every_section_with_the_records_numbers(real_run: RealRun) -> None:
    first = _run_dirs(real_run)[0]
    text = (first / "index.html").read_text()
    doc = _by_id(_first_doc(real_run))
    for section in ("run", "summary", "gaps", "checklist"):
        assert f'id="{section}"' in text
    for drill_id in (CRASH, LEAKY, NOT_RUN):
        assert f'id="{anchor(drill_id)}"' in text
    crash = DrillRecord.from_dict(doc[CRASH]["record"])
    # The numbers come from the record: RTO, RPO resolution, ledger counts.
    assert fmt_s(crash.rto_seconds) in text
    # The RPO resolution (the ledger's achieved one, never finer than its 10 ms cadence).
    led = next(iter(crash.ledgers.values()))
    assert f"± {led['resolution_seconds'] * 1000:.1f} ms" in text
    assert "Gaps vs. requirements" in text and "DRILL_ERROR" in text
    assert "the docker backend is not available here" in text
    assert "Nothing was measured; this drill is not a pass." in text
    assert "@media print" in text
    assert "First run of this drill in the history" in text


def test_html_report_is_self_contained(real_run: RealRun) -> None:
    text = (real_run.out / "latest.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text, re.I)
    assert not re.search(r"@import|url\(|<link\b|<script[^>]+src", text, re.I)
    assert "<svg" in text and "<style>" in text


def test_checklist_is_ticked_from_the_record(real_run: RealRun) -> None:
    first = _run_dirs(real_run)[0]
    text = (first / "index.html").read_text()

    def section(drill_id: str) -> str:
        start = text.index(f'id="{anchor(drill_id)}"')
        return text[start : text.index("</section>", start)]

    crash, leaky = section(CRASH), section(LEAKY)
    # The crash drill recorded a command in every fault/recovery step, the leaky one did
    # not (its pg_restore raised before running any): same template, different ticks.
    assert "2 of 2 fault/recovery steps recorded their commands" in crash
    assert "1 of 2 fault/recovery steps recorded their commands" in leaky
    assert "1 of 1 failed steps carry their error text" in leaky
    assert "Verify data integrity post-recovery</b> — 1 of 1 checks passed" in crash
    assert "no integrity check and no ledger read-back" in leaky


# ------------------------------------------------------------------------- history


def test_history_appends_one_line_per_record_without_row_data(real_run: RealRun) -> None:
    text = real_run.history.read_text()
    lines = text.splitlines()
    assert len(lines) == 4  # 3 records of run 1, 1 of run 2
    rows = [json.loads(line) for line in lines]
    assert {r["schema"] for r in rows} == {HISTORY_SCHEMA}
    assert len({r["run_id"] for r in rows}) == 2
    crash = next(r for r in rows if r["drill_id"] == CRASH)
    assert crash["verdict"] == "PASS" and crash["rto_s"] > 0
    # The achieved resolution: the cadence, or a longer gap between writes before t0.
    assert crash["rpo_resolution_s"] >= 0.01
    assert crash["ledgers"]["postgres"]["counts"]["survived"] >= 20
    assert crash["versions"]["postgres"]
    # No row data: no ledger payloads, no command text or output, no notes.
    for forbidden in ('"payload"', "output_tail", '"notes"', "the value is", "pg.kill()"):
        assert forbidden not in text
    assert read_history(real_run.history).skipped == 0


def test_trend_uses_the_history_of_earlier_runs(real_run: RealRun) -> None:
    second = _run_dirs(real_run)[1]
    text = (second / "index.html").read_text()
    # The NOT RUN drill's only earlier attempt was NOT RUN too: nothing to compare with.
    assert "No earlier passing run of this drill in the history to compare with." in text
    assert text.count("<circle") + text.count(">×<") >= 2  # two points on the sparkline


# ------------------------------------------------------------------------- metrics


def test_metrics_textfile_parses_and_counts_from_history(real_run: RealRun) -> None:
    families = {f.name: f for f in text_string_to_metric_families(real_run.metrics.read_text())}
    for name in (
        "drill_rto_seconds",
        "drill_rpo_seconds",
        "drill_success",
        "drill_last_run_timestamp_seconds",
        "last_restore_test_timestamp_seconds",
        "backup_restore_test",
        "backup_restore_test_success",
    ):
        assert name in families, name

    def value(name: str, sample: str, **labels: str) -> float:
        for s in families[name].samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
        raise AssertionError(f"{sample} {labels} not in the textfile")

    # The textfile is the second run's: only the NOT RUN drill ran there.
    assert value("drill_success", "drill_success", drill=NOT_RUN, service="smoke") == 0.0
    # Counters come from the whole history: 4 attempts, 1 pass.
    assert value("backup_restore_test", "backup_restore_test_total", service="smoke") == 4
    assert (
        value("backup_restore_test_success", "backup_restore_test_success_total", service="smoke")
        == 1
    )
    rows = read_history(real_run.history).rows
    ran = [r["started"] for r in rows if r["verdict"] in ("PASS", "FAIL")]
    assert value(
        "last_restore_test_timestamp_seconds",
        "last_restore_test_timestamp_seconds",
        service="smoke",
    ) == max(ran)


# ------------------------------------------------------------------------- pytest-html


def test_pytest_html_rows_carry_verdict_numbers_and_link(real_run: RealRun) -> None:
    page = html.unescape(html.unescape(real_run.pytest_html.read_text()))
    first = _run_dirs(real_run)[0]
    link = f"{first.relative_to(real_run.project).as_posix()}/index.html#{anchor(CRASH)}"
    assert link in page
    assert "RTO" in page and "/ target 5m" in page
    assert "NOT RUN: [BACKEND_UNSUPPORTED]" in page
    assert "col-drill" in page  # the Drill column of the results table


# ------------------------------------------------------------------------- JUnit


def test_junit_never_shows_not_run_as_passed(real_run: RealRun) -> None:
    def case(path: Path, name: str) -> ET.Element:
        root = ET.parse(path).getroot()
        return next(c for c in root.iter("testcase") if c.get("name") == name)

    strict = case(real_run.junit_first, "test_needs_docker")
    failure = strict.find("failure")
    assert failure is not None and failure.get("message", "").startswith("NOT RUN: ")
    allowed = case(real_run.junit_second, "test_needs_docker")
    skipped = allowed.find("skipped")
    assert skipped is not None and "NOT RUN: [BACKEND_UNSUPPORTED]" in skipped.get("message", "")
    assert allowed.find("failure") is None
    assert case(real_run.junit_first, "test_crash_restart").find("failure") is None


# ------------------------------------------------------------------------- summary CLI


def test_report_cli_summarises_the_history(real_run: RealRun, tmp_path: Path) -> None:
    code = main_report(
        ["--history", str(real_run.history), "--days", "1", "--format", "both", "-o", str(tmp_path)]
    )
    assert code == 0
    md = next(tmp_path.glob("summary-*.md")).read_text()
    page = next(tmp_path.glob("summary-*.html")).read_text()
    assert "Drills Conducted: 4 (2 ran, 2 not run)" in md
    assert "Drills Passed: 1" in md and "Drills Failed: 1" in md
    assert "RTO Achievement: 25 % of drills (1 of 4)" in md
    assert "| smoke | smoke | 5m | 1m | 1s |" in md
    assert "`DRILL_ERROR`" in md and "`NOT_RUN`" in md
    assert 'id="open-gaps"' in page and "DRILL_ERROR" in page


# ------------------------------------------------------------------------- redaction


def test_no_planted_secret_in_any_artefact(real_run: RealRun, tmp_path: Path) -> None:
    planted = {k: v for k, v in real_run.secrets.items() if v}
    assert set(planted) == {"dsn", "cli", "env", "server"}
    # The summary CLI output is an artefact too.
    assert (
        main_report(
            [
                "--history",
                str(real_run.history),
                "--days",
                "1",
                "--format",
                "both",
                "-o",
                str(tmp_path),
            ]
        )
        == 0
    )
    files = [*real_run.artefacts(), *tmp_path.iterdir()]
    assert len(files) >= 10
    for path in files:
        text = path.read_text(errors="replace")
        for what, secret in planted.items():
            for form in {secret, html.escape(secret), json.dumps(secret)[1:-1]}:
                assert form not in text, f"{what} secret in {path}"
    # The secrets did reach the records: they are masked, not absent.
    doc = _by_id(_first_doc(real_run))
    crash = doc[CRASH]["record"]
    assert crash["notes"]["token"] == "***"
    assert ":***@" in crash["notes"]["server"]
    assert any("--password ***" in c["text"] for s in crash["steps"] for c in s["commands"])
    assert any(
        "the value is ***" in c["output_tail"] for s in crash["steps"] for c in s["commands"]
    )
    leaky = doc[LEAKY]["record"]
    assert any("postgresql://restore:***@" in f["message"] for f in leaky["findings"])
