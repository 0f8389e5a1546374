"""Shared fixtures of the runbook tests: the source runbooks and a bare drill."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from drillbook.drill import Drill
from drillbook.record import DrillRecord

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ENV = "DRILLBOOK_SOURCE_RUNBOOKS"


def source_dir() -> Path | None:
    """The teams' source runbooks (the parser's specification), if this machine has them:
    $DRILLBOOK_SOURCE_RUNBOOKS, or a shared/runbooks folder beside the repository."""
    if os.environ.get(SOURCE_ENV):
        return Path(os.environ[SOURCE_ENV])
    for parent in ROOT.parents:
        candidate = parent / "shared" / "runbooks"
        if (candidate / "README.md").exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def sources() -> Path:
    found = source_dir()
    if found is None or not any(found.glob("0*.md")):
        pytest.skip(
            f"the source runbooks are not on this machine: set {SOURCE_ENV} to their folder "
            "(shared/runbooks beside the repository in CI)"
        )
    return found


@pytest.fixture
def bare_drill() -> Iterator[Drill]:
    """A Drill outside the `drill` fixture: its verdict does not decide the test's outcome,
    the test asserts on the record itself."""
    drill = Drill(DrillRecord(drill_id="runbook-test", name="runbook-test"))
    try:
        yield drill
    finally:
        drill.close()
