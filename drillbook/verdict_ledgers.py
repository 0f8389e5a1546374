"""The verdict's rules for one ledger: its RPO, what its backup methods had captured,
the RPO against the bound the method promised, and the data it did not get back.

Pure functions of a :class:`~drillbook.ledger.LedgerResult` and the service's targets,
called per ledger by :func:`drillbook.verdict.ledgers_intact`.
"""

from __future__ import annotations

from collections.abc import Iterator

from drillbook.ledger import CaptureCheck, LedgerResult, WriteClass
from drillbook.record import Finding
from drillbook.targets import format_duration


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 60:
        return f"{seconds:.3f} s"
    return f"{format_duration(round(seconds, 1))} ({seconds:.1f} s)"


def fmt_rpo(led: LedgerResult) -> str:
    """The ledger's RPO, ``≥`` in front when it is only a lower bound (no write survived)."""
    text = fmt(led.rpo_seconds)
    return f"≥ {text}" if led.rpo_is_lower_bound else text


def rpo(name: str, led: LedgerResult, target: float | None) -> Iterator[Finding]:
    # Nothing acknowledged before t0 was lost: the recovery point is the last
    # acknowledged write and the data loss is zero; the measured t0 − ack is then only
    # the gap to the next tick (below the resolution), not a loss to judge.
    rpo = led.rpo_seconds
    if rpo is not None and target is not None and rpo > target and led.lost:
        lower = " (lower bound: no write survived)" if led.rpo_is_lower_bound else ""
        yield Finding(
            "RPO_EXCEEDED",
            f"ledger {name}: RPO {fmt_rpo(led)}{lower} > target {fmt(target)} "
            f"(resolution {fmt(led.resolution_seconds)})",
        )


def captured(name: str, led: LedgerResult) -> Iterator[Finding]:
    """Every write a surviving, declared method had captured at t0 must be back, whatever
    the RPO target: a restore that replays nothing, stops at a gap in the archive or
    takes an older snapshot loses writes its method had, however small the loss."""
    for check in led.captured:
        if not check.judged or not check.lost:
            continue
        first = ", ".join(map(str, check.lost_seqs[:5]))
        yield Finding(
            "CAPTURED_WRITE_LOST",
            f"ledger {name}: {check.lost} of the {check.captured} acknowledged writes the "
            f"{check.name} had captured at t0 ({check.point}) are missing after the "
            f"recovery (seq {first}{', ...' if check.lost > 5 else ''}); a recovery that "
            "keeps the method's promise loses none of them",
        )


def _bounding(led: LedgerResult) -> CaptureCheck | None:
    """The method with the tightest bound among those held to their point."""
    judged = [c for c in led.captured if c.judged and c.bound_s is not None]
    return min(judged, key=lambda c: c.bound_s or 0.0) if judged else None


def bound(
    name: str, led: LedgerResult, target: float | None, service_bound: float | None
) -> Iterator[Finding]:
    """RPO_BOUND_EXCEEDED: the measured RPO above the bound the backup method promised
    (the method that protected this ledger; the service's bound, what ``drillbook check``
    prints, when none did). A warning while the RPO, at production scale, still meets
    the target; a failure when it does not."""
    rpo = led.rpo_seconds
    method = _bounding(led)
    if any(c.judged for c in led.captured) and method is None:
        return  # protected by methods without a bound (rebuild)
    limit = method.bound_s if method is not None else service_bound
    if rpo is None or limit is None or not led.lost or rpo <= limit + led.resolution_seconds:
        return
    scale = method.scale if method is not None else 1.0
    whose = f"the {method.name}" if method is not None else "the service's declared backup"
    at_scale = f", {fmt(rpo * scale)} at production scale" if scale != 1.0 else ""
    missed = target is not None and rpo * scale > target
    verdict = (
        f"; that misses the RPO target {fmt(target)}" if missed else "; the RPO target is still met"
    )
    yield Finding(
        "RPO_BOUND_EXCEEDED",
        f"ledger {name}: RPO {fmt_rpo(led)}{at_scale} > the {fmt(limit)} bound of {whose} "
        f"(resolution {fmt(led.resolution_seconds)}): the method lost more than it promises"
        + verdict,
        severity="fail" if missed else "warn",
    )


def integrity(name: str, led: LedgerResult, target: float | None) -> Iterator[Finding]:
    if led.rpo_is_lower_bound and led.lost and not led.holes:  # holes: a finding below
        # No acknowledged write survived from the first one on: the recovery point is
        # older than the ledger, and "RPO ≥ x" cannot show any target met (the restore
        # may have brought back nothing at all, or a backup of last year).
        yield Finding(
            "DATA_LOST",
            f"ledger {name}: none of the {led.acked_before_t0} writes acknowledged before t0 "
            f"is back from the first one on ({led.lost} lost): the recovery point is older "
            f"than the ledger, so its RPO ({fmt_rpo(led)}) is only a lower bound and meets "
            "no target; a recovery that restores the backup keeps the writes made before "
            "it (start the ledger before the backup is taken)",
        )
    if led.holes:
        yield Finding(
            "DATA_LOST",
            f"ledger {name}: {led.holes} acknowledged writes missing before later "
            "surviving ones (holes after the recovery point)",
        )
    if target == 0 and led.lost:
        yield Finding(
            "DATA_LOST", f"ledger {name}: {led.lost} acknowledged writes lost; the target is RPO 0"
        )
    lost_after = led.counts_after_t0[WriteClass.LOST]
    if lost_after:
        yield Finding(
            "DATA_LOST", f"ledger {name}: {lost_after} writes acknowledged after t0 are missing"
        )
    corrupted = led.counts[WriteClass.CORRUPTED] + led.counts_after_t0[WriteClass.CORRUPTED]
    if corrupted:
        yield Finding(
            "DATA_CORRUPTED", f"ledger {name}: {corrupted} writes read back with wrong content"
        )
    phantom = led.counts[WriteClass.PHANTOM]
    if phantom:
        yield Finding(
            "PHANTOM_WRITE", f"ledger {name}: {phantom} entries present that were never written"
        )
