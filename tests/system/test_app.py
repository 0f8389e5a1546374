"""The reference application against real servers, and the synthetic client on it.

Both directions: with every store up /health is 200 and every journey succeeds; with
one store down /health is 503 naming it, and the journeys that need it fail with that
dependency in their outcome.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest

from drillbook.appclient import measure
from drillbook.fixtures.app import AppProcess, service_env
from drillbook.scenarios.system.journeys import Attempt, SyntheticClient, User, journey_project

BUCKET = "media"


@contextlib.contextmanager
def running_client(app: AppProcess, *, users: int) -> Iterator[SyntheticClient]:
    """Signed-up users running every journey (three runs each before the block)."""
    client = SyntheticClient(app.url, users=users, cadence=0.05)
    client.signup()
    client.start()
    try:
        client.wait_runs(3)
        yield client
    finally:
        client.stop()


@pytest.fixture
def running_app(pg_factory, redis_factory, s3_factory, app_factory):
    pg = pg_factory("app-db")
    pg.create_database("app")
    redis = redis_factory("app-redis")
    s3 = s3_factory("app-s3")
    s3.client().create_bucket(Bucket=BUCKET)
    env = service_env(database=pg, dbname="app", redis=redis, s3=s3, bucket=BUCKET)
    app: AppProcess = app_factory("ref")
    app.migrate(env)
    app.start(env)
    return app, pg, redis, s3


def test_health_is_ok_with_every_store_and_names_the_one_down(running_app):
    app, _pg, redis, _s3 = running_app
    status, body = app.health()
    assert status == 200, body
    assert body["checks"] == {"database": "ok", "redis": "ok", "s3": "ok"}
    redis.kill()
    status, body = app.health()
    assert status == 503
    assert body["checks"]["database"] == "ok" and body["checks"]["s3"] == "ok"
    assert body["checks"]["redis"] != "ok"
    with pytest.raises(Exception, match="503"):
        app.probe()


def test_journeys_succeed_then_fail_with_the_dependency_named(running_app):
    app, _pg, _redis, s3 = running_app
    with running_client(app, users=2) as client:
        t0 = time.monotonic()
        s3.kill()  # media lost: the media journey fails, the others go on
        client.wait_runs(sum(o.journey == "media" for o in client.log.outcomes) + 3)
    outcomes = client.log.outcomes
    before = [o for o in outcomes if o.end_mono <= t0]
    assert before and all(o.ok for o in before), [o.error for o in before if not o.ok]
    media_after = [o for o in outcomes if o.journey == "media" and o.start_mono > t0 + 0.05]
    assert media_after and not any(o.ok for o in media_after)
    assert {o.dependency for o in media_after} == {"s3"}
    logins_after = [o for o in outcomes if o.journey == "login" and o.start_mono > t0]
    assert logins_after and all(o.ok for o in logins_after)
    m = measure(outcomes, t0, cadence_s=0.05)
    assert not m.recovered and m.recovered_last == "media"
    assert m.failures_by_dependency == {"s3": m.failed_runs}


def test_restart_repoints_the_application(running_app, pg_factory):
    app, pg, redis, s3 = running_app
    other = pg_factory("app-db-b")
    other.create_database("app")
    env = service_env(database=other, dbname="app", redis=redis, s3=s3, bucket=BUCKET)
    app.migrate(env)
    app.restart({**env, "APP_REGION": "region-b"})
    status, body = app.health()
    assert status == 200 and body["region"] == "region-b"
    pg.kill()  # the old database no longer matters
    assert app.health()[0] == 200


def test_a_lost_session_means_logging_in_again_not_a_failed_journey(running_app):
    app, _pg, redis, _s3 = running_app
    with running_client(app, users=2) as client:
        redis.reset()  # FLUSHALL: every session gone, the stores all up
        flushed = time.monotonic()
        client.wait_runs(min(_runs(client)) + 4)
    after = [o for o in client.log.outcomes if o.start_mono > flushed]
    assert after and all(o.ok for o in after), [o.error for o in after if not o.ok]
    # The same path, deterministically: a journey holding a session Redis no longer has.
    user = User("user0", client._users[0].password, token="expired-session")
    attempt = Attempt(app.url, user)
    journey_project(attempt)
    assert attempt.requests == 5  # the 401, POST /login + GET /me, POST + GET the project
    assert user.token != "expired-session"


def _runs(client):
    outcomes = client.log.outcomes
    return [sum(o.journey == j for o in outcomes) for j in ("login", "project", "media")]
