"""What breaks an object store: a prefix deleted, a bucket or region lost, ransomware.

Each fault is what an operator, a script or an attacker really sends to S3, and returns
what it did (keys touched, bytes written, refusals) for the record:

- :func:`delete_prefix` — ``aws s3 rm --recursive s3://bucket/prefix``: on a versioned
  bucket every object gets a delete marker; the versions stay.
- :func:`delete_bucket` — ``aws s3 rb --force`` by someone allowed to delete versions:
  every version and marker deleted (bypassing GOVERNANCE retention), then the bucket.
- :func:`lose_region` — the primary endpoint SIGKILLed: moto keeps objects in memory,
  so everything in that "region" is gone (a server with data on disk gets it wiped).
- :func:`ransomware_overwrite` — every object replaced by random bytes of the same size,
  as a new version on top of the good ones, and a ransom note dropped.
- :func:`purge_versions` — an attacker deleting every version by VersionId (with the
  governance bypass if asked): object lock must refuse each one; the refusals are counted.
- :func:`truncate_object`, :func:`delete_object` — one object damaged: a backup kept in
  S3 (a truncated dump, a lost WAL segment of the archive).

Each takes a boto3 client (``client.client(handle)``) or the handle, and records nothing
itself: call it inside ``with drill.fault(...) as f`` (``f.call(...)`` records the call).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from drillbook.fixtures.base import Capability
from drillbook.scenarios.common import wipe_directory
from drillbook.scenarios.s3.client import error_code, pool_map, pool_split, sha256_hex
from drillbook.scenarios.s3.manifest import list_current, list_versions

__all__ = [
    "RANSOM_NOTE",
    "BucketLost",
    "DeletionAttempts",
    "ObjectDamage",
    "PrefixDeleted",
    "RansomwareAttack",
    "RegionLost",
    "delete_bucket",
    "delete_object",
    "delete_prefix",
    "lose_region",
    "purge_versions",
    "ransomware_overwrite",
    "truncate_object",
]

RANSOM_NOTE = "README-RESTORE-YOUR-FILES.txt"
RANSOM_TEXT = (
    "All your media files are encrypted. Pay 5 BTC to recover them. "
    "(drillbook drill: this note is part of a simulated ransomware attack)\n"
)


# -- deletion ------------------------------------------------------------------------------------


@dataclass
class PrefixDeleted:
    """What :func:`delete_prefix` deleted: the keys and the delete markers made."""

    bucket: str
    prefix: str
    keys: list[str] = field(default_factory=list)
    markers: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "objects": len(self.keys),
            "delete_markers": self.markers,
            "errors": self.errors[:10],
        }


def delete_prefix(c: Any, bucket: str, prefix: str) -> PrefixDeleted:
    """``aws s3 rm --recursive s3://bucket/prefix``: DeleteObjects (no VersionId) on every
    current object under *prefix*, through the boto3 client *c*. On a versioned bucket
    each gets a delete marker and its versions stay. Returns the keys and markers."""
    out = PrefixDeleted(bucket, prefix)
    out.keys = sorted(list_current(c, bucket, prefix))
    for i in range(0, len(out.keys), 1000):
        batch = [{"Key": k} for k in out.keys[i : i + 1000]]
        resp = c.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": False})
        out.markers += sum(1 for d in resp.get("Deleted", []) if d.get("DeleteMarker"))
        out.errors += [f"{e.get('Key')}: {e.get('Code')}" for e in resp.get("Errors", [])]
    return out


@dataclass
class BucketLost:
    """What :func:`delete_bucket` deleted: versions, markers, the bucket."""

    bucket: str
    versions_deleted: int = 0
    markers_deleted: int = 0
    bucket_deleted: bool = False
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "versions_deleted": self.versions_deleted,
            "markers_deleted": self.markers_deleted,
            "bucket_deleted": self.bucket_deleted,
            "errors": self.errors[:10],
        }


def delete_bucket(c: Any, bucket: str, *, bypass_governance: bool = True) -> BucketLost:
    """Delete every version and delete marker of *bucket*, then the bucket itself
    (*bypass_governance*: as someone allowed to, past GOVERNANCE retention).

    Permanent version deletes are never replicated by S3 (only delete markers are), so
    the replica keeps its copies: this is the loss replication protects against.
    """
    out = BucketLost(bucket)
    # A write in flight at t0 can land between the listing and DeleteBucket
    # (BucketNotEmpty): list and delete again, a bounded number of times.
    for attempt in range(5):
        _delete_all_versions(c, bucket, out, bypass_governance)
        try:
            c.delete_bucket(Bucket=bucket)
            out.bucket_deleted = True
            return out
        except ClientError as exc:
            if error_code(exc) != "BucketNotEmpty" or attempt == 4:
                out.errors.append(f"DeleteBucket: {error_code(exc)}")
                return out
    return out


def _delete_all_versions(c: Any, bucket: str, out: BucketLost, bypass_governance: bool) -> None:
    versions = list_versions(c, bucket)
    items = [(v.key, v.version_id, v.delete_marker) for vs in versions.values() for v in vs]
    for i in range(0, len(items), 1000):
        batch = items[i : i + 1000]
        resp = c.delete_objects(
            Bucket=bucket,
            Delete={
                "Objects": [{"Key": k, "VersionId": vid} for k, vid, _ in batch],
                "Quiet": False,
            },
            BypassGovernanceRetention=bypass_governance,
        )
        deleted = {(d["Key"], d.get("VersionId")) for d in resp.get("Deleted", [])}
        for k, vid, marker in batch:
            if (k, vid) in deleted:
                if marker:
                    out.markers_deleted += 1
                else:
                    out.versions_deleted += 1
        out.errors += [f"{e.get('Key')}: {e.get('Code')}" for e in resp.get("Errors", [])]


@dataclass
class RegionLost:
    """What :func:`lose_region` did: the endpoint killed (and its data wiped)."""

    endpoint: str
    pid: int | None
    killed_at_mono: float
    data_wiped: bool = False  # a persistent server's data directory emptied as well


def lose_region(handle: Any) -> RegionLost:
    """SIGKILL *handle*'s server (the primary endpoint): everything stored in that
    region is gone.

    moto keeps objects in memory, so the kill alone loses them. A server that keeps
    its data on disk (MinIO) would bring it all back on restart, which is no region
    loss: its data directory is emptied too, and a backend that cannot reach it is
    NOT RUN rather than a drill that proves nothing.
    """
    handle.require(Capability.KILL)
    persistent = handle.supports(Capability.PERSISTENT)
    if persistent:
        handle.require(Capability.DATA_DIR)
    pid = getattr(handle, "pid", None)
    handle.kill()
    lost = RegionLost(handle.endpoint, pid, time.monotonic())
    if persistent:
        wipe_directory(handle.data_dir, names=False)
        lost.data_wiped = True
    return lost


# -- ransomware ----------------------------------------------------------------------------------


@dataclass
class RansomwareAttack:
    """What :func:`ransomware_overwrite` wrote: keys, the attacker's digests, the note."""

    bucket: str
    prefix: str
    keys: list[str] = field(default_factory=list)
    attacker_sha256: set[str] = field(default_factory=set)
    bytes_written: int = 0
    note_key: str | None = None
    errors: list[str] = field(default_factory=list)
    started_wall: float = 0.0
    finished_wall: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "objects_overwritten": len(self.keys),
            "bytes_written": self.bytes_written,
            "ransom_note": self.note_key,
            "errors": self.errors[:10],
            "attack_seconds": round(self.finished_wall - self.started_wall, 3),
        }


