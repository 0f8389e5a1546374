"""A Redis drill with its protection broken: it must FAIL with its own code.

The session store's snapshot schedule stalls (the BGSAVE cron stopped) and the host is
lost three drill seconds later: the newest snapshot in S3 is older than the schedule's
bound (interval + snapshot duration), so the restore loses more than the method
promises: RPO_BOUND_EXCEEDED, a failure because at production scale (hourly snapshots
compressed to one per second) three seconds are three hours, over the 1 h target.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from drillbook.drill import Drill
from drillbook.scenarios.redis.stack import RedisStack
from drills.sessions import test_sessions as sessions

STALL = 3.0  # drill seconds without a snapshot before the fault


@pytest.mark.drill(service="sessions", scenario="mutant: the snapshot schedule stalled")
@pytest.mark.drill_expect_fail("RPO_BOUND_EXCEEDED", match="at production scale")
def test_rdb_older_than_its_bound(
    drill: Drill, redis_factory: Any, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stalled(self: RedisStack, rng: random.Random | None = None) -> float:
        self.schedule.stop()  # the schedule stops; writes go on
        time.sleep(STALL)
        self.fault_offset = STALL
        return STALL

    monkeypatch.setattr(RedisStack, "fault_point", stalled)
    sessions.test_sessions_host_lost_restored_from_s3(drill, redis_factory, s3)
