"""Tier tables (``| Service | RPO | RTO | ... |``) read into service targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillbook.tiertable import parse_duration_words, read_tier_tables, service_key

SOURCE_RUNBOOK = Path(__file__).resolve().parents[3] / "shared/runbooks/002_9f16cc52ea840a8b.md"

TABLE = """\
# Targets

### Tier 1 — Critical

| Service | RPO | RTO | Backup Method | Owner |
|---------|-----|-----|---------------|-------|
| `orders` database | 0 | 20 minutes | synchronous replication (Multi-AZ) | payments |
| Redis sessions | 1 hour | 5 minutes | RDB snapshot (hourly) + AOF | sre |
| media bucket | 0 | 10 min | S3 versioning + cross-region replication | web |
| api-gateway | 0 (stateless) | 5 minutes | Kubernetes rollout | sre |
| jobs | N/A | 1 hour | none | sre |
| reports database | 24 hours | 0 | daily backup | bi |
| Redis sessions | 2 hours | 5 minutes | RDB | sre |

| Component | RPO | Rationale |
|-----------|-----|-----------|
| PostgreSQL | 24 hours | daily |
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15 minutes", 900.0),
        ("1 hour", 3600.0),
        ("4 hours", 14400.0),
        ("0 (stateless)", 0.0),
        ("0", 0.0),
        ("< 15 min", 900.0),
        ("**30 min**", 1800.0),
        ("90s", 90.0),
        ("1.5 h", 5400.0),
        ("2 days", 172800.0),
        ("500ms", 0.5),
    ],
)
def test_durations_in_words(text: str, seconds: float) -> None:
    assert parse_duration_words(text) == seconds


@pytest.mark.parametrize("text", ["N/A", "", "soon", "15", "١٥ minutes", "１５m", "5 parsecs"])
def test_unreadable_durations(text: str) -> None:
    assert parse_duration_words(text) is None


def test_service_keys_are_drills_toml_names() -> None:
    assert service_key("`lomash_orders` database") == "lomash_orders-database"
    assert service_key("**User Auth**") == "user-auth"
    assert service_key("***") == ""


def test_rows_kinds_backups_and_problems_by_line() -> None:
    tables = read_tier_tables(TABLE)
    rows = {r.key: r for r in tables.rows}
    orders = rows["orders-database"]
    assert (orders.line, orders.kind, orders.backups, orders.rpo, orders.rto) == (
        7, "postgres", ("sync replication",), 0.0, 1200.0
    )  # fmt: skip
    assert orders.tier == "Tier 1"
    assert rows["redis-sessions"].backups == ("rdb every 1h", "aof everysec")
    assert rows["media-bucket"].backups == ("s3 versioning", "s3 replication")
    assert rows["api-gateway"].kind is None and not rows["api-gateway"].complete
    problems = {p.line: p.message for p in tables.problems}
    assert "kind not stated" in problems[10]
    assert "RPO 'N/A' unreadable" in problems[11]
    assert "RTO of 0" in problems[12]
    assert "duplicate of the row at line 8" in problems[13]
    assert "no RTO column" in problems[15]
    assert "jobs" not in rows and "reports-database" not in rows


def test_free_notes_never_decide_the_kind() -> None:
    text = "| Service | RPO | RTO | Notes |\n|-|-|-|-|\n| product | 4h | 15m | cache rebuilt |\n"
    (row,) = read_tier_tables(text).rows
    assert row.kind is None


@pytest.mark.skipif(not SOURCE_RUNBOOK.is_file(), reason=f"source runbook absent: {SOURCE_RUNBOOK}")
def test_the_source_runbooks_tier_tables() -> None:
    tables = read_tier_tables(SOURCE_RUNBOOK.read_text())
    rows = {r.key: r for r in tables.rows}
    assert len(tables.rows) == 23
    assert rows["redis-sessions"].complete and rows["redis-sessions"].rpo == 3600
    assert rows["s3-media-assets"].backups == ("s3 versioning", "s3 replication")
    assert rows["lomash_orders-database"].rto == 1200
    assert {p.line for p in tables.problems} >= {30, 31, 49}
