"""What an S3 restore did (:class:`RestoreResult`), and the batched S3 calls the
procedures share: server-side copies of chosen versions, delete markers to hide keys."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from drillbook.drill import StepContext
from drillbook.scenarios.s3.client import (
    error_code,
    is_multipart_etag,
    norm_etag,
    pool_split,
    recorded,
)
from drillbook.scenarios.s3.manifest import Version

T = TypeVar("T")


@dataclass
class RestoreResult:
    """What an S3 restore did: objects examined, restored, skipped and why, how fast."""

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


def timed(result: RestoreResult, phase: str, fn: Callable[[], T]) -> T:
    """Run *fn*, adding its duration to the result's ``plan`` or ``apply`` seconds."""
    start = time.monotonic()
    try:
        return fn()
    finally:
        elapsed = time.monotonic() - start
        if phase == "plan":
            result.plan_seconds += elapsed
        else:
            result.apply_seconds += elapsed


def copy_versions(
    step: StepContext | None,
    c: Any,
    bucket: str,
    prefix: str,
    plan: Sequence[Version],
    workers: int,
    result: RestoreResult,
    source: str,
) -> None:
    """Server-side copy of each version of *plan* on top of its key (one recorded call,
    described as copying from *source*)."""
    if plan:
        recorded(
            step,
            f"CopyObject ×{len(plan)} s3://{bucket}/{prefix}* from {source} ({workers} workers)",
            _apply_copies,
            c,
            bucket,
            plan,
            workers,
            result,
        )


def hide_keys(
    step: StepContext | None,
    c: Any,
    bucket: str,
    keys: Sequence[str],
    workers: int,
    result: RestoreResult,
) -> None:
    """A delete marker on each of *keys* (their versions stay as evidence)."""
    if keys:
        recorded(
            step,
            f"DeleteObject ×{len(keys)} (delete marker; versions kept as evidence) "
            f"s3://{bucket}/: {', '.join(keys[:5])}",
            _hide,
            c,
            bucket,
            keys,
            workers,
            result,
        )


def finish(step: StepContext | None, result: RestoreResult) -> RestoreResult:
    """The bytes restored and the result's summary, on the step."""
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
    done, failed = pool_split(lambda v: _copy_version(c, bucket, v), plan, workers)
    result.errors += [f"{v.key}: {error_code(exc)}: {exc}"[:300] for v, exc in failed]
    result.restored += len(done)
    result.bytes += sum(v.size for v, _version_id in done)


def _hide(c: Any, bucket: str, keys: Sequence[str], workers: int, result: RestoreResult) -> None:
    done, failed = pool_split(lambda k: c.delete_object(Bucket=bucket, Key=k), keys, workers)
    result.errors += [f"{key}: {error_code(exc)}" for key, exc in failed]
    result.removed += [key for key, _resp in done]
    if done:
        result.reasons["attacker-created: hidden under a delete marker"] += len(done)
