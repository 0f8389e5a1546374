"""Servers seen through a network route: a fault-proxy link in front of them.

A standby in region B reaches region A's primary through a link; the replicator in
region A reaches region B's bucket through another. These views carry the link's
address and delegate everything else to the server, so the existing procedures
(``recovery.make_standby``, the replicator) run unchanged over the cross-region path.
"""

from __future__ import annotations

from typing import Any

from drillbook.fixtures.postgres import PostgresHandle, PostgresView
from drillbook.scenarios.s3 import client as s3_client


class RoutedPostgres(PostgresView):
    """*server* at *link*'s address (``pg_basebackup -R`` then writes the link into
    ``primary_conninfo``: replication itself takes the route)."""

    def __init__(self, server: PostgresHandle, link: Any, dbname: str | None = None) -> None:
        super().__init__(server, dbname or server.dbname)
        self.host = link.host
        self.port = link.port

    def tool(self, name: str) -> str:
        return self.server.tool(name)


class RoutedS3:
    """An S3 endpoint at *link*'s address, with the server's credentials."""

    def __init__(self, server: Any, link: Any) -> None:
        self.server = server
        self.access_key = server.access_key
        self.secret_key = server.secret_key
        self.region = server.region
        self.endpoint = f"http://{link.host}:{link.port}"

    def client(self, *, timeout: float = 10.0) -> Any:
        return s3_client.client(self, timeout=timeout)

    def __repr__(self) -> str:
        return f"<RoutedS3 {self.endpoint} -> {self.server.endpoint}>"
