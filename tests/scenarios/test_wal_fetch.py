"""The WAL prefetcher and the streamed base backup, against real servers.

A real PostgreSQL archives a few segments into a real S3 server; the prefetcher spools
them and the restore command (the shell script PostgreSQL runs) takes them. Counts, not
times: how many segments were fetched before any was taken (its depth), in which order,
what a missing or a corrupt segment gives (exit 1: recovery ends there; the refusal
recorded), and that the thread is gone after the block that owns it, also on failure.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drillbook.drill import Drill
from drillbook.fixtures.runner import OsUser
from drillbook.record import DrillRecord, Phase
from drillbook.scenarios.common import scratch_dir
from drillbook.scenarios.postgres import wal, wal_fetch, wal_push
from drillbook.scenarios.postgres.backup import WalArchive, base_backup
from drillbook.scenarios.postgres.basestream import restore_base
from drillbook.scenarios.store import BackupCorrupt, BackupStore

SEGMENTS = 4


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.01)


@pytest.fixture
def archived(pg_factory: Any, s3: Any) -> tuple[WalArchive, list[str]]:
    """An archive holding SEGMENTS consecutive segments of one timeline (the names)."""
    archive = WalArchive.create(s3, "wal-fetch-test", prefix=f"wal-{time.time_ns()}/")
    primary = pg_factory("fetch-src", **archive.server_settings(60))
    names = []
    for i in range(SEGMENTS):
        primary.execute(f"CREATE TABLE t{i} AS SELECT g FROM generate_series(1, 1000) g")
        names.append(archive.wait_archived(primary))
    first = wal.segment_of(names[0])
    assert first is not None and names == [
        wal.segment_name(first[0], first[1] + i) for i in range(SEGMENTS)
    ]
    return archive, names


@pytest.fixture
def spool() -> wal_fetch.Spool:
    return wal_fetch.make_spool(scratch_dir("fetch-test"), OsUser.unprivileged())


def restore(spool: wal_fetch.Spool, name: str, dest: Path, deadline: int = 20) -> int:
    """What PostgreSQL does: run the restore command for *name* into *dest*."""
    argv = ["/bin/sh", str(spool.script), str(spool.path), str(deadline), name, str(dest)]
    return subprocess.run(argv, capture_output=True, timeout=deadline + 10).returncode


@pytest.fixture
def fetcher(
    archived: tuple[WalArchive, list[str]], spool: wal_fetch.Spool
) -> Iterator[wal_fetch.WalPrefetcher]:
    archive, names = archived
    seg = wal.segment_of(names[0])
    assert seg is not None
    with wal_fetch.prefetching(archive, spool, timeline=seg[0], first_segno=seg[1], depth=2) as f:
        yield f


def test_every_segment_in_order_prefetched_depth_ahead(
    archived: tuple[WalArchive, list[str]],
    spool: wal_fetch.Spool,
    fetcher: wal_fetch.WalPrefetcher,
    tmp_path: Path,
) -> None:
    archive, names = archived
    wait_for(lambda: len(fetcher.stats.fetched) == 2, "two segments prefetched")
    # Nothing taken yet: it stays at its depth, and what it fetched is the archive's start.
    assert fetcher.stats.fetched == names[:2]
    assert sorted(p.name for p in spool.path.iterdir() if not p.name.startswith(".")) == names[:2]
    catalog = {e.name: e.sha256 for e in archive.catalog()}
    for name in names:
        assert restore(spool, name, tmp_path / name) == 0, name
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == catalog[name]
    assert fetcher.stats.fetched == names  # in order, each once
    assert fetcher.stats.max_ahead <= 2 and not fetcher.stats.refused
    # The end of recovery reads the last segment again: served from what was kept.
    assert restore(spool, names[-1], tmp_path / "again") == 0
    assert (tmp_path / "again").read_bytes() == (tmp_path / names[-1]).read_bytes()
    assert fetcher.stats.reread == [names[-1]] and fetcher.stats.fetched == names
    # Past the end of the archive, and a history file that does not exist: exit 1, so
    # recovery ends (recovery_target_timeline = latest asks for the next timeline's).
    seg = wal.segment_of(names[-1])
    assert seg is not None
    assert restore(spool, wal.segment_name(seg[0], seg[1] + 1), tmp_path / "next") == 1
    assert restore(spool, f"{seg[0] + 1:08X}.history", tmp_path / "hist") == 1
    assert not (tmp_path / "next").exists() and not (tmp_path / "hist").exists()


def test_a_segment_missing_mid_archive_ends_recovery_there(
    archived: tuple[WalArchive, list[str]], spool: wal_fetch.Spool, tmp_path: Path
) -> None:
    archive, names = archived
    archive.store.client.delete_object(Bucket=archive.store.bucket, Key=archive.prefix + names[1])
    seg = wal.segment_of(names[0])
    assert seg is not None
    with wal_fetch.prefetching(archive, spool, timeline=seg[0], first_segno=seg[1]) as f:
        assert restore(spool, names[0], tmp_path / "a") == 0
        assert restore(spool, names[1], tmp_path / "b") == 1  # the gap: "not in the archive"
    assert names[1] in f.stats.missing and names[1] not in f.stats.fetched


def test_a_corrupt_segment_is_refused(
    archived: tuple[WalArchive, list[str]], spool: wal_fetch.Spool, tmp_path: Path
) -> None:
    archive, names = archived
    store = archive.store
    key = archive.prefix + names[1]
    body = bytearray(store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    body[5000] ^= 0xFF  # altered, and its metadata re-hashed to match: only the catalog knows
    meta = {"sha256": hashlib.sha256(body).hexdigest()}
    store.client.put_object(Bucket=store.bucket, Key=key, Body=bytes(body), Metadata=meta)
    seg = wal.segment_of(names[0])
    assert seg is not None
    with wal_fetch.prefetching(archive, spool, timeline=seg[0], first_segno=seg[1]) as f:
        assert restore(spool, names[1], tmp_path / "b") == 1
    assert "catalog recorded at push" in f.stats.refused[names[1]]
    assert not (tmp_path / "b").exists()


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "wal-prefetch"]


def test_the_thread_stops_with_its_block_also_on_failure(
    archived: tuple[WalArchive, list[str]], spool: wal_fetch.Spool, tmp_path: Path
) -> None:
    archive, names = archived
    seg = wal.segment_of(names[0])
    assert seg is not None
    before = len(prefetch_threads())
    fetching = wal_fetch.prefetching(archive, spool, timeline=seg[0], first_segno=seg[1])
    with pytest.raises(RuntimeError, match="restore failed"), fetching as f:
        assert f.alive
        raise RuntimeError("restore failed")
    assert not f.alive and len(prefetch_threads()) == before
    # A restore command still waiting is told, instead of waiting out its deadline.
    assert restore(spool, "000000010000000000000099", tmp_path / "x") == 127


def test_a_fetcher_that_fails_makes_the_restore_command_fail(
    pg_factory: Any, s3_factory: Any, spool: wal_fetch.Spool, tmp_path: Path
) -> None:
    s3 = s3_factory("fetch-dies")
    archive = WalArchive.create(s3, "wal-dies")
    pg = pg_factory("fetch-dies-src", **archive.server_settings(60))
    name = archive.wait_archived(pg)
    seg = wal.segment_of(name)
    assert seg is not None
    # The queue starts past the archived segment: nothing is prefetched, the request is.
    with wal_fetch.prefetching(archive, spool, timeline=seg[0], first_segno=seg[1] + 1) as f:
        s3.kill()
        assert restore(spool, name, tmp_path / "x", deadline=60) == 127
        wait_for(lambda: not f.alive, "the fetcher thread ended")
    assert f.stats.error


def test_a_streamed_base_backup_restores_and_its_checksum_matches(
    pg: Any, s3: Any, tmp_path: Path
) -> None:
    store = BackupStore(s3, "streamed-base")
    store.ensure_bucket()
    drill = Drill(DrillRecord(drill_id="t", name="t"))
    try:
        with drill.step("base backup", Phase.SETUP) as s:
            base = base_backup(s, pg, store)
        (obj,) = base.objects  # one object: the tar, its manifest inside, no local copy
        assert obj.key.endswith("/base.tar") and base.start_lsn and base.timeline
        body = store.client.get_object(Bucket=store.bucket, Key=obj.key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == obj.sha256 == store.head(obj.key).sha256
        assert len(body) == obj.size == base.size
        with drill.step("restore", Phase.EXECUTION) as s:
            restore_base(s, store, base.name, base.objects, tmp_path / "data")
        for name in ("PG_VERSION", "backup_label", "backup_manifest", "global/pg_control"):
            assert (tmp_path / "data" / name).exists(), name
        label = (tmp_path / "data" / "backup_label").read_text()
        assert wal.format_lsn(base.start_lsn) in label
        # Altered in S3: the stream is refused once it went through.
        altered = bytearray(body)
        altered[len(body) // 2] ^= 0xFF
        store.client.put_object(Bucket=store.bucket, Key=obj.key, Body=bytes(altered))
        refused = pytest.raises(BackupCorrupt, match="checksum mismatch")
        with refused, drill.step("restore again", Phase.EXECUTION) as s:
            restore_base(s, store, base.name, base.objects, tmp_path / "again")
    finally:
        drill.close()


@pytest.mark.parametrize(
    "damage",
    [
        # tar stops at its end-of-archive blocks and exits 0: what follows was never hashed
        pytest.param(lambda body: body + b"appended after the archive" * 4096, id="appended"),
        # tar gives up at once ("Archive is compressed"), exit 2, with most bytes unread
        pytest.param(lambda body: b"\x1f\x8b" + body[2:], id="header-tar-gives-up-on"),
        # a flipped byte in the first header: tar skips it and reads on, exit 2
        pytest.param(lambda body: bytes([body[0] ^ 0xFF]) + body[1:], id="first-header"),
    ],
)
def test_a_damaged_base_tar_is_refused_by_its_checksum_wherever_tar_stops(
    s3: Any, tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    """Whatever tar makes of the altered stream (done early with success, stopped with an
    error, read to the end), the verdict is the checksum's: BackupCorrupt, never tar's
    error or a success on the bytes tar happened to read."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("PG_VERSION", "a", "b"):
        (src / name).write_bytes(os.urandom(300_000))
    tar_path = tmp_path / "base.tar"
    subprocess.run(["tar", "-cf", str(tar_path), "-C", str(src), "."], check=True)
    store = BackupStore(s3, "damaged-tar")
    store.ensure_bucket()
    obj = store.put_file(tar_path, "b1/base.tar")
    drill = Drill(DrillRecord(drill_id="t", name="t"))
    try:
        with drill.step("restore", Phase.EXECUTION) as s:  # the untouched tar restores
            restore_base(s, store, "b1", [obj], tmp_path / "data")
        assert (tmp_path / "data" / "a").read_bytes() == (src / "a").read_bytes()
        body = damage(tar_path.read_bytes())
        store.client.put_object(Bucket=store.bucket, Key=obj.key, Body=body)
        refused = pytest.raises(BackupCorrupt, match="checksum mismatch")
        with refused, drill.step("restore again", Phase.EXECUTION) as s:
            restore_base(s, store, "b1", [obj], tmp_path / "again")
    finally:
        drill.close()


