"""Edge cases on hand-made records (built through the engine's API): NOT RUN, FAIL with
findings, no ledger; trends, the history under concurrency, metrics, the summary."""

from __future__ import annotations

import json
import multiprocessing
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from drillbook.record import DrillRecord
from drillbook.redact import Scrubber, env_secrets
from drillbook.reports import html, metrics, periods, summary, summary_render
from drillbook.reports.artefacts import write_artefacts
from drillbook.reports.checklist import NO, PARTIAL, YES, drill_checklist
from drillbook.reports.cli import main_report
from drillbook.reports.fmt import fmt_s
from drillbook.reports.gaps import all_gaps, gaps_for
from drillbook.reports.history import append_history, history_row, read_history
from drillbook.reports.jsonout import build_document, dumps, load_document
from drillbook.reports.model import anchor, overall, run_info
from drillbook.reports.trends import trend

from . import factories


@pytest.fixture(scope="module")
def records() -> dict[str, DrillRecord]:
    return {
        "pass": factories.passing(),
        "fail": factories.failing(),
        "not_run": factories.not_run(),
        "no_ledger": factories.no_ledger(),
    }


def _run(recs: list[DrillRecord]):
    now = time.time()
    return run_info(recs, started=now - 5, finished=now, args=["drills"])


def _metric(text: str, sample: str, **labels: str) -> float | None:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


# ------------------------------------------------------------------------- verdicts, gaps


def test_factories_give_the_expected_verdicts(records: dict[str, DrillRecord]) -> None:
    assert {k: r.verdict for k, r in records.items()} == {
        "pass": "PASS",
        "fail": "FAIL",
        "not_run": "NOT RUN",
        "no_ledger": "PASS",
    }


def test_overall_never_passes_with_a_not_run(records: dict[str, DrillRecord]) -> None:
    assert overall([records["pass"], records["not_run"]]) == "NOT RUN"
    assert overall([records["pass"], records["fail"], records["not_run"]]) == "FAIL"
    assert overall([records["pass"]]) == "PASS"
    assert overall([]) == "NOT RUN"
    unjudged = DrillRecord.from_dict({**records["pass"].to_dict(), "verdict": None})
    assert overall([unjudged]) == "FAIL"


def test_not_run_report(records: dict[str, DrillRecord]) -> None:
    rec = records["not_run"]
    page = html.render_report([rec], _run([rec]), gaps=all_gaps([rec]))
    assert '<span class="badge v-NOT-RUN">NOT RUN</span>' in page
    assert 'class="badge v-PASS"' not in page and ">PASS<" not in page
    assert "Not measured (NOT RUN)." in page
    assert "[BACKEND_UNSUPPORTED] the docker backend is not available" in page
    gaps = gaps_for(rec)
    assert [g.code for g in gaps] == ["NOT_RUN"]
    assert gaps[0].target == "RTO 15m, RPO 5m"
    items = {i.key: i.status for i in drill_checklist(rec)}
    assert items == {"timestamps": NO, "commands": NO, "errors": "n/a", "rto": NO, "integrity": NO}
    text = metrics.render([rec], [])
    assert _metric(text, "drill_success", drill=rec.drill_id) == 0.0
    assert _metric(text, "drill_not_run", drill=rec.drill_id) == 1.0
    assert _metric(text, "drill_rto_seconds", drill=rec.drill_id) is None


def test_fail_report_lists_every_finding_with_numbers(records: dict[str, DrillRecord]) -> None:
    rec = records["fail"]
    codes = {f.code for f in rec.findings}
    assert {
        "INTEGRITY_FAILED",
        "DATA_LOST",
        "DATA_CORRUPTED",
        "RPO_EXCEEDED",
        "RPO_BOUND_EXCEEDS_TARGET",
    } <= codes
    gaps = {g.code: g for g in gaps_for(rec)}
    assert codes <= set(gaps)
    assert gaps["RPO_EXCEEDED"].measured.startswith(fmt_s(rec.observed_rpo()))
    assert gaps["RPO_EXCEEDED"].target == "0"
    assert gaps["RPO_BOUND_EXCEEDS_TARGET"].measured == "bound 15m"
    # A failed check means the recovery was never validated: no RTO, said so.
    assert rec.rto_seconds is None and gaps["RTO_NOT_MEASURED"].target == "50ms"
    page = html.render_report([rec], _run([rec]), gaps=all_gaps([rec]))
    for code in codes:
        assert f"<code>{code}</code>" in page
    assert "pg_restore: error: could not read" in page  # the failed command's output tail
    assert "exit 3" in page
    assert "CalledProcessError" in page  # the failed step's error
    assert "1 corrupted" in page and "holes" in page


