"""The RPO write ledger: numbered, acknowledged writes and their classification after recovery.

Why a ledger: a backup mechanism's *claimed* recovery point says nothing about what a
restore actually brought back. The only honest RPO measurement is to write small,
numbered, acknowledged records at a fixed cadence while the service is healthy, break
it at t0, recover, read everything back and ask for every single write whether it is
still there with the right content (Jepsen's discipline: never infer "nothing lost"
from a count).

Definitions (``DESIGN.md`` → "Definitions"; the numbers mean exactly this):

- t0 is the instant the fault injection starts. A write *started* at or before t0
  (``sent_mono <= t0``) is a pre-t0 write; a write started after t0 is a post-t0 write
  (``after_t0``) and never affects the RPO.
- A write is *acknowledged before t0* when it is ACKED and ``ack_mono < t0``. A pre-t0
  write acknowledged at/after t0, or never, was *in flight at t0*: whether it survives
  is legitimately undecided (INDETERMINATE).
- The recovery point is the last write of the longest prefix (in seq order) of the
  writes acknowledged before t0 in which every write SURVIVED.
  ``rpo_seconds = t0 - ack_mono(recovery point)``. Its resolution is the cadence.
- Holes after the recovery point, corrupted and phantom writes are integrity findings,
  reported as counts and seq lists, never folded into the RPO number.

This module is pure logic plus a service-agnostic background writer. Service-specific
code (a table row, a Redis key, an S3 object) lives in sinks elsewhere that implement
:class:`LedgerSink`. No pytest import here.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import itertools
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, TypeAlias, runtime_checkable

__all__ = [
    "LIST_CAP",
    "RESULT_SCHEMA",
    "ClassifiedWrite",
    "LedgerResult",
    "LedgerSink",
    "LedgerWrite",
    "LedgerWriter",
    "ReadBack",
    "WriteClass",
    "WriteStatus",
    "checksum_of",
    "classify",
    "classify_write",
    "classify_writes",
    "make_payload",
    "next_tick",
]

#: Seq lists in a :class:`LedgerResult` keep at most this many entries (the first ones in
#: seq order) so a drill that lost a million rows still yields a report-sized JSON; the
#: counts stay exact.
LIST_CAP = 1000

#: Tag written by :meth:`LedgerResult.to_dict` so history readers can tell formats apart.
RESULT_SCHEMA = "drillbook.ledger_result/1"

#: What a sink reads back after recovery: seq -> payload exactly as stored. The
#: classifier recomputes the checksum itself, so a sink cannot "help" by normalising.
ReadBack: TypeAlias = dict[int, str]


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
        )


@dataclass(frozen=True)
class ClassifiedWrite:
    """The verdict on one seq: a ledger write, or a phantom record (``write is None``)."""

    seq: int
    cls: WriteClass
    #: Started after t0: reported apart, never part of the RPO.
    after_t0: bool
    write: LedgerWrite | None


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
        )


# --------------------------------------------------------------------------- classification


def _is_pre_t0(write: LedgerWrite, t0_mono: float) -> bool:
    """A write started at or before t0 was exposed to the fault (in flight at t0 at worst)."""
    return write.sent_mono <= t0_mono


def _acked_before_t0(write: LedgerWrite, t0_mono: float) -> bool:
    return (
        write.status is WriteStatus.ACKED
        and write.ack_mono is not None
        and write.ack_mono < t0_mono
    )


def classify_write(write: LedgerWrite, read_payload: str | None, t0_mono: float) -> WriteClass:
    """Classify one ledger write given what was read back for its seq (None: absent).

    Wrong content is CORRUPTED whatever the write's status: payloads are deterministic
    per seq, so a record with other bytes is something the store made up or mangled
    (a torn page, a leftover from another run), never a legitimate outcome of a write
    that was in flight or failed.
    """
    present = read_payload is not None
    if read_payload is not None and checksum_of(read_payload) != write.checksum:
        return WriteClass.CORRUPTED
    pre = _is_pre_t0(write, t0_mono)
    if write.status is WriteStatus.ACKED:
        if pre and not _acked_before_t0(write, t0_mono):
            return WriteClass.INDETERMINATE  # in flight at t0: acked at/after t0
        return WriteClass.SURVIVED if present else WriteClass.LOST
    if write.status is WriteStatus.INFLIGHT and pre:
        return WriteClass.INDETERMINATE  # in flight at t0, never acked
    # FAILED (either side of t0) or never-acked post-t0: absence is the correct outcome;
    # presence means the store applied a write it did not confirm.
    return WriteClass.INDETERMINATE if present else WriteClass.UNACKNOWLEDGED


def _validated(writes: Iterable[LedgerWrite]) -> list[LedgerWrite]:
    ordered = sorted(writes, key=lambda w: w.seq)
    for prev, cur in itertools.pairwise(ordered):
        if prev.seq == cur.seq:
            raise ValueError(f"ledger has seq {cur.seq} twice; seqs must be unique")
    for w in ordered:
        if not math.isfinite(w.sent_mono):
            raise ValueError(f"ledger write {w.seq}: sent_mono must be finite, got {w.sent_mono}")
        if w.status is WriteStatus.ACKED:
            if w.ack_mono is None or not math.isfinite(w.ack_mono):
                raise ValueError(f"ledger write {w.seq} is ACKED but has no finite ack_mono")
            if w.ack_mono < w.sent_mono:
                raise ValueError(
                    f"ledger write {w.seq} acked ({w.ack_mono}) before it was sent "
                    f"({w.sent_mono}): sent/ack must come from the same monotonic clock"
                )
    return ordered


def classify_writes(
    writes: Sequence[LedgerWrite], readback: Mapping[int, str], t0_mono: float
) -> list[ClassifiedWrite]:
    """Every ledger write and every phantom record with its class, in seq order."""
    if not math.isfinite(t0_mono):
        raise ValueError(f"t0_mono must be finite, got {t0_mono}")
    ordered = _validated(writes)
    out = [
        ClassifiedWrite(
            seq=w.seq,
            cls=classify_write(w, readback.get(w.seq), t0_mono),
            after_t0=not _is_pre_t0(w, t0_mono),
            write=w,
        )
        for w in ordered
    ]
    written = {w.seq for w in ordered}
    out.extend(
        ClassifiedWrite(seq=s, cls=WriteClass.PHANTOM, after_t0=False, write=None)
        for s in readback
        if s not in written
    )
    out.sort(key=lambda c: c.seq)
    return out


def _last_seen(write: LedgerWrite) -> float:
    if write.ack_mono is not None:
        return write.ack_mono
    return write.done_mono if write.done_mono is not None else write.sent_mono


def _achieved_rate(writes: Sequence[LedgerWrite]) -> float | None:
    """Acked writes per second from the first send to the last thing the writer saw.

    A writer that could not keep its cadence (slow sink) coarsens the real resolution;
    comparing this with 1/cadence shows it.
    """
    if not writes:
        return None
    start = min(w.sent_mono for w in writes)
    end = max(_last_seen(w) for w in writes)
    period = end - start
    if period <= 0:
        return None
    acked = sum(1 for w in writes if w.status is WriteStatus.ACKED)
    return acked / period


def achieved_resolution(writes: Sequence[LedgerWrite], t0_mono: float, cadence: float) -> float:
    """The RPO's real resolution: the cadence, or the longest gap between consecutive
    writes sent before t0 when the sink could not keep up (a slow S3 PUT)."""
    sent = sorted(w.sent_mono for w in writes if w.sent_mono <= t0_mono)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    return max([cadence, *gaps])


def classify(
    writes: Sequence[LedgerWrite],
    readback: Mapping[int, str],
    t0_mono: float,
    cadence: float,
) -> LedgerResult:
    """Classify every write against the read-back and measure the RPO (exact, deterministic).

    ``writes`` may come in any order (they are sorted by seq); seqs must be unique.
    """
    if not (math.isfinite(cadence) and cadence > 0):
        raise ValueError(f"cadence must be a positive number of seconds, got {cadence}")
    classified = classify_writes(writes, readback, t0_mono)
    result = LedgerResult(
        t0_mono=t0_mono,
        cadence=cadence,
        resolution_seconds=achieved_resolution(writes, t0_mono, cadence),
        writes_total=len(writes),
        achieved_rate=_achieved_rate(writes),
    )

    def capped_append(target: list[int], seq: int) -> None:
        if len(target) < LIST_CAP:
            target.append(seq)

    pre_lists = {
        WriteClass.LOST: result.lost_seqs,
        WriteClass.CORRUPTED: result.corrupted_seqs,
        WriteClass.PHANTOM: result.phantom_seqs,
        WriteClass.INDETERMINATE: result.indeterminate_seqs,
    }
    post_lists = {
        WriteClass.LOST: result.lost_after_t0_seqs,
        WriteClass.CORRUPTED: result.corrupted_after_t0_seqs,
    }
    for c in classified:
        counts = result.counts_after_t0 if c.after_t0 else result.counts
        counts[c.cls] += 1
        lists = post_lists if c.after_t0 else pre_lists
        if c.cls in lists:
            capped_append(lists[c.cls], c.seq)

    # The recovery point: walk the writes acknowledged before t0 in seq order while
    # every one survived. Writes not acknowledged before t0 neither extend nor break
    # the prefix: nobody was promised they were durable.
    pre = [c for c in classified if c.write is not None and not c.after_t0]
    acked = [c for c in pre if c.write is not None and _acked_before_t0(c.write, t0_mono)]
    result.acked_before_t0 = len(acked)
    point: LedgerWrite | None = None
    for c in acked:
        if c.cls is not WriteClass.SURVIVED:
            break
        point = c.write

    if point is not None:
        assert point.ack_mono is not None  # guaranteed by _acked_before_t0
        result.recovery_point_seq = point.seq
        result.recovery_point_ack_mono = point.ack_mono
        result.rpo_seconds = t0_mono - point.ack_mono
    elif pre:
        first_sent = min(c.write.sent_mono for c in pre if c.write is not None)
        result.rpo_seconds = t0_mono - first_sent
        result.rpo_is_lower_bound = True

    # Holes: a LOST pre-t0 write after the recovery point with a SURVIVED pre-t0 write
    # later in seq order. Post-t0 survivors do not count: after a point-in-time restore
    # new writes land on the restored store, which would turn every tail loss into
    # "holes". Scan backwards, remembering whether a survivor lies ahead.
    floor = point.seq if point is not None else None
    survivor_ahead = False
    for c in reversed(pre):
        if floor is not None and c.seq <= floor:
            break
        if c.cls is WriteClass.SURVIVED:
            survivor_ahead = True
        elif c.cls is WriteClass.LOST and survivor_ahead:
            result.holes += 1
    return result


# --------------------------------------------------------------------------------- writer


@runtime_checkable
class LedgerSink(Protocol):
    """Where the ledger's writes go: one implementation per service, outside this module.

    Contract:
    - ``write`` returns only once the service acknowledged the write (the ack time is
      taken right after it returns) and raises on any failure; it is called from the
      writer's thread, one call at a time.
    - ``read_all`` is called after recovery from the caller's thread; the connection
      used for writing may have died with the server, so it should connect afresh. It
      returns every ledger record present, seq -> payload exactly as stored.
    """

    def prepare(self) -> None:
        """Create the table / key prefix / bucket the ledger writes into."""

    def write(self, seq: int, payload: str) -> None:
        """Write one record durably enough for the service's own ack; raise on failure."""

    def read_all(self) -> dict[int, str]:
        """Read back every ledger record present now."""

    def close(self) -> None:
        """Release connections; must not raise if the service is gone."""


