"""Budgets from titles and what shell blocks call: pure logic."""

from __future__ import annotations

import pytest

from drillbook.runbook.budget import parse_title
from drillbook.runbook.model import Node, cumulative_budget
from drillbook.runbook.parser import parse
from drillbook.runbook.shell import analyse, commands, is_local_url, logical_lines


@pytest.mark.parametrize(
    ("title", "name", "high", "low", "condition"),
    [
        ("Immediate Response (5-10 minutes)", "Immediate Response", 600, 300, None),
        ("Phase 1: Preparation (10 min)", "Phase 1: Preparation", 600, None, None),
        ("Phase 2: Restoration (25 min)", "Phase 2: Restoration", 1500, None, None),
        (
            "Restore from Backup (if needed, 20-40 minutes)",
            "Restore from Backup",
            2400,
            1200,
            "if needed",
        ),
        (
            "Full Recovery (if rollback fails) (25 minutes)",
            "Full Recovery",
            1500,
            None,
            "if rollback fails",
        ),
        ("Deploy (1 hour)", "Deploy", 3600, None, None),
        ("Quick check (30 s)", "Quick check", 30, None, None),
        ("Window (0–5 minutes)", "Window", 300, 0, None),
        ("Archiving (Optional)", "Archiving", None, None, "Optional"),
        ("Scenario 1: Corruption (Q1)", "Scenario 1: Corruption (Q1)", None, None, None),
        ("Tier 1 — 15–20 Minute RTO", "Tier 1 — 15–20 Minute RTO", None, None, None),
    ],
)
def test_parse_title(title: str, name: str, high, low, condition) -> None:
    parsed = parse_title(title)
    assert parsed.name == name
    assert (parsed.budget.seconds if parsed.budget else None) == high
    assert (parsed.budget.low if parsed.budget else None) == low
    assert parsed.condition == condition


def test_cumulative_budget_windows_and_durations() -> None:
    section = parse(
        "# R\n1. **A** (0-5 minutes)\n2. **B** (5 minutes)\n3. **C** (5-25 minutes)\n"
        "4. **D**\n5. **E** (2 min)\n"
    ).root
    total, unbudgeted = cumulative_budget(section.children[0].children)
    # A ends at 5, B adds 5 (10), C's window ends at 25, D has none, E adds 2
    assert (total, unbudgeted) == (27 * 60, 1)
    assert cumulative_budget([Node(kind="item", title="x", line=1)]) == (0.0, 1)


def test_tools_variables_and_urls() -> None:
    facts = analyse(
        "\n".join(
            [
                "# comment: curl https://not.run.example",
                "LATEST=$(aws s3 ls \"s3://$BACKUP_BUCKET/base/\" | awk '{print $2}' | tail -n 1)",
                'pg_dump "$DATABASE_URL" > corrupted_$(date +%Y%m%d).sql',
                "sudo -u postgres pg_ctl -D /var/lib/postgresql/data start",
                "stripe events list | xargs -I{} curl -X POST https://api.example.com/{} \\",
                '  -H "Authorization: Bearer $INTERNAL_TOKEN"',
                "0 2 * * * /path/backup.sh >> /var/log/b.log 2>&1",
                "watch -n 5 'redis-cli INFO stats | grep keyspace'",
                'echo "$LATEST" http://127.0.0.1:8000/health',
            ]
        )
    )
    assert facts.tools == [
        "aws",
        "awk",
        "tail",
        "date",
        "pg_dump",
        "sudo",
        "pg_ctl",
        "stripe",
        "xargs",
        "curl",
        "/path/backup.sh",
        "watch",
        "redis-cli",
        "grep",
    ]
    assert facts.env_vars == ["BACKUP_BUCKET", "DATABASE_URL", "INTERNAL_TOKEN"]
    assert facts.external_urls == ["https://api.example.com/{}"]
    assert "LATEST" in facts.assigned


def test_heredoc_bodies_and_quoted_newlines_are_not_commands() -> None:
    text = "\n".join(
        [
            'cat >> "$PGDATA/postgresql.auto.conf" <<EOF',
            "restore_command = 'fetch %f %p'",
            "EOF",
            'psql -c "',
            "  SELECT count(*) FROM users;",
            '"',
            "touch done",
        ]
    )
    assert [tool for _, tool, _ in commands(text)] == ["cat", "psql", "touch"]
    assert [(line.offset, line.span) for line in logical_lines(text)] == [(0, 1), (3, 3), (6, 1)]


def test_arithmetic_and_backquotes() -> None:
    assert analyse("AGE=$(( $(date +%s) - `stat -c %Y f` ))").tools == ["date"]
    assert analyse("X=`hostname`; echo $X").tools == ["hostname"]


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8000/health", True),
        ("http://localhost:3001/api/cache/warm", True),
        ("http://[::1]:80/x", True),
        ("https://api.example.com/health", False),
        ("http://127.0.0.1.evil.example/", False),
    ],
)
def test_local_urls(url: str, local: bool) -> None:
    assert is_local_url(url) is local
