"""Q3 (runbooks/cache-failure.md): cache cluster failure.

"Simulate Redis complete failure - Test RDB/AOF recovery - Measure cache warm-up time -
Verify performance impact." The cache service: RTO < 1 h, RPO < 24 h, "RDB snapshots
every 6 hours", "AOF enabled", "Daily backup to S3"; recovery: restart, load from
RDB/AOF, warm the cache from the database, "Verify cache hit rate returns to >70%".

Redis is a read-through cache in front of PostgreSQL (a products table); a workload
reads products with zipfian popularity the whole time (through the outage, degraded to
the database) and INFO stats keyspace_hits/misses give the hit rate over a 1 s sliding
window. The RTO of a cache ends when the hit rate is back above 70 %, not when PING
answers: the drill validates there. The extra database load and the read latency per
phase are the performance impact.

- complete failure (host and disk lost): no AOF left; dump.rdb from S3 (the compressed
  6-hourly snapshot), AOF re-enabled, warm-up job, hit rate. RPO = everything since the
  snapshot, measured by the ledger.
- crash (SIGKILL, disk intact): restart, the AOF is replayed (AOF everysec: the ledger
  loses nothing on a process crash; its 1 s bound is for an OS crash). Beside it, the
  newest S3 snapshot is loaded into a scratch server to measure what RDB alone would
  have lost: both RPOs from one incident.
- rebuild (the runbook's alternative, "skip recovery, rebuild cache automatically"):
  an empty cache after the loss, refilled by the application's reads alone (no warm-up
  job): the warm-up time and the database load without any restore.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from drillbook.ledger import classify
from drillbook.record import Phase
from drillbook.scenarios.redis import checks, faults, recovery, stack, triage
from drillbook.scenarios.redis.ledger import RedisLedgerSink
from drillbook.scenarios.redis.stack import RedisStack
from drillbook.scenarios.redis.triage import Procedure
from drillbook.scenarios.redis.warmup import CacheRig, start_cache_rig

PRODUCTS = 10_000
WARM_KEYS = 2_000
THRESHOLD = 0.70
WARMUP_DEADLINE = 20.0  # drill seconds from t0 for the hit rate to be back above 70 %
SNAPSHOT_EVERY = 0.5  # drill seconds standing for "RDB snapshots every 6 hours"
BASELINE = 1.0


@dataclass
class Q3:
    st: RedisStack
    rig: CacheRig


@pytest.fixture
def q3(drill, redis_factory, s3, pg) -> Iterator[Q3]:
    """Cache server with AOF everysec + the snapshot schedule, catalog, warm cache, workload."""
    st = stack.build(drill, redis_factory, s3, name="cache", drill_interval=SNAPSHOT_EVERY)
    rig = start_cache_rig(drill, st.handle, pg, products=PRODUCTS)
    try:
        rig.warm(Phase.SETUP, keys=WARM_KEYS, label=" (before the baseline)")
        yield Q3(st, rig)
    finally:
        st.schedule.stop()
        rig.stop()


def ledger_and_baseline(drill, q: Q3):
    ledger = drill.ledger(RedisLedgerSink(q.st.handle), name="cache", cadence=0.01)
    q.st.start_schedule()
    q.rig.measure_baseline(BASELINE)  # while the schedule runs: BGSAVE forks are normal life
    q.st.schedule.wait_for(2)
    q.st.fault_point()
    drill.note("schedule", q.st.schedule.summary())
    return ledger


def validate_and_measure(drill, q: Q3, after: float):
    reached = q.rig.wait_hit_rate(threshold=THRESHOLD, after=after, deadline_s=WARMUP_DEADLINE)
    if reached is not None:
        drill.validated()
    return q.rig.finish(threshold=THRESHOLD, deadline_s=WARMUP_DEADLINE, reached=reached)


@pytest.mark.drill(service="cache", scenario="complete failure -> dump.rdb from S3 -> warm-up")
def test_q3_complete_failure_rdb_from_s3_then_warmup(drill, q3: Q3):
    st, rig = q3.st, q3.rig
    ledger = ledger_and_baseline(drill, q3)
    newest = st.schedule.newest()

    with drill.fault("Redis complete failure: SIGKILL and the data directory lost") as f:
        f.note("fault", dataclasses.asdict(faults.lose_data_dir(st.handle)))
    t0 = drill.record.t0_mono
    drill.detect(st.handle.probe, name="redis-cli ping")
    triage.decide(drill, st.handle, expected=Procedure.RESTORE_S3)

    with drill.step("Restore from Backup: dump.rdb from S3, start, DBSIZE", Phase.EXECUTION) as s:
        restore = recovery.restore_rdb_from_s3(s, st.handle, st.store, reenable_aof="everysec")
    drill.wait_healthy(st.handle.probe, name="redis-cli ping")
    rig.warm(Phase.EXECUTION, keys=WARM_KEYS, label=" (runbook step 4)")
    drill.executed()

    checks.check_snapshot_age(
        drill, newest, at_mono=t0, bound=st.rdb_bound(), scale=st.persistence.scale
    )
    checks.check_load(
        drill, restore.load, what="dump.rdb from S3", expected_keys=newest.keys if newest else None
    )
    result = drill.verify_ledger(ledger)
    drill.check(
        "ledger: RDB restore lost only writes after the snapshot (no holes, nothing changed)",
        not result.has_integrity_findings,
        detail=", ".join(f"{k} {v}" for k, v in result.to_dict()["counts"].items() if v),
    )
    scale = st.persistence.scale or 1.0
    drill.note(
        "rpo_by_mechanism",
        {
            "rdb_snapshot_measured_s": result.rpo_seconds,
            "rdb_snapshot_at_production_scale_s": None
            if result.rpo_seconds is None
            else result.rpo_seconds * scale,
            "aof_everysec": "lost with the disk: its 1 s bound (drills.toml) assumes the AOF "
            "survives; a lost host falls back to the snapshot",
        },
    )
    validate_and_measure(drill, q3, after=drill.record.first_healthy_mono or t0)


@pytest.mark.drill(service="cache", scenario="crash -> restart from AOF; RDB-only RPO beside it")
def test_q3_crash_restart_from_aof(drill, q3: Q3, redis_factory):
    st, rig = q3.st, q3.rig
    ledger = ledger_and_baseline(drill, q3)
    newest = st.schedule.newest()

    with drill.fault("Redis crash: SIGKILL of redis-server (data directory intact)") as f:
        f.note("fault", dataclasses.asdict(faults.crash(st.handle)))
    t0 = drill.record.t0_mono
    drill.detect(st.handle.probe, name="redis-cli ping")
    triage.decide(drill, st.handle, expected=Procedure.RESTART_AOF)

    with drill.step("Attempt Quick Recovery: restart, AOF replayed, DBSIZE", Phase.EXECUTION) as s:
        load = recovery.restart_from_aof(s, st.handle)
    drill.wait_healthy(st.handle.probe, name="redis-cli ping")
    rig.warm(Phase.EXECUTION, keys=WARM_KEYS, label=" (runbook step 4)")
    drill.executed()
    checks.check_load(drill, load, what="the AOF")
    result = drill.verify_ledger(ledger)
    rpo = result.rpo_seconds
    drill.check(
        "AOF everysec: RPO within its 1 s bound, no holes, nothing changed",
        rpo is not None and rpo <= 1.0 + ledger.cadence and not result.has_integrity_findings,
        detail=f"RPO {rpo} s; "
        + ", ".join(f"{k} {v}" for k, v in result.to_dict()["counts"].items() if v)
        + " (a process kill normally loses nothing: the write() precedes the reply)",
    )
    outcome = validate_and_measure(drill, q3, after=drill.record.first_healthy_mono or t0)

    # What RDB alone would have restored: the newest snapshot in a scratch server.
    with drill.step(
        "analysis: load the newest S3 snapshot into a scratch server", Phase.CLEANUP
    ) as s:
        scratch = redis_factory("rdb-only", save="", appendonly="no")
        recovery.restore_rdb_from_s3(s, scratch, st.store, snapshot=newest)
        readback = RedisLedgerSink(scratch).read_all()
    rdb_only = classify(ledger.writes, readback, t0, ledger.cadence)
    drill.note(
        "rpo_by_mechanism",
        {
            "aof_everysec_measured_s": result.rpo_seconds,
            "aof_everysec_lost_writes": result.lost,
            "aof_everysec_bound_s": 1.0,
            "rdb_snapshot_only_s": rdb_only.rpo_seconds,
            "rdb_snapshot_only_lost_writes": rdb_only.lost,
            "rdb_snapshot_at_production_scale_s": None
            if rdb_only.rpo_seconds is None
            else rdb_only.rpo_seconds * (st.persistence.scale or 1),
            "note": "AOF everysec loses nothing on a process kill (the write precedes the "
            "reply); its 1 s window needs an OS or power failure",
        },
    )
    assert outcome.reached


@pytest.mark.drill(service="cache", scenario="complete failure -> rebuilt by the reads alone")
def test_q3_rebuild_by_reads_alone(drill, q3: Q3):
    """The runbook's alternative ("skip recovery, rebuild cache automatically"), without
    the warm-up job: how long the read-through path alone takes to get back above 70 %,
    and what the database pays meanwhile. The price of having no RDB/AOF to restore."""
    st, rig = q3.st, q3.rig
    rig.measure_baseline(BASELINE)

    with drill.fault("Redis complete failure: SIGKILL and the data directory lost") as f:
        f.note("fault", dataclasses.asdict(faults.lose_data_dir(st.handle)))
    t0 = drill.record.t0_mono
    drill.detect(st.handle.probe, name="redis-cli ping")
    drill.decide("rebuild: start empty, the read-through path refills the cache")
    with drill.step("start redis-server empty (AOF on)", Phase.EXECUTION) as s:
        load = recovery.start_server(
            s, st.handle, "empty", "systemctl start redis", appendonly="yes"
        )
    drill.wait_healthy(st.handle.probe, name="redis-cli ping")
    drill.executed()
    drill.check(
        "the cache starts empty (nothing restored: RPO not applicable)",
        not load.keys_loaded,
        detail=f"{load.keys_loaded} keys loaded at start, "
        f"DBSIZE {load.dbsize} once the workload was back",
    )
    validate_and_measure(drill, q3, after=drill.record.first_healthy_mono or t0)