def test_the_archive_push_records_what_s3_acknowledged(
    archived: tuple[WalArchive, list[str]], tmp_path: Path
) -> None:
    archive, names = archived
    if wal_push.curl_signs() is not None:  # else wal_s3.py push, the same contract
        assert archive.archive_command.startswith("/bin/sh ")
    store = archive.store
    catalog = {e.name: e for e in archive.catalog()}
    for name in names:
        obj = store.client.get_object(Bucket=store.bucket, Key=archive.prefix + name)
        body = obj["Body"].read()
        digest = hashlib.sha256(body).hexdigest()
        assert catalog[name].sha256 == digest == obj["Metadata"]["sha256"], name
        assert catalog[name].size == len(body) and catalog[name].at > 0


def test_a_push_s3_did_not_acknowledge_is_not_catalogued(
    pg_factory: Any, s3_factory: Any, tmp_path: Path
) -> None:
    if wal_push.curl_signs() is None:
        pytest.skip("no curl with --aws-sigv4: the archive pushes with wal_s3.py")
    s3 = s3_factory("push-dies")
    archive = WalArchive.create(s3, "wal-push-dies")

    def push(name: str) -> subprocess.CompletedProcess[bytes]:
        segment = tmp_path / name
        segment.write_bytes(b"\1" * 8192)
        command = archive.archive_command.replace("%p", str(segment)).replace("%f", name)
        return subprocess.run(command, shell=True, capture_output=True, timeout=120)

    assert push("000000010000000000000042").returncode == 0
    assert [e.name for e in archive.catalog()] == ["000000010000000000000042"]
    s3.kill()
    res = push("000000010000000000000043")
    assert res.returncode != 0 and b"PUT failed" in res.stderr
    assert [e.name for e in archive.catalog()] == ["000000010000000000000042"]