def test_no_ledger_means_no_rpo_and_says_so(records: dict[str, DrillRecord]) -> None:
    rec = records["no_ledger"]
    assert rec.observed_rpo() is None
    gaps = {g.code: g for g in gaps_for(rec)}
    assert gaps["RPO_NOT_MEASURED"].severity == "warn"
    items = {i.key: i for i in drill_checklist(rec)}
    assert items["integrity"].status == YES  # its one check passed
    assert "0 ledgers read back" in items["integrity"].evidence
    page = html.render_report([rec], _run([rec]))
    assert "No ledger was read back: the data actually lost was not measured." in page
    assert "No ledger in this drill." in page
    text = metrics.render([rec], [])
    assert _metric(text, "drill_rpo_seconds", drill=rec.drill_id) is None
    assert _metric(text, "drill_rto_seconds", drill=rec.drill_id) == pytest.approx(rec.rto_seconds)


def test_checklist_follows_the_record_not_a_template(records: dict[str, DrillRecord]) -> None:
    rec = DrillRecord.from_dict(records["pass"].to_dict())
    before = {i.key: i.status for i in drill_checklist(rec)}
    assert before == {k: YES for k in before}
    for step in rec.steps:  # the same drill without its commands...
        step.commands.clear()
    rec.steps[-1].end_mono = None  # ...and a step that never finished
    rec.steps[-1].outcome = "running"
    rec.checks[0].passed = False
    after = {i.key: i.status for i in drill_checklist(rec)}
    assert after["commands"] == NO
    assert after["timestamps"] == PARTIAL
    assert after["errors"] == PARTIAL
    assert after["integrity"] == NO


def test_projection_is_labelled_as_such(records: dict[str, DrillRecord]) -> None:
    rec = records["pass"]
    assert rec.projection is not None
    page = html.render_report([rec], _run([rec]))
    assert "Projection, not a measurement." in page
    assert "Assumes the throughput scales linearly with size." in page


# ------------------------------------------------------------------------- trends


def _with_rto(rec: DrillRecord, rto: float) -> DrillRecord:
    copy = DrillRecord.from_dict(rec.to_dict())
    assert copy.t0_mono is not None
    copy.validated_mono = copy.t0_mono + rto
    return copy


def test_trend_sentence_against_last_passing_run(records: dict[str, DrillRecord]) -> None:
    rec = _with_rto(records["pass"], 1.19)
    day1 = datetime(2026, 11, 2, 10, tzinfo=UTC).timestamp()
    past = [
        factories.history_row_like(rec, day1 - 86400, 0.5, "PASS", "r0"),
        factories.history_row_like(rec, day1, 1.0, "PASS", "r1"),
        factories.history_row_like(rec, day1 + 3600, 3.0, "FAIL", "r2"),  # not a pass
        factories.history_row_like(records["fail"], day1 + 7200, 9.0, "PASS", "r3"),  # other
    ]
    t = trend(past, rec, "now")
    assert t.sentence == "RTO 19 % slower than the last passing run (2026-11-02, 1.000 s)."
    assert [p.rto_s for p in t.points] == pytest.approx([0.5, 1.0, 3.0, 1.19])
    assert t.points[-1].current
    faster = trend(past, _with_rto(rec, 0.8), "now")
    assert faster.sentence.startswith("RTO 20 % faster than the last passing run (2026-11-02")
    assert trend([], rec).sentence.startswith("First run of this drill")
    page = html.render_report([rec], _run([rec]), trends={rec.drill_id: t})
    assert "RTO 19 % slower than the last passing run (2026-11-02, 1.000 s)." in page
    assert page.count("<circle") >= 2 * 4  # the sparkline, in the table and the section


