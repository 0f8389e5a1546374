"""The region-failover drill (runbooks/region-failover.md): two regions, a partition.

Region A holds the primary PostgreSQL, the primary media bucket, Redis and the
application; region B a streaming standby, the replica bucket and an empty Redis. Every
cross-region path goes through the harness's fault proxy (30 ms each way by default):
the standby streams from A through it, the replicator copies media A -> B through it,
and users reach region A's application through it. The fault is a partition of region
A: its links cut, its servers still running (and, inside it, still written to).

Recovery: promote B's standby, B's replica bucket serves media, the application is
restarted with region B's environment and the users are switched to it (the DNS
change), the cache is rebuilt. Then the partition heals, the split-brain writes are
inventoried and exported, and the old primary is fenced (pg_rewind into a standby of
the new primary, where a write is refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drillbook.drill import Drill
from drillbook.errors import DrillNotRun
from drillbook.fixtures.app import AppProcess, SystemFixtures, service_env
from drillbook.fixtures.session import start_together
from drillbook.ledger import LedgerWriter
from drillbook.record import Phase
from drillbook.scenarios.postgres import checks as pg_checks
from drillbook.scenarios.postgres import recovery as pg_recovery
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink
from drillbook.scenarios.s3.ledger import ReplicatedLedgerSink
from drillbook.scenarios.s3.manifest import Manifest
from drillbook.scenarios.s3.replicator import Replicator
from drillbook.scenarios.system.fullsystem import DB, _schema
from drillbook.scenarios.system.journeys import SyntheticClient
from drillbook.scenarios.system.lanes import Lanes
from drillbook.scenarios.system.media import MEDIA, replicated_media
from drillbook.scenarios.system.proxy import FaultProxy, Link
from drillbook.scenarios.system.replication import LagSampler
from drillbook.scenarios.system.routes import RoutedPostgres, RoutedS3
from drillbook.scenarios.system.splitbrain import SplitBrainWriter

STANDBY = "region_b"  # the standby's cluster_name / application_name
CROSS_REGION_LATENCY = 0.030


@dataclass
class Regions:
    drill: Drill
    lanes: Lanes
    proxy: FaultProxy
    service: str  # the database's service in drills.toml
    synchronous: bool
    a_pg: Any
    b_pg: Any
    a_redis: Any
    b_redis: Any
    a_s3: Any
    b_s3: Any
    app: AppProcess
    client: SyntheticClient
    replicator: Replicator
    manifest: Manifest
    sampler: LagSampler
    split: SplitBrainWriter
    ledgers: dict[str, LedgerWriter] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    snap: Any = None

    def close(self) -> None:
        """Every thread this stack started; the fixtures own the processes. The
        split-brain writer only stops issuing: a write stuck on the old primary ends with
        that server (closing its connection under it would race the stuck call)."""
        self.client.stop()
        self.sampler.stop()
        self.replicator.stop()
        self.split.halt()


def _database(drill: Drill, r: dict[str, Any], pg_factory: Any, proxy: FaultProxy,
              *, synchronous: bool, latency: float) -> None:  # fmt: skip
    with drill.step("region A: primary PostgreSQL with the application's schema", Phase.SETUP):
        # The WAL since the last common checkpoint must still be there for pg_rewind.
        a_pg = pg_factory("region-a-db", wal_keep_size="512MB")
        a_pg.create_database(DB)
        _schema(a_pg.with_database(DB))
    if getattr(a_pg, "os_user", None) is None:
        raise DrillNotRun(
            "fencing rewinds the old primary with pg_rewind as its server user on this host: "
            "only the local backend can",
            code="BACKEND_UNSUPPORTED",
        )
    repl = proxy.link("B->A postgres (streaming replication)", (a_pg.host, a_pg.port),
                      latency=latency)  # fmt: skip
    kind = "synchronous" if synchronous else "asynchronous"
    with drill.step(f"region B: {kind} standby streaming through the proxy", Phase.SETUP) as s:
        s.note("link", repl.describe())
        b_pg = pg_recovery.make_standby(
            s, pg_factory, RoutedPostgres(a_pg, repl), synchronous=synchronous, name=STANDBY
        )
    clients = proxy.link("clients->A postgres", (a_pg.host, a_pg.port))
    r.update(a_pg=a_pg, b_pg=b_pg, links={"repl": repl, "clients_pg": clients})
    drill.record.versions.setdefault("postgres", a_pg.version())


def _media(drill: Drill, r: dict[str, Any], s3_factory: Any, proxy: FaultProxy,
           *, latency: float) -> None:  # fmt: skip
    a_s3, b_s3 = start_together(
        lambda: s3_factory("region-a-s3"), lambda: s3_factory("region-b-s3")
    )
    link = proxy.link("A->B s3 (replication)", (b_s3.host, b_s3.port), latency=latency)
    replicator, manifest = replicated_media(drill, a_s3, b_s3, route=RoutedS3(b_s3, link), seed=5)
    r.update(a_s3=a_s3, b_s3=b_s3, replicator=replicator, manifest=manifest, s3_link=link)
    drill.record.versions.setdefault("s3", a_s3.version())


def build(
    drill: Drill, fx: SystemFixtures, *, synchronous: bool, latency: float = CROSS_REGION_LATENCY
) -> Regions:
    service = str(drill.record.service)
    lanes = Lanes(drill, fx.service_target)
    lanes.add(service, kind="postgres", role="users and projects (PostgreSQL)",
              procedure="promote region B's standby")  # fmt: skip
    lanes.add("media", kind="s3", role="media objects (S3)",
              procedure="region B's replica bucket serves media")  # fmt: skip
    lanes.add("cache", kind="redis", role="sessions and the project cache (Redis)",
              procedure="region B's empty Redis, the project cache rebuilt")  # fmt: skip
    r: dict[str, Any] = {}
    # Set-up only (before t0, before any ledger): the database pair and the media pair
    # boot side by side instead of one after the other.
    start_together(
        lambda: _database(drill, r, fx.pg_factory, fx.fault_proxy, synchronous=synchronous,
                          latency=latency),
        lambda: _media(drill, r, fx.s3_factory, fx.fault_proxy, latency=latency),
    )  # fmt: skip
    r["links"]["s3"] = r.pop("s3_link")
    a_redis, b_redis = start_together(
        lambda: fx.redis_factory("region-a-redis"), lambda: fx.redis_factory("region-b-redis")
    )
    drill.record.versions.setdefault("redis", a_redis.version())
    app = fx.app_factory("reference-app")
    env = service_env(database=r["a_pg"], dbname=DB, redis=a_redis, s3=r["a_s3"], bucket=MEDIA,
                      region="region-a")  # fmt: skip
    with drill.step("region A: start the application (waitress)", Phase.SETUP) as s:
        s.call(f"python -m drillbook.examples.app on {app.url}", app.start, env)
    users = fx.fault_proxy.link("users->region A application", ("127.0.0.1", app.port))
    r["links"]["users"] = users
    client = SyntheticClient(f"http://127.0.0.1:{users.port}", users=4, cadence=0.2)
    client.signup()
    split = SplitBrainWriter(r["a_pg"], dbname=DB)
    split.prepare()
    sampler = LagSampler(r["a_pg"], STANDBY).start()
    regions = Regions(
        drill, lanes, fx.fault_proxy, service, synchronous, r["a_pg"], r["b_pg"], a_redis,
        b_redis, r["a_s3"], r["b_s3"], app, client, r["replicator"], r["manifest"], sampler,
        split, links=r["links"],
    )  # fmt: skip
    _ledgers(regions)
    return regions


def _ledgers(g: Regions) -> None:
    """The database ledger through the clients' route (acknowledged as a client outside
    region A sees it); media acknowledged once region B has the object (RPO 0)."""
    db = RoutedPostgres(g.a_pg, g.links["clients_pg"]).with_database(DB)
    g.snap = pg_checks.snapshot(g.a_pg.with_database(DB).connect())
    g.ledgers[g.service] = g.drill.ledger(PostgresLedgerSink(db), name=g.service)
    g.ledgers["media"] = g.drill.ledger(
        ReplicatedLedgerSink(g.a_s3, MEDIA, g.replicator, confirm=True), name="media",
        cadence=0.02,
    )  # fmt: skip
