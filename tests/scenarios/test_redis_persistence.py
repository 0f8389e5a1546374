"""Redis persistence pieces against real servers: snapshots, AOF layouts, tools, faults.

The drill-shaped cases (both directions, with verdicts) are in test_redis_drills.py;
these pin the building blocks: the RESP parser the truncation and the repair rely on,
both AOF layouts, BGSAVE completion, the S3 copy with its checksum, the schedule and
backup age, the checker tools and what each fault really does to the files.
"""

from __future__ import annotations

import itertools
import random
import time
from pathlib import Path

import pytest

from drillbook.drill import Drill
from drillbook.fixtures.redis import RedisHandle
from drillbook.record import DrillRecord, Phase
from drillbook.scenarios.redis import faults, recovery
from drillbook.scenarios.redis.aof import (
    aof_layout,
    handle_aof_layout,
    parse_manifest,
    resp_commands,
)
from drillbook.scenarios.redis.backup import RdbSchedule, snapshot_to_s3
from drillbook.scenarios.redis.server import (
    bgsave,
    check_rdb,
    enable_aof,
    parse_check_rdb,
    persistence_info,
    redis_tool,
)
from drillbook.scenarios.redis.stack import RedisPersistence
from drillbook.scenarios.store import BackupStore


def scratch_drill() -> Drill:
    """A drill record outside the ``drill`` fixture, for recorded steps in plain tests."""
    return Drill(DrillRecord(drill_id="scratch", name="scratch"))


def resp(*args: str) -> bytes:
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        out += f"${len(a.encode())}\r\n{a}\r\n".encode()
    return out


# -- pure parsing -------------------------------------------------------------------------------


def test_resp_parser_commands_torn_tail_and_annotations():
    body = (
        resp("SELECT", "0")
        + b"#TS:1700000000\r\n"
        + resp("SET", "k1", "v")
        + resp("SET", "k2", "v2")
    )
    torn = resp("SET", "k3", "value-three")[:-5]
    parsed = resp_commands(body + torn)
    assert [c.name for c in parsed.commands] == ["SELECT", "SET", "SET"]
    assert [c.is_write for c in parsed.commands] == [False, True, True]
    assert parsed.ok_up_to == len(body)
    assert parsed.trailing == len(torn)
    assert parsed.commands[2].args == (b"SET", b"k2", b"v2")
    # Offsets are absolute when parsing a slice.
    sliced = resp_commands(body[10:], offset=10)
    assert all(c.start >= 10 for c in sliced.commands)


def test_resp_parser_stops_at_a_bad_header():
    data = resp("SET", "a", "1") + b"!3\r\n" + resp("SET", "b", "2")[2:]
    parsed = resp_commands(data)
    assert len(parsed.commands) == 1
    assert parsed.error and "bad record header" in parsed.error


def test_manifest_and_both_layouts(tmp_path: Path):
    text = (
        "file appendonly.aof.2.base.rdb seq 2 type b\n"
        "file appendonly.aof.5.incr.aof seq 5 type i\n"
        "file appendonly.aof.6.incr.aof seq 6 type i\n"
    )
    assert parse_manifest(text)[0] == ("appendonly.aof.2.base.rdb", 2, "base")
    d = tmp_path / "appendonlydir"
    d.mkdir()
    (d / "appendonly.aof.manifest").write_text(text)
    (d / "appendonly.aof.2.base.rdb").write_bytes(b"REDIS0011" + b"\x00" * 20)
    (d / "appendonly.aof.5.incr.aof").write_bytes(resp("SET", "a", "1"))
    (d / "appendonly.aof.6.incr.aof").write_bytes(resp("SET", "b", "2"))
    multi = aof_layout(tmp_path)
    assert multi.kind == "multipart"
    assert multi.base is not None and multi.base.format == "rdb"
    assert multi.last_incr is not None and multi.last_incr.path.name.endswith("6.incr.aof")
    assert multi.check_target == d / "appendonly.aof.manifest"
    assert multi.paths == [d]

    old = tmp_path / "old"
    old.mkdir()
    (old / "appendonly.aof").write_bytes(resp("SET", "a", "1"))
    single = aof_layout(old)
    assert single.kind == "single"
    assert single.last_incr is not None and single.last_incr.format == "resp"
    assert single.check_target == old / "appendonly.aof"
    assert aof_layout(tmp_path / "nothing-here").kind == "none"


def test_check_rdb_output_decides_not_the_exit_status():
    # Valkey 9's checker exits 0 on a corrupt file; only its output tells.
    bad = "[info] 0 keys read\n[offset 54] Check RDB returned error code 1 (0 means success)\n"
    assert not parse_check_rdb("x", 0, bad).ok
    good = "[offset 104] \\o/ RDB looks OK! \\o/\n[info] 2 keys read\n[info] 1 expires\n"
    res = parse_check_rdb("x", 0, good)
    assert res.ok and res.keys == 2 and res.expires == 1


def test_persistence_from_targets():
    target = {
        "backups": [
            {"kind": "rdb", "params": {"interval": 21600.0, "duration": 0.0}},
            {"kind": "aof", "params": {"mode": "everysec"}},
        ]
    }
    p = RedisPersistence.from_target(target, drill_interval=2.0)
    assert p.aof == "everysec" and p.rdb_interval == 21600.0 and p.scale == 10800.0
    s = p.server_settings()
    assert s["save"] == "" and s["appendonly"] == "yes" and s["appendfsync"] == "everysec"
    assert RedisPersistence.from_target(target, aof=False).server_settings()["appendonly"] == "no"
    assert RedisPersistence.from_target(target, aof="always").aof == "always"
    with pytest.raises(ValueError):
        RedisPersistence(aof="sometimes")