def next_tick(tick: int, origin: float, now: float, cadence: float) -> int:
    """The tick to schedule after ``tick`` has been written, as of ``now``.

    Tick n is due at ``origin + n * cadence``. Normally that is ``tick + 1``. When the
    writer fell behind by several ticks (slow sink, GC pause), it returns the latest
    tick already due, so exactly one write goes out immediately and the cadence resumes
    from there: bursting to catch up would cluster writes and fake a finer resolution.
    """
    due_now = math.floor((now - origin) / cadence)
    return max(tick + 1, due_now)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class LedgerWriter:
    """Background writer making numbered writes at a fixed cadence into a :class:`LedgerSink`.

    Use as a context manager so the thread and the sink never outlive the drill::

        with LedgerWriter(sink, cadence=0.01) as ledger:
            t0 = ledger.mark_t0()          # fault injection starts now
            inject_fault(); recover()
            result = ledger.verify()

    Entering starts the writer; leaving stops it and closes the sink (the writer owns
    the sink). The thread is a daemon and every stop has a deadline: a sink that hangs
    forever marks the writer ``stuck`` instead of hanging the test run.

    ``clock`` must be a monotonic clock that advances in real time (``time.monotonic``,
    the drill timeline's clock): it stamps sends/acks and drives the schedule, while
    waiting uses real time.
    """

    def __init__(
        self,
        sink: LedgerSink,
        cadence: float = 0.010,
        name: str = "ledger",
        payload_size: int = 64,
        clock: Callable[[], float] = time.monotonic,
        *,
        token: str | None = None,
    ) -> None:
        if not (math.isfinite(cadence) and cadence > 0):
            raise ValueError(f"cadence must be a positive number of seconds, got {cadence}")
        if payload_size < 1:
            raise ValueError(f"payload_size must be >= 1, got {payload_size}")
        self.sink = sink
        self.cadence = float(cadence)
        self.name = name
        self.payload_size = payload_size
        #: Random per run, embedded in every payload (see :func:`make_payload`).
        self.token = token if token is not None else secrets.token_hex(6)
        self._clock = clock
        self._lock = threading.Lock()
        self._writes: list[LedgerWrite] = []
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop_at: float | None = None
        self._t0: float | None = None
        self._frozen = False
        self._stuck = False
        self._crash: str | None = None
        self._sink_closed = False
        #: Wall-clock (``time.time()``) and monotonic time the writer started, so the
        #: report can put monotonic ledger times on a calendar.
        self.started_wall: float | None = None
        self.started_mono: float | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Prepare the sink (errors surface here, in the caller) and start writing."""
        with self._lock:
            if self._thread is not None or self._frozen:
                raise RuntimeError(f"ledger writer {self.name!r} was already started (or stopped)")
        self.sink.prepare()
        self.started_wall = time.time()
        self.started_mono = self._clock()
        thread = threading.Thread(
            target=self._run, args=(self.started_mono,), name=f"drillbook-{self.name}", daemon=True
        )
        with self._lock:
            self._thread = thread
        thread.start()

    def mark_t0(self, t0_mono: float | None = None, stop: bool = True) -> float:
        """Record t0 (default: now) and return it.

        ``stop=True``: no write is issued after t0 (one already in flight finishes and
        keeps its real ack time) — measures what a restore brings back of a workload
        that stopped at the fault. ``stop=False``: keep writing through the outage, to
        see when writes fail and resume (post-t0 writes never affect the RPO).

        With ``t0_mono=None`` t0 is read under the writer's lock, so it is exactly
        ordered against write issue: prefer it. An explicit t0 in the past cannot un-send
        writes already started after it; they are simply classified as post-t0.
        """
        with self._lock:
            if self._t0 is not None:
                raise RuntimeError(
                    f"ledger writer {self.name!r}: t0 is already marked at {self._t0}"
                )
            t0 = self._clock() if t0_mono is None else float(t0_mono)
            self._t0 = t0
            if stop:
                self._stop_at = t0
        return t0

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread and freeze the ledger; True if the thread ended in time.

        Idempotent. A write still running after ``timeout`` stays INFLIGHT, the writer is
        marked ``stuck``, and nothing the thread does afterwards changes the ledger.
        """
        self._stop_event.set()
        with self._lock:
            if self._frozen:
                return not self._stuck
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._lock:
            self._frozen = True
            self._stuck = thread is not None and thread.is_alive()
            return not self._stuck

    def close(self) -> None:
        """Stop the writer and close the sink (once), even when the writer is stuck."""
        try:
            self.stop()
        finally:
            if not self._sink_closed:
                self._sink_closed = True
                self.sink.close()

    def __enter__(self) -> LedgerWriter:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- state ----------------------------------------------------------------------------

    @property
    def writes(self) -> list[LedgerWrite]:
        """A snapshot of the ledger (records are immutable; the list is a copy)."""
        with self._lock:
            return list(self._writes)

    @property
    def t0_mono(self) -> float | None:
        """The t0 given to :meth:`mark_t0`, used by :meth:`verify` when none is passed."""
        return self._t0

    @property
    def running(self) -> bool:
        """Still issuing writes (False once stopped at t0, by stop(), or after a crash)."""
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._frozen

    @property
    def stuck(self) -> bool:
        """The sink hung past ``stop()``'s timeout; the last write stays INFLIGHT."""
        return self._stuck

    @property
    def crash(self) -> str | None:
        """An unexpected error that ended the thread (a harness bug, not a sink failure)."""
        return self._crash

    # -- verification ---------------------------------------------------------------------

    def verify(self, t0_mono: float | None = None) -> LedgerResult:
        """Stop writing, read everything back and classify it.

        The writer is stopped first: reading a ledger that still moves would turn writes
        made during the read into phantoms or losses of the read itself.
        """
        t0 = self._t0 if t0_mono is None else t0_mono
        if t0 is None:
            raise RuntimeError(
                f"ledger writer {self.name!r}: no t0; call mark_t0() when the fault starts "
                "or pass t0_mono to verify()"
            )
        self.stop()
        snapshot = self.writes
        readback = self.sink.read_all()
        return classify(snapshot, readback, t0, self.cadence)

    # -- thread ---------------------------------------------------------------------------

    def _run(self, origin: float) -> None:
        try:
            tick = 0
            while not self._stop_event.is_set():
                due = origin + tick * self.cadence
                now = self._clock()
                if now < due and self._stop_event.wait(due - now):
                    return
                record = self._issue()
                if record is None:
                    return
                try:
                    self.sink.write(record.seq, record.payload)
                except Exception as exc:
                    done = self._clock()
                    final = dataclasses.replace(
                        record, status=WriteStatus.FAILED, error=_describe(exc), done_mono=done
                    )
                else:
                    done = self._clock()
                    final = dataclasses.replace(
                        record, status=WriteStatus.ACKED, ack_mono=done, done_mono=done
                    )
                with self._lock:
                    if self._frozen:
                        return  # stop() gave up on us: the ledger is final
                    self._writes[record.seq - 1] = final
                tick = next_tick(tick, origin, self._clock(), self.cadence)
        except BaseException as exc:  # never let a harness bug die silently in a thread
            self._crash = _describe(exc)

    def _issue(self) -> LedgerWrite | None:
        """Stamp and record the next write as INFLIGHT, or None when writing must end.

        Stamping and the t0 check happen under the lock that :meth:`mark_t0` takes, so
        "no write sent after t0" holds exactly.
        """
        with self._lock:
            if self._frozen or self._stop_event.is_set():
                return None
            sent = self._clock()
            if self._stop_at is not None and sent > self._stop_at:
                return None
            seq = len(self._writes) + 1
            payload = make_payload(self.token, seq, self.payload_size)
            record = LedgerWrite(
                seq=seq,
                payload=payload,
                checksum=checksum_of(payload),
                sent_mono=sent,
                ack_mono=None,
                status=WriteStatus.INFLIGHT,
            )
            self._writes.append(record)
            return record
