"""The executor against real servers: shims onto handles, findings in both directions.

Each test writes a small runbook and runs it through a bare Drill (the record is what is
asserted); the drills in drills/*/test_q*_runbook.py run the project's runbooks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drillbook.runbook.model import RunbookError
from drillbook.scenarios.runbook import RunbookFailed, run_runbook
from drillbook.scenarios.runbook.workspace import AWS_ENV

FENCE = "```"


def runbook(tmp_path: Path, *steps: tuple[str, str], lang: str = "bash") -> Path:
    """A runbook with one section "Recovery" of numbered steps (title, block body)."""
    lines = ["# Test runbook", "", "## Recovery", ""]
    for number, (title, body) in enumerate(steps, start=1):
        lines.append(f"{number}. **{title}**")
        if body:
            lines += [f"   {FENCE}{lang}", *[f"   {b}" for b in body.splitlines()], f"   {FENCE}"]
    path = tmp_path / "rb.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def codes(drill) -> list[str]:
    return sorted(f.code for f in drill.record.findings)


def outcomes(drill) -> list[tuple[str, str]]:
    return [(s.name, s.outcome) for s in drill.record.steps]


def test_systemctl_docker_compose_and_redis_cli_act_on_the_handle(
    bare_drill, redis_factory, tmp_path
):
    redis = redis_factory("rb", appendonly="no")
    redis.client().set("k", "v")
    path = runbook(
        tmp_path,
        ("Save and stop (1 min)", "redis-cli SAVE\nredis-cli SHUTDOWN NOSAVE\n! redis-cli ping"),
        ("Start (1 min)", 'systemctl start redis\ntest "$(redis-cli GET k)" = v'),
        ("Restart (1 min)", "docker compose restart redis\nservice redis status\nredis-cli ping"),
        (
            "Data dir (1 min)",
            'ls /var/lib/redis/dump.rdb\ntest /var/lib/redis/dump.rdb = "$REDIS_DATA_DIR/dump.rdb"',
        ),
    )
    result = run_runbook(bare_drill, path, section="Recovery", handles={"redis": redis})
    assert result.ok and codes(bare_drill) == []
    assert [s.outcome for s in result.steps] == ["ok"] * 4
    shims = [c.text for s in bare_drill.record.steps for c in s.commands if c.kind == "shim"]
    assert any(t.startswith("systemctl start redis -> ") for t in shims), shims
    assert any(
        t.startswith("docker compose compose restart redis") or "restart redis" in t for t in shims
    )
    assert redis.client().get("k") == b"v"


def test_a_failing_command_fails_its_step_and_stops_the_runbook(
    bare_drill, redis_factory, tmp_path
):
    redis = redis_factory("rb")
    marker = tmp_path / "never"
    path = runbook(
        tmp_path,
        ("Check (1 min)", "redis-cli ping"),
        ("Broken (1 min)", 'echo about to fail\ntest "$(redis-cli DBSIZE)" -gt 1000'),
        ("After (1 min)", f"touch {marker}"),
    )
    with pytest.raises(RunbookFailed, match="RUNBOOK_STEP_FAILED"):
        run_runbook(bare_drill, path, section="Recovery", handles={"redis": redis})
    assert codes(bare_drill) == ["RUNBOOK_STEP_FAILED"]
    assert "about to fail" in bare_drill.record.findings[0].message
    assert outcomes(bare_drill) == [("1. Check", "ok"), ("2. Broken", "failed")]
    assert not marker.exists()
    steps = bare_drill.record.notes["runbook"][0]["result"].steps
    assert [s.outcome for s in steps] == ["ok", "failed", "not run"]


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (
            "touch {marker}\nneon-cli backup restore --target=production",
            "neon-cli is not installed",
        ),
        (
            "touch {marker}\ncurl -fsS https://api.example.com/health",
            "external URL https://api.example.com",
        ),
    ],
)
def test_what_cannot_run_here_is_command_not_found_before_anything_runs(
    bare_drill, redis_factory, tmp_path, body, what
):
    marker = tmp_path / "ran"
    path = runbook(tmp_path, ("Restore (5 min)", body.format(marker=marker)))
    with pytest.raises(RunbookFailed, match="COMMAND_NOT_FOUND"):
        run_runbook(bare_drill, path, section="Recovery", handles={"redis": redis_factory("rb")})
    assert (
        codes(bare_drill) == ["COMMAND_NOT_FOUND"] and what in bare_drill.record.findings[0].message
    )
    assert not marker.exists(), "no command of a refused block may run"


def test_a_unit_the_drill_does_not_have_is_command_not_found(bare_drill, redis_factory, tmp_path):
    path = runbook(tmp_path, ("Restart the app (5 min)", "systemctl restart auth-service"))
    with pytest.raises(RunbookFailed, match=r"COMMAND_NOT_FOUND.*not one of this drill's services"):
        run_runbook(bare_drill, path, section="Recovery", handles={"redis": redis_factory("rb")})


def test_manual_steps_are_never_a_pass(bare_drill, redis_factory, tmp_path):
    from drillbook.runbook.mapping import parse_mapping

    mapping = parse_mapping({"commands": {"pm2 restart auth-service": {"manual": "no app"}}})
    path = runbook(
        tmp_path,
        ("Restart the app (5 min)", "pm2 restart auth-service\nredis-cli ping"),
        ("Test user login (5 min)", ""),
    )
    result = run_runbook(
        bare_drill,
        path,
        section="Recovery",
        handles={"redis": redis_factory("rb")},
        mapping=mapping,
    )
    assert not result.ok
    assert codes(bare_drill) == ["MANUAL_STEP", "MANUAL_STEP"]
    assert [o for _, o in outcomes(bare_drill)] == ["manual", "manual"]
    ran = bare_drill.record.steps[0].commands[0].text
    assert "manual step, not run by the drill" in ran and "redis-cli ping" in ran


def test_step_over_budget_names_the_step(bare_drill, redis_factory, tmp_path):
    path = runbook(tmp_path, ("Fast (1 min)", "true"), ("Slow (1 s)", "sleep 1.2"))
    result = run_runbook(
        bare_drill, path, section="Recovery", handles={"redis": redis_factory("rb")}
    )
    assert codes(bare_drill) == ["STEP_OVER_BUDGET"]
    assert "'2. Slow'" in bare_drill.record.findings[0].message
    assert [s.over_budget for s in result.steps] == [False, True]


def test_sql_blocks_run_through_psql_with_on_error_stop(bare_drill, pg, tmp_path):
    good = runbook(
        tmp_path, ("Count (1 min)", "SELECT 1 AS one;\nSELECT current_database();"), lang="sql"
    )
    run_runbook(bare_drill, good, section="Recovery", handles={"postgres": pg})
    command = bare_drill.record.steps[0].commands[0]
    assert command.exit_status == 0 and pg.dbname in command.output_tail
    assert command.text.startswith("psql -X -v ON_ERROR_STOP=1 -f - <<'SQL'\nSELECT 1 AS one;")
    bad = runbook(
        tmp_path,
        ("Integrity (1 min)", "SELECT 1;\nSELECT * FROM no_such_table;\nSELECT 2;"),
        lang="sql",
    )
    with pytest.raises(RunbookFailed, match=r"RUNBOOK_STEP_FAILED.*no_such_table"):
        run_runbook(bare_drill, bad, section="Recovery", handles={"postgres": pg})
    assert bare_drill.record.steps[-1].phase == "validation"  # "Integrity" is a check


def test_secrets_never_reach_the_record(bare_drill, redis_factory, s3, tmp_path):
    redis = redis_factory("rb")
    path = runbook(
        tmp_path,
        ("Leak (1 min)", 'echo "pw=$REDISCLI_AUTH key=$AWS_SECRET_ACCESS_KEY url=$REDIS_URL"'),
    )
    run_runbook(bare_drill, path, section="Recovery", handles={"redis": redis, "s3": s3})
    text = bare_drill.record.to_json()
    assert redis.password not in text and s3.secret_key not in text
    assert "$REDISCLI_AUTH" in text  # the command as written, variables unexpanded


@pytest.mark.parametrize("client", ["system", "bundled"])
def test_aws_s3_commands_reach_the_drill_s3(
    bare_drill, s3, redis_factory, tmp_path, monkeypatch, client
):
    import shutil

    if client == "system" and shutil.which("aws") is None:
        pytest.skip("no aws CLI on this host: the bundled client is tested instead")
    if client == "bundled":
        monkeypatch.setenv(AWS_ENV, "bundled")
    body = "\n".join(
        [
            "aws s3 mb s3://backups",
            "echo hello > f.txt",
            "aws s3 cp f.txt s3://backups/base/20250101T000000/f.txt",
            "aws s3 cp f.txt s3://backups/base/20250102T000000/f.txt",
            "LATEST=$(aws s3 ls s3://backups/base/ | awk '$1 == \"PRE\" {print $2}'"
            " | sort | tail -n 1)",
            'test "$LATEST" = 20250102T000000/',
            "aws s3 cp s3://backups/base/${LATEST}f.txt /backup/latest/f.txt",
            "grep -qx hello /backup/latest/f.txt",
            'test "$(aws s3api head-object --bucket backups --key base/${LATEST}f.txt '
            '--query ContentLength --output text)" = 6',
        ]
    )
    path = runbook(tmp_path, ("S3 (5 min)", body))
    run_runbook(
        bare_drill, path, section="Recovery", handles={"s3": s3, "redis": redis_factory("rb")}
    )
    assert codes(bare_drill) == []
    assert bare_drill.record.notes["runbook_aws"].startswith(client)


def test_conditional_steps_skip_only_with_a_reason(bare_drill, redis_factory, tmp_path):
    path = tmp_path / "rb.md"
    path.write_text(
        f"# R\n## Recovery\n1. **Quick** (1 min)\n   {FENCE}bash\n   redis-cli ping\n   {FENCE}\n"
        f"2. **Restore** (if needed, 1-2 minutes)\n   {FENCE}bash\n   false\n   {FENCE}\n"
    )
    handles = {"redis": redis_factory("rb")}
    with pytest.raises(RunbookError, match="not conditional"):
        run_runbook(bare_drill, path, section="Recovery", handles=handles, skip={"1. Quick": "x"})
    result = run_runbook(
        bare_drill,
        path,
        section="Recovery",
        handles=handles,
        skip={"2. Restore": "the quick restart brought every key back"},
    )
    assert [s.outcome for s in result.steps] == [
        "ok",
        "skipped: the quick restart brought every key back",
    ]


def test_runbook_variant_changes_one_line_or_refuses(tmp_path):
    from drillbook.scenarios.runbook import runbook_variant

    source = runbook(tmp_path, ("Restore (5 min)", "cp a b"))
    variant = runbook_variant(source, "cp a b", "cp a c", tmp_path)
    assert "cp a c" in variant.read_text() and "cp a b" in source.read_text()
    with pytest.raises(ValueError, match="not in the runbook any more"):
        runbook_variant(source, "no such line", "x", tmp_path)


ALTERNATIVES = f"""# Test runbook

