"""The validation of an S3 recovery: every current object downloaded, hashed and compared
with the manifest taken before the fault, each comparison a recorded check.

The runbooks verify a storage restore by counting files and checking they are not empty
(runbooks/object-storage.md, "Verify the restore": ``find ./storage -type f | wc -l``,
``find ./storage -type f -size 0``). A count says nothing about content, so here: nothing
missing, every sha256 equal to the manifest, nothing unexpected, the count per prefix,
and for ransomware no attacker bytes left and the ransom note gone. The RPO half of
"every object's checksum against the ledger" is the engine's ledger read-back
(``drill.verify_ledger``): each ledger object's payload carries its checksum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from drillbook.drill import Drill
from drillbook.record import Phase
from drillbook.scenarios.s3.client import error_code, pool_split, sha256_hex
from drillbook.scenarios.s3.ledger import LEDGER_PREFIXES
from drillbook.scenarios.s3.manifest import Manifest, count_by_prefix, list_current, short

__all__ = ["Verification", "await_healthy", "validate", "verify_objects"]


@dataclass
class Verification:
    """Every current object under a prefix, hashed and compared with a manifest."""

    bucket: str
    prefix: str
    manifest_objects: int
    checked: int = 0
    matched: int = 0
    bytes_read: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    expected_by_prefix: dict[str, int] = field(default_factory=dict)
    actual_by_prefix: dict[str, int] = field(default_factory=dict)
    current_sha256: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched or self.extra or self.unreadable)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("current_sha256")
        for k in ("missing", "mismatched", "extra", "unreadable"):
            data[k] = data[k][:20]
        return data


def verify_objects(
    client: Any,
    bucket: str,
    manifest: Manifest,
    *,
    prefix: str = "",
    ignore: Sequence[str] = (),
    workers: int = 16,
) -> Verification:
    """Download and hash every current object under *prefix*; compare with *manifest*.

    *client*: a boto3 client of the endpoint; *manifest*: what must be there. Keys under
    an *ignore* prefix (the RPO ledger, verified by its own read-back) are hashed (for
    the attacker-bytes check) but neither counted nor compared. *workers*: parallel
    GETs. Records nothing (:func:`validate` does); returns the :class:`Verification`.
    """
    expected = [
        e
        for e in manifest
        if e.key.startswith(prefix) and not any(e.key.startswith(x) for x in ignore)
    ]
    out = Verification(bucket, prefix, len(expected))
    current = list_current(client, bucket, prefix)
    keys = sorted(current)

    def read(key: str) -> tuple[str, int]:
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return sha256_hex(data), len(data)

    done, failed = pool_split(read, keys, workers)
    out.unreadable += [f"{key}: {error_code(exc)}" for key, exc in failed]
    for key, (digest, size) in done:
        out.current_sha256[key] = digest
        out.bytes_read += size
    compared = [k for k in keys if not any(k.startswith(x) for x in ignore)]
    out.checked = len(compared)
    by_key = {e.key: e for e in expected}
    for key in compared:
        entry = by_key.get(key)
        if entry is None:
            out.extra.append(key)
        elif out.current_sha256.get(key) == entry.sha256:
            out.matched += 1
        elif key in out.current_sha256:
            out.mismatched.append(key)
    out.missing = sorted(k for k in by_key if k not in current)
    out.expected_by_prefix = count_by_prefix(by_key)
    out.actual_by_prefix = count_by_prefix(compared)
    return out


def _verified(
    drill: Drill,
    client: Any,
    bucket: str,
    manifest: Manifest,
    prefix: str,
    ignore: Sequence[str],
    workers: int,
) -> Verification:
    where = f"s3://{bucket}/{prefix}"
    with drill.step(
        f"verify every object under {where} against the manifest", Phase.VALIDATION
    ) as s:
        v: Verification = s.call(
            f"ListObjectsV2 + GetObject of every object under {where}, sha256 each",
            verify_objects,
            client,
            bucket,
            manifest,
            prefix=prefix,
            ignore=ignore,
            workers=workers,
        )
        s.processed(v.bytes_read)
        s.note("verification", v.summary())
    return v


def _object_checks(drill: Drill, v: Verification) -> None:
    n = v.manifest_objects
    drill.check(
        "every manifest object present",
        not v.missing,
        f"{len(v.missing)} of {n} missing: {short(v.missing)}" if v.missing else f"all {n} present",
        expected=n,
        actual=n - len(v.missing),
    )
    bad = v.mismatched + v.unreadable
    drill.check(
        "every object's sha256 matches the manifest",
        not bad,
        f"{len(v.mismatched)} differ, {len(v.unreadable)} unreadable: {short(bad)}"
        if bad
        else f"{v.matched} objects, {v.bytes_read} bytes hashed",
        expected=n,
        actual=v.matched,
    )
    drill.check(
        "no object outside the manifest",
        not v.extra,
        f"{len(v.extra)} unexpected: {short(v.extra)}" if v.extra else "none",
        expected=0,
        actual=len(v.extra),
    )
    prefixes = sorted(set(v.expected_by_prefix) | set(v.actual_by_prefix))
    drill.check(
        "object count per prefix",
        v.expected_by_prefix == v.actual_by_prefix,
        ", ".join(
            f"{p} {v.actual_by_prefix.get(p, 0)}/{v.expected_by_prefix.get(p, 0)}" for p in prefixes
        ),
        expected=v.expected_by_prefix,
        actual=v.actual_by_prefix,
    )


def _attacker_check(drill: Drill, v: Verification, attacker_sha256: set[str]) -> None:
    if not attacker_sha256:
        drill.check(
            "no attacker bytes left",
            False,
            "NOT RUN: no attacker digest was given (the attack wrote nothing?): nothing to "
            "look for",
        )
        return
    left = sorted(k for k, d in v.current_sha256.items() if d in attacker_sha256)
    differ = sorted(set(left) | set(v.mismatched))
    drill.check(
        "no attacker bytes left",
        not differ,
        f"{len(differ)} current objects hold the attacker's bytes or differ from the "
        f"manifest: {short(differ)}"
        if differ
        else f"none of the {len(attacker_sha256)} attacker digests in "
        f"{len(v.current_sha256)} current objects",
        expected=0,
        actual=len(differ),
    )


def validate(
    drill: Drill,
    client: Any,
    bucket: str,
    manifest: Manifest,
    *,
    prefix: str = "",
    ignore: Sequence[str] = LEDGER_PREFIXES,
    attacker_sha256: set[str] | None = None,
    ransom_note: str | None = None,
    workers: int = 16,
) -> Verification:
    """The validation phase's object checks against *manifest*.

    *client*, *bucket*, *prefix*: where the restored objects are; *ignore*: key prefixes
    left to the ledger's own read-back; *attacker_sha256*: the digests the attack wrote
    (ransomware: none may be current); *ransom_note*: a key that must be gone.
    Records one VALIDATION step (every GET, the bytes hashed, note ``verification``) and
    the checks: every manifest object present, every sha256 matches, no object outside
    the manifest, the count per prefix (and, when given, no attacker bytes left, the
    ransom note removed). A manifest with nothing under *prefix* is a NOT RUN check:
    there is nothing to verify against.
    """
    v = _verified(drill, client, bucket, manifest, prefix, ignore, workers)
    if v.manifest_objects == 0:
        drill.check(
            "every manifest object present",
            False,
            f"NOT RUN: the manifest ({manifest.name}) has no object under s3://{bucket}/"
            f"{prefix} outside {', '.join(ignore) or 'nothing ignored'}: nothing to verify",
            expected=">= 1 manifest object",
            actual=0,
        )
        return v
    _object_checks(drill, v)
    if attacker_sha256 is not None:
        _attacker_check(drill, v, attacker_sha256)
    if ransom_note is not None:
        present = ransom_note in v.current_sha256 or ransom_note in v.extra
        drill.check(
            "ransom note removed",
            not present,
            f"s3://{bucket}/{ransom_note} {'still present' if present else 'gone'}",
            expected="absent",
            actual="present" if present else "absent",
        )
    return v


def await_healthy(
    drill: Drill, probe: Callable[[], Any], *, name: str, timeout: float = 10.0
) -> bool:
    """``drill.wait_healthy(probe)`` whose failure becomes a failed check, not a drill
    error; *name* names the probe, *timeout* is in seconds. True when healthy.

    A restore that left the bucket broken must still reach validation, so the record
    says what is wrong (which objects, which bytes) instead of only "probe timed out".
    """
    try:
        drill.wait_healthy(probe, timeout=timeout, name=name)
    except TimeoutError as exc:
        drill.check(f"healthy after recovery: {name}", False, str(exc))
        return False
    return True
