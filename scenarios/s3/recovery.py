"""Recovery procedures for S3: previous versions, the replica, clean versions after ransomware.

- :func:`undelete` — objects deleted under a prefix come back from their versions: the
  delete markers the fault created are removed (``remove_markers``), or the newest good
  version is copied on top (``copy_back``, leaving the markers in the history). Markers
  older than t0 were deletions someone meant: they stay.
- :func:`restore_from_replica` — a lost bucket (or region) is rebuilt from the replica
  endpoint: bucket recreated with its protection, every object copied back and its MD5
  checked against the replica's ETag.
- :func:`restore_clean_versions` — after ransomware, for each key the newest version
  that predates t0 becomes current again by a server-side copy; a key with no such
  version (the ransom note) is hidden under a delete marker, its versions kept as
  evidence. S3's LastModified has one-second resolution, so a version is "before t0" when
  its second ends before t0, or when its checksum equals the manifest's (see
  :func:`choose_clean_version`).

Each returns a :class:`RestoreResult` (objects, bytes, objects/s, what was skipped and
why); a drill passes the step so every S3 call is recorded.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from drillbook.drill import StepContext
from drillbook.scenarios.s3.checks import (
    Manifest,
    ManifestEntry,
    Version,
    error_code,
    is_multipart_etag,
    list_current,
    list_versions,
    md5_hex,
    norm_etag,
    pool_map,
    recorded,
    t0_cut,
)
from drillbook.scenarios.s3.protection import ObjectLock, create_bucket

UndeleteMethod = Literal["remove_markers", "copy_back"]


@dataclass
class RestoreResult:
    procedure: str
    bucket: str
    prefix: str
    keys_examined: int = 0
    restored: int = 0  # keys whose good content is current again
    unchanged: int = 0  # already good (or deleted before t0 on purpose)
    bytes: int = 0  # size of the restored objects
    removed: list[str] = field(default_factory=list)  # attacker-created keys hidden
    unrecoverable: list[str] = field(default_factory=list)  # no good version anywhere
    ambiguous: int = 0  # versions in t0's second not matching the manifest: skipped
    errors: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    plan_seconds: float = 0.0
    apply_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.plan_seconds + self.apply_seconds

    @property
    def objects_per_s(self) -> float | None:
        return self.restored / self.seconds if self.seconds > 0 else None

    @property
    def apply_objects_per_s(self) -> float | None:
        return self.restored / self.apply_seconds if self.apply_seconds > 0 else None

    def summary(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "procedure": self.procedure,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "keys_examined": self.keys_examined,
            "restored": self.restored,
            "unchanged": self.unchanged,
            "bytes": self.bytes,
            "removed": self.removed[:20],
            "unrecoverable": self.unrecoverable[:20],
            "ambiguous_versions_skipped": self.ambiguous,
            "errors": self.errors[:20],
            "reasons": dict(self.reasons),
            "plan_s": r(self.plan_seconds),
            "apply_s": r(self.apply_seconds),
            "objects_per_s": r(self.objects_per_s),
            "apply_objects_per_s": r(self.apply_objects_per_s),
        }


def _finish(step: StepContext | None, result: RestoreResult) -> RestoreResult:
    if step is not None:
        step.processed(result.bytes)
        step.note("restore", result.summary())
    return result


def _copy_version(c: Any, bucket: str, version: Version) -> str:
    """Server-side copy of *version* on top of its key; checks the new ETag."""
    resp = c.copy_object(
        Bucket=bucket,
        Key=version.key,
        CopySource={"Bucket": bucket, "Key": version.key, "VersionId": version.version_id},
    )
    got = norm_etag(resp.get("CopyObjectResult", {}).get("ETag"))
    if version.etag and not is_multipart_etag(version.etag) and got != version.etag:
        raise RuntimeError(
            f"copy of {version.key}@{version.version_id}: ETag {got} != {version.etag}"
        )
    return str(resp.get("VersionId", ""))


def _apply_copies(
    c: Any, bucket: str, plan: Sequence[Version], workers: int, result: RestoreResult
) -> None:
    for version, res in zip(
        plan, pool_map(lambda v: _copy_version(c, bucket, v), plan, workers), strict=True
    ):
        if isinstance(res, BaseException):
            result.errors.append(f"{version.key}: {error_code(res)}: {res}"[:300])
        else:
            result.restored += 1
            result.bytes += version.size


# -- undelete ------------------------------------------------------------------------------------


def undelete(
    step: StepContext | None,
    c: Any,
    bucket: str,
    *,
    prefix: str,
    t0_wall: float,
    method: UndeleteMethod = "remove_markers",
    manifest: Manifest | None = None,
    workers: int = 16,
    skew: float = 0.0,
) -> RestoreResult:
    """Bring back every object under *prefix* that a delete marker from t0 on hides.

    A marker is the fault's when its LastModified second is t0's or later (*skew* widens
    that for an endpoint whose clock differs). The version brought back is the newest
    one, or with a *manifest* the newest whose checksum is the manifest's.
    """
    result = RestoreResult(f"undelete ({method})", bucket, prefix)
    t_start = time.monotonic()
    versions = recorded(
        step, f"ListObjectVersions s3://{bucket}/{prefix}", list_versions, c, bucket, prefix
    )
    cut = t0_cut(t0_wall, skew)
    markers: list[tuple[Version, Version]] = []  # (marker, version it uncovers)
    copies: list[Version] = []
    for key, vs in sorted(versions.items()):
        result.keys_examined += 1
        top = vs[0]
        if not top.delete_marker:
            result.unchanged += 1
            continue
        if top.last_modified < cut:
            result.unchanged += 1
            result.reasons["deleted before t0: left deleted"] += 1
            continue
        fault_markers: list[Version] = []
        for v in vs:
            if not (v.delete_marker and v.last_modified >= cut):
                break
            fault_markers.append(v)
        below = vs[len(fault_markers)] if len(fault_markers) < len(vs) else None
        if below is not None and below.delete_marker:
            result.unchanged += 1
            result.reasons["deleted before t0: left deleted"] += 1
            continue
        objects = [v for v in vs if not v.delete_marker]
        if not objects:
            result.unrecoverable.append(key)
            continue
        entry = manifest.get(key) if manifest is not None else None
        good = _newest_good(objects, entry)
        if good is None:
            # Updated after the manifest was taken: the newest version is the one to bring
            # back; validation against the manifest will say it differs.
            good = objects[0]
            result.reasons["no version matches the manifest: newest restored"] += 1
        if method == "remove_markers" and below is good:
            markers += [(m, good) for m in fault_markers]
            result.reasons["delete marker removed"] += 1
        else:
            copies.append(good)
            result.reasons["good version copied on top"] += 1
    result.plan_seconds = time.monotonic() - t_start

    t_apply = time.monotonic()
    if markers:
        recorded(
            step,
            f"DeleteObjects ×{len(markers)} delete markers (VersionId) s3://{bucket}/{prefix}",
            _remove_markers,
            c,
            bucket,
            markers,
            result,
        )
    if copies:
        recorded(
            step,
            f"CopyObject ×{len(copies)} s3://{bucket}/{prefix}* from the chosen "
            f"VersionId ({workers} workers)",
            _apply_copies,
            c,
            bucket,
            copies,
            workers,
            result,
        )
    result.apply_seconds = time.monotonic() - t_apply
    return _finish(step, result)


def _newest_good(objects: Sequence[Version], entry: ManifestEntry | None) -> Version | None:
    """The newest version, or with a manifest entry the newest with its checksum."""
    if not objects:
        return None
    if entry is None:
        return objects[0]
    for v in objects:
        if v.etag == entry.etag:
            return v
    return None


def _remove_markers(
    c: Any, bucket: str, markers: Sequence[tuple[Version, Version]], result: RestoreResult
) -> int:
    uncovered: dict[str, Version] = {}
    items = []
    for marker, good in markers:
        items.append({"Key": marker.key, "VersionId": marker.version_id})
        uncovered[marker.key] = good
    done: set[str] = set()
    failed: set[str] = set()
    for i in range(0, len(items), 1000):
        resp = c.delete_objects(
            Bucket=bucket, Delete={"Objects": items[i : i + 1000], "Quiet": False}
        )
        for e in resp.get("Errors", []):
            failed.add(str(e.get("Key")))
            result.errors.append(f"{e.get('Key')}: {e.get('Code')}")
        done |= {d["Key"] for d in resp.get("Deleted", [])}
    for key in done - failed:
        result.restored += 1
        result.bytes += uncovered[key].size
    return len(done)


# -- ransomware: newest clean version --------------------------------------------------------


def choose_clean_version(
    versions: Sequence[Version],
    *,
    t0_wall: float,
    entry: ManifestEntry | None,
    skew: float = 0.0,
) -> tuple[Version | None, str, int]:
    """The newest version of one key that predates t0: (version, why, ambiguous skipped).

    Newest first, the first object version that either
    - has a LastModified second ending before t0 (S3 truncates to the second): written
      before the attack, whatever its content; or
    - has the manifest's checksum (ETag = MD5 of the content): known-good bytes.
    A version written in t0's own second that does not match the manifest cannot be told
    from the attacker's: it is skipped and counted as ambiguous.
    """
    cut = t0_cut(t0_wall, skew)
    ambiguous = 0
    for v in versions:
        if v.delete_marker:
            continue
        if entry is not None and v.etag and v.etag == entry.etag:
            return v, "checksum matches the manifest", ambiguous
        if v.last_modified < cut:
            why = "newest version before t0"
            if entry is not None:
                why += " (no version matches the manifest)"
            return v, why, ambiguous
        if v.last_modified < cut + 1 + 2 * skew:
            ambiguous += 1
    return None, "no version before t0", ambiguous


def restore_clean_versions(
    step: StepContext | None,
    c: Any,
    bucket: str,
    *,
    t0_wall: float,
    manifest: Manifest,
    prefix: str = "",
    only_keys: Collection[str] | None = None,
    workers: int = 16,
    skew: float = 0.0,
    remove_unknown: bool = True,
) -> RestoreResult:
    """Make the newest pre-t0 version of every key under *prefix* current again.

    Keys whose every version is from t0 on (the ransom note, objects the attacker
    created) get a delete marker when *remove_unknown*; their versions stay for forensics.
    *only_keys* limits the restore (a partial restore, e.g. a must-fail test).
    """
    result = RestoreResult("restore newest pre-t0 versions", bucket, prefix)
    t_start = time.monotonic()
    versions = recorded(
        step, f"ListObjectVersions s3://{bucket}/{prefix}", list_versions, c, bucket, prefix
    )
    copies: list[Version] = []
    remove: list[str] = []
    for key, vs in sorted(versions.items()):
        if only_keys is not None and key not in only_keys:
            continue
        result.keys_examined += 1
        chosen, why, ambiguous = choose_clean_version(
            vs, t0_wall=t0_wall, entry=manifest.get(key), skew=skew
        )
        result.ambiguous += ambiguous
        top = vs[0]
        if chosen is None:
            if top.delete_marker:
                result.unchanged += 1
            elif remove_unknown:
                remove.append(key)
            else:
                result.unrecoverable.append(key)
            continue
        if not top.delete_marker and top.version_id == chosen.version_id:
            result.unchanged += 1
            continue
        copies.append(chosen)
        result.reasons[why] += 1
    listed = set(versions)
    result.unrecoverable += [
        e.key
        for e in manifest
        if e.key.startswith(prefix)
        and e.key not in listed
        and (only_keys is None or e.key in only_keys)
    ]
    result.plan_seconds = time.monotonic() - t_start

    t_apply = time.monotonic()
    if copies:
        recorded(
            step,
            f"CopyObject ×{len(copies)} s3://{bucket}/{prefix}* from the newest "
            f"pre-t0 VersionId ({workers} workers)",
            _apply_copies,
            c,
            bucket,
            copies,
            workers,
            result,
        )
    if remove:
        recorded(
            step,
            f"DeleteObject ×{len(remove)} (delete marker; versions kept as "
            f"evidence) s3://{bucket}/: {', '.join(remove[:5])}",
            _hide,
            c,
            bucket,
            remove,
            workers,
            result,
        )
    result.apply_seconds = time.monotonic() - t_apply
    return _finish(step, result)


def _hide(c: Any, bucket: str, keys: Sequence[str], workers: int, result: RestoreResult) -> None:
    for key, res in zip(
        keys, pool_map(lambda k: c.delete_object(Bucket=bucket, Key=k), keys, workers), strict=True
    ):
        if isinstance(res, BaseException):
            result.errors.append(f"{key}: {error_code(res)}")
        else:
            result.removed.append(key)
            result.reasons["attacker-created: hidden under a delete marker"] += 1


# -- replica -----------------------------------------------------------------------------------


def restore_from_replica(
    step: StepContext | None,
    replica: Any,
    replica_bucket: str,
    primary: Any,
    bucket: str,
    *,
    prefix: str = "",
    versioning: bool = True,
    lock: ObjectLock | None = None,
    workers: int = 16,
) -> RestoreResult:
    """Rebuild *bucket* on the primary endpoint from the replica endpoint's bucket.

    The bucket is recreated with its protection first (a restored bucket without
    versioning would be unprotected against the next deletion), then every current
    replica object is read and written back with its content type and metadata; each
    copy's MD5 must equal the replica's ETag.
    """
    result = RestoreResult("restore from the replica endpoint", bucket, prefix)
    t_start = time.monotonic()
    create_bucket(step, primary, bucket, versioning=versioning, lock=lock)
    objects = recorded(
        step,
        f"ListObjectsV2 replica s3://{replica_bucket}/{prefix}",
        list_current,
        replica,
        replica_bucket,
        prefix,
    )
    result.keys_examined = len(objects)
    result.plan_seconds = time.monotonic() - t_start

    def copy(key: str) -> int:
        resp = replica.get_object(Bucket=replica_bucket, Key=key)
        data = resp["Body"].read()
        want = norm_etag(resp.get("ETag"))
        if not is_multipart_etag(want) and md5_hex(data) != want:
            raise RuntimeError(f"replica object {key}: MD5 {md5_hex(data)} != ETag {want}")
        kwargs: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "Body": data,
            "Metadata": resp.get("Metadata", {}),
        }
        if resp.get("ContentType"):
            kwargs["ContentType"] = resp["ContentType"]
        put = primary.put_object(**kwargs)
        if norm_etag(put.get("ETag")) != md5_hex(data):
            raise RuntimeError(f"{key}: written ETag {put.get('ETag')} != MD5 of the data")
        return len(data)

    keys = sorted(objects)
    t_apply = time.monotonic()

    def apply() -> int:
        for key, res in zip(keys, pool_map(copy, keys, workers), strict=True):
            if isinstance(res, BaseException):
                result.errors.append(f"{key}: {error_code(res)}: {res}"[:300])
            else:
                result.restored += 1
                result.bytes += res
        return result.restored

    recorded(
        step,
        f"GetObject replica + PutObject primary ×{len(keys)} "
        f"s3://{replica_bucket}/{prefix}* -> s3://{bucket}/ ({workers} workers)",
        apply,
    )
    result.reasons["copied from the replica"] = result.restored
    result.apply_seconds = time.monotonic() - t_apply
    return _finish(step, result)
