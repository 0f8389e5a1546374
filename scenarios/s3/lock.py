"""Object lock, proved rule by rule on the endpoint a drill relies on.

"Locked objects refuse deletion" is only worth what the server enforces: moto answers
GetObjectRetention with a 500 and lets a COMPLIANCE retention be lowered (an attacker
then deletes the version), SeaweedFS and AWS refuse. :func:`probe_lock_enforcement`
tries each rule on a scratch bucket of the endpoint:

- GOVERNANCE: DeleteObject of a locked version refused, and allowed with
  ``BypassGovernanceRetention`` (the bypass exists for GOVERNANCE only);
- COMPLIANCE: refused even with the bypass; its retention cannot be lowered; it reads
  back as COMPLIANCE;
- legal hold: refused even with the bypass, allowed once the hold is released.

A drill calls :func:`require_lock_enforcement` for the modes its protection uses: the
result is recorded, and an endpoint that does not enforce them makes the drill NOT RUN
(BACKEND_UNSUPPORTED), never a pass that proves nothing. The scratch bucket keeps one
COMPLIANCE version until its retention ends (*retain_seconds*): run it on an endpoint
of the drill's own (``s3_factory``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from drillbook.drill import StepContext
from drillbook.errors import DrillNotRun
from drillbook.scenarios.s3.client import client, error_code, recorded

__all__ = [
    "MODES",
    "LockEnforcement",
    "LockRule",
    "probe_lock_enforcement",
    "require_lock_enforcement",
]

MODES = ("GOVERNANCE", "COMPLIANCE", "legal hold")


@dataclass(frozen=True)
class LockRule:
    """One rule of object lock, what S3 must answer and what the endpoint answered."""

    mode: str  # GOVERNANCE | COMPLIANCE | legal hold
    rule: str
    expected: str  # "refused" | "allowed" | a value read back
    observed: str

    @property
    def ok(self) -> bool:
        return self.observed.split(" ")[0] == self.expected


@dataclass
class LockEnforcement:
    """Every rule tried on one endpoint (:func:`probe_lock_enforcement`)."""

    endpoint: str
    bucket: str
    rules: list[LockRule] = field(default_factory=list)

    def failures(self, *modes: str) -> list[LockRule]:
        """The rules of *modes* (default: all) the endpoint broke."""
        return [r for r in self.rules if not r.ok and (not modes or r.mode in modes)]

    def enforced(self, *modes: str) -> bool:
        return bool(self.rules) and not self.failures(*modes)

    def summary(self) -> dict[str, Any]:
        """For the record: each rule with its expected and observed answer."""
        return {
            "endpoint": self.endpoint,
            "scratch_bucket": self.bucket,
            "rules": [{**asdict(r), "ok": r.ok} for r in self.rules],
            "enforced": {m: self.enforced(m) for m in MODES},
        }


def _answer(call: Callable[[], Any]) -> str:
    try:
        call()
    except ClientError as exc:
        return f"refused ({error_code(exc)})"
    return "allowed"


def _read_mode(c: Any, bucket: str, key: str, vid: str) -> str:
    try:
        got = c.get_object_retention(Bucket=bucket, Key=key, VersionId=vid)
    except ClientError as exc:
        return f"unreadable ({error_code(exc)})"
    return str(got.get("Retention", {}).get("Mode"))


def probe_lock_enforcement(handle: Any, *, retain_seconds: int = 300) -> LockEnforcement:
    """Try every rule of the module docstring on a scratch object-lock bucket of
    *handle*'s endpoint; *retain_seconds*: the retention the locked versions get."""
    c = client(handle, timeout=10, pool=2)
    bucket = f"drillbook-lock-rules-{secrets.token_hex(4)}"
    out = LockEnforcement(handle.endpoint, bucket)
    c.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    until = datetime.now(UTC) + timedelta(seconds=retain_seconds)

    def put(key: str, **lock: Any) -> str:
        return str(c.put_object(Bucket=bucket, Key=key, Body=key.encode(), **lock)["VersionId"])

    def delete(key: str, vid: str, bypass: bool = False) -> Callable[[], Any]:
        extra = {"BypassGovernanceRetention": True} if bypass else {}
        return lambda: c.delete_object(Bucket=bucket, Key=key, VersionId=vid, **extra)

    def release(key: str, vid: str) -> Callable[[], Any]:
        def run() -> Any:
            c.put_object_legal_hold(
                Bucket=bucket, Key=key, VersionId=vid, LegalHold={"Status": "OFF"}
            )
            return c.delete_object(Bucket=bucket, Key=key, VersionId=vid)

        return run

    def lower(key: str, vid: str) -> Callable[[], Any]:
        lowered = {"Mode": "GOVERNANCE", "RetainUntilDate": until}
        return lambda: c.put_object_retention(
            Bucket=bucket, Key=key, VersionId=vid, Retention=lowered, BypassGovernanceRetention=True
        )

    gov = put("governance", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    comp = put("compliance", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    hold = put("legal-hold", ObjectLockLegalHoldStatus="ON")
    plan: list[tuple[str, str, str, Callable[[], str]]] = [
        ("GOVERNANCE", "DeleteObject of a locked version", "refused",
         lambda: _answer(delete("governance", gov))),
        ("GOVERNANCE", "DeleteObject with BypassGovernanceRetention", "allowed",
         lambda: _answer(delete("governance", gov, bypass=True))),
        ("COMPLIANCE", "DeleteObject with BypassGovernanceRetention", "refused",
         lambda: _answer(delete("compliance", comp, bypass=True))),
        ("COMPLIANCE", "PutObjectRetention lowering it to GOVERNANCE (with the bypass)",
         "refused", lambda: _answer(lower("compliance", comp))),
        ("COMPLIANCE", "GetObjectRetention reads the mode back", "COMPLIANCE",
         lambda: _read_mode(c, bucket, "compliance", comp)),
        ("legal hold", "DeleteObject with BypassGovernanceRetention", "refused",
         lambda: _answer(delete("legal-hold", hold, bypass=True))),
        ("legal hold", "DeleteObject once the hold is released", "allowed",
         lambda: _answer(release("legal-hold", hold))),
    ]  # fmt: skip
    for mode, text, expected, observe in plan:
        out.rules.append(LockRule(mode, text, expected, observe()))
    return out


def require_lock_enforcement(
    step: StepContext | None, handle: Any, modes: tuple[str, ...] = MODES
) -> LockEnforcement:
    """Probe *handle*'s endpoint (recorded in *step*, the result as the note
    ``object lock rules``); NOT RUN (BACKEND_UNSUPPORTED) unless it enforces every rule
    of *modes*."""
    found = recorded(
        step, f"object lock rules on {handle.endpoint}", probe_lock_enforcement, handle
    )
    if step is not None:
        step.note("object lock rules", found.summary())
    broken = found.failures(*modes)
    if broken:
        what = "; ".join(f"{r.mode}: {r.rule}: {r.observed}, not {r.expected}" for r in broken)
        raise DrillNotRun(
            f"s3 at {handle.endpoint} ({getattr(handle, 'implementation', 's3')}) does not "
            f"enforce object lock ({what}). Run on a server that does (SeaweedFS: "
            "--drill-s3=seaweedfs, MinIO, AWS S3)",
            code="BACKEND_UNSUPPORTED",
        )
    return found
