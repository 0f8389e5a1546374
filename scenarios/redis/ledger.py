"""The RPO ledger in Redis: one key per numbered write, acknowledged by the SET reply."""

from __future__ import annotations

import contextlib
from typing import Any

from drillbook.fixtures.redis import RedisHandle

PREFIX = "drill:ledger:"


class RedisLedgerSink:
    def __init__(self, handle: RedisHandle, *, prefix: str = PREFIX) -> None:
        self.handle = handle
        self.read_handle = handle
        self.prefix = prefix
        self._client: Any = None

    def prepare(self) -> None:
        with self.handle.client() as c:
            c.ping()

    def write(self, seq: int, payload: str) -> None:
        if self._client is None:
            self._client = self.handle.client(timeout=1)
        try:
            self._client.set(f"{self.prefix}{seq}", payload)
        except Exception:
            self.close()
            raise

    def read_all(self) -> dict[int, str]:
        out: dict[int, str] = {}
        with self.read_handle.client(timeout=10) as c:
            keys = list(c.scan_iter(match=f"{self.prefix}*", count=1000))
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                for key, value in zip(chunk, c.mget(chunk), strict=True):
                    if value is None:
                        continue
                    seq_text = key.decode()[len(self.prefix) :]
                    with contextlib.suppress(ValueError):
                        out[int(seq_text)] = value.decode("utf-8", "replace")
        return out

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None
