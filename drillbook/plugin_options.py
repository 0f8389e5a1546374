"""The engine's pytest options, validated at start-up before any server starts.

Every option is a flag, an ini key and an environment variable. A value that cannot be
used (``--drill-deadline=abc``, a targets path that is a directory, an invalid
drills.toml) stops the run in ``pytest_configure`` with one line naming the setting
and how to fix it (pytest prints it as ``ERROR: ...`` and exits 4), instead of a
traceback from a fixture once servers are already up. The parsed values live in the
config's stash; fixtures read them from there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drillbook.project import project_root
from drillbook.targets import Targets, TargetsError, parse_duration
from drillbook.targets import load_targets as load_targets_file
from drillbook.targets.errors import show
from drillbook.targets.units import DURATION_ALLOWED

TARGETS_KEY = pytest.StashKey[Any]()  # Targets | None

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_YES_NO = "1, true, yes or 0, false, no"
_SECONDS = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")


@dataclass(frozen=True)
class Setting:
    """One engine option: its flag, ini key and environment variable."""

    name: str  # dest and ini key
    flag: str
    env: str

    def origin(self, config: pytest.Config) -> tuple[str, str] | None:
        """(where the value came from, the value), the flag first, then ini, then env."""
        value = config.getoption(self.name, default=None)
        if value not in (None, False, ""):
            return self.flag, str(value)
        ini = _ini(config, self.name)
        if ini:
            return f"ini {self.name}", ini
        env = os.environ.get(self.env)
        return (f"env {self.env}", env) if env else None


ALLOW_NOT_RUN = Setting("drill_allow_not_run", "--drill-allow-not-run", "DRILLBOOK_ALLOW_NOT_RUN")
TARGETS = Setting("drill_targets", "--drill-targets", "DRILLBOOK_TARGETS")
DEADLINE = Setting("drill_deadline", "--drill-deadline", "DRILLBOOK_DEADLINE")


@dataclass(frozen=True)
class EngineOptions:
    """The validated values of the engine's options."""

    allow_not_run: bool
    deadline: float | None  # seconds after t0 a drill may run; None: its RTO target


OPTIONS_KEY = pytest.StashKey[EngineOptions]()


def _ini(config: pytest.Config, name: str) -> str:
    """An ini value as text; a bool key pytest cannot read is a one-line error naming it."""
    try:
        value = config.getini(name)
    except (ValueError, pytest.UsageError) as exc:
        raise pytest.UsageError(f"ini {name}: {exc}; allowed: {_YES_NO}") from None
    return "" if value in (None, False) else ("1" if value is True else str(value))


def option_error(where: str, value: str, problem: str, allowed: str) -> pytest.UsageError:
    """One line: ``--drill-deadline='abc': cannot read duration ...; allowed: ...``."""
    return pytest.UsageError(f"{where}={show(value)}: {problem}; allowed: {allowed}")


def addoptions(parser: pytest.Parser) -> None:
    group = parser.getgroup("drillbook")
    group.addoption(
        ALLOW_NOT_RUN.flag,
        action="store_true",
        dest=ALLOW_NOT_RUN.name,
        default=None,
        help="report NOT RUN drills as skipped instead of failing the run "
        f"(env {ALLOW_NOT_RUN.env}=1)",
    )
    parser.addini(ALLOW_NOT_RUN.name, type="bool", default=False, help="see --drill-allow-not-run")
    group.addoption(
        TARGETS.flag,
        dest=TARGETS.name,
        default=None,
        help="targets file (default: drills.toml in the project root, the nearest folder at "
        f"or above the rootdir holding one; env {TARGETS.env})",
    )
    parser.addini(TARGETS.name, default=None, help="targets file, see --drill-targets")
    group.addoption(
        DEADLINE.flag,
        dest=DEADLINE.name,
        default=None,
        help="longest a drill may run after t0, in seconds or like 5m (default: the RTO "
        f"target; env {DEADLINE.env})",
    )
    parser.addini(DEADLINE.name, default=None, help="see --drill-deadline")


def validate(config: pytest.Config) -> None:
    """Parse every engine option and drills.toml into the stash; UsageError on the first
    value that cannot be used."""
    config.stash[OPTIONS_KEY] = EngineOptions(
        allow_not_run=_allow_not_run(config), deadline=_deadline(config)
    )
    config.stash[TARGETS_KEY] = _targets(config)


def _allow_not_run(config: pytest.Config) -> bool:
    found = ALLOW_NOT_RUN.origin(config)
    if found is None:
        return False
    where, value = found
    if where == ALLOW_NOT_RUN.flag or value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise option_error(where, value, "not a yes/no value", _YES_NO)


def _deadline(config: pytest.Config) -> float | None:
    found = DEADLINE.origin(config)
    if found is None:
        return None
    where, value = found
    try:  # a bare number is seconds here (the option's help says so)
        seconds = parse_duration(float(value) if _SECONDS.fullmatch(value) else value)
    except TargetsError as err:
        raise option_error(where, value, err.problem, DURATION_ALLOWED) from None
    if seconds <= 0:
        raise option_error(where, value, "a deadline of 0 stops every drill at t0", "> 0")
    return seconds


def _targets(config: pytest.Config) -> Targets | None:
    """drills.toml, loaded once; an invalid file stops the run at start-up (one line)."""
    found = TARGETS.origin(config)
    path = Path(found[1]) if found else project_root(config) / "drills.toml"
    if not path.is_absolute():
        path = Path(config.invocation_params.dir) / path
    if not path.exists():
        if found:
            raise pytest.UsageError(f"{found[0]}: {path}: no such file")
        return None
    try:
        return load_targets_file(path)
    except TargetsError as exc:
        raise pytest.UsageError(f"{found[0]}: {exc}" if found else str(exc)) from None


def engine_options(config: pytest.Config) -> EngineOptions:
    """The validated options (validated now if configure did not run, as in a plugin test)."""
    if OPTIONS_KEY not in config.stash:
        validate(config)
    return config.stash[OPTIONS_KEY]


def allow_not_run(config: pytest.Config) -> bool:
    return engine_options(config).allow_not_run
