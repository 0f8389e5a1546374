"""The region drill's steps, in the order runbooks/region-failover.md gives them.

:func:`warm_up` (journeys and ledgers running; optionally a latency injected on the
replication link), :func:`partition` (t0; lag at t0 and the alert rule), then
:func:`promote`, :func:`serve_media_from_b`, :func:`rebuild_cache` (before the users
arrive), :func:`switch_application`, :func:`heal_and_fence` and :func:`finish`.
"""

from __future__ import annotations

from typing import Any

from drillbook.fixtures.app import http_get, service_env
from drillbook.record import Phase
from drillbook.scenarios.postgres import checks as pg_checks
from drillbook.scenarios.postgres import recovery as pg_recovery
from drillbook.scenarios.s3 import checks as s3_checks
from drillbook.scenarios.s3 import client as s3_client
from drillbook.scenarios.system import cache, splitbrain
from drillbook.scenarios.system.fullsystem import DB
from drillbook.scenarios.system.media import MEDIA
from drillbook.scenarios.system.region import Regions
from drillbook.scenarios.system.replication import wait_lag
from drillbook.sections import lag_alert

EVIDENCE_BUCKET = "dr-evidence"


def warm_up(g: Regions, *, inject_latency: float | None = None) -> None:
    """Journeys and ledgers running; with *inject_latency*, the replication link slowed
    (each way) until the primary reports the lag."""
    g.client.start()
    for writer in g.ledgers.values():
        g.drill.wait_for_writes(writer, 20)
    g.client.wait_runs(3)
    if inject_latency is not None:
        link = g.links["repl"]
        with g.drill.step(f"inject {inject_latency:g} s latency on {link.name}", Phase.SETUP):
            link.set_latency(inject_latency)
            wait_lag(g.sampler, inject_latency, timeout=30 + 4 * inject_latency)
        g.drill.wait_for_writes(g.ledgers[g.service], 20)


def partition(g: Regions) -> None:
    """t0: every link of region A cut; inside it a writer keeps using the old primary."""
    drill = g.drill
    names = [link.name for link in g.links.values()]
    with drill.fault("partition of region A: its servers keep running, unreachable") as f:
        cut = f.call(f"fault proxy: partition {', '.join(names)}", g.proxy.partition, *names)
        f.note("connections_cut", cut)
        f.call("inside region A: a writer keeps using the old primary", g.split.start)
    t0 = drill.record.t0_mono
    assert t0 is not None
    g.sampler.stop()
    lag = g.sampler.summary(t0)
    rpo = (g.lanes.services[g.service].target or {}).get("rpo")
    drill.record.sections["replication"] = {
        **lag,
        "synchronous": g.synchronous,
        "alert": lag_alert(lag["lag_at_t0_s"], rpo, synchronous=g.synchronous),
        "links": g.proxy.describe(),
    }
    users = f"http://127.0.0.1:{g.links['users'].port}"
    drill.detect(lambda: _health(users), name="GET /health through the users' route to A")
    drill.decide(
        "region A unreachable: fail over to region B (promote the standby, media from the "
        "replica bucket, application switched, cache rebuilt)",
        why="every route to region A refuses connections; region B answers",
    )


def _health(url: str) -> None:
    status, body = http_get(url, "/health")
    if status != 200:
        raise RuntimeError(f"/health {status}: {body}")


def promote(g: Regions) -> None:
    drill, b = g.drill, g.b_pg
    with g.lanes.recovering(g.service):
        with drill.step("promote region B's standby (pg_promote)", Phase.EXECUTION) as s:
            pg_recovery.promote(s, b)
        drill.wait_healthy(
            lambda: b.execute("CREATE TEMP TABLE drill_rw_probe (x int)"),
            name="a write on the promoted standby",
        )
        pg_checks.run_all(
            drill, b, g.snap, dbname=DB, expect_counts="at_least", label=g.service,
            step_name=f"{g.service}: integrity checks on region B",
        )  # fmt: skip
        result = drill.verify_ledger(
            g.ledgers[g.service], read_from=b.with_database(DB), name=g.service
        )
    g.lanes.rpo(g.service, g.service, result)


def serve_media_from_b(g: Regions) -> None:
    drill = g.drill
    rc = s3_client.client(g.b_s3)
    with g.lanes.recovering("media"):
        with drill.step("media: region B's replica bucket becomes the primary", Phase.EXECUTION):
            g.replicator.stop()
        s3_checks.validate(drill, rc, MEDIA, g.manifest, prefix="media/")
        result = drill.verify_ledger(g.ledgers["media"], read_from=g.b_s3, name="media")
    g.lanes.rpo("media", "media", result, "ledger media (acknowledged once on the replica)")


