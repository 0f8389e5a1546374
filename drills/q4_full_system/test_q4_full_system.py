"""Q4 (runbooks/full-system.md): "Full System DR Test - simulate multi-service failure,
test complete recovery procedures, validate RTO/RPO for all services".

PostgreSQL, Redis and S3 lost together (the host and its disks); recovered in the
runbooks' order: the database by PITR from the off-site WAL archive, the media bucket
from the replica region, the sessions from their RDB snapshot with the project cache
warmed, then the application restarted against the restored servers. One record with a
section per service (its RTO and RPO against its own drills.toml targets: auth,
media, sessions), the application's RTO as its users saw it (journeys at a fixed
cadence), and the critical path.

The must-fail variant acknowledges media uploads at the primary's 200 (S3's default:
asynchronous replication) and pauses replication for ten of them before the fault: the
region loss loses them, and the drill fails with RPO_EXCEEDED naming the media service.
"""

from __future__ import annotations

import pytest

from drillbook.scenarios.system import fullsystem


def q4_drill(drill, fx, *, media_confirm: bool = True, media_outage_writes: int = 0):
    fs = fullsystem.build(drill, fx, media_confirm=media_confirm)
    try:
        fullsystem.warm_up(fs, media_outage_writes=media_outage_writes)
        fullsystem.inject(fs)
        fullsystem.recover_auth(fs)
        fullsystem.recover_media(fs)
        fullsystem.recover_sessions(fs)
        fullsystem.repoint_app(fs)
        return fullsystem.finish(fs)
    finally:
        fs.close()


@pytest.mark.drill(service="auth", scenario="Q4: PostgreSQL, Redis and S3 lost together")
def test_q4_full_system_restore(drill, system_fixtures):
    sections = q4_drill(drill, system_fixtures)
    assert {s["name"] for s in sections["services"]} == {"auth", "media", "sessions"}
    assert all(s["ready_s"] is not None for s in sections["services"])


@pytest.mark.drill_expect_fail("RPO_EXCEEDED")
@pytest.mark.drill(
    service="auth", scenario="Q4 must-fail: media acknowledged before it reached the replica"
)
def test_q4_media_misses_its_rpo(drill, system_fixtures):
    q4_drill(drill, system_fixtures, media_confirm=False, media_outage_writes=10)
