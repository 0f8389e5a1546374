"""drillbook's own tests.

- Drills run here prove the harness, not a team's runbook: they write no drill report
  and append nothing to the drill history that `pytest drills` keeps.
- The docker backend's cases (the compliance suite's docker parameters, tests/docker)
  need a Docker engine with images: `.ci/docker` runs them against a private engine
  (DRILLBOOK_DOCKER_TESTS=1). Elsewhere they are deselected, and the summary says so:
  selected without an engine they would all be NOT RUN.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

DOCKER_ENV = "DRILLBOOK_DOCKER_TESTS"

# The northwind dataset (third-party, not shipped) is found through $DRILLBOOK_NORTHWIND
# only; this repository's own tests default it to the checkout's neighbour.
os.environ.setdefault(
    "DRILLBOOK_NORTHWIND",
    str(Path(__file__).resolve().parents[2] / "shared/datasets/northwind/northwind.sql"),
)


def _docker_selected() -> bool:
    return os.environ.get(DOCKER_ENV, "").lower() in ("1", "true", "yes")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.option.no_drill_report = True


def _is_docker_case(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    ids = callspec.id.split("-") if callspec is not None else []
    return "docker" in ids or item.path.parent.name == "docker"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _docker_selected():
        return
    docker = [item for item in items if _is_docker_case(item)]
    if docker:
        config.hook.pytest_deselected(items=docker)
        items[:] = [item for item in items if not _is_docker_case(item)]
        config.stash[_DESELECTED] = len(docker)


_DESELECTED = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    n = config.stash.get(_DESELECTED, 0)
    if n:
        terminalreporter.write_line(
            f"docker backend: {n} cases deselected (they need a Docker engine): run "
            f".ci/docker, or {DOCKER_ENV}=1 pytest tests -k docker with DOCKER_HOST set"
        )
