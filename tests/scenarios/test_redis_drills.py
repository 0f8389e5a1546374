"""Redis drills in both directions: each broken recovery FAILs with its finding, the
healthy variant of the same drill PASSes.

- snapshot age: a schedule on time passes; a stalled backup job leaves the newest
  snapshot older than the RPO bound at t0 -> INTEGRITY_FAILED.
- corrupted RDB: a local dump.rdb damaged on disk is caught by redis-check-rdb and the
  good copy in S3 restored (PASS); a snapshot that was already corrupt when the backup
  job uploaded it (the S3 checksum only proves the transfer) cannot be loaded: the start
  fails and the failed load check fails the drill.
- AOF: a torn last record (``aof-load-truncated no``: the server refuses to start) is
  repaired with ``redis-check-aof --fix``, which cuts exactly the torn write; a damaged
  record header mid-file makes the repair cut every later (intact) write too. Both
  report the writes cut and the ledger proves the count.
- FLUSHALL: AOF surgery (the FLUSHALL record cut out) brings every session back.
- warm-up: the hit rate gets back above 70 % (PASS); with the restored server's
  maxmemory shrunk by config drift it never does within the deadline -> FAIL.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest

from drillbook.record import Phase
from drillbook.scenarios.redis import checks, faults, recovery, stack, triage
from drillbook.scenarios.redis.ledger import RedisLedgerSink, SessionSink
from drillbook.scenarios.redis.server import bgsave, rdb_path
from drillbook.scenarios.redis.stack import RedisStack
from drillbook.scenarios.redis.triage import Procedure
from drillbook.scenarios.redis.warmup import CacheRig, start_cache_rig

# -- snapshot age -------------------------------------------------------------------------------


def snapshot_restore_drill(drill, redis_factory, s3, *, stall: bool) -> None:
    """Sessions on a 0.5 s schedule; the host lost; dump.rdb from S3; the age checked."""
    st = stack.build(drill, redis_factory, s3, name="sessions", drill_interval=0.5, verify=False)
    sink = SessionSink(st.handle, users=100)
    ledger = drill.ledger(sink, name="sessions", cadence=0.005)
    st.start_schedule()
    st.schedule.wait_for(2)
    if stall:
        st.schedule.pause()  # the backup job stops firing; writes go on
        newest = st.schedule.newest()
        while newest is not None and newest.age() <= 1.5 * st.rdb_bound():
            time.sleep(0.05)
    st.fault_point()
    newest = st.schedule.newest()
    with drill.fault("SIGKILL redis-server and lose its data directory") as f:
        f.note("fault", dataclasses.asdict(faults.lose_data_dir(st.handle)))
    t0 = drill.record.t0_mono
    drill.detect(st.handle.probe, name="redis-cli ping")
    triage.decide(drill, st.handle, expected=Procedure.RESTORE_S3)
    with drill.step("SHUTDOWN NOSAVE, dump.rdb from S3, start", Phase.EXECUTION) as s:
        restore = recovery.restore_rdb_from_s3(s, st.handle, st.store)
    drill.wait_healthy(st.handle.probe)
    checks.check_snapshot_age(
        drill, newest, at_mono=t0, bound=st.rdb_bound(), scale=st.persistence.scale
    )
    checks.check_load(drill, restore.load, what="dump.rdb from S3", expected_keys=None)
    drill.verify_ledger(ledger)


@pytest.mark.drill(service="sessions", scenario="snapshot on schedule -> restore passes")
def test_snapshot_age_within_bound_passes(drill, redis_factory, s3):
    snapshot_restore_drill(drill, redis_factory, s3, stall=False)
    assert all(c.passed for c in drill.record.checks)


@pytest.mark.drill(service="sessions", scenario="stalled backup job -> snapshot too old")
@pytest.mark.drill_expect_fail("INTEGRITY_FAILED")
def test_snapshot_older_than_bound_fails(drill, redis_factory, s3):
    snapshot_restore_drill(drill, redis_factory, s3, stall=True)
    failed = [c.name for c in drill.record.checks if not c.passed]
    assert failed == ["newest RDB snapshot in S3 no older than the RPO bound at t0"], failed


# -- corrupted RDB ----------------------------------------------------------------------------


def rdb_only_stack(drill, redis_factory, s3) -> tuple[RedisStack, object]:
    st = stack.build(drill, redis_factory, s3, name="rdb", drill_interval=0.5, aof=False)
    ledger = drill.ledger(RedisLedgerSink(st.handle), name="rdb", cadence=0.005)
    drill.wait_for_writes(ledger, 100)
    return st, ledger


@pytest.mark.drill(service="sessions", scenario="local dump.rdb corrupt -> good S3 copy restored")
def test_corrupt_local_rdb_is_caught_and_s3_copy_restored(drill, redis_factory, s3):
    st, ledger = rdb_only_stack(drill, redis_factory, s3)
    st.start_schedule()
    st.schedule.wait_for(2)
    st.fault_point()
    newest = st.schedule.newest()
    with drill.fault("bit rot: bytes of the server's dump.rdb overwritten (server killed)") as f:
        f.note("fault", dataclasses.asdict(faults.corrupt_rdb(st.handle, seed=5)))
    drill.detect(st.handle.probe, name="redis-cli ping")
    # Not reachable, no AOF, redis-check-rdb says CORRUPT: the local file is no way back.
    triage.decide(drill, st.handle, expected=Procedure.RESTORE_S3)
    with drill.step("SHUTDOWN NOSAVE, dump.rdb from S3, start", Phase.EXECUTION) as s:
        restore = recovery.restore_rdb_from_s3(s, st.handle, st.store)
    drill.wait_healthy(st.handle.probe)
    checks.check_load(
        drill, restore.load, what="dump.rdb from S3", expected_keys=newest.keys if newest else None
    )
    drill.verify_ledger(ledger)
    assert any(p.startswith(str(rdb_path(st.handle))) for p in restore.set_aside)


@pytest.mark.drill(service="sessions", scenario="snapshot corrupt before upload -> cannot load")
@pytest.mark.drill_expect_fail("INTEGRITY_FAILED")
def test_corrupt_snapshot_in_s3_cannot_be_loaded(drill, redis_factory, s3):
    st, _ledger = rdb_only_stack(drill, redis_factory, s3)
    with drill.step("backup job: BGSAVE, (bit rot), dump.rdb to S3 unverified", Phase.SETUP) as s:
        with st.handle.client() as c:
            s.call("BGSAVE", bgsave, c)
        src = rdb_path(st.handle)
        s.note("bit rot", dataclasses.asdict(faults.corrupt_file(src, seed=9)))
        # The checksum is taken of what is uploaded: it proves the transfer, not the content.
        s.call("s3 put dump.rdb", st.store.put_file, src, "redis/rdb/rotten/dump.rdb")
    with drill.fault("SIGKILL redis-server and lose its data directory") as f:
        f.note("fault", dataclasses.asdict(faults.lose_data_dir(st.handle)))
    drill.detect(st.handle.probe, name="redis-cli ping")
    triage.decide(drill, st.handle, expected=Procedure.RESTORE_S3)
    try:
        with drill.step("SHUTDOWN NOSAVE, dump.rdb from S3, start", Phase.EXECUTION) as s:
            recovery.restore_rdb_from_s3(s, st.handle, st.store)
    except recovery.LoadFailed as exc:
        checks.check_load(drill, exc.result, what="dump.rdb from S3")
        assert not exc.result.loaded and exc.result.error
        return
    pytest.fail("a corrupt snapshot loaded")


# -- AOF repair -------------------------------------------------------------------------------


def aof_repair_drill(drill, redis_factory, s3, *, damage: str, records_back: int):
    """Strict AOF loading (``aof-load-truncated no``); the damage; restart refused;
    ``redis-check-aof --fix``; restart; the ledger counts what the repair cut."""
    # appendfsync always: the file then holds exactly the acknowledged writes (everysec
    # may postpone a write() behind a slow background fsync, up to 2 s).
    st = stack.build(drill, redis_factory, s3, name="aof", aof="always", aof_load_truncated=False)
    ledger = drill.ledger(RedisLedgerSink(st.handle), name="aof", cadence=0.005)
    drill.wait_for_writes(ledger, 200)
    # The writer stops just before the crash, so the AOF's last records are acknowledged
    # writes (one in flight at t0 would be indeterminate, and could be the torn one).
    ledger.stop()
    with drill.fault(f"{damage} of the last AOF file ({records_back} records from its end)") as f:
        damaged = (faults.truncate_aof if damage == "torn write" else faults.corrupt_aof)(
            st.handle, records_back=records_back
        )
        f.note("fault", dataclasses.asdict(damaged))
    drill.detect(st.handle.probe, name="redis-cli ping")
    triage.decide(drill, st.handle, expected=Procedure.RESTART_AOF)
    try:
        with drill.step("Attempt Quick Recovery: restart (AOF replay)", Phase.EXECUTION) as s:
            recovery.restart_from_aof(s, st.handle)
        pytest.fail("the server loaded a damaged AOF with aof-load-truncated no")
    except recovery.LoadFailed as exc:
        drill.note("first_start", exc.result.to_dict())
    with drill.step("redis-check-aof --fix (the server log's instruction)", Phase.EXECUTION) as s:
        repair = recovery.repair_aof(s, st.handle)
    with drill.step("restart after the repair", Phase.EXECUTION) as s:
        load = recovery.restart_from_aof(s, st.handle)
    drill.wait_healthy(st.handle.probe)
    checks.check_load(drill, load, what="the repaired AOF")
    result = drill.verify_ledger(ledger)
    drill.note("repair", repair.to_dict())
    drill.check(
        "writes cut by redis-check-aof --fix = acknowledged writes lost (ledger)",
        repair.fixed and repair.writes_cut == result.lost and not result.has_integrity_findings,
        detail=f"the repair cut {repair.writes_cut} writes ({repair.bytes_cut} bytes of "
        f"{repair.file}); the ledger lost {result.lost}",
        expected=result.lost,
        actual=repair.writes_cut,
    )
    return damaged, repair, result


@pytest.mark.drill(service="sessions", scenario="torn AOF record -> redis-check-aof --fix")
def test_torn_aof_fix_cuts_exactly_the_torn_write(drill, redis_factory, s3):
    cut, repair, result = aof_repair_drill(
        drill, redis_factory, s3, damage="torn write", records_back=1
    )
    assert repair.writes_cut == 1 and repair.damaged_records == 1 and result.lost == 1
    assert cut.writes_removed == 1


@pytest.mark.drill(service="sessions", scenario="damaged AOF record -> --fix cuts the tail")
def test_damaged_aof_fix_cuts_every_later_write(drill, redis_factory, s3):
    damage, repair, result = aof_repair_drill(
        drill, redis_factory, s3, damage="damaged header", records_back=25
    )
    assert repair.writes_cut == 25 == damage.writes_from_damage == result.lost
    assert repair.keys_cut == damage.keys_from_damage


# -- FLUSHALL: AOF surgery --------------------------------------------------------------------


@pytest.mark.drill(service="sessions", scenario="FLUSHALL -> cut it out of the AOF, RPO 0")
def test_flushall_aof_surgery_brings_every_session_back(drill, redis_factory, s3):
    st = stack.build(drill, redis_factory, s3, name="sessions", aof="everysec")
    sink = SessionSink(st.handle, users=100)
    ledger = drill.ledger(sink, name="sessions", cadence=0.005)
    drill.wait_for_writes(ledger, 150)
    with drill.fault("redis-cli FLUSHALL") as f:
        f.note("fault", dataclasses.asdict(faults.flushall(st.handle)))
    t0 = drill.record.t0_mono

    def sessions_present() -> None:
        with st.handle.client(timeout=2) as c:
            if c.dbsize() == 0:
                raise RuntimeError("DBSIZE 0")

    drill.detect(sessions_present, name="DBSIZE > 0")
    with drill.decision("AOF not rewritten since the FLUSHALL: cut it out of the AOF"):
        pass
    with drill.step(
        "SHUTDOWN NOSAVE; remove the FLUSHALL record from the AOF", Phase.EXECUTION
    ) as s:
        surgery = recovery.remove_flushall(s, st.handle)
    with drill.step("restart, the AOF replayed without the FLUSHALL", Phase.EXECUTION) as s:
        load = recovery.restart_from_aof(s, st.handle)
    drill.wait_healthy(st.handle.probe)
    checks.check_load(drill, load, what="the AOF without the FLUSHALL")
    result = drill.verify_ledger(ledger)
    loss = checks.session_loss(sink, ledger.writes, sink.read_all(), sink.read_index(), t0_mono=t0)
    drill.check(
        "no session lost, no user logged out", loss.sessions_lost == 0, detail=str(loss.to_dict())
    )
    assert surgery.removed and surgery.removed[0].startswith("FLUSHALL")
    assert result.lost == 0 and result.rpo_seconds is not None and result.rpo_seconds < 0.1


# -- warm-up ------------------------------------------------------------------------------------


@pytest.fixture
def cache_rig(drill, redis_factory, s3, pg) -> Iterator[tuple[RedisStack, CacheRig]]:
    st = stack.build(drill, redis_factory, s3, name="cache", aof="everysec")
    rig = start_cache_rig(drill, st.handle, pg, products=5_000, rate=600)
    try:
        rig.warm(Phase.SETUP, keys=1_000)
        yield st, rig
    finally:
        rig.stop()


def warmup_drill(drill, st: RedisStack, rig: CacheRig, *, drift: bool, deadline: float) -> None:
    rig.measure_baseline(0.5)
    with drill.fault("SIGKILL redis-server") as f:
        f.note("fault", dataclasses.asdict(faults.crash(st.handle)))
    t0 = drill.record.t0_mono
    drill.detect(st.handle.probe, name="redis-cli ping")
    triage.decide(drill, st.handle, expected=Procedure.RESTART_AOF)
    with drill.step("restart from the AOF", Phase.EXECUTION) as s:
        load = recovery.restart_from_aof(s, st.handle)
        if drift:
            # Config drift on the rebuilt host: maxmemory far below the hot set.
            with st.handle.client() as c:
                # An empty server's footprint plus 32 KB: room for ~80 of 5000 products.
                limit = int(c.info("memory")["used_memory_startup"]) + 32 * 1024
                s.call(
                    "CONFIG SET maxmemory-policy allkeys-lru",
                    c.config_set,
                    "maxmemory-policy",
                    "allkeys-lru",
                )
                s.call(f"CONFIG SET maxmemory {limit}", c.config_set, "maxmemory", limit)
    drill.wait_healthy(st.handle.probe)
    rig.warm(Phase.EXECUTION, keys=1_000)
    drill.executed()
    checks.check_load(drill, load, what="the AOF")
    reached = rig.wait_hit_rate(
        threshold=0.70, after=drill.record.first_healthy_mono or t0, deadline_s=deadline
    )
    if reached is not None:
        drill.validated()
    rig.finish(threshold=0.70, deadline_s=deadline, reached=reached, after_s=0.2)


@pytest.mark.drill(service="cache", scenario="crash -> AOF -> hit rate back above 70 %")
def test_warmup_reaches_threshold(drill, cache_rig):
    warmup_drill(drill, *cache_rig, drift=False, deadline=10.0)
    assert drill.record.notes["warmup"]["reached"]


@pytest.mark.drill(service="cache", scenario="crash -> AOF, maxmemory drift -> never warm")
@pytest.mark.drill_expect_fail("INTEGRITY_FAILED")
def test_warmup_never_reaching_threshold_fails(drill, cache_rig):
    warmup_drill(drill, *cache_rig, drift=True, deadline=3.0)
    failed = [c.name for c in drill.record.checks if not c.passed]
    assert failed == ["cache hit rate back above 70% within 3 s of t0"], failed
    assert drill.record.validated_mono is None