# ------------------------------------------------------------------------- history


def _append_many(path: str, writer: int, n: int) -> None:
    for i in range(n):
        append_history(
            Path(path),
            [
                {
                    "schema": "drillbook.history/1",
                    "writer": writer,
                    "i": i,
                    "pad": "x" * 2000,
                    "started": float(i),
                }
            ],
        )


def _row(**extra: object) -> dict:
    return {
        "schema": "drillbook.history/1",
        "drill_id": "d.py::t",
        "verdict": "PASS",
        "started": 1.7e9,
        **extra,
    }


def test_history_appends_survive_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 160
    rows = [json.loads(line) for line in lines]  # no torn or interleaved line
    assert sorted((r["writer"], r["i"]) for r in rows) == [
        (w, i) for w in range(4) for i in range(40)
    ]


def test_history_reader_skips_a_torn_line_and_writer_repairs_it(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    append_history(path, [_row(n=1, started=1e9)])
    with open(path, "a") as fh:
        fh.write('{"schema": "drillbook.history/1", "n": ')  # a writer died mid-line
    append_history(path, [_row(n=2, started=2e9)])
    got = read_history(path)
    assert [r["n"] for r in got.rows] == [1, 2]
    assert [p.line for p in got.problems] == [2]
    assert read_history(tmp_path / "missing.jsonl").rows == []


def test_history_row_holds_numbers_not_data(records: dict[str, DrillRecord]) -> None:
    rec = records["fail"]
    row = history_row(rec, _run([rec]))
    text = json.dumps(row)
    assert row["verdict"] == "FAIL" and row["rpo_s"] == rec.observed_rpo()
    assert row["ledgers"]["projects"]["counts"]["lost"] >= 1
    assert "lost_seqs" not in text and "output_tail" not in text and "garbage" not in text
    assert row["steps"][0]["commands"] == 0 and "text" not in row["steps"][0]


# ------------------------------------------------------------------------- JSON, artefacts


def test_json_document_round_trips_and_refuses_a_foreign_schema(
    records: dict[str, DrillRecord], tmp_path: Path
) -> None:
    recs = list(records.values())
    doc = json.loads(dumps(build_document(recs, _run(recs), all_gaps(recs))))
    assert doc["counts"] == {"PASS": 2, "FAIL": 1, "NOT RUN": 1, "total": 4}
    for entry, rec in zip(doc["drills"], recs, strict=True):
        back = DrillRecord.from_dict(entry["record"])
        assert back.to_dict() == rec.to_dict()
        assert entry["report_anchor"] == anchor(rec.drill_id)
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"schema": "drillbook.drills/99"}))
    with pytest.raises(ValueError, match=r"drillbook\.drills/99"):
        load_document(bad)


def test_one_failing_artefact_does_not_cost_the_others(
    records: dict[str, DrillRecord], tmp_path: Path
) -> None:
    blocked = tmp_path / "history-is-a-dir"
    blocked.mkdir()
    now = time.time()
    written = write_artefacts(
        [records["pass"]],
        out_dir=tmp_path / "out",
        run_dir_name="run",
        history_path=blocked,
        metrics_path=tmp_path / "out" / "drills.prom",
        started=now,
        finished=now,
    )
    assert written.index is not None and written.index.exists()
    assert written.json is not None and written.metrics is not None
    assert written.errors and "history" in written.errors[0]


