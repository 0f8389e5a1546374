"""The pytest side of drillbook: options, the ``drill`` fixture, records, cleanup.

Loaded with its sibling plugin modules by the ``pytest11`` entry point
(:mod:`drillbook.pytest_plugin`):

- this module: start-up (options validated and drills.toml loaded before any server
  starts, stale runs reaped, SIGTERM turned into a clean stop), the ``drill`` fixture,
  a drill whose service drills.toml lacks made NOT RUN before it starts, and the
  collection of every drill record of the run (on the xdist controller too);
- :mod:`drillbook.plugin_verdicts`: each drill judged when its test ends (verdicts,
  NOT RUN, must-fail drills);
- :mod:`drillbook.plugin_terminal`: the ``drills`` summary and the exit status.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from drillbook import plugin_options
from drillbook.errors import DrillNotRun
from drillbook.record import DrillRecord

if TYPE_CHECKING:  # the engine (ledgers, capture, watchdog) loads with the first drill
    from drillbook.drill import Drill

NOT_RUN_KEY = pytest.StashKey[str]()
DRILL_KEY = pytest.StashKey[Any]()  # the Drill of an item using the `drill` fixture
RECORDS_KEY = pytest.StashKey[list[DrillRecord]]()
TARGETS_KEY = plugin_options.TARGETS_KEY

EXPECT_FAIL_HELP = (
    "drill_expect_fail(*codes, match=None): a must-fail drill; the test passes only if "
    "the drill FAILs with every one of these finding codes and, given match='text', one "
    "of the findings with those codes has 'text' in its message (a substring), so a "
    "must-fail keyed on a generic code such as DRILL_ERROR cannot pass on an unrelated error"
)

_CONFIG: dict[str, pytest.Config] = {}


def current_project() -> tuple[Path, Any] | None:
    """(project root, loaded drills.toml or None) of the running pytest session, or None
    outside one. The project root is the folder of drills.toml (drillbook.project)."""
    config = _CONFIG.get("config")
    if config is None:
        return None
    from drillbook.project import project_root

    return project_root(config), config.stash.get(TARGETS_KEY, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    plugin_options.addoptions(parser)


_SIGTERMS: list[float] = []  # when each SIGTERM of this process arrived (monotonic)


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM ends the run like Ctrl-C: pytest then tears down every fixture, so servers
    and temporary directories are removed. A second SIGTERM (an impatient supervisor)
    must not abandon that cleanup: it makes it faster (:func:`drillbook.hurry.hurry`)."""
    import time

    _SIGTERMS.append(time.monotonic())
    if len(_SIGTERMS) == 1:
        raise KeyboardInterrupt("SIGTERM")
    from drillbook import hurry

    hurry.hurry()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    from drillbook.fixtures import procs

    config.addinivalue_line(
        "markers", "drill(service, scenario): ties a drill to its service's targets in drills.toml"
    )
    config.addinivalue_line("markers", EXPECT_FAIL_HELP)
    plugin_options.validate(config)  # before anything starts: a bad value is one line
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


# -- one drill ----------------------------------------------------------------------------


def marker_info(item: pytest.Item) -> tuple[str | None, str | None] | None:
    """(service, scenario) of a ``@pytest.mark.drill`` test, None for other tests."""
    marker = item.get_closest_marker("drill")
    if marker is None:
        return None
    service = marker.kwargs.get("service") or (marker.args[0] if marker.args else None)
    scenario = marker.kwargs.get("scenario") or (marker.args[1] if len(marker.args) > 1 else None)
    return service, scenario


def new_record(item: pytest.Item) -> DrillRecord:
    from drillbook.fixtures.backend import option

    service, scenario = marker_info(item) or (None, None)
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
    item = request.node
    record = new_record(item)
    target = None
    if record.service:
        problem = _target_problem(request.config, record.service)
        if problem:
            raise DrillNotRun(problem, code="TARGET_UNKNOWN")
        target = request.config.stash[TARGETS_KEY].get(record.service)
        record.target = target.to_dict()
    rto_target = None
    if target is not None:
        # With the clock starting at detection, allow the detection phase on top.
        rto_target = target.rto + (30.0 if target.rto_clock == "detection" else 0.0)
    deadline = plugin_options.engine_options(request.config).deadline
    from drillbook.drill import Drill

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
    info = marker_info(item)
    if info is None or not info[0]:
        return
    problem = _target_problem(item.config, info[0])
    if problem:
        raise DrillNotRun(problem, code="TARGET_UNKNOWN")


# -- the records of the run ------------------------------------------------------------------


def record_of(item: pytest.Item) -> DrillRecord | None:
    live = item.stash.get(DRILL_KEY, None)
    return live.record if live is not None else None


def attach(report: pytest.TestReport, record: DrillRecord) -> None:
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
