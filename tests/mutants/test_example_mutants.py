"""The example drills a team starts from (``drillbook init``), broken the way a first draft
of a recovery breaks, with the example's own data checks left out: the ledger and the
backups the drill declared must fail them on their own.

- the older of two dumps restored -> CAPTURED_WRITE_LOST (``drill.backup``: the newer
  dump held those writes), though the loss is well inside the 24 h RPO target;
- ``pg_restore --schema-only``: nothing comes back -> DATA_LOST (no write survived, so
  the RPO is only a lower bound and meets no target);
- Redis restarted on a wiped data directory -> DATA_LOST, the same way;
- and the example's recovery as written, with ``drill.backup``, passes.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from drillbook.drill import Drill
from drillbook.record import Phase
from drillbook.scenarios.postgres import faults
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink
from drillbook.scenarios.redis.ledger import RedisLedgerSink


def nightly_dump_drill(
    drill: Drill, pg_factory: Any, tmp_path: Path, *, restore: str, flags: tuple[str, ...] = ()
) -> None:
    """The PostgreSQL example with two dumps (``drill.backup``); *restore* names the one
    restored, *flags* go to pg_restore."""
    primary = pg_factory("affiliate")
    primary.create_database("app")
    app = primary.with_database("app")
    app.execute("CREATE TABLE accounts (id bigserial PRIMARY KEY, email text NOT NULL)")
    ledger = drill.ledger(PostgresLedgerSink(app), name="app")
    dumps = {}
    for n, name in ((30, "older"), (60, "newer")):
        drill.wait_for_writes(ledger, n)
        dumps[name] = tmp_path / f"{name}.dump"
        with drill.backup(f"pg_dump -Fc ({name})", method="pg_dump", of=ledger) as step:
            argv = [primary.tool("pg_dump"), "-Fc", "-d", "app", "-f", dumps[name]]
            step.run(argv, env=primary.env())
    drill.wait_for_writes(ledger, 90)
    with drill.fault("SIGKILL the database server and wipe its data directory"):
        faults.total_loss(primary)
    drill.detect(primary.probe, name="SELECT 1")
    drill.decide(f"server and disk lost: restore the {restore} dump")
    with drill.step("provision a new server", Phase.EXECUTION):
        fresh = pg_factory("affiliate-restored")
        fresh.create_database("app")
    with drill.step(f"pg_restore the {restore} dump", Phase.EXECUTION) as step:
        argv = [fresh.tool("pg_restore"), *flags, "-d", "app", dumps[restore]]
        step.run(argv, env=fresh.env())
    restored = fresh.with_database("app")
    drill.wait_healthy(restored.probe, name="SELECT 1 on the restored database")
    drill.verify_ledger(ledger, read_from=restored)


@pytest.mark.drill(service="affiliate", scenario="example: the newest dump restored")
def test_the_newest_dump_restored_passes(drill: Drill, pg_factory: Any, tmp_path: Path) -> None:
    nightly_dump_drill(drill, pg_factory, tmp_path, restore="newer")


@pytest.mark.drill(service="affiliate", scenario="mutant: the older of two dumps restored")
@pytest.mark.drill_expect_fail("CAPTURED_WRITE_LOST", match="pg_dump -Fc (newer)")
def test_an_older_dump_restored(drill: Drill, pg_factory: Any, tmp_path: Path) -> None:
    nightly_dump_drill(drill, pg_factory, tmp_path, restore="older")


@pytest.mark.drill(service="affiliate", scenario="mutant: pg_restore --schema-only")
@pytest.mark.drill_expect_fail("DATA_LOST", match="lower bound")
def test_a_schema_only_restore(drill: Drill, pg_factory: Any, tmp_path: Path) -> None:
    nightly_dump_drill(drill, pg_factory, tmp_path, restore="newer", flags=("--schema-only",))


@pytest.mark.drill(service="sessions", scenario="mutant: restarted on a wiped data directory")
@pytest.mark.drill_expect_fail("DATA_LOST", match="lower bound")
def test_redis_restarted_on_a_wiped_data_dir(drill: Drill, redis_factory: Any) -> None:
    redis = redis_factory("sessions", appendonly="yes", appendfsync="everysec")
    ledger = drill.ledger(RedisLedgerSink(redis), name="sessions")
    drill.wait_for_writes(ledger, 50)  # 0.5 s of writes: all inside the AOF's 1 s window
    with drill.fault("SIGKILL of the Redis server"):
        redis.kill()
    drill.detect(redis.probe, name="redis-cli ping")
    drill.decide("data directory intact: restart, the AOF is replayed")
    with drill.step("start redis (on an emptied data directory)", Phase.EXECUTION):
        for path in Path(redis.data_dir).iterdir():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        redis.start()
    drill.wait_healthy(redis.probe, name="redis-cli ping")
    drill.verify_ledger(ledger)