def test_scrubber_masks_env_values_and_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_PASSWORD", "hunter2-long")
    monkeypatch.setenv("DRILLBOOK_EXTERNAL_POSTGRES", "postgresql://app:urlPw123@db:5432/x")
    monkeypatch.setenv("HARMLESS_FLAG", "true")
    assert {"hunter2-long", "urlPw123"} <= set(env_secrets())
    scrub = Scrubber()
    data = scrub.data(
        {
            "a": ["say hunter2-long", {"b": "pw urlPw123"}],
            "c": "redis://:other-pw@h:1/0",
            "d": "run --password s3cr3tXYZ",
        }
    )
    flat = json.dumps(data)
    for secret in ("hunter2-long", "urlPw123", "other-pw", "s3cr3tXYZ"):
        assert secret not in flat
    assert "true" in scrub.text("enabled: true")  # short/boolean values are not secrets


# ------------------------------------------------------------------------- summary


def _rows(rec: DrillRecord, base: float) -> list[dict]:
    rows = []
    for i, (rto, verdict) in enumerate([(2.0, "PASS"), (4.0, "FAIL"), (None, "NOT RUN")]):
        row = factories.history_row_like(rec, base + i * 86400, rto, verdict, f"r{i}")
        row["tier"] = "P0"
        if verdict == "FAIL":
            row["findings"] = [{"code": "RTO_EXCEEDED", "severity": "fail", "message": "slow"}]
        rows.append(row)
    return rows


def test_quarterly_summary_numbers(records: dict[str, DrillRecord]) -> None:
    rec = records["pass"]
    q4 = periods.quarter("2026-Q4")
    base = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    rows = _rows(rec, base)
    rows.append(factories.history_row_like(rec, base - 200 * 86400, 1.0, "PASS", "old"))
    s = summary.summarise(rows, q4, "h.jsonl")
    t = s.total
    assert (t.attempts, t.ran, t.passed, t.failed, t.not_run) == (3, 2, 1, 1, 1)
    (auth,) = s.services
    assert auth.avg_rto == 3.0 and auth.worst_rto == 4.0
    assert auth.tally.rto_met == 2  # both measured RTOs are under 15 minutes
    assert [g.code for g in s.gaps] == ["NOT_RUN"]  # the drill's latest attempt
    md = summary_render.render_markdown(s)
    assert "# DR Drill Report — 2026 Q4" in md
    assert "RTO Achievement: 67 % of drills (2 of 3)" in md
    assert "Drills Conducted: 3 (2 ran, 1 not run)" in md
    assert "| auth | P0 | 15m | 5m | 1m |" in md
    assert "`RTO_EXCEEDED` | 1 |" in md
    assert "not recorded by drills" in md
    page = summary_render.render_html(s)
    assert "<title>DR Drill Report — 2026 Q4</title>" in page


def test_periods() -> None:
    nov = periods.month("2026-11")
    assert nov.label == "November 2026"
    assert nov.contains(datetime(2026, 11, 30, 23, 59, tzinfo=UTC).timestamp())
    assert not nov.contains(datetime(2026, 12, 1, tzinfo=UTC).timestamp())
    assert nov.previous().slug == "2026-10"
    assert periods.quarter("2026Q1").previous().slug == "2025-Q4"
    dec = periods.month("2026-12")
    assert dec.end == datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    with pytest.raises(ValueError, match="YYYY-MM"):
        periods.month("2026-13")


