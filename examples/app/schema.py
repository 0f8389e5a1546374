"""The application's tables. ``python -m drillbook.examples.app migrate`` creates them;
the application itself never does (it must start, and answer /health with 503, while
its database is down)."""

from __future__ import annotations

import psycopg

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username text PRIMARY KEY,
    salt bytea NOT NULL,
    password_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS projects (
    id bigserial PRIMARY KEY,
    owner text NOT NULL REFERENCES users(username),
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS projects_owner ON projects(owner);
"""


def migrate(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(SCHEMA)
