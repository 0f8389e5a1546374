"""Backups are verified against the harness's own catalog, kept apart from the object.

A real S3 server: an object altered after upload and re-hashed in its own metadata
passes a check against that metadata, never the one against the checksum the harness
recorded from the local file at upload; an object gone is BACKUP_MISSING.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from drillbook.fixtures.s3 import S3Handle
from drillbook.scenarios.store import BackupCorrupt, BackupMissing, BackupStore


@pytest.fixture
def stored(s3: S3Handle, tmp_path: Path) -> tuple[BackupStore, str]:
    store = BackupStore(s3, "catalogued")
    store.ensure_bucket()
    src = tmp_path / "dump"
    src.write_bytes(b"PGDMP" + bytes(range(256)) * 64)
    return store, store.put_file(src, "dump-custom/app/1/app.dump").key


def rehash(store: BackupStore, key: str) -> None:
    body = bytearray(store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    body[100] ^= 0xFF
    meta = {"sha256": hashlib.sha256(body).hexdigest(), "created": "1"}
    store.client.put_object(Bucket=store.bucket, Key=key, Body=bytes(body), Metadata=meta)


def test_an_intact_backup_downloads(stored: tuple[BackupStore, str], tmp_path: Path) -> None:
    store, key = stored
    got = store.get_file(key, tmp_path / "out")
    assert got == store.catalog[key] and (tmp_path / "out").read_bytes().startswith(b"PGDMP")


def test_a_rehashed_backup_is_refused_by_the_catalog(
    stored: tuple[BackupStore, str], tmp_path: Path
) -> None:
    store, key = stored
    rehash(store, key)
    with pytest.raises(BackupCorrupt, match="metadata was rewritten to match") as err:
        store.get_file(key, tmp_path / "out")
    assert err.value.code == "BACKUP_CORRUPT" and not (tmp_path / "out").exists()
    # What the check against the object's own metadata alone would have let through:
    stranger = BackupStore(store.s3, store.bucket)
    assert stranger.get_file(key, tmp_path / "other").sha256 != store.catalog[key].sha256


def test_a_backup_gone_is_missing(stored: tuple[BackupStore, str], tmp_path: Path) -> None:
    store, key = stored
    store.client.delete_object(Bucket=store.bucket, Key=key)
    with pytest.raises(BackupMissing, match="is gone from the store") as err:
        store.get_file(key, tmp_path / "out")
    assert err.value.code == "BACKUP_MISSING"