def ransomware_overwrite(
    c: Any,
    bucket: str,
    *,
    prefix: str = "",
    note_key: str | None = RANSOM_NOTE,
    workers: int = 16,
) -> RansomwareAttack:
    """Overwrite every current object under *prefix* with random bytes of its size, and
    drop a ransom note at *note_key* (None: no note); *workers* parallel PUTs.

    Each overwrite is a new version on top of the good ones (versioning keeps them; the
    attacker did not, or could not, delete them). The sha256 of every attacker write is
    kept so validation can prove none of those bytes is left.
    """
    out = RansomwareAttack(bucket, prefix, started_wall=time.time())
    current = list_current(c, bucket, prefix)
    keys = sorted(current)

    def encrypt(key: str) -> tuple[str, int]:
        data = os.urandom(max(current[key].size, 16))
        c.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType="application/octet-stream",
            Metadata={"encrypted-by": "drill-ransomware"},
        )
        return sha256_hex(data), len(data)

    done, failed = pool_split(encrypt, keys, workers)
    out.errors += [f"{key}: {error_code(exc)}" for key, exc in failed]
    for key, (digest, size) in done:
        out.keys.append(key)
        out.attacker_sha256.add(digest)
        out.bytes_written += size
    if note_key is not None:
        body = RANSOM_TEXT.encode()
        c.put_object(Bucket=bucket, Key=note_key, Body=body, ContentType="text/plain")
        out.note_key = note_key
        out.attacker_sha256.add(sha256_hex(body))
        out.bytes_written += len(body)
    out.finished_wall = time.time()
    return out


