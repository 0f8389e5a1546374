"""The ledger's data: numbered writes as the writer saw them, and the measurement after
recovery (:class:`LedgerResult`), both JSON-ready and lossless."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Seq lists in a :class:`LedgerResult` keep at most this many entries (the first ones in
#: seq order) so a drill that lost a million rows still yields a report-sized JSON; the
#: counts stay exact.
LIST_CAP = 1000

#: Tag written by :meth:`LedgerResult.to_dict` so history readers can tell formats apart.
RESULT_SCHEMA = "drillbook.ledger_result/1"


class WriteStatus(enum.StrEnum):
    """What the *writer* knows about one write (before anything is read back)."""

    ACKED = "acked"
    FAILED = "failed"
    #: Started, never finished: the writer was stopped (or its sink hung) mid-write.
    INFLIGHT = "inflight"


class WriteClass(enum.StrEnum):
    """What the read-back after recovery says about one write (or one stored record)."""

    SURVIVED = "survived"
    #: Acknowledged (before t0 for pre-t0 writes), now missing: data loss.
    LOST = "lost"
    #: Present with content whose checksum differs from what was written.
    CORRUPTED = "corrupted"
    #: In flight at t0 (sent <= t0, acked at/after t0 or never), present or not; or a
    #: write that reported failure yet is present. Neither outcome is wrong.
    INDETERMINATE = "indeterminate"
    #: Present in the store, but the ledger never wrote that seq.
    PHANTOM = "phantom"
    #: Failed / never-acknowledged write that is absent: the correct outcome, no finding.
    UNACKNOWLEDGED = "unacknowledged"


def checksum_of(payload: str) -> str:
    """Short content fingerprint: 64 bits of sha256 are plenty to spot a wrong payload."""
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def make_payload(token: str, seq: int, size: int) -> str:
    """Deterministic payload for ``seq`` of run ``token``, padded to ``size`` characters.

    The token ties every record to one run, so rows left over by an earlier run (or a
    restore of a backup taken during another run) read back as CORRUPTED, not SURVIVED.
    The filler is hash-derived rather than constant so a store that deduplicates or
    compresses equal blocks cannot hide a mix-up between two seqs. The ``token:seq:``
    prefix is never truncated, even when it is longer than ``size``.
    """
    prefix = f"{token}:{seq}:"
    missing = size - len(prefix)
    if missing <= 0:
        return prefix
    seed = hashlib.sha256(prefix.encode("utf-8")).hexdigest()
    filler = (seed * (missing // len(seed) + 1))[:missing]
    return prefix + filler


@dataclass(frozen=True)
class LedgerWrite:
    """One numbered write as the writer saw it.

    Frozen so a snapshot of the ledger can be handed out and kept while the writer goes
    on (the writer replaces records instead of mutating them).
    """

    seq: int
    payload: str
    checksum: str
    #: Monotonic seconds when the write call began.
    sent_mono: float
    #: Monotonic seconds when the write was acknowledged; None unless ACKED.
    ack_mono: float | None
    status: WriteStatus
    error: str | None = None
    #: Monotonic seconds when the call returned (ack or error); None while in flight.
    #: Lets a timeline show when writes started failing, without abusing ``ack_mono``.
    done_mono: float | None = None
    #: Where the write landed in the service's own order, read right after the ack
    #: (PostgreSQL: an LSN at or past the commit record); None when the sink has none.
    #: A backup method that captured up to a position captured every write before it.
    position: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (so a report can attach the raw ledger)."""
        return {
            "seq": self.seq,
            "payload": self.payload,
            "checksum": self.checksum,
            "sent_mono": self.sent_mono,
            "ack_mono": self.ack_mono,
            "status": self.status.value,
            "error": self.error,
            "done_mono": self.done_mono,
            "position": self.position,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LedgerWrite:
        """Inverse of :meth:`to_dict`."""
        return cls(
            seq=int(data["seq"]),
            payload=str(data["payload"]),
            checksum=str(data["checksum"]),
            sent_mono=float(data["sent_mono"]),
            ack_mono=None if data["ack_mono"] is None else float(data["ack_mono"]),
            status=WriteStatus(data["status"]),
            error=None if data.get("error") is None else str(data["error"]),
            done_mono=None if data.get("done_mono") is None else float(data["done_mono"]),
            position=None if data.get("position") is None else int(data["position"]),
        )


@dataclass(frozen=True)
class ClassifiedWrite:
    """The verdict on one seq: a ledger write, or a phantom record (``write is None``)."""

    seq: int
    cls: WriteClass
    #: Started after t0: reported apart, never part of the RPO.
    after_t0: bool
    write: LedgerWrite | None


@dataclass
class CaptureCheck:
    """One backup method's promise held against one ledger after the recovery.

    *captured* counts the writes acknowledged before t0 that the method had safely
    captured at t0 (``drillbook.capture``); every one of them must survive whatever the
    RPO target: *lost* of them did not. *judged* is False when the method does not count
    for this drill (*why_not*: the fault destroyed that copy, the service does not
    declare the method, its sample failed).
    """

    method: str
    name: str
    point: str
    captured: int = 0
    lost: int = 0
    lost_seqs: list[int] = field(default_factory=list)
    last_captured_seq: int | None = None
    judged: bool = True
    why_not: str | None = None
    bound_s: float | None = None
    scale: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaptureCheck:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _zero_counts() -> dict[WriteClass, int]:
    return dict.fromkeys(WriteClass, 0)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass
class LedgerResult:
    """The ledger's measurement of one drill: RPO, its resolution, and integrity findings.

    ``counts`` holds pre-t0 writes plus phantoms (a phantom record has no send time to
    place it after t0, and it is a finding whichever side it would fall on);
    ``counts_after_t0`` holds writes started after t0. Together they sum to
    ``writes_total + counts[PHANTOM]``.
    """

    t0_mono: float
    cadence: float
    #: The RPO cannot be measured finer than one write interval; reports must say so.
    resolution_seconds: float
    writes_total: int
    counts: dict[WriteClass, int] = field(default_factory=_zero_counts)
    counts_after_t0: dict[WriteClass, int] = field(default_factory=_zero_counts)
    #: Writes acknowledged before t0: the population the RPO is measured on.
    acked_before_t0: int = 0
    lost_seqs: list[int] = field(default_factory=list)
    corrupted_seqs: list[int] = field(default_factory=list)
    phantom_seqs: list[int] = field(default_factory=list)
    indeterminate_seqs: list[int] = field(default_factory=list)
    lost_after_t0_seqs: list[int] = field(default_factory=list)
    corrupted_after_t0_seqs: list[int] = field(default_factory=list)
    recovery_point_seq: int | None = None
    recovery_point_ack_mono: float | None = None
    rpo_seconds: float | None = None
    #: True when no acknowledged write survived as a prefix: the RPO then only says "at
    #: least everything the ledger wrote" (t0 - first write's send time).
    rpo_is_lower_bound: bool = False
    #: Pre-t0 LOST writes after the recovery point followed by a later pre-t0 SURVIVED
    #: write: data missing from the middle, which no restore to a point in time explains.
    holes: int = 0
    achieved_rate: float | None = None
    #: Each backup method that protected this ledger, held to what it had captured at t0.
    captured: list[CaptureCheck] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Writes acknowledged before t0 that are gone (the tail the RPO measures + holes)."""
        return self.counts[WriteClass.LOST]

    @property
    def has_integrity_findings(self) -> bool:
        """Anything that is wrong regardless of the RPO target.

        Tail loss is what the RPO measures, so it is not listed here; a hole, corrupted
        content, a phantom record, or the loss of a write acknowledged after t0 (e.g. by
        a promoted replica, then rolled back) is.
        """
        return bool(
            self.holes
            or self.counts[WriteClass.CORRUPTED]
            or self.counts[WriteClass.PHANTOM]
            or self.counts_after_t0[WriteClass.LOST]
            or self.counts_after_t0[WriteClass.CORRUPTED]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, lossless (``from_dict(json.loads(json.dumps(r.to_dict()))) == r``)."""
        return {
            "schema": RESULT_SCHEMA,
            "t0_mono": self.t0_mono,
            "cadence": self.cadence,
            "resolution_seconds": self.resolution_seconds,
            "writes_total": self.writes_total,
            "counts": {k.value: v for k, v in self.counts.items()},
            "counts_after_t0": {k.value: v for k, v in self.counts_after_t0.items()},
            "acked_before_t0": self.acked_before_t0,
            "lost_seqs": list(self.lost_seqs),
            "corrupted_seqs": list(self.corrupted_seqs),
            "phantom_seqs": list(self.phantom_seqs),
            "indeterminate_seqs": list(self.indeterminate_seqs),
            "lost_after_t0_seqs": list(self.lost_after_t0_seqs),
            "corrupted_after_t0_seqs": list(self.corrupted_after_t0_seqs),
            "recovery_point_seq": self.recovery_point_seq,
            "recovery_point_ack_mono": self.recovery_point_ack_mono,
            "rpo_seconds": self.rpo_seconds,
            "rpo_is_lower_bound": self.rpo_is_lower_bound,
            "holes": self.holes,
            "achieved_rate": self.achieved_rate,
            "captured": [c.to_dict() for c in self.captured],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LedgerResult:
        """Inverse of :meth:`to_dict`; refuses a foreign schema instead of misreading it."""
        schema = data.get("schema", RESULT_SCHEMA)
        if schema != RESULT_SCHEMA:
            raise ValueError(
                f"unsupported ledger result schema {schema!r}, expected {RESULT_SCHEMA!r}"
            )

        def counts(raw: Mapping[str, Any]) -> dict[WriteClass, int]:
            out = _zero_counts()
            for key, value in raw.items():
                out[WriteClass(key)] = int(value)
            return out

        def seqs(key: str) -> list[int]:
            return [int(s) for s in data[key]]

        rp_seq = data["recovery_point_seq"]
        return cls(
            t0_mono=float(data["t0_mono"]),
            cadence=float(data["cadence"]),
            resolution_seconds=float(data["resolution_seconds"]),
            writes_total=int(data["writes_total"]),
            counts=counts(data["counts"]),
            counts_after_t0=counts(data["counts_after_t0"]),
            acked_before_t0=int(data["acked_before_t0"]),
            lost_seqs=seqs("lost_seqs"),
            corrupted_seqs=seqs("corrupted_seqs"),
            phantom_seqs=seqs("phantom_seqs"),
            indeterminate_seqs=seqs("indeterminate_seqs"),
            lost_after_t0_seqs=seqs("lost_after_t0_seqs"),
            corrupted_after_t0_seqs=seqs("corrupted_after_t0_seqs"),
            recovery_point_seq=None if rp_seq is None else int(rp_seq),
            recovery_point_ack_mono=_opt_float(data["recovery_point_ack_mono"]),
            rpo_seconds=_opt_float(data["rpo_seconds"]),
            rpo_is_lower_bound=bool(data["rpo_is_lower_bound"]),
            holes=int(data["holes"]),
            achieved_rate=_opt_float(data["achieved_rate"]),
            captured=[CaptureCheck.from_dict(c) for c in data.get("captured") or ()],
        )
