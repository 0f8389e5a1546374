"""Redis RDB snapshots loaded into a local server, and an S3 bucket against its manifest."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drillbook.scenarios.verify import sandbox
from tests.verify.conftest import verify
from tests.verify.test_s3_source import BUCKET

KEYS = 500


@pytest.fixture(scope="module")
def rdb_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """An RDB with KEYS keys, and one of an empty keyspace, saved by a real server."""
    folder = tmp_path_factory.mktemp("rdb")
    server = sandbox._start_local_redis("rdb-source")
    try:
        client = server.client()
        client.save()
        shutil.copyfile(Path(server.data_dir) / "dump.rdb", folder / "empty.rdb")
        pipe = client.pipeline()
        for i in range(KEYS):
            pipe.set(f"session:{i}", "x" * 100)
        pipe.execute()
        client.save()
        shutil.copyfile(Path(server.data_dir) / "dump.rdb", folder / "dump.rdb")
    finally:
        server.close()
    yield {"whole": folder / "dump.rdb", "empty": folder / "empty.rdb"}


def test_rdb_loads_with_its_keys(rdb_files, verify_sandbox, tmp_path) -> None:
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(rdb_files["whole"])}, kind="redis")
    assert result.outcome == "PASS", (result.findings, result.not_verified_reason)
    assert sum(result.counts.values()) == KEYS
    assert result.backup is not None and result.backup.format == "rdb"
    assert result.backup.created_from == "rdb ctime" and result.backup_age_s is not None
    assert result.restored_bytes and result.restored_bytes > 0  # used_memory
    assert result.server


@pytest.mark.parametrize(
    ("damage", "code"),
    [("truncated", "BACKUP_CORRUPT"), ("zero", "BACKUP_EMPTY"), ("garbage", "BACKUP_CORRUPT")],
)
def test_damaged_rdb(rdb_files, verify_sandbox, tmp_path, damage, code) -> None:
    data = rdb_files["whole"].read_bytes()
    bad = tmp_path / "dump.rdb"
    bad.write_bytes(
        {"truncated": data[: len(data) // 2], "zero": b"", "garbage": b"not an rdb" * 10}[damage]
    )
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(bad)}, kind="redis")
    assert result.outcome == "FAIL"
    assert result.codes == [code], result.findings


def test_empty_rdb_is_an_empty_restore(rdb_files, verify_sandbox, tmp_path) -> None:
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(rdb_files["empty"])}, kind="redis")
    assert result.outcome == "FAIL" and result.codes == ["RESTORE_EMPTY"], result.findings


# -- S3 inventory --------------------------------------------------------------------------


@pytest.fixture
def media(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    admin = s3.client()
    admin.create_bucket(Bucket=BUCKET)
    for i in range(20):
        admin.put_object(Bucket=BUCKET, Key=f"media/{i:03d}.jpg", Body=b"j" * (100 + i))
    return admin


def manifest(tmp_path: Path, objects: dict[str, int]) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"objects": [{"key": k, "size": v} for k, v in objects.items()]}))
    return path


def test_inventory_matches_manifest(s3, media, verify_sandbox, tmp_path) -> None:
    m = manifest(tmp_path, {f"media/{i:03d}.jpg": 100 + i for i in range(20)})
    source = {"url": f"s3://{BUCKET}/media/", "endpoint": s3.endpoint, "manifest": str(m)}
    result, _ = verify(verify_sandbox, tmp_path, source, kind="s3")
    assert result.outcome == "PASS", (result.findings, result.not_verified_reason)
    assert result.counts == {"objects": 20}
    assert result.restored_bytes == sum(100 + i for i in range(20))
    assert result.backup_age_s is not None and result.backup_age_s < 3600


def test_inventory_mismatch(s3, media, verify_sandbox, tmp_path) -> None:
    want = {f"media/{i:03d}.jpg": 100 + i for i in range(20)}
    want["media/lost.jpg"] = 5
    want["media/000.jpg"] = 99
    media.put_object(Bucket=BUCKET, Key="manifests/media.csv", Body=_csv(want))
    source = {
        "url": f"s3://{BUCKET}/media/",
        "endpoint": s3.endpoint,
        "manifest": f"s3://{BUCKET}/manifests/media.csv",
    }
    result, _ = verify(verify_sandbox, tmp_path, source, kind="s3")
    assert result.outcome == "FAIL"
    assert result.codes == ["INVENTORY_MISMATCH"]
    text = result.findings[0].message
    assert "1 missing (media/lost.jpg)" in text and "media/000.jpg: 100 bytes, manifest 99" in text


def _csv(objects: dict[str, int]) -> bytes:
    return ("Key,Size\n" + "".join(f"{k},{v}\n" for k, v in objects.items())).encode()
