"""Q4, the full-system drill (runbooks/full-system.md): PostgreSQL, Redis and S3 lost
together (the host and its disks), recovered in the runbooks' order, measured at the
application's users.

The stack: the reference application over a PostgreSQL archiving WAL to an off-site
S3 region (``dr``), a Redis with AOF everysec and its RDB snapshots in ``dr``, a media
bucket replicated to ``dr`` by drillbook's replicator. One ledger per service gives its
RPO; the synthetic client gives the application's RTO.

Recovery order (runbooks/database-recovery.md, runbooks/full-system.md): the database
by PITR, object storage from the replica, the cache from its snapshot and warmed, then
the application re-pointed at the restored servers (a restart with their
environment). Each service's own checks run as its drill does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from drillbook.drill import Drill
from drillbook.fixtures.app import AppProcess, SystemFixtures, service_env
from drillbook.fixtures.session import start_together
from drillbook.ledger import LedgerWriter
from drillbook.record import Phase
from drillbook.scenarios.postgres import checks as pg_checks
from drillbook.scenarios.postgres import faults as pg_faults
from drillbook.scenarios.postgres import recovery as pg_recovery
from drillbook.scenarios.postgres import stack as pg_stack
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink
from drillbook.scenarios.redis import checks as redis_checks
from drillbook.scenarios.redis import faults as redis_faults
from drillbook.scenarios.redis import recovery as redis_recovery
from drillbook.scenarios.redis.ledger import RedisLedgerSink
from drillbook.scenarios.redis.stack import RedisStack
from drillbook.scenarios.redis.stack import build as build_stack
from drillbook.scenarios.s3 import backup as s3_backup
from drillbook.scenarios.s3 import checks as s3_checks
from drillbook.scenarios.s3 import client as s3_client
from drillbook.scenarios.s3 import faults as s3_faults
from drillbook.scenarios.s3 import recovery as s3_recovery
from drillbook.scenarios.s3 import triage as s3_triage
from drillbook.scenarios.s3.ledger import ReplicatedLedgerSink
from drillbook.scenarios.s3.manifest import Manifest
from drillbook.scenarios.s3.replicator import Replicator
from drillbook.scenarios.system import cache
from drillbook.scenarios.system.journeys import SyntheticClient
from drillbook.scenarios.system.lanes import Lanes
from drillbook.scenarios.system.media import MEDIA, replicated_media

DB = "app"
ARCHIVE_TIMEOUT = 1.0  # drill seconds (compressed; drills.toml gives the production bound)
SNAPSHOT_EVERY = 0.5  # drill seconds standing for the sessions' hourly RDB snapshot


@dataclass
class FullSystem:
    drill: Drill
    lanes: Lanes
    pg: pg_stack.PgStack
    redis: RedisStack
    media: Any  # the primary region's S3 endpoint
    dr: Any  # the off-site region: WAL archive, backups, media replica
    replicator: Replicator
    manifest: Manifest
    app: AppProcess
    client: SyntheticClient
    ledgers: dict[str, LedgerWriter]
    pg_factory: Any = None
    snap: Any = None
    base: Any = None
    restored: Any = None

    def close(self) -> None:
        """Every thread this stack started; the fixtures own the processes."""
        self.client.stop()
        self.redis.schedule.stop()
        self.replicator.stop()


def _schema(db: Any) -> None:
    """The application's own schema (stack.build's loader: *db* exists, empty)."""
    from drillbook.examples.app.schema import migrate

    migrate(db.dsn())


def _lanes(drill: Drill, service_target: Any) -> Lanes:
    lanes = Lanes(drill, service_target)
    lanes.add("auth", kind="postgres", role="users and projects (PostgreSQL)",
              procedure="PITR: base backup + every archived WAL segment")  # fmt: skip
    lanes.add("media", kind="s3", role="media objects (S3)",
              procedure="bucket rebuilt from the replica region")  # fmt: skip
    lanes.add("sessions", kind="redis", role="sessions and the project cache (Redis)",
              procedure="dump.rdb from S3, AOF re-enabled, cache warmed")  # fmt: skip
    return lanes


def build(drill: Drill, fx: SystemFixtures, *, media_confirm: bool = True) -> FullSystem:
    """Every server, the application, its users, backups and one ledger per service.

    *media_confirm*: uploads acknowledged once the replica has them (RPO 0 across the
    region); False is S3's default acknowledgement, asynchronous replication (the
    must-fail case, with a replication outage before the fault: :func:`warm_up`).
    """
    lanes = _lanes(drill, fx.service_target)
    dr, media = start_together(lambda: fx.s3_factory("dr"), lambda: fx.s3_factory("media"))
    # Set-up only (before t0, before any ledger): the database boots while the media
    # catalogue uploads.
    built: dict[str, Any] = {}
    start_together(
        lambda: built.update(pg=pg_stack.build(
            drill, fx.pg_factory, dr, dbname=DB, archive_timeout=ARCHIVE_TIMEOUT, loader=_schema
        )),
        lambda: built.update(media=replicated_media(drill, media, dr)),
    )  # fmt: skip
    pg: pg_stack.PgStack = built["pg"]
    replicator, manifest = built["media"]
    redis = build_stack(
        drill, fx.redis_factory, dr, name="sessions", drill_interval=SNAPSHOT_EVERY,
        aof="everysec", bucket="redis-backups",
    )  # fmt: skip
    env = service_env(database=pg.primary, dbname=DB, redis=redis.handle, s3=media, bucket=MEDIA)
    app = fx.app_factory("reference-app")
    with drill.step("start the application (waitress) against region A", Phase.SETUP) as s:
        s.call(f"python -m drillbook.examples.app on {app.url}", app.start, env)
    drill.record.versions.setdefault("application", "drillbook reference app (waitress)")
    client = SyntheticClient(app.url, users=4, cadence=0.2)
    client.signup()
    ledgers = {
        "auth": drill.ledger(PostgresLedgerSink(pg.db), name="auth"),
        "sessions": drill.ledger(RedisLedgerSink(redis.handle), name="sessions"),
        "media": drill.ledger(
            ReplicatedLedgerSink(media, MEDIA, replicator, confirm=media_confirm),
            name="media", cadence=0.02,
        ),
    }  # fmt: skip
    fs = FullSystem(drill, lanes, pg, redis, media, dr, replicator, manifest, app, client, ledgers)
    fs.pg_factory = fx.pg_factory
    fs.base = pg.base_backup()
    fs.snap = pg_checks.snapshot(pg.db.connect())
    return fs


def warm_up(fs: FullSystem, *, media_outage_writes: int = 0) -> None:
    """Journeys running, snapshots on schedule, enough acknowledged writes; then stop the
    snapshot schedule at a random point of its cycle (the fault comes right after).

    *media_outage_writes*: pause the replicator (a replication outage) and let that many
    more media writes be acknowledged before the fault: with uploads acknowledged at the
    primary's 200 they are on no replica when the region goes."""
    fs.client.start()
    fs.redis.start_schedule()
    for writer in fs.ledgers.values():
        fs.drill.wait_for_writes(writer, 20)
    fs.client.wait_runs(3)
    fs.redis.schedule.wait_for(2)
    fs.pg.freshness()
    if media_outage_writes:
        media = fs.ledgers["media"]
        with fs.drill.step("replication outage: drillbook replicator paused", Phase.SETUP):
            fs.replicator.pause()
        acked = sum(w.status == "acked" for w in media.writes)
        fs.drill.wait_for_writes(media, acked + media_outage_writes)
    fs.redis.fault_point()


