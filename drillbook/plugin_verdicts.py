"""Each drill judged as its test ends: a verdict, NOT RUN, or a must-fail drill's outcome.

NOT RUN: a :class:`~drillbook.errors.DrillNotRun` raised anywhere in a test (fixture
set-up included) becomes a NOT RUN outcome: reported as failed (or skipped with the
reason under ``--drill-allow-not-run``), never as passed, and counted on its own line.
A drill whose set-up broke is NOT RUN in its record (the pytest outcome stays an error);
one whose teardown broke cannot count as passed.

A must-fail drill (``@pytest.mark.drill_expect_fail``) passes as a test only when the
drill FAILs with every expected code and, with ``match=``, when one of those findings'
messages contains the text.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import pytest

from drillbook.errors import DrillNotRun, StepTimeout
from drillbook.plugin import (
    DRILL_KEY,
    NOT_RUN_KEY,
    attach,
    marker_info,
    new_record,
    record_of,
)
from drillbook.plugin_options import allow_not_run
from drillbook.record import DrillRecord, Finding, Verdict
from drillbook.redact import redact


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    live = item.stash.get(DRILL_KEY, None)
    if live is not None and call.when == "call":
        live.deadlines.clear()  # the test body is over: no alarm may hit pytest itself
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    _redact_longrepr(report)
    reason = _not_run_reason(call.excinfo)
    if reason is not None:
        _mark_not_run(item, report, reason)
    elif call.when == "setup" and report.failed and marker_info(item) is not None:
        _setup_failed(item, call, report)
    elif call.when == "teardown" and report.failed:
        _teardown_failed(item, call, report)
    elif call.when == "call":
        _judge(item, call, report)


def _error(call: pytest.CallInfo[None]) -> BaseException | None:
    return call.excinfo.value if call.excinfo is not None else None


def _setup_failed(
    item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport
) -> None:
    """A drill whose set-up broke could not run: NOT RUN in its record. The pytest
    outcome stays an error (a broken fixture is a bug, never skipped)."""
    rec = record_of(item) or new_record(item)
    rec.verdict = Verdict.NOT_RUN.value
    exc = _error(call)
    rec.not_run_reason = redact(f"[SETUP_FAILED] {type(exc).__name__}: {exc}")[:500]
    attach(report, rec)


def _teardown_failed(
    item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport
) -> None:
    """The drill's own cleanup broke (a server that would not stop, a leak): the drill
    cannot count as passed."""
    record = record_of(item)
    if record is None:
        return
    exc = _error(call)
    record.findings.append(
        Finding("DRILL_ERROR", redact(f"teardown failed: {type(exc).__name__}: {exc}")[:500])
    )
    record.verdict = Verdict.FAIL.value
    attach(report, record)


def _judge(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
    from drillbook.verdict import finalize

    record = record_of(item)
    if record is None:
        return
    error = _error(call)
    if error is not None and not isinstance(error, Exception | StepTimeout):
        error = None  # KeyboardInterrupt and friends are not drill findings
    record.finished_mono = time.monotonic()
    verdict = finalize(record, error=error)
    attach(report, record)
    summary = record.summary()
    props = [("drill_verdict", verdict.value)]
    for key in ("rto_s", "rto_target_s", "rpo_s", "rpo_target_s", "rpo_bound_s"):
        if summary.get(key) is not None:
            props.append((f"drill_{key}", f"{summary[key]:.3f}"))
    if summary.get("rpo_is_lower_bound"):
        props.append(("drill_rpo_is_lower_bound", "true"))  # drill_rpo_s is a minimum
    _properties(item, report, props)
    text = _findings_text(record)
    expect = item.get_closest_marker("drill_expect_fail")
    if expect is not None:
        _expected_fail(expect, record, verdict, report, text)
        attach(report, record)
    elif verdict is Verdict.FAIL and report.passed:
        report.outcome = "failed"
        report.longrepr = text
    elif text:
        report.sections.append(("drill verdict", text))


def expectation(mark: pytest.Mark) -> tuple[set[str], str | None]:
    """The codes a must-fail drill must FAIL with, and the text one of them must carry."""
    wanted = set(mark.args) | set(mark.kwargs.get("findings", ()))
    match = mark.kwargs.get("match")
    return wanted, None if match is None else str(match)


def met(findings: list[Finding], wanted: set[str], match: str | None) -> bool:
    """Every wanted code is there and, with *match*, one of their messages contains it."""
    if not wanted <= {f.code for f in findings}:
        return False
    if match is None:
        return True
    return any(match in f.message for f in findings if not wanted or f.code in wanted)


def _expected_fail(
    mark: pytest.Mark,
    record: DrillRecord,
    verdict: Verdict,
    report: pytest.TestReport,
    text: str,
) -> None:
    """A must-fail drill (a broken recovery) passes only when it FAILs as expected."""
    wanted, match = expectation(mark)
    record.notes["expected_fail"] = sorted(wanted)
    if match is not None:
        record.notes["expected_fail_match"] = match
    if verdict is Verdict.FAIL and met(record.findings, wanted, match):
        report.outcome = "passed"
        report.longrepr = None
        report.sections.append(("drill verdict (expected FAIL)", text))
        return
    got = sorted({f.code for f in record.findings}) or "no findings"
    matching = f" (one of them containing {match!r})" if match is not None else ""
    report.outcome = "failed"
    report.longrepr = (
        f"expected the drill to FAIL with {sorted(wanted)}{matching}; it ended "
        f"{verdict.value} with {got}\n{text}"
    )


def _redact_longrepr(report: pytest.TestReport) -> None:
    """A failure's text (a traceback quoting a DSN) must not carry a known secret."""
    if report.longrepr is None or report.passed:
        return
    text = str(report.longrepr)
    clean = redact(text)
    if clean != text:
        report.longrepr = clean


