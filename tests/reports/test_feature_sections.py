"""The report sections of the newer drill kinds: a runbook-driven drill shows its
runbook as run, a multi-service drill its services and the application, a drill that
restored a real backup first its restore test. Each appears only where there is data."""

from __future__ import annotations

import time

from drillbook.record import Command, DrillRecord, Finding, Step
from drillbook.reports import html
from drillbook.reports.model import anchor, run_info
from tests.reports import factories


def _page(*recs: DrillRecord) -> str:
    now = time.time()
    return html.render_report(list(recs), run_info(list(recs), started=now - 5, finished=now,
                                                   args=["drills"]))  # fmt: skip


def _runbook_drill() -> DrillRecord:
    rec = DrillRecord.from_dict(factories.passing().to_dict())
    rec.drill_id = rec.drill_id + "-runbook"
    start = rec.t0_mono or 0.0
    step = Step("2. Restore from Backup", "execution", start, start + 4.0, "failed")
    step.notes = {
        "runbook_line": 40,
        "budget": {"seconds": 60.0, "low": 0.0, "text": "1 min"},
        "prose": ["Restore the newest dump."],
        "blocks": [
            {
                "line": 42,
                "lang": "bash",
                "text": "pg_restore -d app $DUMP\n",
                "ran": "pg_restore -d app /backup/app.dump\n",
                "mapped": [],
                "manual": [],
                "exit": 1,
            }
        ],
    }
    step.commands = [Command("argv", "bash -euo pipefail -c 'pg_restore ...'", start, start + 4,
                             1, "pg_restore: error: could not read")]  # fmt: skip
    rec.steps.append(step)
    result = {"path": "runbooks/app.md", "section": "Recovery", "budget_s": 120.0,
              "rto_s": 900.0, "steps": [
                  {"name": "1. Assess", "line": 30, "phase": "execution", "outcome": "ok",
                   "seconds": 0.1, "budget_s": 60.0, "over_budget": False, "exits": [0]},
                  {"name": "2. Restore from Backup", "line": 40, "phase": "execution",
                   "outcome": "failed", "seconds": 4.0, "budget_s": 60.0, "over_budget": False,
                   "exits": [1]}]}  # fmt: skip
    rec.notes["runbook"] = [{"sha256": "ab" * 32, "service": "auth", "result": result}]
    rec.findings.append(Finding("RUNBOOK_STEP_FAILED", "step '2. Restore from Backup', bash "
                                "block at line 42 exited 1: could not read"))  # fmt: skip
    return rec


def test_the_runbook_as_run_only_for_runbook_drills() -> None:
    plain, rb = factories.passing(), _runbook_drill()
    page = _page(plain, rb)
    assert page.count("<h3>The runbook, as run</h3>") == 1
    assert f"id='{anchor(rb.drill_id)}-runbook'" in page
    assert "runbooks/app.md" in page and "2. Restore from Backup" in page
    assert "pg_restore -d app /backup/app.dump" in page  # as run
    assert "pg_restore -d app $DUMP" in page  # as written, since it differs
    assert "RUNBOOK_STEP_FAILED" in page.split(f"id='{anchor(rb.drill_id)}-runbook'")[1]
    assert "1. Assess" in page  # a step with no drill step of its own still listed


def test_services_and_the_application_only_for_multi_service_drills() -> None:
    plain = factories.passing()
    multi = DrillRecord.from_dict(plain.to_dict())
    multi.drill_id += "-q4"
    multi.sections = {"services": [{"name": "auth", "kind": "postgres", "role": "users",
                                    "start_s": 0.1, "ready_s": 5.0, "rpo_s": 0.5, "lost": 2,
                                    "target": {"rto": 900.0, "rpo": 300.0}}]}  # fmt: skip
    page = _page(plain, multi)
    assert page.count("<h3>Services and the application</h3>") == 1
    assert f"id='{anchor(multi.drill_id)}-system'" in page


def test_the_restore_test_of_a_real_backup_where_a_drill_ran_one() -> None:
    from drillbook.verify.model import VerifyResult

    plain = factories.passing()
    verified = DrillRecord.from_dict(plain.to_dict())
    verified.drill_id += "-verified"
    result = VerifyResult("affiliate", "postgres", "s3://backups/affiliate/", time.time() - 9,
                          time.time(), restore_ran=True, validated=True, restore_s=3.5)  # fmt: skip
    result.add("RPO_AT_RISK", "the newest backup is 30 h old, the RPO is 24 h")
    result.decide()
    verified.notes["verify"] = result.to_dict()
    page = _page(plain, verified)
    assert page.count("<h3>Restore test of the real backup</h3>") == 1
    part = page.split(f"id='{anchor(verified.drill_id)}-verify'")[1]
    assert "s3://backups/affiliate/" in part and "RPO_AT_RISK" in part
