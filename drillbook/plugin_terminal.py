"""The end of a run: one line per drill, the ``drills:`` count, and the exit status.

NOT RUN is never a pass: it has its own status letter (``N``), its own section, and it
fails the run (exit 1) unless ``--drill-allow-not-run`` turned it into a skip.
"""

from __future__ import annotations

from typing import Any

import pytest

from drillbook.plugin import RECORDS_KEY
from drillbook.plugin_options import allow_not_run
from drillbook.record import DrillRecord, Verdict


def record_line(rec: DrillRecord) -> str:
    """``PASS    drills/x.py::test_y  RTO 1.2s / target 900s  RPO ...  findings: ...``"""
    s = rec.summary()

    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}s"

    parts = [f"{rec.verdict or '?':7} {rec.drill_id}"]
    if rec.verdict == Verdict.NOT_RUN.value:
        parts.append(f"reason: {rec.not_run_reason}")
    else:
        parts.append(f"RTO {f(s['rto_s'])} / target {f(s['rto_target_s'])}")
        # Every write lost: the measured RPO is only a minimum, and the line says so.
        rpo = ("≥" if s.get("rpo_is_lower_bound") else "") + f(s["rpo_s"])
        parts.append(f"RPO {rpo} / bound {f(s['rpo_bound_s'])} / target {f(s['rpo_target_s'])}")
        codes = sorted({x.code for x in rec.findings})
        if codes:
            parts.append("findings: " + ", ".join(codes))
    return "  ".join(parts)


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    if getattr(report, "drill_not_run", None):
        return "not run", "N", "NOT RUN"
    return None


def _counts(records: list[DrillRecord]) -> tuple[dict[str, int], int]:
    """Records per verdict, and the must-fail drills that failed as expected."""
    counts = {v.value: 0 for v in Verdict}
    expected = 0
    for rec in records:
        if rec.notes.get("expected_fail") is not None and rec.verdict == Verdict.FAIL.value:
            expected += 1
            continue
        counts[rec.verdict or Verdict.FAIL.value] += 1
    return counts, expected


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    records = config.stash.get(RECORDS_KEY, [])
    if records:
        terminalreporter.section("drills")
        for rec in records:
            terminalreporter.write_line(record_line(rec))
        counts, expected = _counts(records)
        bad = bool(counts["FAIL"] or counts["NOT RUN"])
        terminalreporter.write_line(
            f"drills: {counts['PASS']} passed, {counts['FAIL']} failed, "
            f"{counts['NOT RUN']} not run"
            + (f", {expected} failed as expected (must-fail drills)" if expected else ""),
            bold=True,
            red=bad,
            green=not bad,
        )
    not_run = terminalreporter.stats.get("not run", [])
    if not not_run:
        return
    terminalreporter.section("drills NOT RUN")
    seen = set()
    for rep in not_run:
        if rep.nodeid in seen:
            continue
        seen.add(rep.nodeid)
        terminalreporter.write_line(f"NOT RUN {rep.nodeid}: {rep.drill_not_run}")
    if not allow_not_run(config):
        terminalreporter.write_line(
            "NOT RUN is never a pass: this run fails (use --drill-allow-not-run to report "
            "these as skipped)."
        )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    if tr is None or allow_not_run(session.config):
        return
    if tr.stats.get("not run") and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
