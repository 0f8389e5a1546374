"""pytest plugin: write the drill report, drills.json, history and metrics after a run.

Enable it with ``pytest_plugins = [..., "drillbook.reports.plugin"]`` in conftest.py (or ``-p
reports.plugin``). At the end of a run that produced at least one drill record it
writes, on the controller only (never on a pytest-xdist worker):

- ``<report dir>/<UTC timestamp>/index.html`` and ``<report dir>/latest.html``;
- ``<report dir>/<UTC timestamp>/drills.json`` and ``<report dir>/latest.json``;
- one line per drill appended to the history (``reports/history.jsonl``);
- the Prometheus textfile (``<report dir>/drills.prom``);

and names the report in the terminal summary. With pytest-html loaded, each drill's row
also carries its verdict, RTO/RPO against target and a link to its report section.

Options (flag, then ini key, then environment variable):

==========================  ======================  ==========================
``--drill-report-dir``      ``drill_report_dir``    ``DRILLBOOK_REPORT_DIR``
``--drill-history``         ``drill_history``       ``DRILLBOOK_HISTORY``
``--drill-metrics``         ``drill_metrics``       ``DRILLBOOK_METRICS``
``--no-drill-report``       ``no_drill_report``     ``DRILLBOOK_NO_REPORT=1``
==========================  ======================  ==========================

``--drill-history=none`` / ``--drill-metrics=none`` turn one artefact off. A relative
path on the command line or in the environment is taken from the invocation directory;
in the ini file, from the rootdir.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drillbook.project import project_root
from drillbook.record import DrillRecord
from drillbook.reports.history import DEFAULT_PATH

DEFAULT_REPORT_DIR = "reports/out"
DEFAULT_HISTORY = DEFAULT_PATH
METRICS_FILE = "drills.prom"
WORKER_KEY = "drillbook_report_run_dir"
OFF = ("none", "off", "false", "no", "0", "")


@dataclass
class Settings:
    enabled: bool
    out_dir: Path
    history: Path | None
    metrics: Path | None
    run_dir: Path  # planned: out_dir / <UTC timestamp of the session start>
    started: float

    @property
    def index(self) -> Path:
        return self.run_dir / "index.html"


SETTINGS_KEY = pytest.StashKey[Settings]()
WRITTEN_KEY = pytest.StashKey[Any]()


#: The path options: (name, help); each is a flag, an ini key and an env var.
PATH_OPTIONS = (
    (
        "drill_report_dir",
        f"folder for the drill reports (default {DEFAULT_REPORT_DIR} in the rootdir; "
        "env DRILLBOOK_REPORT_DIR)",
    ),
    (
        "drill_history",
        f"JSON-lines history the run appends to (default {DEFAULT_HISTORY} in the rootdir; "
        "'none' disables; env DRILLBOOK_HISTORY)",
    ),
    (
        "drill_metrics",
        f"Prometheus textfile (default <report dir>/{METRICS_FILE}; 'none' disables; "
        "env DRILLBOOK_METRICS)",
    ),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drillbook reports")
    for name, text in PATH_OPTIONS:
        flag = "--" + name.replace("_", "-")
        group.addoption(flag, dest=name, default=None, help=text)
        parser.addini(name, default=None, help=f"see {flag}")
    group.addoption(
        "--no-drill-report",
        action="store_true",
        dest="no_drill_report",
        default=None,
        help="write no drill report, JSON, history or metrics (env DRILLBOOK_NO_REPORT=1)",
    )
    parser.addini("no_drill_report", type="bool", default=False, help="see --no-drill-report")


def _path_option(config: pytest.Config, name: str, env: str) -> tuple[str, Path] | None:
    """(value, base folder for a relative value) from the flag, ini key or env var."""
    value = config.getoption(name, default=None)
    if value not in (None, ""):
        return str(value), Path(config.invocation_params.dir)
    ini = config.getini(name)
    if ini not in (None, "", []):
        base = config.inipath.parent if config.inipath else project_root(config)
        return str(ini), Path(base)
    value = os.environ.get(env)
    if value not in (None, ""):
        return str(value), Path(config.invocation_params.dir)
    return None


def _resolve(config: pytest.Config, name: str, env: str, default: Path | None) -> Path | None:
    found = _path_option(config, name, env)
    if found is None:
        return default
    value, base = found
    if value.strip().lower() in OFF:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _enabled(config: pytest.Config) -> bool:
    if config.getoption("no_drill_report", default=None):
        return False
    if os.environ.get("DRILLBOOK_NO_REPORT", "").strip().lower() in ("1", "true", "yes"):
        return False
    return not bool(config.getini("no_drill_report"))


def settings_for(config: pytest.Config) -> Settings:
    root = project_root(config)
    out_dir = _resolve(
        config, "drill_report_dir", "DRILLBOOK_REPORT_DIR", root / DEFAULT_REPORT_DIR
    )
    if out_dir is None:  # "none" for the folder means: no reports at all
        return Settings(False, root / DEFAULT_REPORT_DIR, None, None, root, time.time())
    history = _resolve(config, "drill_history", "DRILLBOOK_HISTORY", root / DEFAULT_HISTORY)
    metrics = _resolve(config, "drill_metrics", "DRILLBOOK_METRICS", out_dir / METRICS_FILE)
    started = time.time()
    workerinput = getattr(config, "workerinput", None)
    if workerinput and workerinput.get(WORKER_KEY):
        run_dir = Path(workerinput[WORKER_KEY])
    else:
        run_dir = out_dir / datetime.fromtimestamp(started, UTC).strftime("%Y%m%dT%H%M%SZ")
    return Settings(_enabled(config), out_dir, history, metrics, run_dir, started)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SETTINGS_KEY] = settings_for(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: tell each worker where the controller will write the report."""
    settings = node.config.stash.get(SETTINGS_KEY, None)
    if settings is not None:
        node.workerinput[WORKER_KEY] = str(settings.run_dir)