def switch_application(g: Regions) -> float:
    """Restart the application with region B's environment; the users follow (DNS)."""
    drill = g.drill
    env = service_env(database=g.b_pg, dbname=DB, redis=g.b_redis, s3=g.b_s3, bucket=MEDIA,
                      region="region-b")  # fmt: skip
    with drill.step("switch the application to region B (restart, DNS)", Phase.EXECUTION) as s:
        s.call("restart the application with region B's environment", g.app.restart, env)
        s.call(f"DNS: users now resolve to {g.app.url}", g.client.point_at, g.app.url)
    switched = drill.record.steps[-1].end_mono or 0.0
    drill.wait_healthy(g.app.probe, name="GET /health in region B")
    g.client.wait_all_ok(after=switched, timeout=30)
    drill.executed()
    return switched


def rebuild_cache(g: Regions) -> None:
    """Region B's Redis is empty: warm the project cache before the users arrive."""
    drill = g.drill
    with g.lanes.recovering("cache"):
        with drill.step("cache: warm the project cache in region B", Phase.EXECUTION) as s:
            warmed = cache.warm_projects(s, g.b_pg, g.b_redis, dbname=DB)
        drill.check(
            "cache: every project cached in region B",
            cache.cached_projects(g.b_redis) >= warmed > 0,
            f"{warmed} projects warmed",
        )
    lost = cache.sessions(g.a_redis)
    g.lanes.no_rpo(
        "cache",
        f"rebuilt, not restored: region B's Redis started empty (RPO not applicable); "
        f"{lost} sessions of region A lost, their users logged in again",
    )
    g.lanes.services["cache"].notes["sessions_lost"] = lost


def heal_and_fence(g: Regions) -> dict[str, Any]:
    """Heal; inventory and export the split-brain writes; fence the old primary."""
    drill = g.drill
    with drill.step("heal the partition; inventory the old primary", Phase.VALIDATION) as s:
        g.proxy.heal(*[link.name for link in g.links.values()])
        g.split.halt()
        sb = splitbrain.inventory(g.split, g.b_pg)
        splitbrain.export(s, g.split, g.b_s3, EVIDENCE_BUCKET, sb)
    with drill.step("fence: pg_rewind the old primary into a standby of region B",
                    Phase.VALIDATION) as s:  # fmt: skip
        splitbrain.rewind_as_standby(s, g.a_pg, g.b_pg)
    g.split.close()
    sb.write_refused = splitbrain.write_refused(g.a_pg, DB)
    sb.left_after_fencing = splitbrain.rows_left(g.a_pg, DB)
    in_recovery = g.a_pg.execute("SELECT pg_is_in_recovery()")[0][0] is True
    sb.fenced = bool(sb.write_refused) and in_recovery
    sb.fencing = "pg_rewind --write-recovery-conf onto the new primary, started as its standby"
    drill.check("the old primary cannot take writes (a standby of region B)", sb.fenced,
                sb.write_refused or "the write was accepted")  # fmt: skip
    drill.check(
        "the old primary was rewound onto region B's timeline (no split-brain row left)",
        sb.left_after_fencing == 0,
        f"{sb.left_after_fencing} of {sb.accepted} split-brain rows still on the old primary",
    )
    drill.check(
        "split-brain writes preserved before fencing (exported, read back)",
        sb.preserved or sb.accepted == 0,
        f"{sb.accepted} accepted after the partition, {sb.exported} in {sb.export_key}",
    )
    if g.synchronous:
        drill.check(
            "synchronous replication: the old primary acknowledged no write after the partition",
            sb.acknowledged == 0,
            f"{sb.acknowledged} acknowledged, {sb.in_flight} waiting for the standby",
        )
    drill.record.sections["split_brain"] = sb.to_dict()
    return sb.to_dict()


def finish(g: Regions) -> dict[str, Any]:
    g.client.wait_runs(max(_runs(g)) + 3)
    app = g.client.record(g.drill)
    g.drill.check(
        "every journey succeeded before t0 (the baseline)",
        app["failed_before_t0"] == 0,
        f"{app['failed_before_t0']} failed journeys before the fault",
    )
    g.drill.check(
        "the application is back in region B: every journey succeeds",
        bool(app["recovered"]),
        f"RTO {app['rto_s']} s; journey recovered last: {app['recovered_last']}",
    )
    g.drill.record.sections["kind"] = "region-failover"
    g.drill.record.sections["regions"] = {
        "A": {"postgres": g.a_pg.name, "s3": g.a_s3.endpoint, "redis": g.a_redis.name},
        "B": {"postgres": g.b_pg.name, "s3": g.b_s3.endpoint, "redis": g.b_redis.name},
    }
    return g.lanes.finish()


def _runs(g: Regions) -> list[int]:
    outcomes = g.client.log.outcomes
    return [sum(o.journey == j for o in outcomes) for j in {o.journey for o in outcomes}] or [0]
