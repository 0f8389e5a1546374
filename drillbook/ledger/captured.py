"""What a backup method had captured of the ledger at t0, and whether it came back.

A measured RPO says how much was lost, not whether the recovery kept the promise of the
method it used: a PITR that replays nothing, stops at a gap in the archive or restores
an older snapshot loses writes that its method had safely captured, and under a
5-minute target a drill of a few seconds passes whatever it loses. So each method's
point at t0 (:class:`CapturePoint`, sampled by ``drillbook.capture``) names the ledger
writes it had captured, by one or more cuts:

- ``acked_before_mono``: acknowledged before that instant (a dump's start, the BGSAVE
  of the newest RDB snapshot, t0 minus the AOF fsync window);
- ``position_through``: the write's position (a PostgreSQL LSN read right after the
  ack) at or before it (the end of the last archived WAL segment, the LSN a standby had
  replayed);
- ``seq_through``: seq at or before it (the last object a replicator had copied);

none of them: every write acknowledged before t0 (synchronous replication, a versioned
bucket, AOF ``always``). :func:`check` then counts, per method, the captured writes the
read-back did not return intact. Pure logic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from drillbook.ledger.model import LIST_CAP, CaptureCheck, LedgerWrite, WriteStatus, checksum_of


@dataclass
class CapturePoint:
    """One method's newest safely captured point at t0, and the writes it covers.

    *source* names what it protects, as ledger sinks name where they write
    (``postgres://host:port`` covers every database of that cluster, ``.../auth`` one).
    *kinds* are the drills.toml method kinds it answers to; *bound_s* the RPO bound as
    the drill ran it (a compressed schedule has a compressed bound) and *scale* the
    production seconds per drill second.
    """

    method: str
    name: str
    source: str
    point: str
    kinds: tuple[str, ...] = ()
    acked_before_mono: float | None = None
    position_through: int | None = None
    seq_through: int | None = None
    bound_s: float | None = None
    scale: float = 1.0
    sampled_mono: float | None = None
    destroyed: str | None = None  # why the fault took this copy away with it
    error: str | None = None  # the sample failed: nothing is claimed

    def has(self, write: LedgerWrite, t0_mono: float) -> bool:
        """Whether *write*, acknowledged before t0, was captured by this method."""
        ack = write.ack_mono
        if write.status is not WriteStatus.ACKED or ack is None or ack >= t0_mono:
            return False
        if self.acked_before_mono is not None and ack >= self.acked_before_mono:
            return False
        if self.position_through is not None and (
            write.position is None or write.position > self.position_through
        ):
            return False
        return self.seq_through is None or write.seq <= self.seq_through

    def covers(self, source: str | None) -> bool:
        """Whether this point protects the ledger sink writing to *source*."""
        return covers(self.source, source)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CapturePoint:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["kinds"] = tuple(values.get("kinds") or ())
        return cls(**values)


def covers(scope: str, source: str | None) -> bool:
    """*scope* is *source* or one of its parents (``postgres://h:p`` of ``.../auth``)."""
    if not source:
        return False
    scope = scope.rstrip("/")
    return source == scope or source.startswith(scope + "/")


def _why_not(point: CapturePoint, declared: set[str] | None, service: str | None) -> str | None:
    if point.error:
        return f"not sampled at t0: {point.error}"
    if point.destroyed:
        return f"destroyed by the fault: {point.destroyed}"
    if declared is not None and not set(point.kinds) & declared:
        listed = ", ".join(sorted(declared)) or "none"
        return f"not a backup method of service {service} in drills.toml (it declares {listed})"
    return None


@dataclass
class Judged:
    """The writes one point captured and those of them the read-back did not return."""

    captured: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)


def _judge(
    point: CapturePoint, writes: Sequence[LedgerWrite], readback: Mapping[int, str], t0: float
) -> Judged:
    out = Judged()
    for write in writes:
        if not point.has(write, t0):
            continue
        out.captured.append(write.seq)
        payload = readback.get(write.seq)
        if payload is None or checksum_of(payload) != write.checksum:
            out.lost.append(write.seq)
    return out


def check(
    points: Iterable[CapturePoint],
    writes: Sequence[LedgerWrite],
    readback: Mapping[int, str],
    t0_mono: float,
    *,
    source: str | None,
    declared: set[str] | None = None,
    service: str | None = None,
) -> list[CaptureCheck]:
    """Each point covering the ledger at *source*, held to the writes it had captured.

    *declared*: the method kinds the service declares (None: every method counts). A
    point that does not count is still listed, with the reason, so a report shows why a
    protection was not held to its promise.
    """
    out = []
    for point in points:
        if not point.covers(source):
            continue
        judged = _judge(point, writes, readback, t0_mono)
        why_not = _why_not(point, declared, service)
        out.append(
            CaptureCheck(
                method=point.method,
                name=point.name,
                point=point.point,
                captured=len(judged.captured),
                lost=len(judged.lost),
                lost_seqs=judged.lost[:LIST_CAP],
                last_captured_seq=max(judged.captured, default=None),
                judged=why_not is None,
                why_not=why_not,
                bound_s=point.bound_s,
                scale=point.scale,
            )
        )
    return out
