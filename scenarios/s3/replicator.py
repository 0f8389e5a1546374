"""drillbook's replicator: cross-region replication the S3 servers drillbook runs lack.

The runbooks protect media with "S3 versioning + cross-region replication"
(runbooks/object-storage.md) configured by ``put-bucket-replication``. moto's
server stores that configuration and copies nothing, SeaweedFS does not implement it
(:func:`~drillbook.scenarios.s3.backup.configure_replication`), so a drill that wants a replica
runs this replicator: a background thread copying object versions from the primary
endpoint's bucket to the replica endpoint's bucket. The drill record must say so
(:meth:`Replicator.describe`): the copies are drillbook's, not the S3 server's.

How it replicates, close to S3's own replication:
- events: the write path reports each acknowledged PutObject (:meth:`notify`, the
  ObjectCreated event S3 would queue), copied at once, or after ``delay`` seconds to
  model replication lag (S3 RTC promises 15 minutes);
- scans: every ``scan_interval`` the source is listed and anything whose ETag differs
  from what was replicated is copied (what events missed, e.g. objects written before
  the replicator started: S3 Batch Replication);
- deletes: a delete marker on the source becomes a delete marker on the replica when
  ``delete_markers`` is on (DeleteMarkerReplication); a version deleted for good (with
  its VersionId) is never propagated, as in S3: that is what makes the replica a backup.
  A marker is told from a permanent delete by HEAD's ``x-amz-delete-marker``, else (a
  SeaweedFS source never sends it) by the source's version listing;
- each copy's MD5 is checked against the source ETag.

Lag is measured per object: from the primary's acknowledgement (the event's time) to
the replica's acknowledgement of the copy (:meth:`lag`). :meth:`pause` stops copying
(a replication outage) and pending objects pile up: a region lost then loses them.

``ledger.ReplicatedLedgerSink`` is the RPO ledger written to the primary with that
event; with ``confirm=True`` a write is acknowledged only once the replica has it (the
upload path an RPO-0 target over asynchronous replication needs).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, asdict, dataclass
from types import TracebackType
from typing import Any

from drillbook.scenarios.s3.client import norm_etag
from drillbook.scenarios.s3.copier import Copier, PendingCopy, Replication

__all__ = ["LagStats", "Replication", "Replicator", "lag_stats"]


@dataclass
class LagStats:
    """Replication lag of a set of writes: primary ack -> replica ack, in seconds."""

    writes: int = 0
    replicated: int = 0
    not_replicated: int = 0
    pending_at_t0: int = 0  # acknowledged by the primary before t0, not on the replica at t0
    p50_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None
    mean_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for k in ("p50_s", "p95_s", "max_s", "mean_s"):
            if out[k] is not None:
                out[k] = round(out[k], 4)
        return out


def lag_stats(pairs: Iterable[tuple[float, float | None]], *, t0: float | None = None) -> LagStats:
    """*pairs*: (primary ack, first replica ack or None) per write."""
    out = LagStats()
    lags: list[float] = []
    for ack, replicated in pairs:
        out.writes += 1
        if replicated is None:
            out.not_replicated += 1
        else:
            out.replicated += 1
            lags.append(max(0.0, replicated - ack))
        if t0 is not None and ack < t0 and (replicated is None or replicated >= t0):
            out.pending_at_t0 += 1
    if lags:
        lags.sort()
        out.p50_s = statistics.median(lags)
        out.p95_s = lags[min(len(lags) - 1, round(0.95 * (len(lags) - 1)))]
        out.max_s = lags[-1]
        out.mean_s = statistics.fmean(lags)
    return out


@dataclass(eq=False)
class Replicator(Copier):
    """Copies new and changed objects from (*source*, *source_bucket*) to (*replica*,
    *replica_bucket*) in a thread: events (:meth:`notify`) at once or after *delay*,
    and a scan of the source every *scan_interval* seconds for what events missed.
    *prefix*, *delete_markers*, *workers*, *retry_interval*: see :class:`Copier`.
    The drill record must say the copies are drillbook's (:meth:`describe`)."""

    _: KW_ONLY
    scan_interval: float = 1.0
    name: str = "replicator"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._work = threading.Lock()  # one scan/copy round at a time
        self._paused_total = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Replicator:
        """Start copying in a background thread (idempotent); returns the replicator."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"drillbook-{self.name}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the thread (waiting *timeout* seconds); True when it ended."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    close = stop

    def __enter__(self) -> Replicator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def pause(self) -> None:
        """A replication outage: nothing is copied until :meth:`resume`."""
        with self._cond:
            if self._paused_since is None:
                self._paused_since = time.monotonic()

    def resume(self) -> None:
        """End a replication outage: what piled up is copied."""
        with self._cond:
            if self._paused_since is not None:
                self._paused_total += time.monotonic() - self._paused_since
                self._paused_since = None
        self._wake.set()

    @property
    def paused(self) -> bool:
        """Whether replication is paused (:meth:`pause`)."""
        return self._paused_since is not None

    # -- the write path's side ------------------------------------------------------------------

    def notify(self, key: str, *, etag: str | None = None, ack_mono: float | None = None) -> None:
        """An ObjectCreated event: *key* was acknowledged by the primary at *ack_mono*."""
        if not key.startswith(self.prefix):
            return
        now = time.monotonic()
        with self._cond:
            self._gen += 1
            self._pending[key] = PendingCopy(
                key, now, ack_mono if ack_mono is not None else now, self._gen
            )
        self._wake.set()

    def wait_replicated(self, key: str, etag: str, timeout: float) -> bool:
        """Block until the replica acknowledged *etag* for *key* (or *timeout* passes)."""
        want = norm_etag(etag)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                done = self._done.get(key)
                if done is not None and done.etag == want:
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._cond.wait(left)

    # -- state ------------------------------------------------------------------------------

    def replicated_at(self, key: str) -> float | None:
        """When *key* first reached the replica (monotonic), or None."""
        with self._cond:
            return self._first.get(key)

    def pending(self) -> list[str]:
        """Keys seen on the source and not yet on the replica."""
        with self._cond:
            return sorted(self._pending)

    def lag(self, acks: Mapping[str, float], *, t0: float | None = None) -> LagStats:
        """Lag of the writes in *acks* (key -> primary ack, monotonic)."""
        with self._cond:
            pairs = [(ack, self._first.get(key)) for key, ack in acks.items()]
        return lag_stats(pairs, t0=t0)

    def event_lag(self) -> LagStats:
        """Lag of every copy whose primary ack is known (events)."""
        with self._cond:
            pairs = [
                (r.ack_mono, r.replicated_mono)
                for r in self._done.values()
                if r.ack_mono is not None
            ]
        return lag_stats(pairs)

    def describe(self) -> dict[str, Any]:
        """For the drill record: who copies, from where to where, how, and how it went."""
        with self._cond:
            paused = self._paused_total + (
                time.monotonic() - self._paused_since if self._paused_since is not None else 0.0
            )
            pending = len(self._pending)
        return {
            "performed_by": "drillbook replicator (drillbook.scenarios.s3.replicator): the S3 "
            "server copies nothing (moto stores the replication configuration, SeaweedFS "
            "does not implement it)",
            "delete_markers_detected_by": "HEAD's x-amz-delete-marker, else "
            "ListObjectVersions (SeaweedFS's HEAD does not send the header)",
            "source": f"{self.source.endpoint}/{self.source_bucket}/{self.prefix}",
            "replica": f"{self.replica.endpoint}/{self.replica_bucket}/",
            "mode": f"events + scan every {self.scan_interval:g} s, delay {self.delay:g} s, "
            f"{self.workers} workers, delete markers "
            f"{'replicated' if self.delete_markers else 'not replicated'}, "
            "permanent version deletes never replicated",
            "copies": self.copies,
            "bytes": self.bytes,
            "deletes_propagated": self.deletes_propagated,
            "permanent_deletes_ignored": self.permanent_deletes_ignored,
            "scans": self.scans,
            "pending": pending,
            "paused_s": round(paused, 3),
            "errors": dict(self.errors),
            "last_errors": list(self.last_errors[-5:]),
            "event_lag": self.event_lag().to_dict(),
        }

    # -- work ---------------------------------------------------------------------------------

    def sync_once(self, *, ignore_delay: bool = True) -> int:
        """One full round now (scan + copy everything due): the initial batch replication."""
        with self._work:
            self._scan()
            return self._copy_due(ignore_delay=ignore_delay, force=True)

    def _run(self) -> None:
        next_scan = time.monotonic()
        while not self._stop.is_set():
            if self.paused:
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            now = time.monotonic()
            try:
                with self._work:
                    if now >= next_scan:
                        self._scan()
                        next_scan = time.monotonic() + self.scan_interval
                    copied = self._copy_due(ignore_delay=False)
            except Exception as exc:  # never die silently: count it and go on
                self._error("loop", exc)
                copied = 0
            if copied:
                continue
            wait = next_scan - time.monotonic()
            with self._cond:
                due = [max(p.seen_mono + self.delay, p.retry_at) for p in self._pending.values()]
            if due:
                wait = min(wait, min(due) - time.monotonic())
            self._wake.wait(max(0.005, wait))
            self._wake.clear()
