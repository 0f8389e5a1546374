"""drills.toml's [runbooks] mapping and `drillbook runbook check`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from drillbook import cli
from drillbook.runbook.check import check_runbook
from drillbook.runbook.mapping import (
    MappingError,
    RunbookMapping,
    apply_commands,
    map_paths,
    parse_mapping,
)
from drillbook.runbook.parser import load, parse
from drillbook.targets import TargetsError, parse_targets

ROOT = Path(__file__).resolve().parents[2]
FENCE = "```"
TARGETS = """
[services.cache]
kind = "redis"
rto = "{rto}"
rpo = "24h"
backup = "rdb every 6h"
runbook = "rb.md#recovery"
"""


def test_defaults_and_overrides() -> None:
    mapping = parse_mapping(
        {
            "services": {"auth-db": "postgres"},
            "paths": {"/srv/backup": "{workdir}/srv"},
            "commands": {"pm2 restart auth-service": {"manual": "no app servers in a drill"}},
        }
    )
    assert mapping.role("redis.service") == "redis" and mapping.role("auth-db") == "postgres"
    assert mapping.role("auth-service") is None
    assert mapping.paths["/var/lib/redis"] == "{redis.data_dir}"
    assert mapping.command_for("pm2   restart auth-service --update-env") is not None
    assert mapping.command_for("pm2 restart auth-service-2") is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"service": {}}, "runbooks.service: unknown key"),
        ({"paths": {"relative/path": "{workdir}"}}, "absolute"),
        ({"paths": {"/x": "{nope}"}}, "unknown placeholder {nope}"),
        ({"commands": {"x": {"run": "y", "manual": "z"}}}, "exactly one of run or manual"),
        ({"commands": {"x": {"runn": "y"}}}, "unknown key 'runn'"),
        ({"services": {"redis": 3}}, "expected a non-empty string"),
    ],
)
def test_bad_mappings_name_the_key(table: dict, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        parse_mapping(table)


def test_targets_file_reads_and_rejects_the_mapping() -> None:
    base = TARGETS.format(rto="1h")
    good = parse_targets(base + '\n[runbooks.services]\ncache-a = "redis"\n', "d.toml")
    assert good.runbooks.role("cache-a") == "redis"
    with pytest.raises(TargetsError, match=r"d.toml: runbooks.paths.\"/x\": unknown placeholder"):
        parse_targets(base + '\n[runbooks.paths]\n"/x" = "{bad}"\n', "d.toml")


def test_map_paths_only_at_path_boundaries() -> None:
    values = {"redis.data_dir": "/run/r/data", "workdir": "/run/w"}
    text, applied = map_paths(
        "cp /backup/latest/dump.rdb /var/lib/redis/dump.rdb; ls /var/lib/redis-old /backups2",
        RunbookMapping().paths,
        values,
    )
    assert (
        text
        == "cp /run/w/backup/latest/dump.rdb /run/r/data/dump.rdb; ls /var/lib/redis-old /backups2"
    )
    assert sorted(applied) == ["/backup -> /run/w/backup", "/var/lib/redis -> /run/r/data"]
    # a role the drill did not bind leaves its paths alone
    assert map_paths("ls /var/lib/postgresql/data", RunbookMapping().paths, values)[1] == []


def test_apply_commands_run_and_manual() -> None:
    mapping = parse_mapping(
        {
            "commands": {
                "curl https://api.example.com/health": {"run": "pg_isready", "reason": "no app"},
                "pm2 restart": {"manual": "app servers"},
            }
        }
    )
    text, mapped, manual = apply_commands(
        "curl https://api.example.com/health\npm2 restart auth \\\n  --update-env\necho ok\n",
        mapping,
    )
    assert text.splitlines()[0] == "pg_isready"
    assert text.splitlines()[1].startswith(": manual step, not run by the drill:")
    assert text.splitlines()[2] == "echo ok"
    assert mapped == ["curl https://api.example.com/health -> pg_isready (no app)"]
    assert manual == ["pm2 restart auth --update-env (manual: app servers)"]


def _runbook(steps: str) -> str:
    return f"# Cache\n\n## Recovery\n\n{steps}"


def test_check_reports_missing_tools_urls_manual_steps_and_budget() -> None:
    text = _runbook(
        f"1. **Restore** (0-50 minutes)\n   {FENCE}bash\n   neon-cli backup restore\n"
        f"   curl https://api.example.com/health\n   redis-cli ping\n   {FENCE}\n"
        "2. **Verification** (20 min)\n   - Test user login\n"
    )
    report = check_runbook(
        parse(text, "rb.md"),
        section="Recovery",
        services=[("cache", 3600.0)],
        mapping=RunbookMapping(),
        which=shutil.which,
    )
    codes = sorted(code for code, _ in report.findings)
    assert codes == [
        "COMMAND_NOT_FOUND",
        "COMMAND_NOT_FOUND",
        "MANUAL_STEP",
        "RUNBOOK_BUDGET_EXCEEDS_RTO",
    ]
    assert report.budget_s == 70 * 60 and report.code == 2
    assert [s.name for s in report.steps] == ["1. Restore", "2. Verification"]
    assert "redis-cli (drill shim)" in report.text() and "neon-cli (MISSING)" in report.text()


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(["runbook", "check", *argv])
    return code, capsys.readouterr().out


def test_cli_budget_over_rto_then_within(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rb.md").write_text(
        _runbook(f"1. **Restart** (0-30 minutes)\n   {FENCE}bash\n   redis-cli ping\n   {FENCE}\n")
    )
    (tmp_path / "drills.toml").write_text(TARGETS.format(rto="15m"))
    code, out = _cli(capsys, "rb.md")
    assert code == 2 and "RUNBOOK_BUDGET_EXCEEDS_RTO" in out and "service cache: RTO 15 min" in out
    (tmp_path / "drills.toml").write_text(TARGETS.format(rto="1h"))
    code, out = _cli(capsys, "rb.md")
    assert code == 0 and "budget 30 min is within" in out, out


def test_cli_unparseable_runbook_exits_1_with_the_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "rb.md"
    path.write_text(f"# R\n\n## Step (3-1 minutes)\n\n{FENCE}bash\necho\n")
    code, out = _cli(capsys, str(path))
    assert code == 1 and out.startswith(f"{path}:3: ")


def test_cli_project_runbooks_drilled_sections_fit_their_rto(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    for name in ("auth-pitr.md", "projects-corruption.md", "cache-failure.md"):
        code, out = _cli(capsys, f"runbooks/{name}")
        assert code == 0, out
        assert "is within" in out and "MISSING" not in out


def test_check_and_the_drill_see_the_same_steps(capsys, monkeypatch) -> None:
    """`runbook check --json` lists the steps the executor runs (one parser, steps_of)."""
    import json

    from drillbook.runbook.model import steps_of

    monkeypatch.chdir(ROOT)
    code, out = _cli(
        capsys, "runbooks/cache-failure.md", "--section", "Cache Service Recovery", "--json"
    )
    listed = json.loads(out)["checks"][0]["steps"]
    runbook = load(ROOT / "runbooks/cache-failure.md")
    assert listed == [s.name for s in steps_of(runbook.section("Cache Service Recovery"))]
    assert listed[2] == "3. Restore from Backup" and code == 0
