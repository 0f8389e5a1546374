"""drillbook's own tests: drills run here prove the harness, not a team's runbook.

They must not write drill reports or append to the drill history that `pytest drills`
keeps (a must-fail drill would show as a failed quarterly drill).
"""

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.option.no_drill_report = True
