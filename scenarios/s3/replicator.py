"""drillbook's replicator: cross-region replication that moto accepts but does not perform.

The runbooks protect media with "S3 versioning + cross-region replication"
(../shared/runbooks/002_…) configured by ``put-bucket-replication`` (001_…). moto's
server stores that configuration and copies nothing, so a drill that wants a replica
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
  its VersionId) is never propagated, as in S3: that is what makes the replica a backup;
- each copy's MD5 is checked against the source ETag.

Lag is measured per object: from the primary's acknowledgement (the event's time) to
the replica's acknowledgement of the copy (:meth:`lag`). :meth:`pause` stops copying
(a replication outage) and pending objects pile up: a region lost then loses them.

:class:`ReplicatedLedgerSink` is the RPO ledger written to the primary with that event;
with ``confirm=True`` a write is acknowledged only once the replica has it (the upload
path an RPO-0 target over asynchronous replication needs).
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

from botocore.exceptions import ClientError

from drillbook.scenarios.s3 import protection
from drillbook.scenarios.s3.checks import (
    MEDIA_LEDGER_PREFIX,
    error_code,
    is_delete_marker_error,
    is_multipart_etag,
    list_current,
    md5_hex,
    norm_etag,
    pool_map,
)
from drillbook.scenarios.s3.ledger import S3LedgerSink

ERRORS_KEPT = 50
GONE = ("NoSuchBucket", "NoSuchKey", "404")


@dataclass
class _Pending:
    key: str
    seen_mono: float  # when the event or scan saw the source object
    ack_mono: float | None  # the primary's ack, when the write path reported it
    gen: int
    retry_at: float = 0.0


@dataclass(frozen=True)
class Replication:
    """One copy made: which ETag reached the replica, and when."""

    key: str
    etag: str
    size: int
    seen_mono: float
    ack_mono: float | None
    replicated_mono: float


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


class Replicator:
    """Copies new and changed objects from (source, bucket) to (replica, bucket)."""

    def __init__(
        self,
        source: Any,
        source_bucket: str,
        replica: Any,
        replica_bucket: str,
        *,
        prefix: str = "",
        delete_markers: bool = True,
        scan_interval: float = 1.0,
        delay: float = 0.0,
        workers: int = 8,
        retry_interval: float = 0.2,
        name: str = "replicator",
    ) -> None:
        self.source = source
        self.source_bucket = source_bucket
        self.replica = replica
        self.replica_bucket = replica_bucket
        self.prefix = prefix
        self.delete_markers = delete_markers
        self.scan_interval = scan_interval
        self.delay = delay
        self.workers = workers
        self.retry_interval = retry_interval
        self.name = name
        # Short timeouts: a lost region must fail a copy fast, not hang the thread.
        self._src = protection.client(source, timeout=5, pool=workers)
        self._dst = protection.client(replica, timeout=5, pool=workers)
        self._cond = threading.Condition()
        self._work = threading.Lock()  # one scan/copy round at a time
        self._pending: dict[str, _Pending] = {}
        self._done: dict[str, Replication] = {}
        self._first: dict[str, float] = {}  # key -> first replica ack
        self._gen = 0
        self._paused_since: float | None = None
        self._paused_total = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.copies = 0
        self.bytes = 0
        self.deletes_propagated = 0
        self.permanent_deletes_ignored = 0
        self.scans = 0
        self.errors: Counter[str] = Counter()
        self.last_errors: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Replicator:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"drillbook-{self.name}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> bool:
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
        with self._cond:
            if self._paused_since is not None:
                self._paused_total += time.monotonic() - self._paused_since
                self._paused_since = None
        self._wake.set()

    @property
    def paused(self) -> bool:
        return self._paused_since is not None

    # -- the write path's side ------------------------------------------------------------------

    def notify(self, key: str, *, etag: str | None = None, ack_mono: float | None = None) -> None:
        """An ObjectCreated event: *key* was acknowledged by the primary at *ack_mono*."""
        if not key.startswith(self.prefix):
            return
        now = time.monotonic()
        with self._cond:
            self._gen += 1
            self._pending[key] = _Pending(
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
            "performed_by": "drillbook replicator (scenarios/s3/replicator.py): the S3 "
            "server stores the replication configuration but copies nothing",
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

    def _error(self, where: str, exc: BaseException) -> None:
        code = error_code(exc)
        with self._cond:
            self.errors[f"{where}: {code}"] += 1
            self.last_errors.append(f"{where}: {code}: {exc}"[:300])
            del self.last_errors[:-ERRORS_KEPT]

    def _scan(self) -> None:
        self.scans += 1
        try:
            current = list_current(self._src, self.source_bucket, self.prefix)
        except Exception as exc:
            self._error("scan", exc)
            return
        now = time.monotonic()
        gone: list[str] = []
        with self._cond:
            for key, obj in current.items():
                done = self._done.get(key)
                if (done is None or done.etag != obj.etag) and key not in self._pending:
                    self._gen += 1
                    self._pending[key] = _Pending(key, now, None, self._gen)
            gone = [k for k in self._done if k not in current and k not in self._pending]
        for key in gone:
            self._propagate_delete(key)

    def _propagate_delete(self, key: str) -> None:
        try:
            self._src.head_object(Bucket=self.source_bucket, Key=key)
            return  # it is back (a race with a new write): the next scan copies it
        except ClientError as exc:
            marker = is_delete_marker_error(exc)
            code = error_code(exc)
            if code == "NoSuchBucket":
                return  # the bucket is gone: nothing to learn, nothing to propagate
            if code not in GONE:
                self._error("head", exc)
                return
        except Exception as exc:
            self._error("head", exc)
            return
        if marker and self.delete_markers:
            try:
                self._dst.delete_object(Bucket=self.replica_bucket, Key=key)
            except Exception as exc:
                self._error("delete", exc)
                return
            self.deletes_propagated += 1
        elif not marker:
            self.permanent_deletes_ignored += 1
        with self._cond:
            self._done.pop(key, None)

    def _copy_due(self, *, ignore_delay: bool, force: bool = False) -> int:
        now = time.monotonic()
        with self._cond:
            if self._paused_since is not None and not force:
                return 0  # paused mid-round: copies not yet started wait for resume()
            due = [
                p
                for p in self._pending.values()
                if (ignore_delay or p.seen_mono + self.delay <= now) and p.retry_at <= now
            ]
        if not due:
            return 0
        results = pool_map(self._copy_one, due, self.workers)
        copied = 0
        for item, res in zip(due, results, strict=True):
            if isinstance(res, BaseException):
                self._error("copy", res)
                with self._cond:
                    p = self._pending.get(item.key)
                    if p is not None and p.gen == item.gen:
                        p.retry_at = time.monotonic() + self.retry_interval
            else:
                copied += int(res)
        return copied

    def _copy_one(self, item: _Pending) -> bool:
        try:
            resp = self._src.get_object(Bucket=self.source_bucket, Key=item.key)
        except ClientError as exc:
            if error_code(exc) in GONE:
                # Deleted (marker or for good) or the bucket is gone: nothing to copy; a
                # scan decides about propagating a marker.
                self._drop(item)
                with self._cond:
                    known = item.key in self._done
                if known and error_code(exc) != "NoSuchBucket":
                    self._propagate_delete(item.key)
                return False
            raise
        data = resp["Body"].read()
        etag = norm_etag(resp.get("ETag"))
        if not is_multipart_etag(etag) and md5_hex(data) != etag:
            raise RuntimeError(f"{item.key}: source read MD5 {md5_hex(data)} != ETag {etag}")
        with self._cond:
            done = self._done.get(item.key)
        if done is not None and done.etag == etag:
            self._drop(item)
            return False
        if item.ack_mono is None and done is None and self._replica_has(item.key, etag):
            self._record(item, etag, len(data), copied=False)
            return False
        kwargs: dict[str, Any] = {
            "Bucket": self.replica_bucket,
            "Key": item.key,
            "Body": data,
            "Metadata": resp.get("Metadata", {}),
        }
        if resp.get("ContentType"):
            kwargs["ContentType"] = resp["ContentType"]
        put = self._dst.put_object(**kwargs)
        if norm_etag(put.get("ETag")) != md5_hex(data):
            raise RuntimeError(f"{item.key}: replica ETag {put.get('ETag')} != MD5 of the copy")
        self._record(item, etag, len(data), copied=True)
        return True

    def _replica_has(self, key: str, etag: str) -> bool:
        """A scan-found key the replica already holds (e.g. after a restore from it)."""
        try:
            head = self._dst.head_object(Bucket=self.replica_bucket, Key=key)
        except Exception:
            return False
        return norm_etag(head.get("ETag")) == etag

    def _record(self, item: _Pending, etag: str, size: int, *, copied: bool) -> None:
        now = time.monotonic()
        with self._cond:
            self._done[item.key] = Replication(
                item.key, etag, size, item.seen_mono, item.ack_mono, now
            )
            self._first.setdefault(item.key, now)
            if copied:
                self.copies += 1
                self.bytes += size
            p = self._pending.get(item.key)
            if p is not None and p.gen == item.gen:
                del self._pending[item.key]
            self._cond.notify_all()

    def _drop(self, item: _Pending) -> None:
        with self._cond:
            p = self._pending.get(item.key)
            if p is not None and p.gen == item.gen:
                del self._pending[item.key]
            self._cond.notify_all()


class ReplicationNotConfirmed(RuntimeError):
    """The replica did not acknowledge an upload in time: the upload is not acknowledged."""


class ReplicatedLedgerSink(S3LedgerSink):
    """The RPO ledger on the replicated primary bucket.

    Each write is PutObject on the primary, then the ObjectCreated event for the
    replicator. ``confirm=False``: acknowledged at the primary's 200 (S3's default:
    replication is asynchronous). ``confirm=True``: acknowledged only once the replica
    has the object, as an upload service promising RPO 0 across a region loss must do;
    a write not confirmed within *confirm_timeout* raises (never acknowledged).
    """

    def __init__(
        self,
        handle: Any,
        bucket: str,
        replicator: Replicator,
        *,
        prefix: str = MEDIA_LEDGER_PREFIX,
        confirm: bool = False,
        confirm_timeout: float = 2.0,
    ) -> None:
        super().__init__(handle, bucket, prefix=prefix)
        self.replicator = replicator
        self.confirm = confirm
        self.confirm_timeout = confirm_timeout
        self.primary_acks: dict[str, float] = {}
        self._acks_lock = threading.Lock()

    def write(self, seq: int, payload: str) -> None:
        if self._client is None:
            self._client = self.handle.client(timeout=2)
        key = self.key(seq)
        resp = self._client.put_object(Bucket=self.bucket, Key=key, Body=payload.encode())
        ack = time.monotonic()
        with self._acks_lock:
            self.primary_acks[key] = ack
        etag = norm_etag(resp.get("ETag"))
        self.replicator.notify(key, etag=etag, ack_mono=ack)
        if self.confirm and not self.replicator.wait_replicated(key, etag, self.confirm_timeout):
            raise ReplicationNotConfirmed(
                f"{key}: not on the replica {self.confirm_timeout:g} s after the primary's ack"
            )

    def acks(self) -> dict[str, float]:
        with self._acks_lock:
            return dict(self.primary_acks)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            super().close()
