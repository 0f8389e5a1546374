"""The RPO ledger in PostgreSQL: one row per numbered, acknowledged write.

The sink implements :class:`drillbook.ledger.LedgerSink` (``prepare``, ``write``,
``read_all``, ``close``); the drill's ledger writer calls them, a drill does not.

A write is acknowledged when its autocommit INSERT returns: with the server's
``synchronous_commit`` (on by default) the commit record is flushed to WAL by then,
which is exactly the promise an application gets.
"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg

from drillbook.fixtures.postgres import PostgresHandle
from drillbook.scenarios.common import source_of

__all__ = [
    "TABLE",
    "PostgresLedgerSink",
]

TABLE = "drill_ledger"


class PostgresLedgerSink:
    """The ledger as rows of ``table(seq, payload, written_at)`` in database *dbname*
    (default: the handle's) on *handle*.

    ``drill.ledger(PostgresLedgerSink(db))`` starts writing; after the recovery
    ``drill.verify_ledger(ledger, read_from=restored)`` reads every row back from the
    server the recovery produced (``read_handle``; by default the one written to). The
    table is left out of ``checks.snapshot`` by default: the ledger is verified on its
    own.
    """

    def __init__(self, handle: PostgresHandle, *, dbname: str | None = None, table: str = TABLE):
        self.handle = handle
        self.read_handle = handle
        self.dbname = dbname or handle.dbname
        self.table = table
        self._conn: psycopg.Connection[Any] | None = None
        #: Where the writes go (what a protection's source covers: its cluster's WAL
        #: archive and standbys, this database's dumps).
        self.source = source_of(handle, self.dbname)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = self.handle.connect(self.dbname, timeout=1)
        return self._conn

    def prepare(self) -> None:
        with self.handle.connect(self.dbname) as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " seq bigint PRIMARY KEY, payload text NOT NULL,"
                " written_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )

    def write(self, seq: int, payload: str) -> None:
        try:
            self._connection().execute(
                f"INSERT INTO {self.table} (seq, payload) VALUES (%s, %s)", (seq, payload)
            )
        except Exception:
            # The next write reconnects: a write during an outage fails fast and is
            # recorded as failed, never as acknowledged.
            self._drop()
            raise

    def position(self) -> int | None:
        """The WAL insert LSN right after the last acknowledged write: at or past its
        commit record, so a protection that had WAL up to there had the write."""
        row = (
            self._connection()
            .execute("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
            .fetchone()
        )
        return None if row is None else int(row[0])

    def read_all(self) -> dict[int, str]:
        with self.read_handle.connect(self.dbname) as conn:
            exists = conn.execute("SELECT to_regclass(%s)", (self.table,)).fetchone()
            if not exists or exists[0] is None:
                return {}
            rows = conn.execute(f"SELECT seq, payload FROM {self.table}").fetchall()
        return {int(seq): str(payload) for seq, payload in rows}

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        self._drop()