def inject(fs: FullSystem) -> None:
    """t0: the host and its disks are gone; the application keeps running, failing."""
    with fs.drill.fault("host lost with its disks: PostgreSQL, Redis and S3 together") as f:
        f.note("postgres", dataclasses.asdict(pg_faults.total_loss(fs.pg.primary)))
        f.note("redis", dataclasses.asdict(redis_faults.lose_data_dir(fs.redis.handle)))
        lost = s3_faults.lose_region(fs.media)
        f.note("s3", {"endpoint": lost.endpoint, "data_wiped": lost.data_wiped})
    fs.drill.detect(fs.app.probe, name="GET /health of the application")
    fs.drill.decide(
        "full-system restore in the runbooks' order: database PITR, object storage from "
        "the replica, cache from its snapshot + warm-up, then the application re-pointed",
        why="every store refuses connections and the application's /health is 503",
    )


def recover_auth(fs: FullSystem) -> None:
    """PITR into a new server (the old data directory is gone), then auth's own checks."""
    drill = fs.drill
    with fs.lanes.recovering("auth"):
        with drill.step("auth: PITR from the base backup + archived WAL", Phase.EXECUTION) as s:
            fs.restored = pg_recovery.pitr(
                s, fs.pg_factory, fs.pg.store, fs.base, fs.pg.archive,
                credentials_from=fs.pg.primary, name="auth-restored",
            )  # fmt: skip
        drill.wait_healthy(fs.restored.probe, name="SELECT 1 on the restored database")
        pg_checks.run_all(
            drill, fs.restored, fs.snap, dbname=DB, expect_counts="at_least", label="auth",
            step_name="auth: integrity checks",
        )  # fmt: skip
        result = drill.verify_ledger(
            fs.ledgers["auth"], read_from=fs.restored.with_database(DB), name="auth"
        )
    fs.lanes.rpo("auth", "auth", result)


