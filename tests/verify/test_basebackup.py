"""pg_basebackup tar archives: with their WAL they restore, replay and start; without
their WAL the server cannot start; a damaged data file is caught by backup_manifest."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.verify import sample
from tests.verify.conftest import source_server, verify


def base_backup(handle: Any, dest: Path, *extra: str) -> Path:
    env = {**os.environ, **handle.env()}
    argv = [handle.tool("pg_basebackup"), "-D", str(dest), "-Ft", "-c", "fast", *extra]
    subprocess.run(argv, env=env, check=True, capture_output=True, timeout=300)
    return dest


@pytest.fixture(scope="module")
def base_backups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Base backups of the sample: PostgreSQL 15 (WAL streamed, plain and gzip; no WAL)
    and PostgreSQL 18 (WAL fetched into base.tar)."""
    root = tmp_path_factory.mktemp("base")
    out: dict[str, Path] = {}
    for major, variants in ((15, ("stream", "gzip", "nowal")), (18, ("fetch",))):
        handle = source_server(major)
        try:
            sample.load(handle)
            for v in variants:
                extra = {
                    "stream": ["-X", "stream"],
                    "gzip": ["-X", "stream", "-z"],
                    "nowal": ["-X", "none"],
                    "fetch": ["-X", "fetch"],
                }[v]
                out[f"{v}{major}"] = base_backup(handle, root / f"{v}{major}", *extra)
        finally:
            handle.close()
    yield out


@pytest.mark.parametrize("name", ["stream15", "gzip15", "fetch18"])
def test_base_backup_with_wal_restores_and_starts(
    base_backups, verify_sandbox, tmp_path, name
) -> None:
    result, record = verify(verify_sandbox, tmp_path, {"path": str(base_backups[name])})
    assert result.outcome == "PASS", (result.findings, result.not_verified_reason)
    assert result.backup is not None and result.backup.format == "basebackup"
    major = int(name[-2:])
    assert result.backup.major == major and result.server and result.server.startswith(f"{major}.")
    assert result.backup.created_from == "backup_label"
    for table, rows in sample.ROWS.items():
        assert result.counts[f"app/{table}"] == rows
    commands = [c.text for s in record.steps for c in s.commands]
    assert any("--single" in c for c in commands)
    if name == "stream15":
        assert any("pg_verifybackup" in c for c in commands)
    assert result.notes["config"]  # the backup's own configuration was set aside


def test_base_backup_without_wal_does_not_start(base_backups, verify_sandbox, tmp_path) -> None:
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(base_backups["nowal15"])})
    assert result.outcome == "FAIL"
    assert result.codes == ["SERVER_START_FAILED"], result.findings
    assert not result.restore_ran


def test_damaged_data_file_is_caught_by_the_manifest(
    base_backups, verify_sandbox, tmp_path
) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(base_backups["stream15"], bad)
    tar_path = bad / "base.tar"
    with tarfile.open(tar_path) as tar:
        victim = max(
            (m for m in tar.getmembers() if m.name.startswith("base/")), key=lambda m: m.size
        )
    with open(tar_path, "r+b") as fh:
        fh.seek(victim.offset_data + victim.size // 2)
        fh.write(b"\xde\xad\xbe\xef" * 4)
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(bad)})
    assert result.outcome == "FAIL"
    corrupt = [f for f in result.findings if f.code == "BACKUP_CORRUPT"]
    assert corrupt and "pg_verifybackup" in corrupt[0].message, result.findings
