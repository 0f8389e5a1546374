"""The pytest side of drillbook: NOT RUN outcomes, cleanup on every exit path, verdicts.

NOT RUN: a :class:`~drillbook.errors.DrillNotRun` raised anywhere in a test (fixture
set-up included) becomes a NOT RUN outcome: reported as failed (or skipped with the
reason under ``--drill-allow-not-run``), never as passed, and counted on its own line.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from drillbook.drill import Drill
from drillbook.errors import DrillNotRun, StepTimeout
from drillbook.project import project_root
from drillbook.record import DrillRecord, Verdict
from drillbook.redact import redact

NOT_RUN_KEY = pytest.StashKey[str]()
DRILL_KEY = pytest.StashKey[Any]()  # the Drill of an item using the `drill` fixture
RECORDS_KEY = pytest.StashKey[list[DrillRecord]]()
TARGETS_KEY = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drillbook")
    group.addoption(
        "--drill-allow-not-run",
        action="store_true",
        dest="drill_allow_not_run",
        default=None,
        help="report NOT RUN drills as skipped instead of failing the run "
        "(env DRILLBOOK_ALLOW_NOT_RUN=1)",
    )
    parser.addini(
        "drill_allow_not_run", type="bool", default=False, help="see --drill-allow-not-run"
    )
    group.addoption(
        "--drill-targets",
        dest="drill_targets",
        default=None,
        help="targets file (default: drills.toml in the project root, the nearest folder "
        "at or above the rootdir holding one; env DRILLBOOK_TARGETS)",
    )
    parser.addini("drill_targets", default=None, help="targets file, see --drill-targets")
    group.addoption(
        "--drill-deadline",
        dest="drill_deadline",
        default=None,
        help="longest a drill may run after t0, in seconds or like 5m (default: the RTO "
        "target; env DRILLBOOK_DEADLINE)",
    )
    parser.addini("drill_deadline", default=None, help="see --drill-deadline")


def _setting(config: pytest.Config, name: str, env: str) -> str | None:
    value = config.getoption(name, default=None) or config.getini(name) or os.environ.get(env)
    return str(value) if value else None


def load_targets(config: pytest.Config) -> Any:
    """drills.toml, loaded once; an invalid file stops the run at start-up (one line)."""
    from drillbook.targets import TargetsError
    from drillbook.targets import load_targets as _load

    explicit = _setting(config, "drill_targets", "DRILLBOOK_TARGETS")
    path = Path(explicit) if explicit else project_root(config) / "drills.toml"
    if not path.is_absolute():
        path = Path(config.invocation_params.dir) / path
    if not path.exists():
        if explicit:
            raise pytest.UsageError(f"--drill-targets: {path}: no such file")
        return None
    try:
        return _load(path)
    except TargetsError as exc:
        raise pytest.UsageError(str(exc)) from None


def allow_not_run(config: pytest.Config) -> bool:
    if config.getoption("drill_allow_not_run"):
        return True
    if os.environ.get("DRILLBOOK_ALLOW_NOT_RUN", "").lower() in ("1", "true", "yes"):
        return True
    return bool(config.getini("drill_allow_not_run"))


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    # SIGTERM ends the run like Ctrl-C: pytest then tears down every fixture, so
    # servers and temp dirs are removed. A second SIGTERM is not caught again.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt("SIGTERM")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    from drillbook.fixtures import procs

    config.addinivalue_line(
        "markers", "drill(service, scenario): ties a drill to its service's targets in drills.toml"
    )
    config.addinivalue_line(
        "markers",
        "drill_expect_fail(*codes): a must-fail drill; the test passes only if the drill "
        "FAILs with these finding codes",
    )
    config.stash[TARGETS_KEY] = load_targets(config)
    config.stash[RECORDS_KEY] = []
    _CONFIG["config"] = config
    procs.reap_stale_runs()
    if hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) in (
        signal.SIG_DFL,
        None,
    ):
        signal.signal(signal.SIGTERM, _sigterm_to_interrupt)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    from drillbook.fixtures import procs

    if _CONFIG.get("config") is config:
        del _CONFIG["config"]
    procs.close_current_run()


def _record_line(rec: DrillRecord) -> str:
    s = rec.summary()

    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}s"

    parts = [f"{rec.verdict or '?':7} {rec.drill_id}"]
    if rec.verdict == Verdict.NOT_RUN.value:
        parts.append(f"reason: {rec.not_run_reason}")
    else:
        parts.append(f"RTO {f(s['rto_s'])} / target {f(s['rto_target_s'])}")
        parts.append(
            f"RPO {f(s['rpo_s'])} / bound {f(s['rpo_bound_s'])} / target {f(s['rpo_target_s'])}"
        )
        codes = sorted({x.code for x in rec.findings})
        if codes:
            parts.append("findings: " + ", ".join(codes))
    return "  ".join(parts)


def _not_run_reason(excinfo: pytest.ExceptionInfo[BaseException] | None) -> str | None:
    reason = _raw_not_run_reason(excinfo)
    return redact(reason) if reason else None


def _raw_not_run_reason(excinfo: pytest.ExceptionInfo[BaseException] | None) -> str | None:
    if excinfo is None:
        return None
    exc: BaseException | None = excinfo.value
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, DrillNotRun):
            return f"[{exc.code}] {exc.reason}"
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _marker_info(item: pytest.Item) -> tuple[str | None, str | None] | None:
    marker = item.get_closest_marker("drill")
    if marker is None:
        return None
    service = marker.kwargs.get("service") or (marker.args[0] if marker.args else None)
    scenario = marker.kwargs.get("scenario") or (marker.args[1] if len(marker.args) > 1 else None)
    return service, scenario


def _new_record(item: pytest.Item) -> DrillRecord:
    from drillbook.fixtures.backend import option

    service, scenario = _marker_info(item) or (None, None)
    record = DrillRecord(
        drill_id=item.nodeid,
        name=item.name,
        service=service,
        scenario=scenario,
        backend=option(item.config, "drill_backend"),
    )
    targets = item.config.stash.get(TARGETS_KEY, None)
    if targets is not None:
        record.targets_digest = targets.digest
    return record


@pytest.fixture
def drill(request: pytest.FixtureRequest) -> Iterator[Drill]:
    """The drill record of this test: mark t0, run steps, probe, check, keep ledgers."""
    from drillbook.targets import parse_duration

    item = request.node
    record = _new_record(item)
    target = None
    if record.service:
        problem = _target_problem(request.config, record.service)
        if problem:
            raise DrillNotRun(problem, code="TARGET_UNKNOWN")
        target = request.config.stash[TARGETS_KEY].get(record.service)
        record.target = target.to_dict()
    deadline_text = _setting(request.config, "drill_deadline", "DRILLBOOK_DEADLINE")
    deadline = parse_duration(deadline_text) if deadline_text else None
    rto_target = None
    if target is not None:
        # With the clock starting at detection, allow the detection phase on top.
        rto_target = target.rto + (30.0 if target.rto_clock == "detection" else 0.0)
    live = Drill(record, rto_target=rto_target, deadline=deadline)
    item.stash[DRILL_KEY] = live
    try:
        yield live
    finally:
        live.close()


def _target_problem(config: pytest.Config, service: str) -> str | None:
    """Why *service* has no targets, or None when drills.toml declares it."""
    from drillbook.targets import TargetsError

    targets = config.stash.get(TARGETS_KEY, None)
    if targets is None:
        return (
            f"@pytest.mark.drill(service={service!r}) but no targets file was found: "
            "create drills.toml in the project root or pass --drill-targets"
        )
    try:
        targets.get(service)
    except TargetsError as exc:
        return str(exc)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A drill whose service drills.toml does not declare cannot be judged: NOT RUN
    (TARGET_UNKNOWN) before any server starts; the other drills of the run go on."""
    info = _marker_info(item)
    if info is None or not info[0]:
        return
    problem = _target_problem(item.config, info[0])
    if problem:
        raise DrillNotRun(problem, code="TARGET_UNKNOWN")