def recover_media(fs: FullSystem) -> None:
    """The primary region's endpoint back (empty), the bucket rebuilt from the replica."""
    drill = fs.drill
    pc, rc = s3_client.client(fs.media), s3_client.client(fs.dr)
    with fs.lanes.recovering("media"):
        with drill.step("media: rebuild s3://media from the replica region", Phase.EXECUTION) as s:
            s.call("drillbook replicator: pause", fs.replicator.pause)
            s.call(f"start {fs.media.endpoint} (empty)", fs.media.start)
            restored = s3_recovery.restore_from_replica(s, rc, MEDIA, pc, MEDIA, versioning=True)
            s3_backup.configure_replication(s, pc, MEDIA, s3_backup.ReplicationRule(MEDIA))
            s.call("drillbook replicator: resume", fs.replicator.resume)
            s.note("restore", restored.summary())
        s3_checks.await_healthy(
            drill,
            s3_triage.presence_probe(pc, MEDIA, s3_triage.sample_keys(fs.manifest, 8)),
            name="HEAD 8 sampled media objects",
        )
        s3_checks.validate(drill, pc, MEDIA, fs.manifest, prefix="media/")
        result = drill.verify_ledger(fs.ledgers["media"], name="media")
    fs.lanes.rpo("media", "media", result)


def recover_sessions(fs: FullSystem) -> None:
    """dump.rdb from S3 (the AOF went with the disk), AOF back on, project cache warmed."""
    drill, handle = fs.drill, fs.redis.handle
    with fs.lanes.recovering("sessions"):
        with drill.step("sessions: dump.rdb from S3, start, AOF re-enabled", Phase.EXECUTION) as s:
            restore = redis_recovery.restore_rdb_from_s3(
                s, handle, fs.redis.store, reenable_aof="everysec"
            )
        drill.wait_healthy(handle.probe, name="redis-cli ping")
        with drill.step("sessions: warm the project cache from the database", Phase.EXECUTION) as s:
            warmed = cache.warm_projects(s, fs.restored, handle, dbname=DB)
        # The sessions drill's own checks: the snapshot's age at t0, every key loaded.
        newest = fs.redis.schedule.newest()
        redis_checks.check_snapshot_age(
            drill, newest, at_mono=drill.record.t0_mono or 0.0, bound=fs.redis.rdb_bound(),
            label="sessions: newest RDB snapshot in S3",
        )  # fmt: skip
        redis_checks.check_load(
            drill, restore.load, what="sessions: dump.rdb from S3",
            expected_keys=newest.keys if newest else None,
        )  # fmt: skip
        drill.check(
            "sessions: every project cached after the warm-up",
            cache.cached_projects(handle) >= warmed > 0,
            f"{warmed} projects warmed",
        )
        result = drill.verify_ledger(fs.ledgers["sessions"], name="sessions")
    fs.lanes.rpo("sessions", "sessions", result, "ledger sessions (RDB snapshot: AOF lost)")


def repoint_app(fs: FullSystem) -> None:
    """Restart the application with the restored servers' environment; users back."""
    drill = fs.drill
    env = service_env(
        database=fs.restored, dbname=DB, redis=fs.redis.handle, s3=fs.media, bucket=MEDIA
    )
    with drill.step("application: restart against the restored servers", Phase.EXECUTION) as s:
        s.call(f"restart {fs.app.url} with the new DATABASE_URL", fs.app.restart, env)
    switched = drill.record.steps[-1].end_mono or 0.0
    drill.wait_healthy(fs.app.probe, name="GET /health of the application")
    drill.executed()
    fs.client.wait_all_ok(after=switched, timeout=30)
    fs.client.wait_runs(max(_runs(fs.client)) + 3)  # enough runs after it to call it stable


def _runs(client: SyntheticClient) -> list[int]:
    outcomes = client.log.outcomes
    return [sum(o.journey == j for o in outcomes) for j in {o.journey for o in outcomes}]


def finish(fs: FullSystem) -> dict[str, Any]:
    """The application's measurement and the per-service sections into the record."""
    drill = fs.drill
    app = fs.client.record(drill)
    drill.check(
        "every journey succeeded before t0 (the baseline)",
        app["failed_before_t0"] == 0,
        f"{app['failed_before_t0']} failed journeys before the fault",
    )
    drill.check(
        "the application is back: every journey succeeds again",
        bool(app["recovered"]),
        f"RTO {app['rto_s']} s; journey recovered last: {app['recovered_last']}",
    )
    drill.validated()
    drill.record.sections["kind"] = "full-system"
    drill.note("replication", fs.replicator.describe())
    return fs.lanes.finish()
