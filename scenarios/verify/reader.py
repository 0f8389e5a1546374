"""The source of a team's real backups, READ-ONLY by construction.

Verification runs nightly with credentials that can reach production backups. Whatever
goes wrong in a restore, the backups themselves must never change. That is a property
of this module, not a promise of its callers:

- :class:`S3Source` keeps its boto3 client private and exposes ``head``, ``list`` and
  ``get`` only. The client itself refuses, before any request is sent, every S3
  operation outside :data:`READ_OPERATIONS` (a ``before-call`` hook), so even code that
  digs the client out cannot write, delete, copy, tag or restore an object.
- :class:`FileSource` opens files with ``O_RDONLY`` only and has no method that writes.
- Credentials come from boto3's own chain (environment, profile, instance role): this
  module never takes a key as an argument.

Tests assert all three (tests/verify/test_readonly.py).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 1 << 20
#: The only S3 operations the source's client will send.
READ_OPERATIONS = frozenset({"GetObject", "HeadObject", "ListObjectsV2", "HeadBucket"})
Progress = Callable[[int], None]


class SourceWriteRefused(PermissionError):
    """Code tried to send a non-read S3 operation through the source's client."""


class SourceUnreadable(Exception):
    """The source exists in drills.toml but cannot be read (credentials, network ...)."""


class NoSuchBackup(FileNotFoundError):
    """Nothing at the location the source names (no such bucket, key, file)."""


@dataclass(frozen=True)
class Entry:
    """One object or file of the source."""

    name: str  # S3 key, or path
    size: int
    modified: float  # epoch seconds
    checksum_sha256: str | None = None  # S3's own, hex (single-part uploads only)


def _refuse_writes(model: Any = None, **_: Any) -> None:
    name = getattr(model, "name", "?")
    if name not in READ_OPERATIONS:
        raise SourceWriteRefused(
            f"S3 {name} refused: the backup source is read-only "
            f"(allowed: {', '.join(sorted(READ_OPERATIONS))})"
        )


def _client(endpoint: str | None, region: str | None) -> Any:
    import boto3
    import botocore.session
    from botocore.config import Config

    config = Config(
        connect_timeout=10,
        read_timeout=120,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint else {},
    )
    core = botocore.session.get_session()
    if endpoint:
        # An S3 of the user's own (MinIO, Ceph...): the keys come from the environment
        # or a profile. Never ask EC2's metadata address for AWS role keys it did not name.
        core.get_component("credential_provider").remove("iam-role")
    session = boto3.session.Session(botocore_session=core)
    client = session.client("s3", endpoint_url=endpoint, region_name=region, config=config)
    client.meta.events.register("before-call.s3", _refuse_writes)
    return client


def _unreadable(exc: Exception, where: str) -> Exception:
    """NoSuchBackup for a missing bucket/key, SourceUnreadable for everything else."""
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    if code in ("NoSuchBucket", "NoSuchKey", "404", "NotFound"):
        return NoSuchBackup(f"{where}: {code}")
    hint = ""
    if "credentials" in str(exc).lower() or code in ("AccessDenied", "403", "InvalidAccessKeyId"):
        hint = (
            " (read-only credentials come from the environment: AWS_ACCESS_KEY_ID/..., AWS_PROFILE)"
        )
    return SourceUnreadable(f"{where}: {type(exc).__name__}: {exc}{hint}")


class S3Source:
    """One bucket, read through a client that can only read."""

    __slots__ = ("__client", "bucket")

    def __init__(self, bucket: str, *, endpoint: str | None = None, region: str | None = None):
        self.bucket = bucket
        self.__client = _client(endpoint, region)

    def head(self, key: str) -> Entry:
        try:
            r = self.__client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except Exception as exc:
            raise _unreadable(exc, f"s3://{self.bucket}/{key}") from None
        return Entry(key, int(r["ContentLength"]), r["LastModified"].timestamp(), _hex(r))

    def list(self, prefix: str) -> Iterator[Entry]:
        token: dict[str, str] = {}
        while True:
            try:
                page = self.__client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, **token)
            except Exception as exc:
                raise _unreadable(exc, f"s3://{self.bucket}/{prefix}") from None
            for obj in page.get("Contents", []):
                yield Entry(obj["Key"], int(obj["Size"]), obj["LastModified"].timestamp())
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def get(self, key: str, dest: Path, progress: Progress | None = None) -> tuple[str, int]:
        """Stream *key* into *dest* in one GET, hashing while writing: (sha256, bytes)."""
        try:
            body = self.__client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except Exception as exc:
            raise _unreadable(exc, f"s3://{self.bucket}/{key}") from None
        digest, total = hashlib.sha256(), 0
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(dest, "wb") as out:
                for chunk in iter(lambda: body.read(CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
                    total += len(chunk)
                    if progress:
                        progress(len(chunk))
        except Exception as exc:
            raise _unreadable(exc, f"s3://{self.bucket}/{key} (download)") from None
        finally:
            body.close()
        return digest.hexdigest(), total

    def read_small(self, key: str, limit: int = 1 << 20) -> bytes:
        """A small object (a manifest, a .sha256 sidecar), at most *limit* bytes."""
        try:
            body = self.__client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except Exception as exc:
            raise _unreadable(exc, f"s3://{self.bucket}/{key}") from None
        try:
            return bytes(body.read(limit))
        finally:
            body.close()


def _hex(head: dict[str, Any]) -> str | None:
    """S3's own SHA-256 (base64) as hex; None for multipart composites ("...-3")."""
    import base64
    import binascii

    raw = head.get("ChecksumSHA256")
    if not raw or "-" in raw:
        return None
    try:
        return base64.b64decode(raw).hex()
    except (binascii.Error, ValueError):
        return None


class FileSource:
    """Files and folders on this machine, opened read-only."""

    @staticmethod
    def open(path: Path) -> BinaryIO:
        """*path* opened with O_RDONLY (never for writing, whatever the caller does)."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        return os.fdopen(fd, "rb", buffering=CHUNK)

    @staticmethod
    def entry(path: Path) -> Entry:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise NoSuchBackup(f"{path}: no such file or directory") from None
        except OSError as exc:
            raise SourceUnreadable(f"{path}: {exc.strerror or exc}") from None
        size = st.st_size if stat.S_ISREG(st.st_mode) else FileSource.tree_size(path)
        return Entry(str(path), size, st.st_mtime)

    @staticmethod
    def tree_size(path: Path) -> int:
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())

    @staticmethod
    def list(folder: Path, pattern: str = "*") -> list[Path]:
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            raise SourceUnreadable(f"{folder}: {exc.strerror or exc}") from None
        return [folder / n for n in names if fnmatch.fnmatch(n, pattern)]

    @staticmethod
    def digest(path: Path, progress: Progress | None = None) -> tuple[str, int]:
        """(sha256, bytes) of a file, read once."""
        digest, total = hashlib.sha256(), 0
        try:
            with FileSource.open(path) as fh:
                for chunk in iter(lambda: fh.read(CHUNK), b""):
                    digest.update(chunk)
                    total += len(chunk)
                    if progress:
                        progress(len(chunk))
        except OSError as exc:
            raise SourceUnreadable(f"{path}: {exc.strerror or exc}") from None
        return digest.hexdigest(), total

    @staticmethod
    def head_bytes(path: Path, n: int = 65536) -> bytes:
        with FileSource.open(path) as fh:
            return fh.read(n)

    @staticmethod
    def tail_bytes(path: Path, n: int = 4096) -> bytes:
        with FileSource.open(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - n))
            return fh.read(n)
