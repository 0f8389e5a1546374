"""Off-host backup storage in the drill's S3 service, with checksums.

The runbooks keep backups off-host (``aws s3 cp ... s3://backups-bucket/...``). Every
object drillbook uploads carries the SHA-256 of its content in its metadata, and the
harness keeps its own catalog of what it uploaded (key, size, SHA-256 computed from the
local file before the upload), apart from the objects. Every download is verified
against that catalog before the file is used: a truncated or altered backup is refused
(:class:`BackupCorrupt`), even one whose S3 metadata was rewritten to match its new
content, and "restore from the newest good backup" skips it. An object the catalog does
not know (uploaded by another process) is checked against its own metadata only.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from drillbook.errors import DrillFailure
from drillbook.fixtures.s3 import S3Handle

__all__ = [
    "BackupCorrupt",
    "BackupMissing",
    "BackupStore",
    "StoredObject",
    "sha256_file",
]

CHUNK = 8 * 1024 * 1024


class BackupCorrupt(DrillFailure):
    """A backup object's content does not match the checksum recorded at upload, or the
    restore tool could not read it (BACKUP_CORRUPT)."""

    code = "BACKUP_CORRUPT"


class BackupMissing(DrillFailure):
    """No backup of the requested kind exists (BACKUP_MISSING)."""

    code = "BACKUP_MISSING"


def sha256_file(path: Path) -> str:
    """The SHA-256 of the file at *path* (read in chunks), hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class StoredObject:
    """One object in the store: key, size, the SHA-256 recorded at upload, when."""

    key: str
    size: int
    sha256: str
    created: float  # epoch seconds, from our metadata (S3 LastModified is 1 s resolution)

    @property
    def age(self) -> float:
        return time.time() - self.created


class BackupStore:
    """A bucket (and prefix) on an S3 handle where backups live."""

    def __init__(self, s3: S3Handle, bucket: str, prefix: str = "") -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self._client: Any = None
        #: What this store uploaded, by full key: the checksums downloads are held to.
        self.catalog: dict[str, StoredObject] = {}

    @property
    def client(self) -> Any:
        """The boto3 client (one per store, 60 s timeouts: backups are large)."""
        if self._client is None:
            self._client = self.s3.client(timeout=60)
        return self._client

    def ensure_bucket(self, *, versioning: bool = False) -> None:
        """Create the bucket when it is missing; *versioning* turns versioning on."""
        names = {b["Name"] for b in self.client.list_buckets().get("Buckets", [])}
        if self.bucket not in names:
            self.client.create_bucket(Bucket=self.bucket)
        if versioning:
            self.client.put_bucket_versioning(
                Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}
            )

    def url(self, key: str) -> str:
        """``s3://bucket/key``, for the record."""
        return f"s3://{self.bucket}/{key}"

    def put_file(self, path: Path, key: str) -> StoredObject:
        """Upload *path* as *key* (under the store's prefix) with its SHA-256 in the metadata."""
        digest = sha256_file(path)
        created = time.time()
        self.client.upload_file(
            str(path),
            self.bucket,
            self.prefix + key,
            ExtraArgs={"Metadata": {"sha256": digest, "created": f"{created:.6f}"}},
        )
        obj = StoredObject(self.prefix + key, path.stat().st_size, digest, created)
        self.catalog[obj.key] = obj
        return obj

    def head(self, full_key: str) -> StoredObject:
        """The stored object's size, recorded SHA-256 and upload time."""
        meta = self.client.head_object(Bucket=self.bucket, Key=full_key)
        md = meta.get("Metadata", {})
        created = float(md.get("created") or meta["LastModified"].timestamp())
        return StoredObject(full_key, int(meta["ContentLength"]), md.get("sha256", ""), created)

    def get_file(
        self, full_key: str, dest: Path, expected: StoredObject | None = None
    ) -> StoredObject:
        """Download and verify against *expected* (the catalog's entry of *full_key* by
        default; the object's own metadata when the catalog has none); raises
        BackupCorrupt (and removes the file) on a mismatch, BackupMissing when the
        object is gone."""
        try:
            meta = self.head(full_key)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                raise BackupMissing(
                    f"{self.url(full_key)} is gone from the store (HEAD: {code})"
                ) from exc
            raise
        obj = expected or self.catalog.get(full_key) or meta
        source = "recorded at upload" if obj is not meta else "in the object's metadata"
        if not obj.sha256:
            raise BackupCorrupt(f"{self.url(full_key)} has no recorded checksum: refusing it")
        # One streamed GET, hashed while written: ranged parallel downloads cost moto the
        # whole object per range (1 GB took 106-111 s that way, 2 s in one GET), and a
        # second pass over the file only to hash it would double the disk reads.
        digest = hashlib.sha256()
        body = self.client.get_object(Bucket=self.bucket, Key=full_key)["Body"]
        with open(dest, "wb") as out:
            for chunk in body.iter_chunks(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != obj.sha256:
            dest.unlink(missing_ok=True)
            rehashed = (
                "; its S3 metadata was rewritten to match the new content"
                if meta.sha256 == actual and obj is not meta
                else ""
            )
            raise BackupCorrupt(
                f"{self.url(full_key)}: checksum mismatch: sha256 {actual[:12]}… "
                f"({meta.size} bytes) is not the "
                f"{obj.sha256[:12]}… ({obj.size} bytes) {source}{rehashed}"
            )
        return obj

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under the store's prefix + *prefix*."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for o in page.get("Contents", []):
                yield o["Key"]

    def newest(self, prefix: str) -> list[StoredObject]:
        """Objects under *prefix*, newest first (by the upload time we recorded)."""
        objs = [self.head(k) for k in self.keys(prefix)]
        return sorted(objs, key=lambda o: o.created, reverse=True)

    @staticmethod
    def stamp() -> str:
        """A sortable, unique name part for a backup taken now."""
        return datetime.now().astimezone().strftime("%Y%m%dT%H%M%S.%f")