# ------------------------------------------------------------------------- pytest-html


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    # tryfirst makes this wrapper the outer one: its code after ``yield`` runs after
    # drillbook's own wrapper has finalised the verdict and attached the record.
    result = yield
    report: pytest.TestReport = result.get_result()
    data = getattr(report, "drill_record", None)
    settings = item.config.stash.get(SETTINGS_KEY, None)
    if not data or settings is None or not item.config.pluginmanager.hasplugin("html"):
        return
    from drillbook.reports import html_extras

    html_path = getattr(item.config.option, "htmlpath", None)
    link = html_extras.report_link(settings.index, html_path) if settings.enabled else None
    html_extras.attach(report, data, link)


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells: list[str]) -> None:
    cells.insert(2, '<th class="sortable" data-column-type="drill">Drill</th>')


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    from drillbook.reports import html_extras

    cells.insert(2, html_extras.row_cell(getattr(report, "drill_record", None)))


# ------------------------------------------------------------------------- end of run


def _workers(config: pytest.Config) -> int:
    n = getattr(config.option, "numprocesses", None)
    return n if isinstance(n, int) else 0


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return  # the xdist controller writes the report, once
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None or not settings.enabled:
        return
    # Imported here: importing drillbook.plugin while ``-p reports.plugin`` loads would
    # keep pytest from assertion-rewriting it when conftest registers it.
    from drillbook.plugin import drill_records

    records = drill_records(config)
    if not records:
        return
    written = _write(config, settings, records)
    config.stash[WRITTEN_KEY] = written
    if written.errors:
        # An artefact that could not be written is a failed run: CI must not go green
        # with the drill record (or the history line) lost.
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if config.pluginmanager.get_plugin("terminalreporter") is None:
            for line in _error_lines(written):
                sys.stderr.write(line + "\n")


def _write(config: pytest.Config, settings: Settings, records: list[DrillRecord]) -> Any:
    from drillbook.reports.artefacts import Written, write_artefacts
    from drillbook.reports.fmt import one_line

    try:
        return write_artefacts(
            records,
            out_dir=settings.out_dir,
            run_dir_name=settings.run_dir.name,
            history_path=settings.history,
            metrics_path=settings.metrics,
            started=settings.started,
            finished=time.time(),
            args=list(config.invocation_params.args),
            workers=_workers(config),
        )
    except Exception as exc:  # a bug in a writer: still one line and a failed run
        return Written(run_dir=None, errors=[f"the drill report: {one_line(exc)}"])


def _error_lines(written: Any) -> list[str]:
    return [f"drill report: could not write {err}" for err in written.errors]


def _show(path: Path | None, config: pytest.Config, wanted: bool = True) -> str:
    """Where an artefact went: ``off`` when turned off, ``not written`` when it failed."""
    if path is None:
        return "not written (see below)" if wanted else "off"
    try:
        return str(path.relative_to(config.invocation_params.dir))
    except ValueError:
        return str(path)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    written = config.stash.get(WRITTEN_KEY, None)
    settings = config.stash.get(SETTINGS_KEY, None)
    if written is None or settings is None:
        return
    tr = terminalreporter
    tr.section("drill report")
    if written.index is not None:
        tr.write_line(f"drill report: {written.index}", bold=True)
        tr.write_line(f"  latest:  {_show(written.latest, config)}")
    tr.write_line(f"  json:    {_show(written.json, config)}")
    history = _show(written.history, config, settings.history is not None)
    if written.history is not None:
        history += f" (+{written.history_rows} lines)"
    tr.write_line(f"  history: {history}")
    for line in written.history_skipped:
        tr.write_line(f"  history {line}", yellow=True)
    tr.write_line(f"  metrics: {_show(written.metrics, config, settings.metrics is not None)}")
    for line in _error_lines(written):
        tr.write_line(line, red=True, bold=True)
