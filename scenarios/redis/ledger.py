"""The RPO ledger in Redis: one key per numbered write, acknowledged by the server's reply.

- :class:`RedisLedgerSink`: ``SET drill:ledger:<seq> <payload>``.
- :class:`SessionSink`: the auth service's session store, each write one login
  (``sess:<seq>`` and the user's session index, in MULTI/EXEC).

Both read back every key under their prefix (SCAN + MGET) from ``read_handle``, which
``drill.verify_ledger(ledger, read_from=restored)`` points at the server a recovery
produced. The sinks implement :class:`drillbook.ledger.LedgerSink` (``prepare``,
``write``, ``read_all``, ``close``); the drill's ledger writer calls them.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

from drillbook.fixtures.redis import RedisHandle
from drillbook.scenarios.common import source_of

__all__ = ["PREFIX", "RedisLedgerSink", "SessionSink"]

PREFIX = "drill:ledger:"


class _KeySink:
    """A ledger sink whose write *seq* lives in the key ``<prefix><seq>``."""

    def __init__(self, handle: RedisHandle, prefix: str) -> None:
        self.handle = handle
        self.read_handle = handle
        self.prefix = prefix
        self._client: Any = None
        #: Where the writes go (what a protection's source covers: the server's
        #: snapshots and AOF).
        self.source = source_of(handle, str(getattr(handle, "db", 0)))

    def prepare(self) -> None:
        with self.handle.client() as c:
            c.ping()

    def write(self, seq: int, payload: str) -> None:
        if self._client is None:
            self._client = self.handle.client(timeout=1)
        try:
            self._write(self._client, seq, payload)
        except Exception:
            # The next write reconnects: a write during an outage fails fast and is
            # recorded as failed, never as acknowledged.
            self.close()
            raise

    def _write(self, client: Any, seq: int, payload: str) -> None:
        raise NotImplementedError

    def read_all(self) -> dict[int, str]:
        """seq -> payload of every ledger key on ``read_handle`` (SCAN, then MGET)."""
        out: dict[int, str] = {}
        with self.read_handle.client(timeout=10) as c:
            keys = list(c.scan_iter(match=f"{self.prefix}*", count=1000))
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                for key, value in zip(chunk, c.mget(chunk), strict=True):
                    if value is None:
                        continue
                    with contextlib.suppress(ValueError):
                        seq = int(key.decode()[len(self.prefix) :])
                        out[seq] = value.decode("utf-8", "replace")
        return out

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None


class RedisLedgerSink(_KeySink):
    """``SET <prefix><seq> <payload>`` per write; acknowledged by the SET reply.

    *handle*: the server written to; *prefix*: the key prefix (``drill:ledger:``).
    """

    def __init__(self, handle: RedisHandle, *, prefix: str = PREFIX) -> None:
        super().__init__(handle, prefix)

    def _write(self, client: Any, seq: int, payload: str) -> None:
        client.set(f"{self.prefix}{seq}", payload)


class SessionSink(_KeySink):
    """The auth service's session store, as a ledger sink: each write is one login.

    ``sess:<seq>`` holds the session (the ledger payload) with a TTL of *ttl* seconds,
    and the user's index ``user:<id>:sessions`` gets the seq, both in one MULTI/EXEC
    (the service's own write pattern). Each login belongs to one of *users*
    pseudo-random users (a hash of its seq), so ``checks.session_loss`` can count the
    users a restore logged out.
    """

    def __init__(
        self,
        handle: RedisHandle,
        *,
        users: int = 500,
        ttl: int = 86400,
        prefix: str = "sess:",
        index_prefix: str = "user:",
    ) -> None:
        if users < 1:
            raise ValueError("users must be >= 1")
        super().__init__(handle, prefix)
        self.users = users
        self.ttl = ttl
        self.index_prefix = index_prefix

    def user_of(self, seq: int) -> int:
        """A stable pseudo-random user per login: some users log in twice, most once."""
        digest = hashlib.blake2b(seq.to_bytes(8, "little"), digest_size=8).digest()
        return int.from_bytes(digest, "little") % self.users

    def index_key(self, user: int) -> str:
        return f"{self.index_prefix}{user}:sessions"

    def _write(self, client: Any, seq: int, payload: str) -> None:
        pipe = client.pipeline(transaction=True)
        pipe.set(f"{self.prefix}{seq}", payload, ex=self.ttl)
        pipe.sadd(self.index_key(self.user_of(seq)), seq)
        pipe.execute()

    def read_index(self) -> dict[int, set[int]]:
        """user -> session seqs, as the restored index says."""
        out: dict[int, set[int]] = {}
        with self.read_handle.client(timeout=10) as c:
            for key in c.scan_iter(match=f"{self.index_prefix}*:sessions", count=1000):
                user = int(key.decode()[len(self.index_prefix) :].split(":", 1)[0])
                out[user] = {int(m) for m in c.smembers(key)}
        return out
