"""The engine of drillbook's replicator: scanning the source bucket, copying what
changed (each copy's MD5 checked against the source ETag), propagating delete markers.
:class:`~drillbook.scenarios.s3.replicator.Replicator` drives it from a thread."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from drillbook.scenarios.s3.client import (
    client,
    error_code,
    get_verified,
    is_delete_marker_error,
    latest_is_delete_marker,
    norm_etag,
    pool_map,
    put_copy,
)
from drillbook.scenarios.s3.manifest import list_current

ERRORS_KEPT = 50
GONE = ("NoSuchBucket", "NoSuchKey", "404")


@dataclass
class PendingCopy:
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


@dataclass(eq=False)
class Copier:
    """Copies new and changed objects from (*source*, *source_bucket*) to (*replica*,
    *replica_bucket*), one round at a time: :meth:`_scan` finds what changed under
    *prefix*, :meth:`_copy_due` copies it (after *delay* seconds, *workers* at once,
    retried after *retry_interval*); delete markers follow when *delete_markers*."""

    source: Any
    source_bucket: str
    replica: Any
    replica_bucket: str
    _: KW_ONLY
    prefix: str = ""
    delete_markers: bool = True
    delay: float = 0.0
    workers: int = 8
    retry_interval: float = 0.2
    copies: int = field(default=0, init=False)
    bytes: int = field(default=0, init=False)
    deletes_propagated: int = field(default=0, init=False)
    permanent_deletes_ignored: int = field(default=0, init=False)
    scans: int = field(default=0, init=False)
    errors: Counter[str] = field(default_factory=Counter, init=False)
    last_errors: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        # Short timeouts: a lost region must fail a copy fast, not hang the thread.
        self._src = client(self.source, timeout=5, pool=self.workers)
        self._dst = client(self.replica, timeout=5, pool=self.workers)
        self._cond = threading.Condition()
        self._pending: dict[str, PendingCopy] = {}
        self._done: dict[str, Replication] = {}
        self._first: dict[str, float] = {}  # key -> first replica ack
        self._gen = 0
        self._paused_since: float | None = None

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
                    self._pending[key] = PendingCopy(key, now, None, self._gen)
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
        if not marker:  # SeaweedFS's 404 does not say: its version listing does
            try:
                marker = latest_is_delete_marker(self._src, self.source_bucket, key)
            except Exception as exc:
                self._error("list versions", exc)
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

    def _copy_one(self, item: PendingCopy) -> bool:
        try:
            data, etag, resp = get_verified(self._src, self.source_bucket, item.key)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise
            # Deleted (marker or for good) or the bucket is gone: nothing to copy; a scan
            # decides about propagating a marker.
            self._drop(item)
            with self._cond:
                known = item.key in self._done
            if known and error_code(exc) != "NoSuchBucket":
                self._propagate_delete(item.key)
            return False
        with self._cond:
            done = self._done.get(item.key)
        if done is not None and done.etag == etag:
            self._drop(item)
            return False
        if item.ack_mono is None and done is None and self._replica_has(item.key, etag):
            self._record(item, etag, len(data), copied=False)
            return False
        put_copy(self._dst, self.replica_bucket, item.key, data, resp)
        self._record(item, etag, len(data), copied=True)
        return True

    def _replica_has(self, key: str, etag: str) -> bool:
        """A scan-found key the replica already holds (e.g. after a restore from it)."""
        try:
            head = self._dst.head_object(Bucket=self.replica_bucket, Key=key)
        except Exception:
            return False
        return norm_etag(head.get("ETag")) == etag

    def _record(self, item: PendingCopy, etag: str, size: int, *, copied: bool) -> None:
        now = time.monotonic()
        with self._cond:
            self._done[item.key] = Replication(
                item.key, etag, size, item.seen_mono, item.ack_mono, now
            )
            self._first.setdefault(item.key, now)
            if copied:
                self.copies += 1
                self.bytes += size
        self._drop(item)

    def _drop(self, item: PendingCopy) -> None:
        """The pending entry is done with, unless a newer event replaced it meanwhile."""
        with self._cond:
            p = self._pending.get(item.key)
            if p is not None and p.gen == item.gen:
                del self._pending[item.key]
            self._cond.notify_all()