def test_report_cli_exit_codes(
    records: dict[str, DrillRecord], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_report(["--history", str(tmp_path / "nope.jsonl")]) == 2
    path = tmp_path / "h.jsonl"
    append_history(path, _rows(records["pass"], datetime(2026, 11, 1, tzinfo=UTC).timestamp()))
    assert main_report(["--history", str(path), "--month", "2026-11"]) == 0
    assert "# DR Drill Report — November 2026" in capsys.readouterr().out
    assert main_report(["--history", str(path), "--month", "2025-01"]) == 1
    assert main_report(["--history", str(path), "--quarter", "2026-Q9"]) == 2
    out = tmp_path / "q.html"
    assert (
        main_report(
            ["--history", str(path), "--quarter", "2026-Q4", "--format", "html", "-o", str(out)]
        )
        == 0
    )
    assert 'id="open-gaps"' in out.read_text()


# ------------------------------------------------------------------------- options


class _FakeConfig:
    """Just what reports.plugin.settings_for reads from a pytest Config."""

    def __init__(self, root: Path, cwd: Path, opts: dict, ini: dict) -> None:
        import types

        self.rootpath = root
        self.inipath = root / "pytest.ini"
        self.invocation_params = types.SimpleNamespace(dir=cwd)
        self._opts, self._ini = opts, ini

    def getoption(self, name: str, default: object = None) -> object:
        return self._opts.get(name, default)

    def getini(self, name: str) -> object:
        return self._ini.get(name, False if name == "no_drill_report" else None)


def test_options_flag_then_ini_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from drillbook.reports.plugin import settings_for

    root, cwd = tmp_path / "root", tmp_path / "cwd"
    for name in (
        "DRILLBOOK_REPORT_DIR",
        "DRILLBOOK_HISTORY",
        "DRILLBOOK_METRICS",
        "DRILLBOOK_NO_REPORT",
    ):
        monkeypatch.delenv(name, raising=False)
    s = settings_for(_FakeConfig(root, cwd, {}, {}))  # type: ignore[arg-type]
    assert s.enabled
    assert s.out_dir == root / "reports/out" and s.history == root / "reports/history.jsonl"
    assert s.metrics == root / "reports/out/drills.prom"
    assert s.run_dir.parent == s.out_dir and s.run_dir.name.endswith("Z")
    monkeypatch.setenv("DRILLBOOK_REPORT_DIR", "env-out")
    monkeypatch.setenv("DRILLBOOK_HISTORY", "none")
    s = settings_for(_FakeConfig(root, cwd, {}, {"drill_metrics": "m.prom"}))  # type: ignore[arg-type]
    assert s.out_dir == cwd / "env-out"  # env: relative to the invocation dir
    assert s.history is None  # "none" turns the history off
    assert s.metrics == root / "m.prom"  # ini: relative to the ini file
    s = settings_for(_FakeConfig(root, cwd, {"drill_report_dir": "flag-out"}, {}))  # type: ignore[arg-type]
    assert s.out_dir == cwd / "flag-out" and s.metrics == cwd / "flag-out/drills.prom"
    monkeypatch.setenv("DRILLBOOK_NO_REPORT", "1")
    assert not settings_for(_FakeConfig(root, cwd, {}, {})).enabled  # type: ignore[arg-type]
    monkeypatch.delenv("DRILLBOOK_NO_REPORT")
    assert not settings_for(
        _FakeConfig(root, cwd, {"no_drill_report": True}, {})  # type: ignore[arg-type]
    ).enabled


def test_a_new_drill_section_is_one_function_in_the_list(
    records: dict[str, DrillRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    from drillbook.reports.html_parts import DrillView, Section, e

    def verify(view: DrillView) -> str | None:
        runs = view.rec.notes.get("verify")
        return None if not runs else f"<p class='verify'>{e(runs)}</p>"

    section = Section("verify", "Restore verification", verify)
    monkeypatch.setattr(html, "DRILL_SECTIONS", [*html.DRILL_SECTIONS, section])
    with_data = DrillRecord.from_dict(records["pass"].to_dict())
    with_data.notes["verify"] = "base backup restored <ok>"
    without = records["no_ledger"]
    page = html.render_report([with_data, without], _run([with_data, without]))
    assert page.count("<h3>Restore verification</h3>") == 1  # left out where it is None
    assert f"id='{anchor(with_data.drill_id)}-verify'" in page
    assert "base backup restored &lt;ok&gt;" in page


def test_summary_marks_an_rpo_that_is_only_a_lower_bound(records: dict[str, DrillRecord]) -> None:
    base = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    rows = _rows(records["pass"], base)[:2]
    exact = summary_render.render_markdown(summary.summarise(rows, periods.month("2026-11")))
    assert "≥" not in exact
    rows[1] = {**rows[1], "rpo_s": 1.006, "rpo_is_lower_bound": True}  # every write lost
    md = summary_render.render_markdown(summary.summarise(rows, periods.month("2026-11")))
    assert "| ≥ 753.0 ms | ≥ 1.006 s |" in md
