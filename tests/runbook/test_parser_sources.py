"""The parser on the teams' source runbooks: every step and budget found, every fenced
block attached to its step (and to one step only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drillbook.runbook.model import Runbook, section_budget, steps_of
from drillbook.runbook.parser import load

MIN = 60.0
FILES = {
    "000": "000_b9e419547e14e1e8.md",
    "001": "001_61317e2ff6da1521.md",
    "002": "002_9f16cc52ea840a8b.md",
    "003": "003_6f8b148609103d28.md",
    "004": "004_f7cc4674e276e0d8.md",
}

# (file, section) -> [(step name, budget upper end s, window start s, conditional, fence lines)]
EXPECTED: dict[tuple[str, str], list[tuple[str, float | None, float | None, bool, list[int]]]]
EXPECTED = {
    ("000", "User Authentication Service Recovery"): [
        ("1. Immediate Response", 5 * MIN, 0.0, False, [101]),
        ("2. Service Restart", 10 * MIN, 5 * MIN, False, [113]),
        ("3. Database Recovery", 15 * MIN, 10 * MIN, True, [125]),
        ("4. Session Recovery", None, None, False, [139]),
        ("5. Verification", 15 * MIN, None, False, []),
    ],
    ("000", "Projects Service Recovery"): [
        ("1. Assessment", 5 * MIN, 0.0, False, [163]),
        ("2. Pause Queue Processing", 5 * MIN, None, False, [172]),
        ("3. Database Restoration", 25 * MIN, 5 * MIN, False, [178]),
        ("4. Data Integrity Check", 28 * MIN, 25 * MIN, False, [193]),
        ("5. Resume Operations", 30 * MIN, 28 * MIN, False, [205]),
    ],
    ("000", "Cache Service Recovery"): [
        ("1. Immediate Assessment", 10 * MIN, 0.0, False, [224]),
        ("2. Attempt Quick Recovery", 20 * MIN, 10 * MIN, False, [236]),
        ("3. Restore from Backup", 40 * MIN, 20 * MIN, True, [249]),
        ("4. Cache Warm-up", 60 * MIN, 40 * MIN, False, [265]),
        ("5. Performance Monitoring", None, None, False, []),
    ],
    ("001", "RTO Achievement Strategy"): [
        ("1. Automated Monitoring", 5 * MIN, None, False, [42]),
        ("2. Rapid Decision Making", 5 * MIN, None, False, [69]),
        ("3. Recovery Execution › Phase 1: Preparation", 10 * MIN, None, False, [93]),
        ("3. Recovery Execution › Phase 2: Restoration", 25 * MIN, None, False, [105]),
        ("3. Recovery Execution › Phase 3: Verification", 10 * MIN, None, False, [119]),
        ("4. Service Restoration", 5 * MIN, None, False, [131]),
    ],
    ("002", "Tier 1 — 15–20 Minute RTO"): [
        ("1. Pre-baked AMIs and container images", None, None, False, [97]),
        ("2. Kubernetes autoscaling headroom", None, None, False, [108]),
        ("3. RDS Multi-AZ enabled", None, None, False, [116]),
        ("4. Health checks and readiness probes", None, None, False, []),
        ("5. Runbooks rehearsed quarterly", None, None, False, []),
    ],
    ("003", "Scenario 1: Complete Database Loss"): [
        ("1. Assess Damage", 5 * MIN, None, False, [309]),
        ("2. Prepare Recovery Environment", 10 * MIN, None, False, [320]),
        ("3. Restore Latest Backup", 20 * MIN, None, False, [332]),
        ("4. Apply WAL Archives (Point-in-Time Recovery)", 15 * MIN, None, False, [347]),
        ("5. Validate Recovery", 10 * MIN, None, False, [355]),
        ("6. Restart Application", 5 * MIN, None, False, [375]),
    ],
    ("003", "Scenario 2: Complete Application Failure"): [
        ("1. Assess Situation", 5 * MIN, None, False, [401]),
        ("2. Quick Fix Attempts", 10 * MIN, None, False, [416]),
        ("3. Rollback to Previous Version", 20 * MIN, None, False, [429]),
        ("4. Full Recovery", 25 * MIN, None, True, [443]),
        ("5. Validate", 5 * MIN, None, False, [462]),
    ],
    ("003", "Scenario 3: Infrastructure Failure"): [
        ("1. Activate Disaster Recovery Plan", 15 * MIN, None, False, [490]),
        ("2. Deploy Infrastructure in DR Region", 60 * MIN, None, False, [503]),
        ("3. Restore Database", 90 * MIN, None, False, [517]),
        ("4. Deploy Application", 45 * MIN, None, False, [533]),
        ("5. Validate & Switch Traffic", 30 * MIN, None, False, [548]),
    ],
    ("004", "Scenario 1: PostgreSQL Database Loss"): [
        ("Step 1: Stop Application", None, None, False, [76]),
        ("Step 2: Identify Backup", None, None, False, [86]),
        ("Step 3: Restore Database", None, None, False, [103, 113]),
        ("Step 4: Verify Restore", None, None, False, [131]),
        ("Step 5: Restart Application", None, None, False, [142]),
        ("Step 6: Post-Restore Verification", None, None, False, []),
    ],
    ("004", "Database Verification"): [
        ("Step 1: Check Database Connection", None, None, False, [277]),
        ("Step 2: Verify Table Counts", None, None, False, [282]),
        ("Step 3: Verify Data Integrity", None, None, False, [300]),
        ("Step 4: Test Application Queries", None, None, False, [320]),
    ],
}
# (file, section) -> the section's total budget: windows end at their upper end, durations add
TOTALS = {
    ("000", "User Authentication Service Recovery"): 30 * MIN,  # 15 + Verification's 15
    ("000", "Projects Service Recovery"): 30 * MIN,
    ("000", "Cache Service Recovery"): 60 * MIN,
    ("001", "RTO Achievement Strategy"): 60 * MIN,
    ("003", "Scenario 1: Complete Database Loss"): 65 * MIN,  # "~60 minutes (within RTO)"
    ("003", "Scenario 2: Complete Application Failure"): 65 * MIN,
    ("003", "Scenario 3: Infrastructure Failure"): 240 * MIN,
}


def _load(sources: Path, key: str) -> Runbook:
    return load(sources / FILES[key])


@pytest.mark.parametrize("key", sorted(FILES))
def test_every_source_runbook_parses(sources: Path, key: str) -> None:
    runbook = _load(sources, key)
    assert runbook.title and list(runbook.nodes())


@pytest.mark.parametrize(("key", "section"), sorted(EXPECTED))
def test_steps_budgets_and_blocks(sources: Path, key: str, section: str) -> None:
    steps = steps_of(_load(sources, key).section(section))
    found = [
        (
            s.name,
            s.node.budget.seconds if s.node.budget else None,
            s.node.budget.low if s.node.budget else None,
            s.node.conditional,
            [b.line for b in s.blocks],
        )
        for s in steps
    ]
    assert found == EXPECTED[(key, section)]


@pytest.mark.parametrize(("key", "section"), sorted(TOTALS))
def test_section_totals(sources: Path, key: str, section: str) -> None:
    total, _ = section_budget(_load(sources, key).section(section))
    assert total == TOTALS[(key, section)]


def _fence_lines(path: Path) -> list[int]:
    """Opening lines of every fenced block, by a plain line scan (independent of the parser)."""
    opened: list[int] = []
    inside = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if re.match(r"\s*```", line):
            if not inside:
                opened.append(number)
            inside = not inside
    return opened


@pytest.mark.parametrize("key", sorted(FILES))
def test_every_fenced_block_belongs_to_exactly_one_step(sources: Path, key: str) -> None:
    runbook = _load(sources, key)
    attached = [b.line for node in runbook.nodes() for b in node.blocks]
    assert sorted(attached) == _fence_lines(sources / FILES[key])


@pytest.mark.parametrize("key", sorted(FILES))
def test_every_title_with_a_duration_has_a_budget(sources: Path, key: str) -> None:
    duration = re.compile(r"\(([^()]*\d+\s*(?:min|minutes|hours?)[^()]*)\)")
    for node in _load(sources, key).nodes():
        if duration.search(node.title):
            assert node.budget is not None, (node.line, node.title)


def test_labels_options_prose_and_checklists(sources: Path) -> None:
    step3 = _load(sources, "004").section("Step 3: Restore Database")
    assert [b.label for b in step3.blocks] == [
        "Option A: Restore to Existing Database",
        "Option B: Restore to New Database",
    ]
    verification = _load(sources, "000").section("5. Verification")
    assert "- Test user login" in verification.prose
    checklist = _load(sources, "000").section("DR Drill Checklist").checklist
    assert len(checklist) == 15 and not any(item.checked for item in checklist)
    assert checklist[0].text == "Notify all stakeholders"
    decision = _load(sources, "001").section("2. Rapid Decision Making")
    assert decision.blocks[0].runner is None and "Procedure B" in decision.blocks[0].text
    assert len(decision.checklist) == 6


def test_conditions_are_kept(sources: Path) -> None:
    restore = _load(sources, "000").section("Restore from Backup")
    assert restore.conditional and restore.condition == "if needed"
    archiving = _load(sources, "001").section("Transaction Log Archiving")
    assert archiving.conditional and archiving.budget is None
