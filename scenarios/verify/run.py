"""One verification, step by step, into a drill record: locate, download, restore,
validate, judge.

Each stage is a recorded step of the drill (its commands, exit statuses and output
tails), so ``drillbook verify`` and a drill that restores last night's backup before
breaking it record the same evidence. What the stages find goes into a
:class:`~drillbook.verify.model.VerifyResult`; a stage that cannot run makes the whole
verification NOT VERIFIED, a damaged backup or a failed restore makes it FAIL with the
finding that says which.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillbook.errors import StepTimeout
from drillbook.record import Phase
from drillbook.scenarios.verify import locate
from drillbook.scenarios.verify.pgdump import DumpCorrupt
from drillbook.scenarios.verify.rdb import RdbCorrupt
from drillbook.scenarios.verify.reader import NoSuchBackup, S3Source, SourceUnreadable
from drillbook.targets import ServiceTarget, format_duration
from drillbook.verify import drift
from drillbook.verify.model import BackupInfo, NotVerified, VerifyResult
from drillbook.verify.progress import Progress, human_bytes
from drillbook.verify.source import SourceSpec

# An archive time this much after the file's own time cannot be a start time (the
# dumping host's clock or time zone differs): the file time is used instead.
CLOCK_SLACK = 15 * 60.0
MIN_TIMEOUT = 30 * 60.0


@dataclass
class Context:
    """Everything one verification needs; built by the CLI or the pytest fixture."""

    drill: Any
    service: str
    target: ServiceTarget
    spec: SourceSpec | None
    base_dir: Path
    workdir: Path
    sandbox: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    progress: Progress = field(default_factory=lambda: Progress(enabled=False))
    write_reference: Path | None = None
    restore_phase: Phase = Phase.EXECUTION
    validate_phase: Phase = Phase.VALIDATION

    @property
    def label(self) -> str:
        return f"verify {self.service}"

    @property
    def timeout(self) -> float:
        if self.spec is not None and self.spec.timeout:
            return self.spec.timeout
        return max(4 * self.target.rto, MIN_TIMEOUT)

    def dbname(self, hint: str | None) -> str:
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in (hint or self.service))
        return f"{base[:50]}_{secrets.token_hex(3)}"


@dataclass
class Outcome:
    """The result, and the restored server while the caller still needs it."""

    result: VerifyResult
    handle: Any = None
    dbname: str | None = None
    release: Callable[[], None] = lambda: None


def new_result(ctx: Context) -> VerifyResult:
    spec = ctx.spec
    return VerifyResult(
        service=ctx.service,
        kind=ctx.target.kind,
        source=spec.display() if spec else None,
        started=time.time(),
        rto_target_s=ctx.target.rto,
        rpo_target_s=ctx.target.rpo,
        max_age_s=(spec.max_age if spec and spec.max_age is not None else ctx.target.rpo),
    )


def verify(ctx: Context) -> Outcome:
    """Run one verification; never raises for what the backup or the source did."""
    result = new_result(ctx)
    out = Outcome(result)
    start = time.monotonic()
    try:
        if ctx.spec is None:
            raise NotVerified(
                "NO_SOURCE",
                f"[services.{ctx.service}.source] is not declared in drills.toml: add url or "
                "path of the service's backups",
            )
        out = _dispatch(ctx, result)
    except NotVerified as exc:
        result.not_verified(exc.code, exc.reason)
    except NoSuchBackup as exc:
        result.add("BACKUP_MISSING", f"no backup found: {exc}")
    except SourceUnreadable as exc:
        result.not_verified("SOURCE_UNREADABLE", str(exc))
    except (DumpCorrupt, RdbCorrupt) as exc:
        result.add("BACKUP_CORRUPT", str(exc))
    except StepTimeout as exc:
        result.add("RTO_EXCEEDED", f"{exc}: stopped after {format_duration(ctx.timeout)}")
    except Exception as exc:  # a harness error: the verification proved nothing
        result.not_verified("VERIFY_ERROR", f"{type(exc).__name__}: {exc}"[:500])
    finally:
        result.total_s = time.monotonic() - start
        result.finished = time.time()
    judge(ctx, result)
    return out


def _dispatch(ctx: Context, result: VerifyResult) -> Outcome:
    from drillbook.scenarios.verify import run_other, run_pg

    if ctx.target.kind == "s3":
        return run_other.s3_inventory(ctx, result)
    fetched = download(ctx, result)
    if fetched is None:
        return Outcome(result)
    if ctx.target.kind == "redis":
        return run_other.redis(ctx, result, fetched)
    return run_pg.postgres(ctx, result, fetched)


def download(ctx: Context, result: VerifyResult) -> locate.Fetched | None:
    """Find the newest backup, copy it here (S3) or read it once (path), check its digest
    and size. None when the backup is already known bad (zero bytes, wrong digest)."""
    spec = ctx.spec
    assert spec is not None
    with ctx.drill.step(f"download {spec.display()}", ctx.restore_phase) as step:
        if spec.url is not None:
            src = S3Source(spec.url.bucket, endpoint=spec.endpoint, region=spec.region)
            found = step.call(
                f"locate newest backup in {spec.url}", locate.locate_s3, src, spec.url, spec.pattern
            )
        else:
            found = locate.locate_path(spec.local_path(ctx.base_dir), spec.pattern)
        result.backup = BackupInfo(
            found.location, size=found.size, files=len(found.members), modified=found.modified
        )
        ctx.progress.line(
            f"{ctx.label}: newest backup {found.location} ({human_bytes(found.size)})"
        )
        if found.size == 0:
            result.add("BACKUP_EMPTY", f"{found.location} is zero bytes")
            return None
        tick = ctx.progress.bytes_counter(f"{ctx.label}: download", found.size)
        if spec.url is not None:
            fetched = locate.fetch_s3(src, found, ctx.workdir, tick)
        else:
            fetched = locate.fetch_path(found, tick)
        step.processed(fetched.bytes)
        step.note("backup", found.location)
    result.download_s = fetched.seconds
    result.backup.sha256 = fetched.sha256
    ok = check_digest(ctx, result, found, fetched)
    return fetched if ok else None


def check_digest(
    ctx: Context, result: VerifyResult, found: locate.Located, got: locate.Fetched
) -> bool:
    """The recorded digest and size, where the team has them; False when they differ."""
    spec, info = ctx.spec, result.backup
    assert spec is not None and info is not None
    if spec.size is not None and got.bytes != spec.size:
        result.add(
            "BACKUP_CORRUPT", f"{found.location}: {got.bytes} bytes, drills.toml says {spec.size}"
        )
        return False
    recorded = [
        (spec.sha256, "sha256 in drills.toml"),
        (got.sidecar_digest, f"sidecar {found.sidecar}"),
        (found.s3_checksum, "the object's S3 SHA-256 checksum"),
    ]
    want, where = next(((d, w) for d, w in recorded if d), (None, None))
    if want is None:
        result.notes["digest"] = "no recorded digest to compare with (the restore is the check)"
        return True
    if got.sha256 is None:
        raise NotVerified(
            "FORMAT_UNSUPPORTED",
            f"{found.location} is {len(found.members)} files: a sha256 applies to one file",
        )
    info.digest_checked_against = where
    if got.sha256 != want:
        result.add(
            "BACKUP_CORRUPT",
            f"{found.location}: sha256 {got.sha256[:16]}... differs from the {where} "
            f"({want[:16]}...)",
        )
        return False
    return True


def judge(ctx: Context, result: VerifyResult) -> None:
    """Age against the RPO target, time against the RTO target, drift, trend, verdict."""
    if result.backup is not None:  # an old backup is at risk whether it restores or not
        _judge_age(ctx, result, result.backup)
    spent = sum(s or 0.0 for s in (result.download_s, result.restore_s, result.validate_s))
    if result.validated and spent > ctx.target.rto:
        result.add(
            "RTO_EXCEEDED",
            f"download + restore + validation took {spent:.1f} s > RTO target "
            f"{format_duration(ctx.target.rto)}",
        )
    previous = drift.last_good(ctx.history, ctx.service)
    if previous is not None and result.validated and ctx.spec is not None:
        _judge_drift(result, previous, ctx.spec.drift_tolerance)
    result.trend = drift.duration_trend(previous, result.restore_s)
    result.decide()


def _judge_age(ctx: Context, result: VerifyResult, info: BackupInfo) -> None:
    """RPO_AT_RISK when the newest backup is older at check time than allowed."""
    taken = info.taken_at
    created, modified = info.created, info.modified
    if created is not None and modified is not None and created > modified + CLOCK_SLACK:
        result.notes["age"] = f"the {info.created_from} time is after the file's: file time used"
        taken = modified
    if taken is not None:
        result.backup_age_s = max(0.0, result.started - taken)
    age, limit = result.backup_age_s, result.max_age_s
    if age is not None and limit is not None and age > limit:
        result.add(
            "RPO_AT_RISK",
            f"the newest backup is {format_duration(round(age))} old at check time "
            f"> {format_duration(limit)} allowed (RPO target {format_duration(ctx.target.rpo)})",
        )


def _judge_drift(result: VerifyResult, previous: dict[str, Any] | Any, tolerance: float) -> None:
    before = (previous.get("verify") or {}).get("counts") or {}
    lost = drift.volume_drift(before, result.counts, tolerance)
    result.drift = [d.to_dict() for d in lost]
    if lost:
        result.add(
            "VOLUME_DRIFT",
            f"{len(lost)} table(s) lost more than {tolerance * 100:.0f} % of their rows since "
            "the last good run: " + "; ".join(d.sentence() for d in lost[:8]),
        )