def _record_of(item: pytest.Item) -> DrillRecord | None:
    live = item.stash.get(DRILL_KEY, None)
    return live.record if live is not None else None


def _attach(report: pytest.TestReport, record: DrillRecord) -> None:
    """Carry the record on the report: it reaches the xdist controller with it."""
    report.drill_record = record.to_dict()  # type: ignore[attr-defined]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    data = getattr(report, "drill_record", None)
    if not data:
        return
    config = _CONFIG.get("config")
    if config is None:
        return
    records = config.stash.setdefault(RECORDS_KEY, [])
    record = DrillRecord.from_dict(data)
    for i, existing in enumerate(records):
        if existing.drill_id == record.drill_id:
            records[i] = record  # a later phase (teardown) has the final word
            return
    records.append(record)


def drill_records(config: pytest.Config) -> list[DrillRecord]:
    """Every drill record of this run (on the xdist controller too), in report order."""
    records: list[DrillRecord] = config.stash.get(RECORDS_KEY, [])
    return list(records)


_CONFIG: dict[str, pytest.Config] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    from drillbook.verdict import finalize

    live = item.stash.get(DRILL_KEY, None)
    if live is not None and call.when == "call":
        live.deadlines.clear()  # the test body is over: no alarm may hit pytest itself
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    _redact_longrepr(report)
    reason = _not_run_reason(call.excinfo)
    if reason is not None:
        _mark_not_run(item, report, reason)
        return
    if call.when == "setup" and report.failed and _marker_info(item) is not None:
        # A drill whose set-up broke could not run: NOT RUN in its record. The pytest
        # outcome stays an error (a broken fixture is a bug, never skipped).
        rec = _record_of(item) or _new_record(item)
        rec.verdict = Verdict.NOT_RUN.value
        exc = call.excinfo.value if call.excinfo else None
        rec.not_run_reason = redact(f"[SETUP_FAILED] {type(exc).__name__}: {exc}")[:500]
        _attach(report, rec)
        return
    record = _record_of(item)
    if record is not None and call.when == "teardown" and report.failed:
        # The drill's own cleanup broke (a server that would not stop, a leak): the
        # drill cannot count as passed.
        exc = call.excinfo.value if call.excinfo else None
        from drillbook.record import Finding

        record.findings.append(
            Finding("DRILL_ERROR", redact(f"teardown failed: {type(exc).__name__}: {exc}")[:500])
        )
        record.verdict = Verdict.FAIL.value
        _attach(report, record)
        return
    if record is None or call.when != "call":
        return
    error = call.excinfo.value if call.excinfo is not None else None
    if error is not None and not isinstance(error, Exception | StepTimeout):
        error = None  # KeyboardInterrupt and friends are not drill findings
    record.finished_mono = time.monotonic()
    verdict = finalize(record, error=error)
    _attach(report, record)
    summary = record.summary()
    props = [("drill_verdict", verdict.value)]
    for key in ("rto_s", "rto_target_s", "rpo_s", "rpo_target_s", "rpo_bound_s"):
        if summary.get(key) is not None:
            props.append((f"drill_{key}", f"{summary[key]:.3f}"))
    _properties(item, report, props)
    text = _findings_text(record)
    expect = item.get_closest_marker("drill_expect_fail")
    if expect is not None:
        # A must-fail drill (a broken recovery): it passes as a test only when the drill
        # FAILs with every expected finding code.
        wanted = set(expect.args) | set(expect.kwargs.get("findings", ()))
        got = {f.code for f in record.findings}
        record.notes["expected_fail"] = sorted(wanted)
        _attach(report, record)
        if verdict is Verdict.FAIL and wanted <= got:
            report.outcome = "passed"
            report.longrepr = None
            report.sections.append(("drill verdict (expected FAIL)", text))
        else:
            report.outcome = "failed"
            report.longrepr = (
                f"expected the drill to FAIL with {sorted(wanted)}; it ended {verdict.value}"
                f" with {sorted(got) or 'no findings'}\n{text}"
            )
        return
    if verdict is Verdict.FAIL and report.passed:
        report.outcome = "failed"
        report.longrepr = text
    elif text:
        report.sections.append(("drill verdict", text))


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


