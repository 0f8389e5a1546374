"""``drillbook init``: the scaffold of a team's repository, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillbook import cli, scaffold
from drillbook.targets import load_targets

EXPECTED = sorted(scaffold.MANIFEST.values())

TABLE = """\
| Service | RPO | RTO | Backup Method |
|---------|-----|-----|---------------|
| billing database | 5 minutes | 30 minutes | continuous PITR |
| api-gateway | 0 | 5 minutes | rollout |
| jobs | N/A | 1 hour | none |
| media | 0 | 10 minutes | S3 versioning |
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["init", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_scaffold_writes_every_file_and_a_valid_targets_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, str(tmp_path))
    assert code == 0, out
    assert files_under(tmp_path) == EXPECTED
    targets = load_targets(tmp_path / "drills.toml")
    assert {"app-db", "sessions", "media"} <= set(targets.services)
    assert {targets.services[n].kind for n in ("app-db", "sessions", "media")} == {
        "postgres", "redis", "s3"
    }  # fmt: skip
    workflow = (tmp_path / ".github/workflows/drills.yml").read_text()
    assert "schedule:" in workflow and "upload-artifact" in workflow
    assert "reports/history.jsonl" in (tmp_path / ".gitlab-ci.yml").read_text()
    assert scaffold.VERSION_MARK not in (tmp_path / "drills/README.md").read_text()


def test_existing_files_are_never_overwritten_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "drills.toml").write_text("# ours\n")
    code, _, err = run(capsys, str(tmp_path))
    assert code == 1
    assert "would overwrite" in err and "drills.toml" in err and len(err.splitlines()) == 1
    assert files_under(tmp_path) == ["drills.toml"]  # nothing else written either
    assert (tmp_path / "drills.toml").read_text() == "# ours\n"
    code, _, _ = run(capsys, str(tmp_path), "--force")
    assert code == 0 and "app-db" in (tmp_path / "drills.toml").read_text()


def test_a_directory_where_a_file_goes_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".gitlab-ci.yml").mkdir()
    code, _, err = run(capsys, str(tmp_path), "--force")
    assert code == 1 and "is a directory" in err
    assert files_under(tmp_path) == []


def test_from_table_adds_services_and_reports_rows_by_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "tiers.md"
    table.write_text(TABLE)
    repo = tmp_path / "repo"
    code, out, err = run(capsys, str(repo), "--from-table", str(table))
    assert code == 0, err
    assert f"{table}:4: api-gateway: kind not stated" in err
    assert f"{table}:5: jobs: RPO 'N/A' unreadable" in err
    assert f"{table}:6: media: named like an example service" in err
    assert "1 of 3 table services ready" in out
    targets = load_targets(repo / "drills.toml")
    billing = targets.services["billing-database"]
    assert (billing.kind, billing.rpo, billing.rto) == ("postgres", 300.0, 1800.0)
    assert "api-gateway" not in targets.services
    assert "# [services.api-gateway]" in (repo / "drills.toml").read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("# no table here\n", "no tier table"),
        ("| Component | RPO |\n|-|-|\n| PostgreSQL | 1h |\n", "no RTO column"),
        (b"\xff\xfe\x00garbage", "cannot read"),
    ],
)
def test_from_table_problems_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes | None, message: str
) -> None:
    table = tmp_path / "tiers.md"
    if isinstance(content, bytes):
        table.write_bytes(content)
    elif content is not None:
        table.write_text(content)
    repo = tmp_path / "repo"
    code, _, err = run(capsys, str(repo), "--from-table", str(table))
    assert code == 1
    assert message in err and len(err.splitlines()) == 1
    assert not repo.exists()
