"""Tests of scenarios/: application data, integrity checks, faults, triage probes.

Shared fixtures (imported by the test modules, there being no conftest here): the
application database and northwind are each loaded once per module into a template
database on the session server, and every test gets its own copy (CREATE DATABASE ...
TEMPLATE, a file copy: much faster than loading again), dropped afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from fixtures.postgres import PostgresHandle, PostgresView, ensure_template
from scenarios.postgres import schema


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


@pytest.fixture(scope="module")
def app_template(pg_server: PostgresHandle) -> Iterator[str]:
    name = f"app_tpl_{secrets.token_hex(4)}"
    schema.app_database(pg_server, name, scale=1)
    try:
        yield name
    finally:
        if pg_server.is_healthy():
            pg_server.drop_database(name)


@pytest.fixture
def app_db(pg_server: PostgresHandle, app_template: str) -> Iterator[PostgresView]:
    """A fresh copy of the application database (scale 1)."""
    yield from _copy_of(pg_server, app_template)


@pytest.fixture(scope="module")
def northwind_template(pg_server: PostgresHandle) -> Iterator[str]:
    name = f"northwind_tpl_{secrets.token_hex(4)}"
    try:
        schema.load_northwind(pg_server, name)
    except schema.DatasetMissing as exc:
        pytest.skip(str(exc))
    try:
        yield name
    finally:
        if pg_server.is_healthy():
            pg_server.drop_database(name)


@pytest.fixture
def northwind_db(pg_server: PostgresHandle, northwind_template: str) -> Iterator[PostgresView]:
    """A fresh copy of northwind (skipped with the reason when the dataset is absent)."""
    yield from _copy_of(pg_server, northwind_template)
