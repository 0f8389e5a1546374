"""S3's backups are its protections, set up as the runbooks do (runbooks/object-storage.md):

- Versioning ("S3 media assets | RPO 0 | RTO 10 minutes | S3 versioning + cross-region
  replication"): an overwrite or a delete keeps the previous version.
- Object lock ("regular backups, offline/immutable"): a bucket created with
  ``ObjectLockEnabledForBucket`` and a default retention (GOVERNANCE or COMPLIANCE, N
  days); a version cannot be deleted before its retention ends. Whether an endpoint
  really enforces it is probed (:func:`object_lock_support`), never assumed; a drill that
  needs it on a backend without it is NOT RUN (BACKEND_UNSUPPORTED).
- Cross-region replication: the replication configuration is put on the primary bucket
  exactly as the runbook's ``aws s3api put-bucket-replication`` does
  (:func:`configure_replication`). moto accepts it and copies nothing; SeaweedFS does
  not implement it (the rule then lives in drillbook alone); the copying is done by
  drillbook's own
  :class:`~drillbook.scenarios.s3.replicator.Replicator`.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from drillbook.capture import Capture, CapturePoint
from drillbook.drill import StepContext
from drillbook.errors import DrillNotRun
from drillbook.scenarios.common import source_of
from drillbook.scenarios.s3.client import client, error_code, recorded

__all__ = [
    "LockMode",
    "LockSupport",
    "ObjectLock",
    "ReplicationRule",
    "bucket_exists",
    "configure_replication",
    "create_bucket",
    "object_lock_support",
    "protection_state",
    "replication_in_force",
    "require_object_lock",
    "versioning_capture",
]

LockMode = Literal["GOVERNANCE", "COMPLIANCE"]


@dataclass(frozen=True)
class ObjectLock:
    """A bucket's default retention: every new version is locked for *days*."""

    mode: LockMode = "GOVERNANCE"
    days: int = 1

    def configuration(self) -> dict[str, Any]:
        return {
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": self.mode, "Days": self.days}},
        }


@dataclass(frozen=True)
class LockSupport:
    """Whether an endpoint enforces object lock, and the evidence."""

    supported: bool
    detail: str


_LOCK_SUPPORT: dict[str, LockSupport] = {}


def object_lock_support(handle: Any) -> LockSupport:
    """Does *handle*'s endpoint create object-lock buckets AND refuse a locked delete?

    A scratch bucket with a 1-day GOVERNANCE retention gets one object; deleting that
    version without the governance bypass must be refused. The scratch bucket is then
    removed with the bypass. The answer is cached per endpoint.
    """
    cached = _LOCK_SUPPORT.get(handle.endpoint)
    if cached is not None:
        return cached
    c = client(handle, timeout=10, pool=2)
    bucket = f"drillbook-lock-probe-{secrets.token_hex(4)}"
    try:
        c.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    except ClientError as exc:
        result = LockSupport(
            False, f"CreateBucket with ObjectLockEnabledForBucket refused: {error_code(exc)}"
        )
        _LOCK_SUPPORT[handle.endpoint] = result
        return result
    try:
        c.put_object_lock_configuration(
            Bucket=bucket, ObjectLockConfiguration=ObjectLock("GOVERNANCE", 1).configuration()
        )
        put = c.put_object(Bucket=bucket, Key="probe", Body=b"lock probe")
        try:
            c.delete_object(Bucket=bucket, Key="probe", VersionId=put["VersionId"])
        except ClientError as exc:
            result = LockSupport(True, f"a locked version's delete was refused ({error_code(exc)})")
        else:
            result = LockSupport(
                False,
                "object lock accepted but not enforced: a locked "
                "version was deleted without the governance bypass",
            )
    except ClientError as exc:
        result = LockSupport(False, f"object lock configuration refused: {error_code(exc)}")
    finally:
        _drop_bucket(c, bucket)
    _LOCK_SUPPORT[handle.endpoint] = result
    return result