## Recovery

### Restore Database (20 min)

**Option A: Restore to Existing Database**

{FENCE}bash
echo A >> "$RUNBOOK_WORKDIR/ran"
{FENCE}

**Option B: Restore to New Database**

{FENCE}bash
echo B >> "$RUNBOOK_WORKDIR/ran"
{FENCE}

### Verify (5 min)

{FENCE}bash
cat "$RUNBOOK_WORKDIR/ran"
{FENCE}
"""


def test_a_step_with_alternatives_runs_only_the_chosen_one(bare_drill, tmp_path):
    path = tmp_path / "alt.md"
    path.write_text(ALTERNATIVES)
    run_runbook(bare_drill, path, section="Recovery", choose={"Restore Database": "option b"})
    verify = next(s for s in bare_drill.record.steps if s.name.endswith("Verify"))
    assert verify.commands[-1].output_tail.split() == ["B"], "both alternatives ran"
    restore = next(s for s in bare_drill.record.steps if s.name.endswith("Restore Database"))
    assert restore.notes["chosen"] == "option b"


@pytest.mark.parametrize(
    ("choose", "message"),
    [
        ({}, r"offers alternatives \(Option A: .*; Option B: .*\): choose one"),
        ({"Restore Database": "Option C"}, r"offers alternatives"),
        ({"Restore Database": "B", "Verify": "A"}, r"step .*Verify' offers no alternatives"),
        ({"Restore Database": "B", "No such step": "A"}, r"no step 'No such step'"),
    ],
)
def test_alternatives_must_be_chosen_before_anything_runs(bare_drill, tmp_path, choose, message):
    path = tmp_path / "alt.md"
    path.write_text(ALTERNATIVES)
    with pytest.raises(RunbookError, match=message):
        run_runbook(bare_drill, path, section="Recovery", choose=choose)
    assert bare_drill.record.steps == [], "a step ran before the choice was checked"
