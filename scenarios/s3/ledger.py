"""The RPO ledger in S3: one object per numbered write, acknowledged by PutObject's 200.

- :class:`S3LedgerSink`: ``<prefix><seq>`` objects in a bucket.
- :class:`CatalogLedgerSink`: the same, each acknowledged upload also recorded in an
  asset catalogue (a :class:`~drillbook.scenarios.s3.manifest.Manifest`).
- :class:`ReplicatedLedgerSink`: on a replicated bucket, optionally acknowledged only
  once the replica has the object.

Each reads back from ``read_handle`` / ``read_bucket``: ``drill.verify_ledger(ledger,
read_from=replica)`` points ``read_handle`` at the endpoint a recovery produced. The
sinks implement :class:`drillbook.ledger.LedgerSink` (``prepare``, ``write``,
``read_all``, ``close``); the drill's ledger writer calls them, a drill does not.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from drillbook.capture import Capture, CapturePoint
from drillbook.fixtures.s3 import S3Handle
from drillbook.scenarios.common import source_of
from drillbook.scenarios.s3.client import norm_etag

if TYPE_CHECKING:
    from drillbook.scenarios.s3.manifest import Manifest
    from drillbook.scenarios.s3.replicator import Replicator

__all__ = [
    "LEDGER_PREFIXES",
    "MEDIA_LEDGER_PREFIX",
    "PREFIX",
    "CatalogLedgerSink",
    "ReplicatedLedgerSink",
    "ReplicationNotConfirmed",
    "S3LedgerSink",
]

PREFIX = "drill-ledger/"
# The drills keep their RPO ledger inside the media prefix, so a fault on media/ hits it
# too and the ledger proves the restore brought every acknowledged object back.
MEDIA_LEDGER_PREFIX = "media/drill-ledger/"
#: Key prefixes the object checks leave to the ledger's own read-back.
LEDGER_PREFIXES: tuple[str, ...] = (MEDIA_LEDGER_PREFIX, PREFIX)


class S3LedgerSink:
    """One object ``<prefix><seq>`` per write in *bucket* on *handle* (created if missing).

    Reads back from ``read_handle`` / ``read_bucket`` (by default the ones written to):
    ``drill.verify_ledger(ledger, read_from=replica)`` points ``read_handle`` elsewhere.
    """

    def __init__(self, handle: S3Handle, bucket: str, *, prefix: str = PREFIX) -> None:
        self.handle = handle
        self.read_handle = handle
        self.bucket = bucket
        self.read_bucket = bucket
        self.prefix = prefix
        self._client: Any = None
        #: Where the writes go (what a protection's source covers: the bucket's
        #: versioning, its replica).
        self.source = source_of(handle, bucket)

    def prepare(self) -> None:
        c = self.handle.client()
        existing = {b["Name"] for b in c.list_buckets().get("Buckets", [])}
        if self.bucket not in existing:
            c.create_bucket(Bucket=self.bucket)

    def key(self, seq: int) -> str:
        """The object key of write *seq* (read_all parses it back)."""
        return f"{self.prefix}{seq:010d}"

    def _put(self, seq: int, payload: str) -> dict[str, Any]:
        if self._client is None:
            self._client = self.handle.client(timeout=2)
        response: dict[str, Any] = self._client.put_object(
            Bucket=self.bucket, Key=self.key(seq), Body=payload.encode()
        )
        return response

    def write(self, seq: int, payload: str) -> None:
        self._put(seq, payload)

    def read_all(self) -> dict[int, str]:
        """seq -> payload of every ledger object in ``read_bucket`` on ``read_handle``."""
        c = self.read_handle.client()
        keys: list[str] = []
        try:
            for page in c.get_paginator("list_objects_v2").paginate(
                Bucket=self.read_bucket, Prefix=self.prefix
            ):
                keys += [o["Key"] for o in page.get("Contents", [])]
        except c.exceptions.NoSuchBucket:
            return {}

        def fetch(key: str) -> tuple[int, str]:
            body = c.get_object(Bucket=self.read_bucket, Key=key)["Body"].read()
            return int(key[len(self.prefix) :]), body.decode("utf-8", "replace")

        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(pool.map(fetch, keys))

    def close(self) -> None:
        self._client = None


class CatalogLedgerSink(S3LedgerSink):
    """S3 ledger writes recorded, once acknowledged, in an asset catalogue (a Manifest).

    A media application keeps each upload's checksum in its database; a ransomware
    restore checks versions against it. S3's LastModified has one-second resolution, so
    without it a write made in t0's second cannot be told from the attacker's.
    """

    def __init__(
        self, handle: Any, bucket: str, catalog: Manifest, *, prefix: str = MEDIA_LEDGER_PREFIX
    ) -> None:
        super().__init__(handle, bucket, prefix=prefix)
        self.catalog = catalog

    def write(self, seq: int, payload: str) -> None:
        resp = self._put(seq, payload)
        self.catalog.record(
            self.key(seq), payload.encode(), etag=resp.get("ETag"), version_id=resp.get("VersionId")
        )


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
        key = self.key(seq)
        resp = self._put(seq, payload)
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

    def captures(self) -> list[Capture]:
        """The replica as a protection of these writes (``drill.ledger`` registers it):
        acknowledged only once replicated (*confirm*), every acknowledged write; else the
        writes up to the last one whose object the replicator had copied, in seq order."""
        name = f"replica s3://{self.replicator.replica_bucket} of s3://{self.bucket}"

        def sample() -> CapturePoint:
            if self.confirm:
                return CapturePoint(
                    "s3_replication", name, self.source,
                    "every write acknowledged before t0 (each waited for the replica)",
                )  # fmt: skip
            acked = sorted(self.acks(), key=lambda k: int(k[len(self.prefix) :]))
            through = 0
            for key in acked:
                if self.replicator.replicated_at(key) is None:
                    break
                through = int(key[len(self.prefix) :])
            return CapturePoint(
                "s3_replication", name, self.source,
                f"every write through seq {through} (the last object replicated in order)",
                seq_through=through,
            )  # fmt: skip

        return [Capture("s3_replication", name, self.source, sample, kinds=("s3_replication",))]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            super().close()
