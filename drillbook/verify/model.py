"""The result of one verification: what was restored, what it cost, what was found.

Outcomes are PASS, FAIL and NOT VERIFIED. NOT VERIFIED is a verification that could
not run (no source declared, the source unreadable, no server of the backup's major
here): it proved nothing and is never a pass. PASS needs a restore that genuinely ran,
validation that ran, and no failing finding.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from drillbook.record import Finding

PASS, FAIL, NOT_VERIFIED = "PASS", "FAIL", "NOT VERIFIED"
OUTCOMES = (PASS, FAIL, NOT_VERIFIED)

#: Finding codes of a verification (stable: CI gates and alerts key on them). The first
#: four are shared with drills (issue 11).
VERIFY_CODES = {
    "BACKUP_MISSING": "no backup where the source says (empty prefix, no such key or file)",
    "BACKUP_CORRUPT": "the backup is damaged: truncated, unreadable, or not the recorded digest",
    "RESTORE_FAILED": "the restore reported errors (first error quoted)",
    "SERVER_START_FAILED": "a restored data directory did not start",
    "BACKUP_EMPTY": "the backup is zero bytes",
    "ROLE_MISSING": "the backup's objects belong to roles the restore target lacks",
    "EXTENSION_MISSING": "the backup uses extensions the restore target lacks",
    "RESTORE_EMPTY": "the restore ran but brought back no tables, rows or keys",
    "INTEGRITY_FAILED": "an integrity check of the restored data failed",
    "STRUCTURE_DRIFT": "the restored catalog lacks or adds objects against the reference",
    "VOLUME_DRIFT": "a table lost more rows than the tolerance since the last good run",
    "RPO_AT_RISK": "the newest backup is older than the RPO target allows",
    "RTO_EXCEEDED": "download + restore + validation took longer than the RTO target",
    "INVENTORY_MISMATCH": "a bucket's objects differ from its manifest",
}
#: Why a verification could not run.
NOT_VERIFIED_CODES = {
    "NO_SOURCE": "the service declares no [services.NAME.source]",
    "SOURCE_UNREADABLE": "the source could not be read (credentials, network, permissions)",
    "NO_SERVER": "no local server can restore this backup (its major is newer)",
    "FORMAT_UNSUPPORTED": "the backup's format or compression is not supported",
    "VERIFY_ERROR": "the verification itself failed (a harness error)",
}


class NotVerified(Exception):
    """The verification could not run; *code* is one of :data:`NOT_VERIFIED_CODES`."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"[{code}] {reason}")
        self.code = code
        self.reason = reason


@dataclass
class BackupInfo:
    """The backup that was verified, as found and as it describes itself."""

    location: str  # s3://bucket/key or a path
    format: str | None = None
    compression: str | None = None
    size: int | None = None
    files: int = 1
    sha256: str | None = None
    digest_checked_against: str | None = None
    modified: float | None = None  # LastModified / mtime
    created: float | None = None  # the backup's own timestamp
    created_from: str | None = None  # "archive header", "backup_label", "rdb ctime", ...
    server_version: str | None = None
    dump_version: str | None = None
    major: int | None = None
    dbname: str | None = None

    @property
    def taken_at(self) -> float | None:
        """When the data was captured: the backup's own time, else its file time."""
        return self.created if self.created is not None else self.modified


@dataclass
class VerifyResult:
    service: str
    kind: str
    source: str | None
    started: float
    finished: float | None = None
    outcome: str = NOT_VERIFIED
    not_verified_code: str | None = None
    not_verified_reason: str | None = None
    restore_ran: bool = False
    validated: bool = False
    backup: BackupInfo | None = None
    server: str | None = None
    download_s: float | None = None
    restore_s: float | None = None
    validate_s: float | None = None
    total_s: float | None = None
    restored_bytes: int | None = None  # size of the restored database / dataset
    backup_age_s: float | None = None
    max_age_s: float | None = None
    rto_target_s: float | None = None
    rpo_target_s: float | None = None
    counts: dict[str, int] = field(default_factory=dict)  # table (or db) -> rows (keys)
    objects: int | None = None
    reference: dict[str, Any] | None = None
    drift: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    trend: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float | None:
        """Backup bytes restored per second of restore."""
        size = self.backup.size if self.backup else None
        if not size or not self.restore_s or self.restore_s <= 0:
            return None
        return size / self.restore_s

    def add(self, code: str, message: str, severity: str = "fail") -> None:
        if not any(f.code == code and f.message == message for f in self.findings):
            self.findings.append(Finding(code, message, severity))

    def check(self, name: str, passed: bool, detail: str = "") -> None:
        self.checks.append({"name": name, "passed": bool(passed), "detail": detail})

    def not_verified(self, code: str, reason: str) -> None:
        self.not_verified_code, self.not_verified_reason = code, reason

    def decide(self) -> str:
        """PASS only for a restore that ran and was validated with no failing finding."""
        if self.not_verified_reason is not None:
            self.outcome = NOT_VERIFIED
        elif any(f.severity == "fail" for f in self.findings):
            self.outcome = FAIL
        elif self.restore_ran and self.validated:
            self.outcome = PASS
        else:
            self.not_verified("VERIFY_ERROR", "the restore or its validation did not run")
            self.outcome = NOT_VERIFIED
        return self.outcome

    @property
    def codes(self) -> list[str]:
        return sorted({f.code for f in self.findings})

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["throughput_bytes_per_s"] = self.throughput
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VerifyResult:
        data = dict(data)
        data.pop("throughput_bytes_per_s", None)
        backup = data.pop("backup", None)
        findings = [Finding(**f) for f in data.pop("findings", [])]
        return cls(**data, backup=BackupInfo(**backup) if backup else None, findings=findings)
