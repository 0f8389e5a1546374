"""Smoke drill: all three services up, a real crash of PostgreSQL, recovered and proven.

PostgreSQL is SIGKILLed while the ledger writes into it; the documented procedure for a
crash with the data directory intact is a restart (WAL crash recovery). Every write
acknowledged before t0 must be back: with synchronous commit, RPO 0. Redis and S3 each
get a ledger too and are read back in full.
"""

from __future__ import annotations

import pytest

from drillbook.fixtures.postgres import PostgresView
from drillbook.fixtures.redis import RedisHandle
from drillbook.fixtures.s3 import S3Handle
from drillbook.record import Phase
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink
from drillbook.scenarios.redis.ledger import RedisLedgerSink
from drillbook.scenarios.s3.ledger import S3LedgerSink


@pytest.mark.drill(service="smoke", scenario="postgres crash, restart in place")
def test_postgres_crash_restart(drill, pg: PostgresView, redis_db: RedisHandle, s3: S3Handle):
    drill.record.versions.update(postgres=pg.version(), redis=redis_db.version(), s3=s3.version())
    pg_ledger = drill.ledger(PostgresLedgerSink(pg), name="postgres")
    redis_ledger = drill.ledger(RedisLedgerSink(redis_db), name="redis")
    s3_ledger = drill.ledger(S3LedgerSink(s3, "smoke-ledger"), name="s3")
    # Let each ledger acknowledge some writes before the fault.
    drill.wait_for_writes(pg_ledger, 30)
    drill.wait_for_writes(redis_ledger, 30)
    drill.wait_for_writes(s3_ledger, 10)

    with drill.fault("SIGKILL of the PostgreSQL server (process group)"):
        pg.kill()
    drill.detect(pg.probe, name="SELECT 1")

    with drill.decision("data dir intact: restart in place, WAL crash recovery"):
        assert (pg.data_dir / "PG_VERSION").exists()

    with drill.step("start postgres (crash recovery)", Phase.EXECUTION):
        pg.start()
    drill.wait_healthy(pg.probe, name="SELECT 1")

    for writer, name in ((pg_ledger, "postgres"), (redis_ledger, "redis"), (s3_ledger, "s3")):
        result = drill.verify_ledger(writer)
        drill.check(
            f"{name}: every acknowledged write read back",
            result.lost == 0 and not result.has_integrity_findings,
            detail=", ".join(f"{k} {v}" for k, v in result.to_dict()["counts"].items() if v),
        )
