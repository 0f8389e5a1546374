"""Attacks: ransomware overwriting every object, and an attacker trying to delete every
version for good (which object lock must refuse)."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from drillbook.capture import destroyed
from drillbook.scenarios.common import source_of, summary_of
from drillbook.scenarios.s3.client import error_code, pool_map, pool_split, sha256_hex
from drillbook.scenarios.s3.manifest import list_current, list_versions

RANSOM_NOTE = "README-RESTORE-YOUR-FILES.txt"
RANSOM_TEXT = (
    "All your media files are encrypted. Pay 5 BTC to recover them. "
    "(drillbook drill: this note is part of a simulated ransomware attack)\n"
)


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
        """The attack for the record (the attacker's digests left out: the checks use them)."""
        return summary_of(self, attack_seconds=round(self.finished_wall - self.started_wall, 3))


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
        """For the record: the fields, lists cut to their first ten with their lengths."""
        return summary_of(self)


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
    if out.succeeded:
        destroyed(
            source_of(c, bucket), ["s3_versioning"], f"{out.succeeded} versions deleted for good"
        )
    return out
