"""SessionServers: session servers started together, each taken by its fixture once.

Pure logic with stand-in handles; the real servers started this way are every drill's and
integration test's session fixtures (pg_server, redis_server, s3_server).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from drillbook.errors import DrillNotRun
from drillbook.fixtures.session import SessionServers, needed, start_together


class Handle:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False
        self.thread = threading.current_thread().name

    def close(self) -> None:
        self.closed = True


def test_servers_start_from_their_own_threads_at_once() -> None:
    barrier = threading.Barrier(3, timeout=10)  # passes only if all three run together

    def start(name: str) -> Handle:
        barrier.wait()
        return Handle(name)

    def starter(name: str) -> Callable[[], Handle]:
        return lambda: start(name)

    def twice() -> Handle:
        pytest.fail("started twice")

    servers = SessionServers()
    servers.start({n: starter(n) for n in ("pg_server", "redis_server", "s3_server")})
    taken = [servers.take(n, twice) for n in ("pg_server", "s3_server")]
    assert [h.name for h in taken] == ["pg_server", "s3_server"]
    assert all(h.thread.startswith("drillbook-session") for h in taken)
    servers.close_untaken()  # redis_server was never taken: closed here
    assert [h.closed for h in taken] == [False, False]


def test_a_server_that_could_not_start_raises_its_own_exception_to_its_fixture() -> None:
    def missing() -> Handle:
        raise DrillNotRun("no redis-server here", code="BINARY_MISSING")

    servers = SessionServers()
    servers.start({"redis_server": missing, "pg_server": lambda: Handle("pg")})
    with pytest.raises(DrillNotRun, match="no redis-server"):
        servers.take("redis_server", lambda: Handle("again"))
    assert servers.take("pg_server", lambda: Handle("again")).name == "pg"


def test_a_server_not_started_in_advance_is_started_when_taken() -> None:
    servers = SessionServers()
    assert servers.take("s3_server", lambda: Handle("late")).name == "late"


def test_untaken_handles_are_closed_and_taken_ones_are_not() -> None:
    made: list[Handle] = []

    def start(name: str) -> Handle:
        made.append(Handle(name))
        return made[-1]

    servers = SessionServers()
    servers.start({"a": lambda: start("a"), "b": lambda: start("b")})
    servers.take("a", lambda: Handle("x"))
    servers.close_untaken()
    assert {h.name: h.closed for h in made} == {"a": False, "b": True}


def test_needed_reads_the_fixture_closure_of_the_collected_items() -> None:
    items = [
        SimpleNamespace(fixturenames=["drill", "pg", "pg_server", "drill_backend"]),
        SimpleNamespace(fixturenames=["s3", "s3_server"]),
        SimpleNamespace(),  # a doctest item: no fixtures
    ]
    names = ["pg_server", "redis_server", "s3_server"]
    assert needed(items, names) == ["pg_server", "s3_server"]
    assert needed([], names) == []


def test_start_together_runs_side_by_side_and_keeps_the_order() -> None:
    barrier = threading.Barrier(2, timeout=10)  # both must be running at once

    def start(name: str) -> Callable[[], str]:
        def run() -> str:
            barrier.wait()
            return name

        return run

    assert start_together(start("primary"), start("replica")) == ["primary", "replica"]


def test_start_together_lets_every_start_finish_then_raises_the_failure() -> None:
    finished: list[str] = []

    def fails() -> str:
        raise DrillNotRun("no weed binary", code="BINARY_MISSING")

    def slow() -> str:
        threading.Event().wait(0.2)
        finished.append("slow")
        return "slow"

    with pytest.raises(DrillNotRun, match="no weed"):
        start_together(fails, slow)
    assert finished == ["slow"]