def _properties(item: pytest.Item, report: pytest.TestReport, props: list[tuple[str, str]]) -> None:
    """On the report (this phase) and the item (JUnit XML reads the item's at teardown)."""
    for prop in props:
        report.user_properties.append(prop)
        if prop not in item.user_properties:
            item.user_properties.append(prop)


def _findings_text(record: DrillRecord) -> str:
    lines = [f"drill {record.name}: {record.verdict}"]
    lines += [f"  {f.code}: {f.message}" for f in record.findings]
    return redact("\n".join(lines)) if record.findings else ""


# -- NOT RUN ------------------------------------------------------------------------------------


def _not_run_reason(excinfo: pytest.ExceptionInfo[BaseException] | None) -> str | None:
    """``[CODE] reason`` of a DrillNotRun anywhere in the exception chain, redacted."""
    if excinfo is None:
        return None
    exc: BaseException | None = excinfo.value
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, DrillNotRun):
            return redact(f"[{exc.code}] {exc.reason}")
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _mark_not_run(item: pytest.Item, report: pytest.TestReport, reason: str) -> None:
    item.stash[NOT_RUN_KEY] = reason
    if marker_info(item) is not None or item.stash.get(DRILL_KEY, None) is not None:
        record = record_of(item) or new_record(item)
        record.verdict = Verdict.NOT_RUN.value
        record.not_run_reason = reason
        attach(report, record)
    _properties(item, report, [("drill_verdict", "NOT RUN"), ("drill_not_run_reason", reason)])
    # A drill naming a service drills.toml lacks is the team's configuration error, not
    # an environment that lacks something: never turned into a skip.
    if allow_not_run(item.config) and not reason.startswith("[TARGET_UNKNOWN]"):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"NOT RUN: {reason}")
    else:
        report.outcome = "failed"
        report.longrepr = f"NOT RUN: {reason}"
    report.drill_not_run = reason  # type: ignore[attr-defined]
