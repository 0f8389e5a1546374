"""``drillbook verify`` end to end: exit status, artefacts, reference, drift, history."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from drillbook import cli
from drillbook.record import DrillRecord
from drillbook.reports.jsonout import load_document

SERVICE = """
[services.{name}]
kind = "postgres"
rto = "1h"
rpo = "24h"
backup = "pg_dump every 24h"
"""


def project(tmp_path: Path, source: str = "", extra: str = "") -> Path:
    (tmp_path / "backups").mkdir(exist_ok=True)
    text = SERVICE.format(name="app") + (f"[services.app.source]\n{source}\n" if source else "")
    text += SERVICE.format(name="nosrc") + extra
    (tmp_path / "drills.toml").write_text(text)
    return tmp_path / "drills.toml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["verify", "--quiet", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_reference_history_and_drift(dumps, special_dumps, tmp_path, capsys) -> None:
    source = 'path = "backups"\npattern = "*.dump"'
    targets = project(tmp_path, source)
    nightly = tmp_path / "backups" / "app-1.dump"
    shutil.copyfile(dumps[15]["custom"], nightly)
    ref = tmp_path / "verify" / "app.structure"
    code, out, _ = run(capsys, "app", "--targets", str(targets), "--write-reference", str(ref))
    assert code == 0, out
    assert "table billing.invoices" in ref.read_text()

    targets = project(tmp_path, source + '\nreference = "verify/app.structure"')
    code, out, _ = run(capsys, "--targets", str(targets))  # every service with a source
    assert code == 0, out
    assert out.count("PASS") >= 2 and "nosrc" not in out
    doc = load_document(tmp_path / "reports/out/verify/drills.json")
    assert doc["verify"]["overall"] == "PASS" and doc["overall"] == "PASS"
    entry = doc["verify"]["services"][0]
    assert entry["reference"]["ok"] and "last good run" in entry["trend"]
    record = DrillRecord.from_dict(doc["drills"][0]["record"])
    assert record.drill_id == "verify:app" and record.verdict == "PASS"
    assert record.rto_seconds is not None and record.rto_seconds > 0
    assert [s.name.split()[0] for s in record.steps] == ["download", "restore", "validate"]
    rows = [
        json.loads(x) for x in (tmp_path / "reports/verify-history.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 2 and rows[-1]["verify"]["counts"]["billing.invoices"] == 900
    prom = (tmp_path / "reports/out/verify/verify.prom").read_text()
    assert 'backup_restore_test_total{check="verify",service="app"} 2.0' in prom
    assert 'backup_age_seconds{check="verify",service="app"}' in prom
    assert "PASS" in (tmp_path / "reports/out/verify/verify.html").read_text()

    # The next night: a table dropped, half the invoices gone.
    changed = tmp_path / "backups" / "app-2.dump"
    shutil.copyfile(special_dumps["changed"], changed)
    later = time.time() + 60
    os.utime(changed, (later, later))
    code, out, _ = run(capsys, "--targets", str(targets))
    assert code == 1, out
    assert "STRUCTURE_DRIFT" in out and "VOLUME_DRIFT" in out and "app-2.dump" in out


def test_exit_codes(tmp_path, capsys) -> None:
    targets = project(tmp_path, 'path = "backups"')
    code, out, _ = run(capsys, "nosrc", "--targets", str(targets), "--history", "none")
    assert code == 3 and "NOT VERIFIED" in out and "NO_SOURCE" in out
    code, out, _ = run(capsys, "app", "--targets", str(targets), "--history", "none")
    assert code == 1 and "BACKUP_MISSING" in out  # an empty backup folder
    code, _, err = run(capsys, "nosuch", "--targets", str(targets))
    assert code == 2 and "unknown service 'nosuch'" in err
    code, _, err = run(capsys, "app", "nosrc", "--targets", str(targets), "--write-reference", "x")
    assert code == 2 and "{service}" in err
    bad = project(tmp_path, 'url = "s3://Bad_Bucket/"')
    code, _, err = run(capsys, "--targets", str(bad))
    assert code == 2 and "services.app.source.url: invalid bucket name" in err
    no_sources = tmp_path / "none.toml"
    no_sources.write_text(SERVICE.format(name="nosrc"))
    code, out, _ = run(capsys, "--targets", str(no_sources))
    assert code == 3 and "no service" in out