def test_a_history_file_in_the_archive_is_fetched_on_request(
    archived: tuple[WalArchive, list[str]],
    spool: wal_fetch.Spool,
    fetcher: wal_fetch.WalPrefetcher,
    tmp_path: Path,
) -> None:
    """recovery_target_timeline = latest asks for NNNNNNNN.history files: not queued,
    fetched when asked (and checked against the catalog like a segment)."""
    archive, _ = archived
    history = tmp_path / "00000002.history"
    history.write_text("1\t0/5000000\tno recovery target specified\n")
    command = archive.archive_command.replace("%p", str(history)).replace("%f", history.name)
    assert subprocess.run(command, shell=True, capture_output=True, timeout=120).returncode == 0
    assert restore(spool, history.name, tmp_path / "got") == 0
    assert (tmp_path / "got").read_bytes() == history.read_bytes()
    assert history.name in fetcher.stats.requested and not fetcher.stats.refused


def test_a_cluster_with_a_tablespace_is_backed_up_through_disk(
    pg_factory: Any, s3: Any, tmp_path: Path
) -> None:
    """stdout carries one tar: with a tablespace, pg_basebackup writes a tar per
    tablespace to a scratch directory, each uploaded and restored in its place."""
    src = pg_factory("tablespace-src")
    location = scratch_dir("tablespace")
    OsUser.unprivileged().own_dir(location)
    src.execute(f"CREATE TABLESPACE extra LOCATION '{location}'")
    src.execute("CREATE TABLE t TABLESPACE extra AS SELECT g FROM generate_series(1, 100) g")
    oid = src.execute("SELECT oid FROM pg_tablespace WHERE spcname = 'extra'")[0][0]
    store = BackupStore(s3, "tablespace-base")
    store.ensure_bucket()
    drill = Drill(DrillRecord(drill_id="t", name="t"))
    try:
        with drill.step("base backup", Phase.SETUP) as s:
            base = base_backup(s, src, store)
        names = sorted(o.key.rsplit("/", 1)[1] for o in base.objects)
        assert names == sorted(["backup_manifest", "base.tar", f"{oid}.tar"]) and base.start_lsn
        with drill.step("restore", Phase.EXECUTION) as s:
            restore_base(s, store, base.name, base.objects, tmp_path / "data")
        assert (tmp_path / "data" / "PG_VERSION").exists()
        assert any((tmp_path / "data" / "pg_tblspc" / str(oid)).glob("PG_*/*/*"))
    finally:
        drill.close()


def test_the_archive_push_ignores_a_proxy_in_the_environment(
    s3_factory: Any, tmp_path: Path
) -> None:
    """A server inherits its starter's environment; curl would send every segment to an
    ``http_proxy`` from it (another host) instead of the endpoint."""
    if wal_push.curl_signs() is None:
        pytest.skip("no curl with --aws-sigv4: the archive pushes with wal_s3.py")
    archive = WalArchive.create(s3_factory("push-proxy"), "wal-push-proxy")
    segment = tmp_path / "000000010000000000000044"
    segment.write_bytes(b"\2" * 8192)
    command = archive.archive_command.replace("%p", str(segment)).replace("%f", segment.name)
    dead = "http://127.0.0.1:9"  # discard port: a proxy there would refuse the request
    env = {**os.environ, "http_proxy": dead, "HTTP_PROXY": dead, "ALL_PROXY": dead}
    res = subprocess.run(command, shell=True, capture_output=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    assert [e.name for e in archive.catalog()] == [segment.name]
