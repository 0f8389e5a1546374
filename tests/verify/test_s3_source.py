"""Backups in S3 (a real local S3 server, never AWS), and the READ-ONLY property.

The reader of the source exposes get/head/list only, and its client refuses every other
S3 operation before sending it, even when code digs the client out; a whole
verification leaves the bucket exactly as it found it (objects, versions, tags). The
credentials come from the environment, as boto3's chain reads them in production.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import os
import re
from pathlib import Path
from typing import Any

import pytest

from drillbook.fixtures import procs
from drillbook.scenarios.verify import locate, reader
from drillbook.scenarios.verify.reader import FileSource, S3Source, SourceWriteRefused
from tests.verify.conftest import verify

BUCKET = "team-backups"
WRITE_VERBS = re.compile(
    r"\.(put_\w+|delete_\w+|copy_\w*|upload_\w+|create_\w+|restore_object|"
    r"abort_\w+|complete_\w+|write_get_object_response)\("
)


@pytest.fixture
def bucket(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A bucket on the local S3 server; credentials in the environment only."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    admin = s3.client()
    admin.create_bucket(Bucket=BUCKET)
    admin.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return admin


def state(admin: Any) -> list[tuple[Any, ...]]:
    """Every version, delete marker and tag set of the bucket."""
    out: list[tuple[Any, ...]] = []
    page = admin.list_object_versions(Bucket=BUCKET)
    for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
        tags = admin.get_object_tagging(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])
        out.append(
            (v["Key"], v["VersionId"], v.get("ETag"), v.get("Size"), str(v["LastModified"]),
             tuple(sorted((t["Key"], t["Value"]) for t in tags.get("TagSet", []))))
        )  # fmt: skip
    return sorted(out)


def upload_dir(admin: Any, folder: Path, prefix: str) -> None:
    for path in sorted(folder.iterdir()):
        admin.upload_file(str(path), BUCKET, f"{prefix}{path.name}")


# -- the read-only property ---------------------------------------------------------------


def test_reader_exposes_reads_only() -> None:
    public = {n for n in dir(S3Source) if not n.startswith("_")}
    assert public == {"bucket", "get", "head", "list", "read_small"}
    files = {n for n in dir(FileSource) if not n.startswith("_")}
    assert files == {"digest", "entry", "head_bytes", "list", "open", "tail_bytes", "tree_size"}
    verbs = re.compile(r"put|delete|copy|tag|upload|write|remove|restore|create", re.I)
    assert not [n for n in public | files if verbs.search(n)]
    assert {"GetObject", "HeadObject", "ListObjectsV2", "HeadBucket"} == reader.READ_OPERATIONS
    # The modules that touch the source call no write verb of the S3 API at all.
    for module in (reader, locate):
        assert not WRITE_VERBS.findall(inspect.getsource(module)), module.__name__


def test_client_refuses_every_write_even_when_dug_out(s3: Any, bucket: Any) -> None:
    bucket.put_object(Bucket=BUCKET, Key="db/app.dump", Body=b"backup", Tagging="keep=yes")
    before = state(bucket)
    src = S3Source(BUCKET, endpoint=s3.endpoint)
    client = getattr(src, "_S3Source__client")  # noqa: B009 - digging it out on purpose
    attempts = [
        lambda: client.put_object(Bucket=BUCKET, Key="db/app.dump", Body=b"ransom"),
        lambda: client.delete_object(Bucket=BUCKET, Key="db/app.dump"),
        lambda: client.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "db/app.dump"}]}),
        lambda: client.copy_object(
            Bucket=BUCKET, Key="db/copy.dump", CopySource={"Bucket": BUCKET, "Key": "db/app.dump"}
        ),
        lambda: client.put_object_tagging(
            Bucket=BUCKET, Key="db/app.dump", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
        ),
        lambda: client.delete_object_tagging(Bucket=BUCKET, Key="db/app.dump"),
        lambda: client.put_bucket_versioning(
            Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"}
        ),
        lambda: client.upload_fileobj(__import__("io").BytesIO(b"x"), BUCKET, "db/new.dump"),
        lambda: client.restore_object(Bucket=BUCKET, Key="db/app.dump", RestoreRequest={"Days": 1}),
    ]
    for attempt in attempts:
        with pytest.raises(SourceWriteRefused, match="read-only"):
            attempt()
    assert state(bucket) == before
    assert src.head("db/app.dump").size == 6  # reads still work


def test_file_source_opens_read_only(tmp_path: Path) -> None:
    path = tmp_path / "app.dump"
    path.write_bytes(b"x" * 10)
    with FileSource.open(path) as fh:
        assert fcntl.fcntl(fh.fileno(), fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
        with pytest.raises(OSError):
            fh.write(b"y")


def test_path_source_is_left_untouched(dumps, verify_sandbox, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    dump = folder / "app.sql.gz"
    dump.write_bytes(dumps[15]["plain.gz"].read_bytes())
    before = (dump.read_bytes(), os.stat(dump).st_mtime_ns, sorted(os.listdir(folder)))
    result, _ = verify(verify_sandbox, tmp_path, {"path": str(folder)})
    assert result.outcome == "PASS", result.findings
    assert (dump.read_bytes(), os.stat(dump).st_mtime_ns, sorted(os.listdir(folder))) == before


# -- backups in S3 ------------------------------------------------------------------------


def test_newest_dump_under_a_prefix_restores_and_bucket_unchanged(
    s3: Any, bucket: Any, dumps, verify_sandbox, tmp_path: Path
) -> None:
    bucket.put_object(Bucket=BUCKET, Key="db/app-2024-05-31.dump", Body=b"")  # older, broken
    bucket.upload_file(str(dumps[15]["custom"]), BUCKET, "db/app-2024-06-01.dump")
    bucket.put_object(Bucket=BUCKET, Key="db/README.txt", Body=b"not a backup")
    before = state(bucket)
    source = {"url": f"s3://{BUCKET}/db/", "endpoint": s3.endpoint, "pattern": "*.dump"}
    result, record = verify(verify_sandbox, tmp_path, source)
    assert result.outcome == "PASS", (result.findings, result.not_verified_reason)
    assert result.backup is not None
    assert result.backup.location == f"s3://{BUCKET}/db/app-2024-06-01.dump"
    assert result.backup.sha256 == hashlib.sha256(dumps[15]["custom"].read_bytes()).hexdigest()
    assert result.download_s is not None and result.backup.modified is not None
    download = next(s for s in record.steps if s.name.startswith("download"))
    assert download.bytes_processed == dumps[15]["custom"].stat().st_size
    assert state(bucket) == before


def test_directory_dump_in_s3(s3: Any, bucket: Any, dumps, verify_sandbox, tmp_path: Path) -> None:
    upload_dir(bucket, dumps[18]["directory"], "db/2024-06-01/")
    source = {"url": f"s3://{BUCKET}/db/", "endpoint": s3.endpoint}
    result, _ = verify(verify_sandbox, tmp_path, source)
    assert result.outcome == "PASS", (result.findings, result.not_verified_reason)
    assert result.backup is not None and result.backup.format == "directory"
    assert result.backup.files == len(list(dumps[18]["directory"].iterdir()))


def test_sidecar_digest_in_s3(s3: Any, bucket: Any, dumps, verify_sandbox, tmp_path: Path) -> None:
    bucket.upload_file(str(dumps[15]["tar"]), BUCKET, "db/app.tar")
    wrong = hashlib.sha256(b"other").hexdigest()
    bucket.put_object(Bucket=BUCKET, Key="db/app.tar.sha256", Body=f"{wrong}  app.tar\n".encode())
    source = {"url": f"s3://{BUCKET}/db/app.tar", "endpoint": s3.endpoint}
    result, _ = verify(verify_sandbox, tmp_path, source)
    assert [f.code for f in result.findings] == ["BACKUP_CORRUPT"], result.findings
    assert "sidecar" in result.findings[0].message


@pytest.mark.parametrize(
    "url", [f"s3://{BUCKET}/db/", f"s3://{BUCKET}/db/gone.dump", "s3://no-such-bucket/db/"]
)
def test_missing_backup(s3: Any, bucket: Any, verify_sandbox, tmp_path: Path, url: str) -> None:
    result, _ = verify(verify_sandbox, tmp_path, {"url": url, "endpoint": s3.endpoint})
    assert result.outcome == "FAIL"
    assert [f.code for f in result.findings] == ["BACKUP_MISSING"], result.findings


def test_unreachable_source_is_not_verified(bucket: Any, verify_sandbox, tmp_path: Path) -> None:
    port = procs.free_port()  # nothing listens there
    source = {"url": f"s3://{BUCKET}/db/", "endpoint": f"http://127.0.0.1:{port}"}
    result, _ = verify(verify_sandbox, tmp_path, source)
    assert result.outcome == "NOT VERIFIED"
    assert result.not_verified_code == "SOURCE_UNREADABLE"
    assert str(port) in str(result.not_verified_reason)