def require_object_lock(handle: Any) -> LockSupport:
    """Raise ``DrillNotRun`` (BACKEND_UNSUPPORTED) unless *handle*'s endpoint enforces
    object lock (:func:`object_lock_support`): a drill that needs it never passes on an
    endpoint that only pretends."""
    support = object_lock_support(handle)
    if not support.supported:
        raise DrillNotRun(
            f"s3 at {handle.endpoint} ({getattr(handle, 'implementation', 's3')}, "
            f"{getattr(handle, 'backend', '?')} backend) has no usable object lock: "
            f"{support.detail}. Use a backend that enforces it (moto server, MinIO started "
            "with object lock, AWS S3)",
            code="BACKEND_UNSUPPORTED",
        )
    return support


def _drop_bucket(c: Any, bucket: str) -> None:
    try:
        versions = c.list_object_versions(Bucket=bucket)
        items = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])
        ]
        if items:
            c.delete_objects(
                Bucket=bucket,
                Delete={"Objects": items, "Quiet": True},
                BypassGovernanceRetention=True,
            )
        c.delete_bucket(Bucket=bucket)
    except ClientError:
        pass  # the fixture's reset removes what is left (with the same bypass)


# PutBucketReplication refused because the server has no bucket replication (SeaweedFS
# answers as CreateBucket would); any other refusal is a real error.
REPLICATION_NOT_IMPLEMENTED = ("BucketAlreadyOwnedByYou", "NotImplemented", "MethodNotAllowed")


def bucket_exists(c: Any, bucket: str) -> bool:
    """HeadBucket: False for a bucket that does not exist, other errors raised."""
    try:
        c.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise
    return True


def create_bucket(
    step: StepContext | None,
    c: Any,
    bucket: str,
    *,
    versioning: bool = True,
    lock: ObjectLock | None = None,
) -> dict[str, Any]:
    """Create *bucket* (if missing) with *versioning* and an optional default retention
    (*lock*), through the boto3 client *c*.

    Object lock can only be chosen at creation (and implies versioning). Each API call
    is recorded in *step* (None outside a drill), with the protection read back from the
    endpoint as a note; returns that protection.
    """
    if not bucket_exists(c, bucket):
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if lock is not None:
            kwargs["ObjectLockEnabledForBucket"] = True
        recorded(
            step,
            f"CreateBucket {bucket}" + (" ObjectLockEnabledForBucket=true" if lock else ""),
            c.create_bucket,
            **kwargs,
        )
    if versioning or lock is not None:
        recorded(
            step,
            f"PutBucketVersioning {bucket} Status=Enabled",
            c.put_bucket_versioning,
            Bucket=bucket,
            VersioningConfiguration={"Status": "Enabled"},
        )
    if lock is not None:
        recorded(
            step,
            f"PutObjectLockConfiguration {bucket} {lock.mode} {lock.days}d",
            c.put_object_lock_configuration,
            Bucket=bucket,
            ObjectLockConfiguration=lock.configuration(),
        )
    state = protection_state(c, bucket)
    if step is not None:
        step.note(f"protection {bucket}", state)
        if state.get("versioning") == "Enabled":
            step.drill.protect(versioning_capture(c, bucket))
    return state


def versioning_capture(c: Any, bucket: str) -> Capture:
    """A versioned bucket as a protection: every acknowledged PUT is kept as a version,
    so every write acknowledged before t0 must be back after a recovery from the
    versions (unless the fault took the versions too: ``capture.destroyed``)."""
    source = source_of(c, bucket)
    name = f"versioning of s3://{bucket}"
    point = CapturePoint(
        "s3_versioning", name, source, "every write acknowledged before t0 (each a version)"
    )
    return Capture("s3_versioning", name, source, lambda: point, kinds=("s3_versioning",))


def protection_state(c: Any, bucket: str) -> dict[str, Any]:
    """Versioning, object lock and replication of *bucket*, as the endpoint reports them
    (for a drill's checks of a rebuilt bucket); records nothing."""
    state: dict[str, Any] = {
        "versioning": c.get_bucket_versioning(Bucket=bucket).get("Status", "Disabled")
    }
    try:
        lock = c.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        state["object_lock"] = lock
    except ClientError:
        state["object_lock"] = None
    try:
        state["replication"] = c.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
    except ClientError:
        state["replication"] = None
    return state


