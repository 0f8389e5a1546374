"""The RPO ledger in S3: one object per numbered write, acknowledged by PutObject's 200."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from drillbook.fixtures.s3 import S3Handle

PREFIX = "drill-ledger/"


class S3LedgerSink:
    def __init__(self, handle: S3Handle, bucket: str, *, prefix: str = PREFIX) -> None:
        self.handle = handle
        self.read_handle = handle
        self.bucket = bucket
        self.read_bucket = bucket
        self.prefix = prefix
        self._client: Any = None

    def prepare(self) -> None:
        c = self.handle.client()
        existing = {b["Name"] for b in c.list_buckets().get("Buckets", [])}
        if self.bucket not in existing:
            c.create_bucket(Bucket=self.bucket)

    def key(self, seq: int) -> str:
        """The object key of write *seq* (read_all parses it back)."""
        return f"{self.prefix}{seq:010d}"

    def write(self, seq: int, payload: str) -> None:
        if self._client is None:
            self._client = self.handle.client(timeout=2)
        self._client.put_object(Bucket=self.bucket, Key=self.key(seq), Body=payload.encode())

    def read_all(self) -> dict[int, str]:
        c = self.read_handle.client()
        keys: list[str] = []
        try:
            for page in c.get_paginator("list_objects_v2").paginate(
                Bucket=self.read_bucket, Prefix=self.prefix
            ):
                keys += [o["Key"] for o in page.get("Contents", [])]
        except c.exceptions.NoSuchBucket:
            return {}

        def fetch(key: str) -> tuple[int, str]:
            body = c.get_object(Bucket=self.read_bucket, Key=key)["Body"].read()
            return int(key[len(self.prefix) :]), body.decode("utf-8", "replace")

        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(pool.map(fetch, keys))

    def close(self) -> None:
        self._client = None
