"""Real dumps of two majors in every format: whole copies PASS, damaged copies FAIL.

Each format (custom, directory, tar, plain, plain.gz) dumped by PostgreSQL 15 and by
PostgreSQL 18 restores into a server of its major or newer, with the drills' integrity
checks, the row counts of the sample and the archive's own facts (major, database name,
creation time). Each damaged copy fails with the finding that says what is wrong with it:
truncated, cut mid-line, a plain dump without its completion trailer (which psql would
restore with exit 0), a wrong digest, zero bytes.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from tests.verify import sample
from tests.verify.conftest import MAJORS, verify

FORMATS = ("custom", "directory", "tar", "plain", "plain.gz")
# (format, damage, finding code, words the finding must contain)
DAMAGED = [
    ("custom", "truncated", "BACKUP_CORRUPT", "pg_restore could not read the backup"),
    ("custom", "cut", "BACKUP_CORRUPT", "pg_restore could not read the backup"),
    ("directory", "truncated", "BACKUP_CORRUPT", "pg_restore"),
    ("directory", "cut", "BACKUP_CORRUPT", "pg_restore"),
    ("tar", "truncated", "BACKUP_CORRUPT", "tar archive"),
    ("tar", "cut", "BACKUP_CORRUPT", "tar archive"),
    ("plain", "truncated", "BACKUP_CORRUPT", "completion trailer"),
    ("plain", "cut", "BACKUP_CORRUPT", "completion trailer"),
    ("plain", "no_trailer", "BACKUP_CORRUPT", "completion trailer"),
    ("plain.gz", "truncated", "BACKUP_CORRUPT", "gzip stream"),
    ("plain.gz", "cut", "BACKUP_CORRUPT", "completion trailer"),
    ("plain.gz", "no_trailer", "BACKUP_CORRUPT", "completion trailer"),
    ("custom", "zero", "BACKUP_EMPTY", "zero bytes"),
    ("tar", "zero", "BACKUP_EMPTY", "zero bytes"),
    ("plain", "zero", "BACKUP_EMPTY", "zero bytes"),
    ("plain.gz", "zero", "BACKUP_EMPTY", "zero bytes"),
]
EXPECTED_MAJOR = {15: 15, 18: 18}


@pytest.mark.parametrize("major", MAJORS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_whole_dump_restores_and_passes(dumps, verify_sandbox, tmp_path, major, fmt) -> None:
    result, record = verify(verify_sandbox, tmp_path, {"path": str(dumps[major][fmt])})
    assert result.outcome == "PASS", (result.findings, result.not_verified_reason)
    assert result.restore_ran and result.validated
    for table, rows in sample.ROWS.items():
        assert result.counts[table] == rows
    assert result.backup is not None
    assert result.backup.major == major
    assert result.server is not None and result.server.startswith(f"{EXPECTED_MAJOR[major]}.")
    assert result.checks and all(c["passed"] for c in result.checks)
    assert result.objects and result.objects > 40
    # Age: the archive's own creation time (custom/dir/tar) or the file's mtime (plain).
    assert result.backup.created_from == (None if fmt.startswith("plain") else "archive header")
    assert result.backup_age_s is not None and result.backup_age_s < 3600
    assert result.download_s is not None and result.restore_s and result.validate_s
    names = [s.name for s in record.steps]
    assert any(n.startswith("restore") for n in names), names
    restore = next(s for s in record.steps if s.name.startswith("restore"))
    tool = "psql" if fmt.startswith("plain") else "pg_restore"
    assert any(tool in c.text for c in restore.commands)
    if fmt in ("custom", "directory"):
        assert any(" -j " in c.text for c in restore.commands)


@pytest.mark.parametrize("major", MAJORS)
@pytest.mark.parametrize(("fmt", "kind", "code", "words"), DAMAGED)
def test_damaged_copy_fails_with_its_finding(
    dumps, verify_sandbox, tmp_path, major, fmt, kind, code, words
) -> None:
    whole = dumps[major][fmt]
    bad = sample.damage(whole, fmt, kind, tmp_path / "bad" / whole.name)
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(bad)})
    assert result.outcome == "FAIL", (result.findings, result.not_verified_reason)
    found = [f for f in result.findings if f.code == code]
    assert found, result.findings
    assert words in found[0].message, found[0].message


@pytest.mark.parametrize("major", MAJORS)
@pytest.mark.parametrize("fmt", ("custom", "tar", "plain", "plain.gz"))
def test_wrong_digest_is_corrupt_and_not_restored(
    dumps, verify_sandbox, tmp_path, major, fmt
) -> None:
    path = dumps[major][fmt]
    wrong = hashlib.sha256(b"another file").hexdigest()
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(path), "sha256": wrong})
    assert result.outcome == "FAIL"
    assert [f.code for f in result.findings] == ["BACKUP_CORRUPT"]
    assert "sha256" in result.findings[0].message
    assert not result.restore_ran  # a backup that is not the recorded one is not restored


@pytest.mark.parametrize("major", MAJORS)
def test_right_digest_and_size_pass(dumps, verify_sandbox, tmp_path, major) -> None:
    path = dumps[major]["custom"]
    right = hashlib.sha256(path.read_bytes()).hexdigest()
    size = path.stat().st_size
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(path), "sha256": right, "size": size})
    assert result.outcome == "PASS", result.findings
    assert result.backup is not None
    assert result.backup.digest_checked_against == "sha256 in drills.toml"
    assert result.backup.sha256 == right


def test_wrong_size_is_corrupt(dumps, verify_sandbox, tmp_path) -> None:
    path = dumps[15]["custom"]
    result, _ = verify(
        verify_sandbox, tmp_path, {"path": str(path), "size": path.stat().st_size + 1}
    )
    assert result.outcome == "FAIL"
    assert "bytes" in result.findings[0].message and result.findings[0].code == "BACKUP_CORRUPT"


def test_sidecar_digest_is_checked(dumps, verify_sandbox, tmp_path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    dump = folder / "app-2024-06-01.dump"
    dump.write_bytes(dumps[15]["custom"].read_bytes())
    side = folder / "app-2024-06-01.dump.sha256"
    side.write_text(f"{hashlib.sha256(dump.read_bytes()).hexdigest()}  {dump.name}\n")
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(folder)})
    assert result.outcome == "PASS", result.findings
    assert result.backup is not None and "sidecar" in str(result.backup.digest_checked_against)
    side.write_text(f"{hashlib.sha256(b'x').hexdigest()}  {dump.name}\n")
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(folder)})
    assert [f.code for f in result.findings] == ["BACKUP_CORRUPT"]


def test_newest_backup_in_a_folder_is_the_one_restored(dumps, verify_sandbox, tmp_path) -> None:
    folder = tmp_path / "nightly"
    folder.mkdir()
    old = folder / "app-1.dump"
    old.write_bytes(b"")  # an old, broken one: must not be the one chosen
    new = folder / "app-2.dump"
    new.write_bytes(dumps[18]["custom"].read_bytes())
    past = time.time() - 86400
    os.utime(old, (past, past))
    (folder / "notes.txt").write_text("not a backup")
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(folder), "pattern": "*.dump"})
    assert result.outcome == "PASS", result.findings
    assert result.backup is not None and result.backup.location.endswith("app-2.dump")


def test_a_pg18_dump_goes_into_pg18(dumps, verify_sandbox, tmp_path: Path) -> None:
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(dumps[18]["plain"])})
    assert result.backup is not None and result.backup.dump_version
    assert result.backup.dump_version.startswith("18")
    assert result.server is not None and result.server.startswith("18.")
