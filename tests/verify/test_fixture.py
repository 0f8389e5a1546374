"""``verified_backup`` in a real pytest run: last night's real backup restored as a drill
step, then broken and recovered; a corrupt backup fails its drill with BACKUP_CORRUPT;
a service without a source makes its drill NOT RUN, never a pass."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TARGETS = """
[services.affiliate]
kind = "postgres"
rto = "5m"
rpo = "24h"
backup = "pg_dump every 24h"
[services.affiliate.source]
path = "backups/good"

[services.broken]
kind = "postgres"
rto = "5m"
rpo = "24h"
backup = "pg_dump every 24h"
[services.broken.source]
path = "backups/bad"

[services.nosrc]
kind = "postgres"
rto = "5m"
rpo = "24h"
backup = "pg_dump every 24h"
"""

DRILLS = """
import pytest

from drillbook.record import Phase


@pytest.mark.drill(service="affiliate", scenario="last night's dump restored, then SIGKILL")
def test_real_backup_then_crash(drill, verified_backup):
    restored = verified_backup()
    pg = restored.handle
    before = pg.execute("SELECT count(*) FROM billing.invoices", dbname=restored.dbname)[0][0]
    with drill.fault("SIGKILL of the restored server"):
        pg.kill()
    drill.detect(pg.probe)
    drill.decide("data dir intact: restart, crash recovery")
    with drill.step("start postgres", Phase.EXECUTION):
        pg.start()
    drill.wait_healthy(pg.probe)
    after = pg.execute("SELECT count(*) FROM billing.invoices", dbname=restored.dbname)[0][0]
    drill.check("invoices back after the crash", after == before == 900, f"{before} -> {after}")


@pytest.mark.drill(service="broken", scenario="a truncated dump")
def test_corrupt_backup(drill, verified_backup):
    verified_backup()


@pytest.mark.drill(service="nosrc", scenario="no source declared")
def test_no_source(drill, verified_backup):
    verified_backup()
"""


def test_verified_backup_in_drills(pytester: pytest.Pytester, dumps, tmp_path: Path) -> None:
    root = pytester.path
    (root / "backups" / "good").mkdir(parents=True)
    (root / "backups" / "bad").mkdir(parents=True)
    whole = dumps[15]["custom"].read_bytes()
    (root / "backups" / "good" / "app.dump").write_bytes(whole)
    (root / "backups" / "bad" / "app.dump").write_bytes(whole[: len(whole) // 2])
    (root / "drills.toml").write_text(TARGETS)
    pytester.makepyfile(test_drills=DRILLS)
    junit = tmp_path / "junit.xml"
    result = pytester.runpytest_subprocess(
        f"--junitxml={junit}",
        f"--drill-report-dir={tmp_path / 'out'}",
        "--drill-history=none",
        "-p",
        "no:cacheprovider",
        timeout=600,
    )
    text = result.stdout.str()
    assert re.search(r"drills: 1 passed, 1 failed, 1 not run", text), text
    assert "BACKUP_CORRUPT" in text and "NOT_VERIFIED" in text and "NO_SOURCE" in text
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    verdicts = {
        name: next(
            p.get("value") for p in case.iter("property") if p.get("name") == "drill_verdict"
        )
        for name, case in cases.items()
    }
    assert verdicts == {
        "test_real_backup_then_crash": "PASS",
        "test_corrupt_backup": "FAIL",
        "test_no_source": "NOT RUN",
    }
    doc = json.loads((tmp_path / "out" / "latest.json").read_text())
    notes = {d["drill_id"].split("::")[-1]: d["record"]["notes"] for d in doc["drills"]}
    restored = notes["test_real_backup_then_crash"]["verify"]
    assert restored["outcome"] == "PASS" and restored["counts"]["billing.invoices"] == 900
    assert notes["test_corrupt_backup"]["verify"]["outcome"] == "FAIL"
