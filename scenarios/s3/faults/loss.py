"""Losses: a prefix deleted, a bucket deleted with every version, a region lost, one
object (a backup) truncated or deleted."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from drillbook.capture import destroyed
from drillbook.fixtures.base import Capability
from drillbook.scenarios.common import source_of, summary_of, wipe_directory
from drillbook.scenarios.s3.client import error_code
from drillbook.scenarios.s3.manifest import list_current, list_versions


@dataclass
class PrefixDeleted:
    """What :func:`delete_prefix` deleted: the keys and the delete markers made."""

    bucket: str
    prefix: str
    keys: list[str] = field(default_factory=list)
    markers: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """For the record: the fields, lists cut to their first ten with their lengths."""
        return summary_of(self)


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
        """For the record: the fields, lists cut to their first ten with their lengths."""
        return summary_of(self)


def delete_bucket(c: Any, bucket: str, *, bypass_governance: bool = True) -> BucketLost:
    """Delete every version and delete marker of *bucket*, then the bucket itself
    (*bypass_governance*: as someone allowed to, past GOVERNANCE retention).

    Permanent version deletes are never replicated by S3 (only delete markers are), so
    the replica keeps its copies: this is the loss replication protects against.
    """
    out = BucketLost(bucket)
    destroyed(source_of(c, bucket), ["s3_versioning"], f"every version of s3://{bucket} deleted")
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
    destroyed(source_of(handle), ["s3_versioning"], f"the region's endpoint {handle.endpoint} lost")
    lost = RegionLost(handle.endpoint, pid, time.monotonic())
    if persistent:
        wipe_directory(handle.data_dir, names=False)
        lost.data_wiped = True
    return lost


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
