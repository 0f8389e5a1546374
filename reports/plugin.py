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
import time
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drillbook.record import DrillRecord, Verdict
from drillbook.reports.history import DEFAULT_PATH
from drillbook.reports.model import anchor, fmt_s, fmt_target, verdict_of

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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drillbook reports")
    group.addoption(
        "--drill-report-dir",
        dest="drill_report_dir",
        default=None,
        help=f"folder for the drill reports (default {DEFAULT_REPORT_DIR} in the rootdir; "
        "env DRILLBOOK_REPORT_DIR)",
    )
    parser.addini("drill_report_dir", default=None, help="see --drill-report-dir")
    group.addoption(
        "--drill-history",
        dest="drill_history",
        default=None,
        help=f"JSON-lines history the run appends to (default {DEFAULT_HISTORY} in the "
        "rootdir; 'none' disables; env DRILLBOOK_HISTORY)",
    )
    parser.addini("drill_history", default=None, help="see --drill-history")
    group.addoption(
        "--drill-metrics",
        dest="drill_metrics",
        default=None,
        help=f"Prometheus textfile (default <report dir>/{METRICS_FILE}; 'none' disables; "
        "env DRILLBOOK_METRICS)",
    )
    parser.addini("drill_metrics", default=None, help="see --drill-metrics")
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
        base = config.inipath.parent if config.inipath else config.rootpath
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
    root = Path(config.rootpath)
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


def _html_loaded(config: pytest.Config) -> bool:
    return bool(config.pluginmanager.hasplugin("html"))


def _report_link(config: pytest.Config, settings: Settings, drill_id: str) -> str:
    """The drill's section of the report, relative to the pytest-html file when known."""
    target = settings.index.resolve()
    html_path = getattr(config.option, "htmlpath", None)
    if html_path:
        base = Path(os.path.abspath(html_path)).parent
        rel = os.path.relpath(target, base)
        return f"{Path(rel).as_posix()}#{anchor(drill_id)}"
    return f"{target.as_uri()}#{anchor(drill_id)}"


def _one_line(rec: DrillRecord) -> str:
    s = rec.summary()
    verdict = verdict_of(rec)
    if verdict == Verdict.NOT_RUN.value:
        return f"NOT RUN: {rec.not_run_reason or 'no reason recorded'}"
    return (
        f"{verdict} · RTO {fmt_s(s['rto_s'])} / target {fmt_target(s['rto_target_s'])} · "
        f"RPO {fmt_s(s['rpo_s'])} / bound {fmt_target(s['rpo_bound_s'])} / target "
        f"{fmt_target(s['rpo_target_s'])}"
    )


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    # tryfirst makes this wrapper the outer one: its code after ``yield`` runs after
    # drillbook's own wrapper has finalised the verdict and attached the record.
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    data = getattr(report, "drill_record", None)
    if not data or not _html_loaded(item.config):
        return
    settings = item.config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        return
    from html import escape

    from pytest_html import extras

    from drillbook.redact import Scrubber

    scrub = Scrubber()
    rec = DrillRecord.from_dict(scrub.data(data))
    link = _report_link(item.config, settings, rec.drill_id)
    verdict = verdict_of(rec)
    colour = {"PASS": "#1e8449", "FAIL": "#c0392b"}.get(verdict, "#b9770e")
    codes = ", ".join(sorted({f.code for f in rec.findings}))
    content = (
        f'<div class="drill-extra"><b style="color:{colour}">{escape(verdict)}</b> '
        f"{escape(_one_line(rec).split(' · ', 1)[-1] if verdict != 'NOT RUN' else _one_line(rec))}"
        + (f"<br>findings: {escape(codes)}" if codes else "")
        + (f'<br><a href="{escape(link)}">drill report section</a>' if settings.enabled else "")
        + "</div>"
    )
    report_extras = list(getattr(report, "extras", []))
    report_extras.append(extras.html(scrub.final(content)))
    if settings.enabled:
        report_extras.append(extras.url(link, name="drill report"))
    report.extras = report_extras  # type: ignore[attr-defined]


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells: list[str]) -> None:
    cells.insert(2, '<th class="sortable" data-column-type="drill">Drill</th>')


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    from html import escape

    data = getattr(report, "drill_record", None)
    text = ""
    if data:
        from drillbook.redact import Scrubber

        text = escape(_one_line(DrillRecord.from_dict(Scrubber().data(data))))
    cells.insert(2, f'<td class="col-drill">{text}</td>')


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
    from drillbook.reports.artefacts import write_artefacts

    config.stash[WRITTEN_KEY] = write_artefacts(
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


def _show(path: Path | None, config: pytest.Config) -> str:
    if path is None:
        return "off"
    try:
        return str(path.relative_to(config.invocation_params.dir))
    except ValueError:
        return str(path)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    written = config.stash.get(WRITTEN_KEY, None)
    if written is None:
        return
    tr = terminalreporter
    tr.section("drill report")
    if written.index is not None:
        tr.write_line(f"drill report: {written.index}", bold=True)
        tr.write_line(f"  latest:  {_show(written.latest, config)}")
    tr.write_line(f"  json:    {_show(written.json, config)}")
    history = _show(written.history, config)
    if written.history is not None:
        history += f" (+{written.history_rows} lines)"
    if written.history_skipped:
        history += f"; {written.history_skipped} unreadable lines skipped"
    tr.write_line(f"  history: {history}")
    tr.write_line(f"  metrics: {_show(written.metrics, config)}")
    for err in written.errors:
        tr.write_line(f"drill report: could not write {err}", red=True, bold=True)
