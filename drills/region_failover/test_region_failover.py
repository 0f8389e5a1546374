"""Region failure (runbooks/region-failover.md): "test cross-region failover, measure
total RTO, test application functionality".

Two regions on 127.0.0.1, every cross-region link through the harness's fault proxy
(30 ms each way): region A holds the primary PostgreSQL, the primary media bucket, Redis
and the application; region B a streaming standby, the replica bucket and an empty
Redis. The fault partitions region A (nothing is killed); the recovery promotes B's
standby, serves media from B's replica bucket, rebuilds the cache in region B and
switches the application there; then the partition heals, the writes the old primary accepted in the
meantime are counted and exported, and the old primary is fenced by pg_rewind.

- asynchronous streaming (region-db: RPO 1 s): the lag at t0 is a few tens of ms, under
  the alert (60 % of RPO); the old primary accepts split-brain writes;
- synchronous (orders: RPO 0): nothing acknowledged is lost across the partition, and
  the old primary acknowledges no write after it;
- asynchronous with 1.5 s of latency injected on the replication link: the lag at t0
  fires the alert and the drill fails with RPO_EXCEEDED.
"""

from __future__ import annotations

import pytest

from drillbook.scenarios.system import failover, region


def region_drill(drill, fx, *, synchronous: bool, inject_latency: float | None = None):
    g = region.build(drill, fx, synchronous=synchronous)
    try:
        failover.warm_up(g, inject_latency=inject_latency)
        failover.partition(g)
        failover.promote(g)
        failover.serve_media_from_b(g)
        failover.rebuild_cache(g)
        failover.switch_application(g)
        failover.heal_and_fence(g)
        sections = failover.finish(g)
        drill.validated()
        return sections
    finally:
        g.close()


@pytest.mark.drill(service="region-db", scenario="region A partitioned -> async standby in B")
def test_region_failover_async(drill, system_fixtures):
    sections = region_drill(drill, system_fixtures, synchronous=False)
    assert sections["replication"]["alert"]["firing"] is False


@pytest.mark.drill(service="orders", scenario="region A partitioned -> sync standby in B (RPO 0)")
def test_region_failover_sync(drill, system_fixtures):
    sections = region_drill(drill, system_fixtures, synchronous=True)
    assert sections["split_brain"]["acknowledged"] == 0
    assert sections["replication"]["alert"]["applies"] is False


@pytest.mark.drill_expect_fail("RPO_EXCEEDED")
@pytest.mark.drill(
    service="region-db", scenario="region A partitioned while replication lags 1.5 s"
)
def test_region_failover_lag_above_rpo(drill, system_fixtures):
    region_drill(drill, system_fixtures, synchronous=False, inject_latency=1.5)
