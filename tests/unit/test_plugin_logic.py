"""The pure parts of the pytest plugin: a must-fail drill's expectation (``match=``)."""

from __future__ import annotations

import pytest

from drillbook.plugin import EXPECT_FAIL_HELP
from drillbook.plugin_verdicts import expectation, met
from drillbook.record import Finding

ERROR = Finding("DRILL_ERROR", "RuntimeError: pg_restore: could not read the archive")
TYPO = Finding("DRILL_ERROR", "KeyError: 'a typo in the drill'")
LOST = Finding("DATA_LOST", "ledger pg: 3 acknowledged writes lost; could not read back")


@pytest.mark.parametrize(
    ("findings", "codes", "match", "expected"),
    [
        ([ERROR], {"DRILL_ERROR"}, None, True),
        ([TYPO], {"DRILL_ERROR"}, None, True),  # why match= exists: any error passes
        ([ERROR], {"DRILL_ERROR"}, "could not read", True),
        ([TYPO], {"DRILL_ERROR"}, "could not read", False),
        # The text must be in a finding of the expected codes, not in any other one.
        ([TYPO, LOST], {"DRILL_ERROR"}, "could not read", False),
        ([TYPO, LOST], {"DRILL_ERROR", "DATA_LOST"}, "could not read", True),
        ([LOST], {"DRILL_ERROR"}, None, False),
        ([TYPO, LOST], set(), "could not read", True),  # no codes: any finding's message
        ([], set(), "could not read", False),
    ],
)
def test_a_must_fail_drill_needs_its_codes_and_the_text(
    findings: list[Finding], codes: set[str], match: str | None, expected: bool
) -> None:
    assert met(findings, codes, match) is expected


def test_the_marker_reads_codes_findings_and_match() -> None:
    mark = pytest.mark.drill_expect_fail("DRILL_ERROR", findings=["DATA_LOST"], match="x").mark
    assert expectation(mark) == ({"DRILL_ERROR", "DATA_LOST"}, "x")
    assert expectation(pytest.mark.drill_expect_fail("A").mark) == ({"A"}, None)


def test_the_marker_help_documents_match() -> None:
    assert "match='text'" in EXPECT_FAIL_HELP and "substring" in EXPECT_FAIL_HELP
