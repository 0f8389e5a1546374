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
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from drillbook.errors import DrillFailure
from drillbook.fixtures.s3 import S3Handle

__all__ = [
    "BackupCorrupt",
    "BackupMissing",
    "BackupStore",
    "Readable",
    "StoredObject",
    "sha256_file",
]

CHUNK = 8 * 1024 * 1024
PART = 16 * 1024 * 1024  # a multipart upload's part (S3: at least 5 MiB but the last)


class Readable(Protocol):
    """What :meth:`BackupStore.put_stream` reads from: a pipe, a file, a wrapper."""

    def read(self, n: int = -1, /) -> bytes: ...


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

    def put_stream(self, stream: Readable, key: str, *, workers: int = 3) -> StoredObject:
        """Upload what *stream* yields (a pipe: ``pg_basebackup -D -``) as *key* while it
        is produced: a multipart upload, parts sent by *workers* threads, the SHA-256
        computed on the stream; recorded in the catalog, then set in the object's
        metadata (a copy onto itself, metadata only). No copy on local disk."""
        full, digest, size, created = self.prefix + key, hashlib.sha256(), 0, time.time()
        up = self.client.create_multipart_upload(Bucket=self.bucket, Key=full)["UploadId"]
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="s3-put") as pool:
                sent: list[Future[Any]] = []
                while chunk := stream.read(PART):
                    digest.update(chunk)
                    size += len(chunk)
                    if len(sent) >= workers * 2:  # bounded: at most this many parts in memory
                        sent[-workers * 2].result()
                    sent.append(pool.submit(self._part, full, up, len(sent) + 1, chunk))
                parts = [{"PartNumber": i + 1, "ETag": f.result()} for i, f in enumerate(sent)]
            if not parts:  # an empty stream: S3 needs one (empty) part
                parts = [{"PartNumber": 1, "ETag": self._part(full, up, 1, b"")}]
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=full, UploadId=up, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=up)
            raise
        meta = {"sha256": digest.hexdigest(), "created": f"{created:.6f}"}
        self.client.copy_object(
            Bucket=self.bucket,
            Key=full,
            CopySource={"Bucket": self.bucket, "Key": full},
            MetadataDirective="REPLACE",
            Metadata=meta,
        )
        obj = StoredObject(full, size, meta["sha256"], created)
        self.catalog[full] = obj
        return obj

    def _part(self, full_key: str, upload_id: str, number: int, body: bytes) -> str:
        res = self.client.upload_part(
            Bucket=self.bucket, Key=full_key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return str(res["ETag"])

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
            with open(dest, "wb") as out:
                return self.get_stream(full_key, out.write, expected)
        except BackupCorrupt:
            dest.unlink(missing_ok=True)
            raise

    def get_stream(
        self, full_key: str, write: Callable[[bytes], Any], expected: StoredObject | None = None
    ) -> StoredObject:
        """Stream *full_key* into *write* (a file, a ``tar -x`` pipe), hashed on the way,
        and verify it as :meth:`get_file` does, once the last byte has gone through: the
        consumer must not use what it got before this returns."""
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
        for chunk in body.iter_chunks(CHUNK):
            digest.update(chunk)
            write(chunk)
        actual = digest.hexdigest()
        if actual != obj.sha256:
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