def _mark_not_run(item: pytest.Item, report: pytest.TestReport, reason: str) -> None:
    item.stash[NOT_RUN_KEY] = reason
    if _marker_info(item) is not None or item.stash.get(DRILL_KEY, None) is not None:
        record = _record_of(item) or _new_record(item)
        record.verdict = Verdict.NOT_RUN.value
        record.not_run_reason = reason
        _attach(report, record)
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


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    if getattr(report, "drill_not_run", None):
        return "not run", "N", "NOT RUN"
    return None


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    records = config.stash.get(RECORDS_KEY, [])
    if records:
        terminalreporter.section("drills")
        for rec in records:
            terminalreporter.write_line(_record_line(rec))
        counts = {v.value: 0 for v in Verdict}
        expected = 0
        for rec in records:
            if rec.notes.get("expected_fail") is not None and rec.verdict == Verdict.FAIL.value:
                expected += 1
                continue
            counts[rec.verdict or Verdict.FAIL.value] += 1
        terminalreporter.write_line(
            f"drills: {counts['PASS']} passed, {counts['FAIL']} failed, "
            f"{counts['NOT RUN']} not run"
            + (f", {expected} failed as expected (must-fail drills)" if expected else ""),
            bold=True,
            red=bool(counts["FAIL"] or counts["NOT RUN"]),
            green=not (counts["FAIL"] or counts["NOT RUN"]),
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
