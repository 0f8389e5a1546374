"""Example drill (Redis): the session server crashes (SIGKILL) and is restarted; the
append-only file brings the sessions back.

``pytest drills/redis_example`` runs it.
"""

from __future__ import annotations

import pytest

from drillbook.record import Phase
from drillbook.scenarios.redis.ledger import RedisLedgerSink


@pytest.mark.drill(service="sessions", scenario="crash -> restart, AOF replay")
def test_crash_restart_from_aof(drill, redis_factory) -> None:
    redis = redis_factory("sessions", appendonly="yes", appendfsync="everysec")
    ledger = drill.ledger(RedisLedgerSink(redis), name="sessions")
    drill.wait_for_writes(ledger, 50)

    with drill.fault("SIGKILL of the Redis server"):  # t0
        redis.kill()
    drill.detect(redis.probe, name="redis-cli ping")
    drill.decide("data directory intact: restart, the AOF is replayed")

    with drill.step("start redis (AOF replay)", Phase.EXECUTION):
        redis.start()
    drill.wait_healthy(redis.probe, name="redis-cli ping")

    with redis.client() as client:
        drill.check("the AOF is on after the restart", client.config_get("appendonly")
                    == {"appendonly": "yes"})  # fmt: skip
    drill.verify_ledger(ledger)