# -- deletion attempts against locked versions ----------------------------------------------------


@dataclass
class DeletionAttempts:
    """DeleteObject with VersionId on every version: under object lock each is refused."""

    bucket: str
    bypass_governance: bool
    attempted: int = 0
    refused: int = 0
    succeeded: int = 0
    other_errors: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    deleted: list[str] = field(default_factory=list)

    @property
    def all_refused(self) -> bool:
        return self.attempted > 0 and self.refused == self.attempted

    def summary(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "bypass_governance": self.bypass_governance,
            "attempted": self.attempted,
            "refused": self.refused,
            "succeeded": self.succeeded,
            "other_errors": self.other_errors,
            "codes": dict(self.codes),
            "deleted": self.deleted[:10],
        }


REFUSALS = ("AccessDenied", "InvalidRequest", "ObjectLocked")


def purge_versions(
    c: Any,
    bucket: str,
    *,
    prefix: str = "",
    bypass_governance: bool = False,
    workers: int = 16,
) -> DeletionAttempts:
    """Try to delete every object version under *prefix* for good, one DeleteObject with
    its VersionId each (with the governance bypass when *bypass_governance*). Under
    object lock each must be refused: the result counts refusals and successes."""
    out = DeletionAttempts(bucket, bypass_governance)
    targets = [
        (v.key, v.version_id)
        for vs in list_versions(c, bucket, prefix).values()
        for v in vs
        if not v.delete_marker
    ]

    def attempt(item: tuple[str, str]) -> str:
        key, vid = item
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "VersionId": vid}
        if bypass_governance:
            kwargs["BypassGovernanceRetention"] = True
        c.delete_object(**kwargs)
        return "deleted"

    for (key, vid), res in zip(targets, pool_map(attempt, targets, workers), strict=True):
        out.attempted += 1
        if isinstance(res, BaseException):
            code = error_code(res)
            out.codes[code] += 1
            if code in REFUSALS:
                out.refused += 1
            else:
                out.other_errors += 1
        else:
            out.succeeded += 1
            out.codes["deleted"] += 1
            out.deleted.append(f"{key}@{vid}")
    return out


# -- damage to one object: a backup in S3 ------------------------------------------------------


@dataclass
class ObjectDamage:
    """What :func:`truncate_object` / :func:`delete_object` did to one object."""

    bucket: str
    key: str
    size_before: int
    size_after: int | None  # None: deleted
    versions_deleted: int = 0


def truncate_object(s3_client: Any, bucket: str, key: str, keep_bytes: int) -> ObjectDamage:
    """Replace an S3 object by its first *keep_bytes* bytes (an upload cut short): a
    truncated dump or snapshot, which a restore must refuse by its checksum.

    On a versioned bucket the good version stays reachable by its version id, as it
    would in a real incident.
    """
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    kept = body[: max(0, keep_bytes)]
    s3_client.put_object(Bucket=bucket, Key=key, Body=kept)
    return ObjectDamage(bucket, key, len(body), len(kept))


def delete_object(
    s3_client: Any, bucket: str, key: str, *, all_versions: bool = False
) -> ObjectDamage:
    """Delete an S3 object (e.g. a WAL segment of the archive).

    On a versioned bucket a plain delete only adds a delete marker; *all_versions* removes
    every version too (what a lifecycle rule or a purge does).
    """
    head = s3_client.head_object(Bucket=bucket, Key=key)
    size = int(head.get("ContentLength", 0))
    deleted = 0
    if all_versions:
        paginator = s3_client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                if v["Key"] == key:
                    s3_client.delete_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])
                    deleted += 1
    else:
        s3_client.delete_object(Bucket=bucket, Key=key)
        deleted = 1
    return ObjectDamage(bucket, key, size, None, deleted)
