"""Previous versions brought back: after a deletion (:func:`undelete`) and after
ransomware (:func:`restore_clean_versions`), both by the version history S3 kept.

S3's LastModified has one-second resolution, so a version is "before t0" when its
second ends before t0, or when its checksum equals the manifest's
(:func:`choose_clean_version`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Literal

from drillbook.drill import StepContext
from drillbook.scenarios.s3.client import recorded
from drillbook.scenarios.s3.manifest import (
    Manifest,
    ManifestEntry,
    Version,
    list_versions,
    t0_cut,
)
from drillbook.scenarios.s3.recovery.result import (
    RestoreResult,
    copy_versions,
    finish,
    hide_keys,
    timed,
)

UndeleteMethod = Literal["remove_markers", "copy_back"]
DELETED_BEFORE_T0 = "deleted before t0: left deleted"


def _listed(step: StepContext | None, c: Any, bucket: str, prefix: str) -> dict[str, list[Version]]:
    versions: dict[str, list[Version]] = recorded(
        step, f"ListObjectVersions s3://{bucket}/{prefix}", list_versions, c, bucket, prefix
    )
    return versions


def _undelete_key(
    vs: Sequence[Version], cut: float, entry: ManifestEntry | None, result: RestoreResult
) -> tuple[list[Version], Version | None]:
    """For one key hidden by a delete marker: (the fault's markers on top, the version
    to bring back); ([], None) when the key stays as it is."""
    top = vs[0]
    if not top.delete_marker:
        result.unchanged += 1
        return [], None
    fault_markers: list[Version] = []
    for v in vs:
        if not (v.delete_marker and v.last_modified >= cut):
            break
        fault_markers.append(v)
    below = vs[len(fault_markers)] if len(fault_markers) < len(vs) else None
    if not fault_markers or (below is not None and below.delete_marker):
        result.unchanged += 1
        result.reasons[DELETED_BEFORE_T0] += 1
        return [], None
    objects = [v for v in vs if not v.delete_marker]
    if not objects:
        result.unrecoverable.append(top.key)
        return [], None
    good = _newest_good(objects, entry)
    if good is None:
        # Updated after the manifest was taken: the newest version is the one to bring
        # back; validation against the manifest will say it differs.
        good = objects[0]
        result.reasons["no version matches the manifest: newest restored"] += 1
    return (fault_markers if below is good else []), good


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

    *step*: the drill step every S3 call is recorded in (None outside a drill); *c*: a
    boto3 client; *t0_wall*: t0 on the wall clock (``manifest.wall_t0(drill)``). A marker
    is the fault's when its LastModified second is t0's or later (*skew* widens that for
    an endpoint whose clock differs); older markers were deletions someone meant: they
    stay. *method* ``remove_markers`` deletes the fault's markers (by VersionId);
    ``copy_back`` copies the good version on top, leaving the markers in the history.
    The version brought back is the newest one, or with a *manifest* the newest whose
    checksum is the manifest's. Records the bytes restored and the note ``restore``.
    """
    result = RestoreResult(f"undelete ({method})", bucket, prefix)
    versions = timed(result, "plan", lambda: _listed(step, c, bucket, prefix))
    cut = t0_cut(t0_wall, skew)
    markers: list[tuple[Version, Version]] = []  # (marker, version it uncovers)
    copies: list[Version] = []
    for key, vs in sorted(versions.items()):
        result.keys_examined += 1
        entry = manifest.get(key) if manifest is not None else None
        on_top, good = _undelete_key(vs, cut, entry, result)
        if good is None:
            continue
        if method == "remove_markers" and on_top:
            markers += [(m, good) for m in on_top]
            result.reasons["delete marker removed"] += 1
        else:
            copies.append(good)
            result.reasons["good version copied on top"] += 1

    def apply() -> None:
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
        copy_versions(step, c, bucket, prefix, copies, workers, result, "the chosen VersionId")

    timed(result, "apply", apply)
    return finish(step, result)


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


def _plan_clean(
    versions: dict[str, list[Version]],
    manifest: Manifest,
    result: RestoreResult,
    *,
    t0_wall: float,
    only_keys: Collection[str] | None,
    skew: float,
    remove_unknown: bool,
) -> tuple[list[Version], list[str]]:
    """(versions to copy back, keys to hide) for a ransomware restore."""
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
        elif not top.delete_marker and top.version_id == chosen.version_id:
            result.unchanged += 1
        else:
            copies.append(chosen)
            result.reasons[why] += 1
    return copies, remove


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

    *step*: the drill step every S3 call is recorded in; *c*: a boto3 client; *t0_wall*:
    t0 on the wall clock; *manifest*: the known-good checksums (see
    :func:`choose_clean_version`). Keys whose every version is from t0 on (the ransom
    note, objects the attacker created) get a delete marker when *remove_unknown*;
    their versions stay for forensics. *only_keys* limits the restore (a partial
    restore, e.g. a must-fail test). Manifest keys with no version at all are
    unrecoverable. Records the bytes restored and the note ``restore``.
    """
    result = RestoreResult("restore newest pre-t0 versions", bucket, prefix)
    versions = timed(result, "plan", lambda: _listed(step, c, bucket, prefix))
    copies, remove = _plan_clean(
        versions,
        manifest,
        result,
        t0_wall=t0_wall,
        only_keys=only_keys,
        skew=skew,
        remove_unknown=remove_unknown,
    )
    result.unrecoverable += [
        e.key
        for e in manifest
        if e.key.startswith(prefix)
        and e.key not in versions
        and (only_keys is None or e.key in only_keys)
    ]

    def apply() -> None:
        copy_versions(
            step, c, bucket, prefix, copies, workers, result, "the newest pre-t0 VersionId"
        )
        hide_keys(step, c, bucket, remove, workers, result)

    timed(result, "apply", apply)
    return finish(step, result)
