"""Probes of an S3 bucket: for the detection phase (:func:`bucket_probe`,
:func:`presence_probe`, :func:`integrity_probe`: each fails once the fault shows) and
the three questions of the decision tree (:func:`probes`, for ``drill.triage``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from drillbook.scenarios.s3.checks import verify_objects
from drillbook.scenarios.s3.client import error_code, sha256_hex
from drillbook.scenarios.s3.ledger import LEDGER_PREFIXES
from drillbook.scenarios.s3.manifest import Manifest, count_by_prefix, list_current, short
from drillbook.triage import TriageProbes

__all__ = ["bucket_probe", "integrity_probe", "presence_probe", "probes", "sample_keys"]

EVIDENCE_LIMIT = 600


def _some(keys: Sequence[str], what: str) -> list[str]:
    """A probe over no key would never fail (detection missed) nor prove anything when it
    passes (a recovery "healthy" on nothing): refuse it."""
    if not keys:
        raise ValueError(f"{what} needs at least one key: the manifest sample is empty")
    return list(keys)


def bucket_probe(client: Any, bucket: str) -> Callable[[], None]:
    """A probe for ``drill.detect`` / ``wait_healthy``: HeadBucket + a one-key listing,
    failing when the endpoint or the bucket is gone."""

    def probe() -> None:
        client.head_bucket(Bucket=bucket)
        client.list_objects_v2(Bucket=bucket, MaxKeys=1)

    return probe


def sample_keys(manifest: Manifest, n: int = 8, *, prefix: str = "", seed: int = 0) -> list[str]:
    """*n* keys of *manifest* under *prefix*, a reproducible sample (*seed*) to probe."""
    keys = [k for k in manifest.all_keys() if k.startswith(prefix)]
    if len(keys) <= n:
        return keys
    return sorted(random.Random(seed).sample(keys, n))


def presence_probe(client: Any, bucket: str, keys: Sequence[str]) -> Callable[[], None]:
    """HEAD each of *keys*: a delete marker or a missing key fails the probe."""
    keys = _some(keys, "presence_probe")

    def probe() -> None:
        missing = []
        for key in keys:
            try:
                client.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) in ("404", "NoSuchKey"):
                    missing.append(key)
                else:
                    raise
        if missing:
            raise RuntimeError(
                f"{len(missing)}/{len(keys)} sampled objects missing: {short(missing)}"
            )

    return probe


def integrity_probe(
    client: Any,
    bucket: str,
    manifest: Manifest,
    keys: Sequence[str],
    *,
    note_key: str | None = None,
) -> Callable[[], None]:
    """GET each of *keys* and compare its sha256 with the manifest; with *note_key*, that
    key existing (a ransom note) fails the probe too."""
    keys = _some(keys, "integrity_probe")

    def probe() -> None:
        bad = []
        for key in keys:
            entry = manifest.get(key)
            data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            if entry is not None and sha256_hex(data) != entry.sha256:
                bad.append(key)
        if bad:
            raise RuntimeError(
                f"{len(bad)}/{len(keys)} sampled objects differ from the manifest: {short(bad)}"
            )
        if note_key is not None:
            try:
                client.head_object(Bucket=bucket, Key=note_key)
            except ClientError as exc:
                if error_code(exc) not in ("404", "NoSuchKey"):
                    raise
            else:
                raise RuntimeError(f"unexpected object s3://{bucket}/{note_key}")

    return probe


def probes(
    client: Any,
    bucket: str,
    manifest: Manifest,
    *,
    ignore: Sequence[str] = LEDGER_PREFIXES,
    workers: int = 16,
) -> TriageProbes:
    """The decision tree's questions for *bucket*, answered against *manifest*, for
    ``drill.triage(probes, expected=...)``, which records the answers (*ignore*: the
    ledger's prefixes; *workers*: parallel GETs of the corruption probe).

    reachable: HeadBucket succeeds (the endpoint answers and the bucket exists);
    corrupt: current objects whose sha256 differs from the manifest, or objects the
    manifest does not know (a ransom note);
    missing: manifest objects that are not current (deleted, or hidden by delete markers).
    """

    def reachable() -> bool:
        try:
            client.head_bucket(Bucket=bucket)
        except Exception:
            return False
        return True

    def corrupt() -> str | None:
        v = verify_objects(client, bucket, manifest, ignore=ignore, workers=workers)
        found = []
        if v.mismatched:
            found.append(
                f"{len(v.mismatched)} objects differ from the manifest ({short(v.mismatched, 3)})"
            )
        if v.extra:
            found.append(f"{len(v.extra)} objects not in the manifest ({short(v.extra, 3)})")
        text = "; ".join(found)
        return text[:EVIDENCE_LIMIT] if text else None

    def missing() -> str | None:
        current = list_current(client, bucket)
        gone = [k for k in manifest.all_keys() if k not in current]
        if not gone:
            return None
        return (
            f"{len(gone)} of {len(manifest)} manifest objects missing: "
            + ", ".join(f"{p} {n}" for p, n in count_by_prefix(gone).items())
        )[:EVIDENCE_LIMIT]

    return TriageProbes(reachable=reachable, corrupt=corrupt, missing=missing)