# -- live servers ------------------------------------------------------------------------------


def test_multipart_aof_on_a_live_server(redis_factory):
    r: RedisHandle = redis_factory("aof", appendonly="yes", appendfsync="always")
    with r.client() as c:
        for i in range(20):
            c.set(f"k{i}", i)
    layout = handle_aof_layout(r)
    assert layout.kind in ("multipart", "single")
    last = layout.last_incr
    assert last is not None
    parsed = resp_commands(last.path.read_bytes())
    assert sum(1 for cmd in parsed.commands if cmd.name == "SET") == 20
    assert parsed.trailing == 0


def test_bgsave_waits_for_its_own_save(redis_factory):
    r: RedisHandle = redis_factory("bgsave", save="")
    with r.client() as c:
        c.mset({f"k{i}": i for i in range(1000)})
        first = bgsave(c)
        second = bgsave(c)  # back to back: must be a second, distinct save
        info = persistence_info(c)
    assert first.done_mono <= second.sent_mono
    if first.saves is not None:
        assert second.saves == first.saves + 1 == info["rdb_saves"]
    assert (Path(r.data_dir) / "dump.rdb").exists()


def test_snapshot_to_s3_verified_and_counted(redis_factory, s3):
    r: RedisHandle = redis_factory("snap", save="")
    store = BackupStore(s3, "backups")
    store.ensure_bucket()
    with r.client() as c:
        c.mset({f"k{i}": i for i in range(321)})
    drill = scratch_drill()
    with drill.step("snapshot", Phase.SETUP) as s:
        snap = snapshot_to_s3(s, r, store, seq=1)
    assert snap.keys == 321
    assert snap.size > 0 and len(snap.sha256) == 64
    got = store.get_file(snap.key, Path(r.data_dir).parent / "check.rdb")
    assert got.sha256 == snap.sha256
    commands = " ".join(cmd.text for cmd in drill.record.steps[0].commands)
    assert "BGSAVE" in commands and "check-rdb" in commands and "s3 put" in commands


def test_schedule_fires_at_its_interval_and_age_grows_when_paused(redis_factory, s3):
    r: RedisHandle = redis_factory("sched", save="")
    store = BackupStore(s3, "backups")
    store.ensure_bucket()
    drill = scratch_drill()
    sched = RdbSchedule(drill, r, store, interval=0.3, verify=False).start()
    try:
        sched.wait_for(3, timeout=10)
        snaps = sched.snapshots
        gaps = [b.sent_mono - a.sent_mono for a, b in itertools.pairwise(snaps)]
        assert all(0.1 < g < 1.0 for g in gaps), gaps
        assert sum(gaps) / len(gaps) < 0.6, gaps
        offset = sched.wait_random_point(random.Random(3))
        assert offset > 0.0
        sched.pause()
        time.sleep(0.8)
        newest = sched.newest()
        assert newest is not None and newest.age() > 0.6
        assert sched.summary()["newest_age_s"] > 0.6
    finally:
        sched.stop()
    assert not sched.errors


def test_tools_match_the_server(redis_factory):
    r: RedisHandle = redis_factory("tools", save="")
    for name in ("check-aof", "check-rdb"):
        tool = redis_tool(r, name)
        assert Path(tool.path).exists(), tool
        assert name in Path(tool.path).name


def test_check_rdb_refuses_a_corrupted_copy(redis_factory):
    r: RedisHandle = redis_factory("crdb", save="")
    with r.client() as c:
        c.mset({f"k{i}": "x" * 50 for i in range(500)})
        bgsave(c)
    path = Path(r.data_dir) / "dump.rdb"
    drill = scratch_drill()
    with drill.step("check", Phase.SETUP) as s:
        assert check_rdb(s, r, path).ok
        damage = faults.corrupt_file(path, seed=1)
        assert damage.length == 16
        assert not check_rdb(s, r, path).ok


def test_enable_aof_live_then_restart_replays_it(redis_factory):
    r: RedisHandle = redis_factory("live-aof", save="")
    with r.client() as c:
        c.mset({f"k{i}": i for i in range(100)})
        enable_aof(c, "everysec")
        c.set("after", 1)
    faults.crash(r)
    drill = scratch_drill()
    with drill.step("restart", Phase.EXECUTION) as s:
        load = recovery.restart_from_aof(s, r)
    assert load.loaded and load.dbsize == 101


def test_truncate_aof_tears_the_record_it_says(redis_factory):
    r: RedisHandle = redis_factory("trunc", appendonly="yes", appendfsync="always")
    with r.client() as c:
        for i in range(50):
            c.set(f"k{i}", "v" * 20)
    cut = faults.truncate_aof(r, records_back=5, rng=random.Random(2))
    assert cut.commands_removed == 5 and cut.writes_removed == 5
    assert cut.keys_removed[1:] == ["k46", "k47", "k48", "k49"]  # k45 is torn mid-record
    parsed = resp_commands(Path(cut.file).read_bytes())
    assert parsed.trailing > 0  # the torn record
    assert [c.args[1] for c in parsed.commands if c.is_write][-1] == b"k44"


def test_flushall_and_data_dir_loss(redis_factory):
    r: RedisHandle = redis_factory("flush", appendonly="yes", save="")
    with r.client() as c:
        c.mset({f"k{i}": i for i in range(10)})
    assert faults.flushall(r).keys_before == 10
    with r.client() as c:
        assert c.dbsize() == 0
    loss = faults.lose_data_dir(r)
    assert loss.files_removed >= 1 and not any(Path(r.data_dir).iterdir())
