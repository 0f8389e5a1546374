"""Restores that run but go wrong, and verifications that cannot run at all.

Both directions: a dump whose objects belong to a missing role fails with ROLE_MISSING
and passes once the role is declared; a plain dump needing an extension the server
lacks is EXTENSION_MISSING; a database with no tables is RESTORE_EMPTY; orphans behind a
NOT VALID key restore without an error and fail the integrity checks. A backup that no
local server can take, a compression drillbook cannot read and a service without a
source are NOT VERIFIED: never a pass.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from drillbook.verify import reference
from tests.verify.conftest import verify


def test_missing_role_then_declared(special_dumps, verify_sandbox, tmp_path: Path) -> None:
    path = str(special_dumps["owned"])
    result, _ = verify(verify_sandbox, tmp_path, {"path": path})
    assert result.outcome == "FAIL"
    assert "ROLE_MISSING" in result.codes, result.findings
    missing = next(f for f in result.findings if f.code == "ROLE_MISSING")
    assert "app_owner" in missing.message and "source.roles" in missing.message
    result, _ = verify(verify_sandbox, tmp_path, {"path": path, "roles": ["app_owner"]})
    assert result.outcome == "PASS", result.findings
    result, _ = verify(verify_sandbox, tmp_path, {"path": path, "no_owner": True})
    assert result.outcome == "PASS", result.findings


def test_missing_extension(dumps, verify_sandbox, tmp_path: Path) -> None:
    text = dumps[15]["plain"].read_text()
    marker = "SET default_tablespace = '';"
    needs = text.replace(marker, "CREATE EXTENSION IF NOT EXISTS no_such_extension;\n" + marker, 1)
    path = tmp_path / "needs-ext.sql"
    path.write_text(needs)
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(path)})
    assert result.outcome == "FAIL"
    assert "EXTENSION_MISSING" in result.codes, result.findings
    assert "no_such_extension" in next(
        f.message for f in result.findings if f.code == "EXTENSION_MISSING"
    )


def test_empty_restore(special_dumps, verify_sandbox, tmp_path: Path) -> None:
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(special_dumps["empty"])})
    assert result.outcome == "FAIL"
    assert result.codes == ["RESTORE_EMPTY"], result.findings


def test_orphans_restore_cleanly_and_fail_the_checks(
    special_dumps, verify_sandbox, tmp_path: Path
) -> None:
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(special_dumps["orphans"])})
    assert result.outcome == "FAIL"
    assert result.codes == ["INTEGRITY_FAILED"], result.findings
    failed = [c["name"] for c in result.checks if not c["passed"]]
    assert "orphaned rows" in failed


def test_no_server_of_that_major(dumps, verify_sandbox, tmp_path: Path) -> None:
    data = dumps[15]["custom"].read_bytes()
    head = data[:200].replace(b"15.", b"99.")  # the server and pg_dump version strings
    path = tmp_path / "future.dump"
    path.write_bytes(head + data[200:])
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(path)})
    assert result.outcome == "NOT VERIFIED"
    assert result.not_verified_code == "NO_SERVER"
    assert "PostgreSQL 99 or newer" in str(result.not_verified_reason)
    assert not result.findings


def test_unsupported_compression_and_garbage(verify_sandbox, tmp_path: Path) -> None:
    zst = tmp_path / "app.sql.zst"
    zst.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 64)
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(zst)})
    assert (result.outcome, result.not_verified_code) == ("NOT VERIFIED", "FORMAT_UNSUPPORTED")
    junk = tmp_path / "app.dump"
    junk.write_bytes(b"\x00\x01\x02 this is not a dump" * 10)
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(junk)})
    assert (
        result.codes == ["BACKUP_CORRUPT"] and "not a PostgreSQL dump" in result.findings[0].message
    )


def test_no_source_and_missing_path(verify_sandbox, tmp_path: Path) -> None:
    result, _ = verify(verify_sandbox, tmp_path, None)
    assert (result.outcome, result.not_verified_code) == ("NOT VERIFIED", "NO_SOURCE")
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(tmp_path / "nothing-here")})
    assert result.outcome == "FAIL" and result.codes == ["BACKUP_MISSING"]
    folder = tmp_path / "empty-folder"
    folder.mkdir()
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(folder)})
    assert result.codes == ["BACKUP_MISSING"]


def test_structure_reference_and_volume_drift(
    dumps, special_dumps, verify_sandbox, tmp_path: Path
) -> None:
    ref = tmp_path / "app.structure"
    good, _ = verify(
        verify_sandbox, tmp_path, {"path": str(dumps[15]["custom"])}, write_reference=ref
    )
    assert good.outcome == "PASS" and good.reference and good.reference["written"] == str(ref)
    lines = ref.read_text().splitlines()
    assert "table billing.invoices" in lines and "view billing.open_invoices" in lines
    assert any(line.startswith("trigger billing.invoices.invoices_stamp") for line in lines)
    assert "extension amcheck" not in lines  # the checks' own extension is not the backup's
    # The same dump against the reference: identical.
    same, _ = verify(
        verify_sandbox, tmp_path, {"path": str(dumps[15]["custom"]), "reference": str(ref)}
    )
    assert same.outcome == "PASS" and same.reference and same.reference["ok"]
    # A day later: a table and a view dropped, half the invoices gone.
    history = [
        {
            "drill_id": "verify:app",
            "verdict": "PASS",
            "started": 1.0,
            "verify": {"counts": good.counts, "restore_s": good.restore_s},
        }
    ]
    source = {"path": str(special_dumps["changed"]), "reference": str(ref)}
    later, _ = verify(verify_sandbox, tmp_path, source, history=history)
    assert later.outcome == "FAIL"
    assert set(later.codes) == {"STRUCTURE_DRIFT", "VOLUME_DRIFT"}, later.findings
    drift_msg = next(f.message for f in later.findings if f.code == "VOLUME_DRIFT")
    assert "billing.invoices" in drift_msg and "public.projects" in drift_msg
    structure = next(f.message for f in later.findings if f.code == "STRUCTURE_DRIFT")
    assert "table public.projects" in structure and "view billing.open_invoices" in structure
    assert later.trend is not None
    assert "than the last good run" in later.trend or "about the same" in later.trend


def test_age_and_restore_time_against_the_targets(dumps, verify_sandbox, tmp_path: Path) -> None:
    source = {"path": str(dumps[15]["custom"]), "max_age": "1s"}
    result, _ = verify(verify_sandbox, tmp_path, source, rto="1ms")
    assert result.outcome == "FAIL"
    assert set(result.codes) == {"RPO_AT_RISK", "RTO_EXCEEDED"}, result.findings
    assert result.backup is not None and result.backup.created_from == "archive header"


def test_one_reference_fits_both_majors(dumps, verify_sandbox, tmp_path: Path) -> None:
    refs = {}
    for major in (15, 18):
        ref = tmp_path / f"ref{major}"
        result, _ = verify(
            verify_sandbox, tmp_path, {"path": str(dumps[major]["custom"])}, write_reference=ref
        )
        assert result.outcome == "PASS", result.findings
        refs[major] = reference.parse_reference(ref.read_text())
    assert refs[15] == refs[18]
    assert "constraint billing.amount.amount_check CHECK ((VALUE >= (0)::numeric))" in refs[15]


def test_age_from_the_file_time_when_the_dump_has_none(
    dumps, verify_sandbox, tmp_path: Path
) -> None:
    old = tmp_path / "app.sql"
    old.write_bytes(dumps[15]["plain"].read_bytes())
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(old)})
    assert result.outcome == "FAIL" and result.codes == ["RPO_AT_RISK"], result.findings
    assert result.backup is not None and result.backup.created is None  # plain: no own time
    assert result.backup_age_s is not None and result.backup_age_s > 86400
    assert "2d" in result.findings[0].message and "1d allowed" in result.findings[0].message
