"""Tests of scenarios/: application data, integrity checks, faults, triage probes.

Shared fixtures (imported by the test modules, there being no conftest here): the
application database and northwind are each loaded once per session server into a
template database, and every test gets its own copy (CREATE DATABASE ... TEMPLATE: much
faster than loading again), dropped afterwards. The templates are cached here rather than
in a session-scoped fixture because each importing module would get its own instance of
that fixture; they are dropped when pytest ends (when the server is still there).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator

import pytest

from drillbook.fixtures.postgres import PostgresHandle, PostgresView, ensure_template
from drillbook.scenarios.postgres import schema


def _copy_of(server: PostgresHandle, template: str) -> Iterator[PostgresView]:
    name = f"drill_{secrets.token_hex(4)}"
    server.create_database(name, template=template)
    try:
        yield server.with_database(name)
    finally:
        if server.is_healthy():
            server.drop_database(name)
        else:
            server.recover_for_next_test()
            ensure_template(server)


_TEMPLATES: dict[tuple[int, str], str] = {}


def _drop_quietly(server: PostgresHandle, name: str) -> None:
    with contextlib.suppress(Exception):
        if server.is_healthy():
            server.drop_database(name)


def _template(
    config: pytest.Config,
    server: PostgresHandle,
    kind: str,
    make: Callable[[PostgresHandle, str], object],
) -> str:
    key = (id(server), kind)
    name = _TEMPLATES.get(key)
    if name and server.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)):
        return name
    name = f"{kind}_tpl_{secrets.token_hex(4)}"
    make(server, name)
    _TEMPLATES[key] = name
    config.add_cleanup(lambda: _drop_quietly(server, name))
    return name


@pytest.fixture(scope="module")
def app_template(pytestconfig: pytest.Config, pg_server: PostgresHandle) -> str:
    return _template(pytestconfig, pg_server, "app", schema.app_database)


@pytest.fixture
def app_db(pg_server: PostgresHandle, app_template: str) -> Iterator[PostgresView]:
    """A fresh copy of the application database (scale 1)."""
    yield from _copy_of(pg_server, app_template)


@pytest.fixture(scope="module")
def northwind_template(pytestconfig: pytest.Config, pg_server: PostgresHandle) -> str:
    try:
        return _template(pytestconfig, pg_server, "northwind", schema.load_northwind)
    except schema.DatasetMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture
def northwind_db(pg_server: PostgresHandle, northwind_template: str) -> Iterator[PostgresView]:
    """A fresh copy of northwind (skipped with the reason when the dataset is absent)."""
    yield from _copy_of(pg_server, northwind_template)
