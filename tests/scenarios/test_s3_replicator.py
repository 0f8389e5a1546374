"""drillbook's replicator between two real S3 endpoints (two servers of the backend: two
"regions").

- an acknowledged PutObject reported as an event reaches the replica, bytes, content
  type and metadata intact, with its lag measured;
- an object nobody reported is found by the periodic scan;
- a delete marker on the primary becomes one on the replica; a version deleted for good
  is not propagated (the replica stays a backup);
- paused, nothing is copied and objects pile up as pending; resumed, they go across;
- a delay holds each copy back that long (replication lag, like S3 RTC's window);
- a confirmed ledger write is acknowledged only once on the replica.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from drillbook.scenarios.s3.backup import create_bucket
from drillbook.scenarios.s3.client import client, latest_is_delete_marker, norm_etag
from drillbook.scenarios.s3.ledger import ReplicatedLedgerSink
from drillbook.scenarios.s3.replicator import Replicator


@pytest.fixture(scope="module")
def regions(drill_backend: Any) -> Iterator[tuple[Any, Any]]:
    primary = drill_backend.s3(f"repl-primary-{secrets.token_hex(2)}")
    replica = drill_backend.s3(f"repl-replica-{secrets.token_hex(2)}")
    try:
        yield primary, replica
    finally:
        replica.close()
        primary.close()


@pytest.fixture
def pair(regions: tuple[Any, Any]) -> Iterator[tuple[Any, Any, str]]:
    primary, replica = regions
    bucket = f"media-{secrets.token_hex(3)}"
    pc, rc = client(primary), client(replica)
    create_bucket(None, pc, bucket, versioning=True)
    create_bucket(None, rc, bucket, versioning=True)
    yield pc, rc, bucket


def make(regions: tuple[Any, Any], bucket: str, **kw: Any) -> Replicator:
    primary, replica = regions
    return Replicator(primary, bucket, replica, bucket, **kw)


def put(c: Any, bucket: str, key: str, body: bytes, **kw: Any) -> str:
    return norm_etag(c.put_object(Bucket=bucket, Key=key, Body=body, **kw)["ETag"])


def wait_for(cond: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def on_replica(rc: Any, bucket: str, key: str) -> bytes | None:
    try:
        return bytes(rc.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError:
        return None


def test_event_copy_keeps_bytes_type_metadata_and_measures_lag(regions, pair) -> None:
    pc, rc, bucket = pair
    with make(regions, bucket, scan_interval=30) as rep:
        etag = put(
            pc,
            bucket,
            "media/a.jpg",
            b"jpeg bytes",
            ContentType="image/jpeg",
            Metadata={"sha256": "x"},
        )
        ack = time.monotonic()
        rep.notify("media/a.jpg", etag=etag, ack_mono=ack)
        assert rep.wait_replicated("media/a.jpg", etag, 10)
        head = rc.head_object(Bucket=bucket, Key="media/a.jpg")
        assert head["ContentType"] == "image/jpeg" and head["Metadata"] == {"sha256": "x"}
        assert on_replica(rc, bucket, "media/a.jpg") == b"jpeg bytes"
        lag = rep.lag({"media/a.jpg": ack})
        assert lag.replicated == 1 and lag.max_s is not None and 0 <= lag.max_s < 10
        assert rep.describe()["performed_by"].startswith("drillbook replicator")


def test_scan_finds_unreported_objects(regions, pair) -> None:
    pc, rc, bucket = pair
    put(pc, bucket, "media/old.bin", b"written before the replicator")
    with make(regions, bucket, scan_interval=0.2):
        assert wait_for(lambda: on_replica(rc, bucket, "media/old.bin") is not None)


def test_delete_markers_propagate_permanent_deletes_do_not(regions, pair) -> None:
    pc, rc, bucket = pair
    put(pc, bucket, "media/marked.bin", b"m")
    vid = pc.put_object(Bucket=bucket, Key="media/purged.bin", Body=b"p")["VersionId"]
    rep = make(regions, bucket, scan_interval=0.2)
    assert rep.sync_once() == 2  # the initial copy, before the thread runs
    with rep:
        pc.delete_object(Bucket=bucket, Key="media/marked.bin")  # delete marker
        pc.delete_object(Bucket=bucket, Key="media/purged.bin", VersionId=vid)  # for good

        # The version listing, not HEAD: SeaweedFS's 404 never says "delete marker".
        assert wait_for(lambda: latest_is_delete_marker(rc, bucket, "media/marked.bin"))
        assert on_replica(rc, bucket, "media/marked.bin") is None
        assert wait_for(lambda: rep.permanent_deletes_ignored >= 1)
        assert on_replica(rc, bucket, "media/purged.bin") == b"p"
        assert rep.deletes_propagated == 1


def test_paused_replication_leaves_objects_pending(regions, pair) -> None:
    pc, rc, bucket = pair
    with make(regions, bucket, scan_interval=30) as rep:
        rep.pause()
        etag = put(pc, bucket, "media/p.bin", b"during the outage")
        rep.notify("media/p.bin", etag=etag)
        assert not rep.wait_replicated("media/p.bin", etag, 0.5)
        assert rep.pending() == ["media/p.bin"] and on_replica(rc, bucket, "media/p.bin") is None
        rep.resume()
        assert rep.wait_replicated("media/p.bin", etag, 10)


def test_delay_holds_each_copy_back(regions, pair) -> None:
    pc, _rc, bucket = pair
    with make(regions, bucket, scan_interval=30, delay=0.6) as rep:
        etag = put(pc, bucket, "media/d.bin", b"late")
        t = time.monotonic()
        rep.notify("media/d.bin", etag=etag, ack_mono=t)
        assert rep.wait_replicated("media/d.bin", etag, 10)
        done = rep.replicated_at("media/d.bin")
        assert done is not None and done - t >= 0.6


def test_confirmed_ledger_write_is_on_the_replica_when_acknowledged(regions, pair) -> None:
    primary, _ = regions
    _pc, rc, bucket = pair
    with make(regions, bucket, scan_interval=30) as rep:
        sink = ReplicatedLedgerSink(primary, bucket, rep, confirm=True)
        sink.write(1, "payload one")
        assert on_replica(rc, bucket, sink.key(1)) == b"payload one"
        rep.pause()
        with pytest.raises(RuntimeError, match="not on the replica"):
            ReplicatedLedgerSink(primary, bucket, rep, confirm=True, confirm_timeout=0.3).write(
                2, "payload two"
            )
        sink.close()