@dataclass(frozen=True)
class ReplicationRule:
    """One cross-region replication rule, shaped like the runbook's replication-config.json
    (runbooks/object-storage.md)."""

    destination_bucket: str
    prefix: str = ""
    delete_markers: bool = True
    rtc_minutes: int = 15  # S3 Replication Time Control: 99.99 % within 15 minutes
    rule_id: str = "drillbook-crr"
    role_arn: str = "arn:aws:iam::123456789012:role/s3-replication-role"

    @property
    def destination_arn(self) -> str:
        return f"arn:aws:s3:::{self.destination_bucket}"

    def configuration(self) -> dict[str, Any]:
        return {
            "Role": self.role_arn,
            "Rules": [
                {
                    "ID": self.rule_id,
                    "Status": "Enabled",
                    "Priority": 1,
                    "Filter": {"Prefix": self.prefix},
                    "DeleteMarkerReplication": {
                        "Status": "Enabled" if self.delete_markers else "Disabled"
                    },
                    "Destination": {
                        "Bucket": self.destination_arn,
                        "ReplicationTime": {
                            "Status": "Enabled",
                            "Time": {"Minutes": self.rtc_minutes},
                        },
                        "Metrics": {
                            "Status": "Enabled",
                            "EventThreshold": {"Minutes": self.rtc_minutes},
                        },
                    },
                }
            ],
        }


def configure_replication(
    step: StepContext | None, c: Any, bucket: str, rule: ReplicationRule
) -> dict[str, Any]:
    """``aws s3api put-bucket-replication`` of *rule* on *bucket*, then read it back.

    The call is recorded in *step* (None outside a drill), with what was asked and what
    the endpoint kept as the note ``replication configuration``.

    What the endpoint kept is recorded next to what was asked: moto, for one, drops the
    rule's Filter prefix and DeleteMarkerReplication. drillbook's replicator follows the
    rule as asked (:class:`ReplicationRule`), never the endpoint's echo.

    SeaweedFS does not implement bucket replication: it routes PutBucketReplication as
    CreateBucket (BucketAlreadyOwnedByYou on an existing bucket; it CREATES a missing
    one, so *bucket* must exist). Such a refusal is no error: ``kept`` is None,
    ``endpoint_stores`` False and ``mechanism`` says that the rule lives in drillbook's
    replicator alone. A drill checks :func:`replication_in_force` on the result.
    """
    try:
        recorded(
            step,
            f"PutBucketReplication {bucket} -> {rule.destination_arn} "
            f"(prefix {rule.prefix!r}, RTC {rule.rtc_minutes} min)",
            c.put_bucket_replication,
            Bucket=bucket,
            ReplicationConfiguration=rule.configuration(),
        )
    except ClientError as exc:
        if error_code(exc) not in REPLICATION_NOT_IMPLEMENTED:
            raise
        out = {
            "asked": asdict(rule),
            "kept": None,
            "endpoint_stores": False,
            "mechanism": f"the endpoint does not implement bucket replication "
            f"(PutBucketReplication answered {error_code(exc)}): the rule is kept and "
            "carried out by drillbook's replicator alone",
        }
    else:
        kept = c.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
        asked = rule.configuration()["Rules"][0]
        got = (kept.get("Rules") or [{}])[0]
        differences = {
            k: {"asked": asked.get(k), "kept": got.get(k)}
            for k in ("Filter", "DeleteMarkerReplication", "Destination", "Status")
            if asked.get(k) != got.get(k)
        }
        out = {
            "asked": asdict(rule),
            "kept": kept,
            "differences": differences,
            "endpoint_stores": True,
            "mechanism": "the endpoint keeps the replication configuration and copies "
            "nothing: drillbook's replicator copies",
        }
    if step is not None:
        step.note("replication configuration", out)
    return out


def replication_in_force(configured: dict[str, Any], c: Any, bucket: str) -> tuple[bool, str]:
    """Is the rule of :func:`configure_replication`'s result *configured* in force on
    *bucket*: the endpoint lists it, or (an endpoint without bucket replication) the rule
    is drillbook's own. ``(ok, what was found)`` for a drill's check."""
    if not configured.get("endpoint_stores", True):
        return True, str(configured["mechanism"])
    state = protection_state(c, bucket)["replication"]
    return bool(state), "present on the endpoint" if state else "missing on the endpoint"
