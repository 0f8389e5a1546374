"""The pytest side of drillbook: NOT RUN outcomes, cleanup on every exit path, verdicts.

NOT RUN: a :class:`~drillbook.errors.DrillNotRun` raised anywhere in a test (fixture
set-up included) becomes a NOT RUN outcome: reported as failed (or skipped with the
reason under ``--drill-allow-not-run``), never as passed, and counted on its own line.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Generator
from typing import Any

import pytest

from drillbook.errors import DrillNotRun

NOT_RUN_KEY = pytest.StashKey[str]()


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
    parser.addini("drill_allow_not_run", type="bool", default=False, help="see --drill-allow-not-run")


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
    from fixtures import procs

    procs.reap_stale_runs()
    if hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) in (
        signal.SIG_DFL,
        None,
    ):
        signal.signal(signal.SIGTERM, _sigterm_to_interrupt)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    from fixtures import procs

    procs.close_current_run()


def _not_run_reason(excinfo: pytest.ExceptionInfo[BaseException] | None) -> str | None:
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    reason = _not_run_reason(call.excinfo)
    if reason is None:
        return
    item.stash[NOT_RUN_KEY] = reason
    report.user_properties.append(("drill_verdict", "NOT RUN"))
    report.user_properties.append(("drill_not_run_reason", reason))
    if allow_not_run(item.config):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"NOT RUN: {reason}")
        report.wasxfail = ""  # type: ignore[attr-defined]
        del report.wasxfail  # type: ignore[attr-defined]
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
