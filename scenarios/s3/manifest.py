"""What an S3 drill knows about its objects before the fault: a :class:`Manifest` of
checksums, and the listings (current objects, every version) it is compared with.

moto's server renders listings slowly (about 2 ms per entry) and copies the whole bucket
for every ``ListObjectVersions`` page, so listings ask for large pages (S3, MinIO and
SeaweedFS cap a page at 1000 and paginate; moto honours the size asked for). SeaweedFS
refuses a ListObjectsV2 whose MaxKeys does not fit 16 bits (InvalidArgument), so the
size asked for stays below 65536.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drillbook.drill import Drill
from drillbook.scenarios.s3.client import md5_hex, norm_etag, pool_all, sha256_hex

__all__ = [
    "CurrentObject",
    "Manifest",
    "ManifestEntry",
    "Version",
    "count_by_prefix",
    "list_current",
    "list_versions",
    "prefix_of",
    "short",
    "t0_cut",
    "take_manifest",
    "wall_t0",
]

PAGE_SIZE = 50_000  # S3 caps a page at 1000; moto honours it; SeaweedFS refuses >= 65536
DETAIL_KEYS = 5  # keys named in a check's detail


def prefix_of(key: str, depth: int = 2) -> str:
    """The first *depth* path components of *key* ('media/images/' for depth 2)."""
    parts = key.split("/")
    if len(parts) == 1:
        return "/"
    return "/".join(parts[: min(depth, len(parts) - 1)]) + "/"


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def short(keys: Iterable[str], limit: int = DETAIL_KEYS) -> str:
    """The first *limit* of *keys*, and how many more: a check's detail names a few."""
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f" … (+{len(keys) - limit})" if len(keys) > limit else "")


def count_by_prefix(keys: Iterable[str], depth: int = 2) -> dict[str, int]:
    """How many of *keys* fall under each prefix of *depth* components, sorted."""
    return dict(sorted(Counter(prefix_of(k, depth) for k in keys).items()))


@dataclass(frozen=True)
class ManifestEntry:
    """One object that must survive: key, sha256, size, ETag and VersionId."""

    key: str
    sha256: str
    size: int
    etag: str  # unquoted; the MD5 of the content for a single-part upload
    version_id: str | None = None


class Manifest:
    """key -> (sha256, size, ETag, VersionId) of the objects that must survive.

    Thread-safe: a write path may :meth:`record` uploads while a drill reads it.
    """

    def __init__(self, entries: Iterable[ManifestEntry] = (), *, name: str = "manifest") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._entries: dict[str, ManifestEntry] = {e.key: e for e in entries}

    def add(self, entry: ManifestEntry) -> None:
        """Add (or replace) one entry."""
        with self._lock:
            self._entries[entry.key] = entry

    def record(
        self, key: str, data: bytes, *, etag: str | None = None, version_id: str | None = None
    ) -> ManifestEntry:
        """Record an acknowledged upload of *data* (its PutObject response's ETag/VersionId)."""
        entry = ManifestEntry(
            key, sha256_hex(data), len(data), norm_etag(etag) or md5_hex(data), version_id
        )
        self.add(entry)
        return entry

    def get(self, key: str) -> ManifestEntry | None:
        """The entry of *key*, or None."""
        with self._lock:
            return self._entries.get(key)

    def entries(self) -> list[ManifestEntry]:
        """Every entry, by key."""
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: e.key)

    def all_keys(self) -> list[str]:
        """Every key, sorted."""
        return [e.key for e in self.entries()]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[ManifestEntry]:
        return iter(self.entries())

    @property
    def total_bytes(self) -> int:
        """The size of everything the manifest holds."""
        return sum(e.size for e in self.entries())

    def counts_by_prefix(self, depth: int = 2) -> dict[str, int]:
        """Objects per prefix of *depth* path components."""
        return count_by_prefix((e.key for e in self.entries()), depth)

    def merged(self, *others: Manifest, name: str | None = None) -> Manifest:
        """One lookup over several manifests (later ones win on a shared key)."""
        out = Manifest(self.entries(), name=name or self.name)
        for other in others:
            for e in other.entries():
                out.add(e)
        return out

    def summary(self) -> dict[str, Any]:
        """Name, objects, bytes and counts per prefix, for the record."""
        return {
            "name": self.name,
            "objects": len(self),
            "bytes": self.total_bytes,
            "by_prefix": self.counts_by_prefix(),
        }


@dataclass(frozen=True)
class CurrentObject:
    """One current object of a listing."""

    key: str
    etag: str
    size: int
    last_modified: float  # epoch seconds (S3: whole seconds)


def list_current(client: Any, bucket: str, prefix: str = "") -> dict[str, CurrentObject]:
    """The current (latest, not deleted) objects under *prefix*: key -> ETag, size,
    LastModified."""
    out: dict[str, CurrentObject] = {}
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": PAGE_SIZE}
    ):
        for o in page.get("Contents", []):
            out[o["Key"]] = CurrentObject(
                o["Key"], norm_etag(o.get("ETag")), int(o["Size"]), _epoch(o["LastModified"])
            )
    return out


def take_manifest(
    client: Any,
    bucket: str,
    *,
    prefix: str = "",
    exclude: Sequence[str] = (),
    workers: int = 16,
    name: str = "manifest",
) -> Manifest:
    """Read every current object under *prefix* back and hash it: the manifest taken
    before the fault (keys under an *exclude* prefix left out), *workers* GETs at once.

    The VersionId of each GetObject response is kept: it names the exact good version an
    inventory-driven restore can copy back.
    """
    keys = [
        k for k in list_current(client, bucket, prefix) if not any(k.startswith(x) for x in exclude)
    ]

    def read(key: str) -> ManifestEntry:
        resp = client.get_object(Bucket=bucket, Key=key)
        data = resp["Body"].read()
        return ManifestEntry(
            key, sha256_hex(data), len(data), norm_etag(resp.get("ETag")), resp.get("VersionId")
        )

    what = f"manifest: reading s3://{bucket}/{{}}"
    return Manifest(pool_all(read, keys, workers, what), name=name)


@dataclass(frozen=True)
class Version:
    """One entry of ListObjectVersions: an object version or a delete marker."""

    key: str
    version_id: str
    is_latest: bool
    last_modified: float  # epoch seconds; S3 gives whole seconds
    delete_marker: bool = False
    etag: str = ""
    size: int = 0


def list_versions(client: Any, bucket: str, prefix: str = "") -> dict[str, list[Version]]:
    """Every version and delete marker under *prefix*, per key, newest first.

    S3 lists a key's versions newest first; LastModified has a resolution of one second,
    so the listing order, not the timestamp, orders versions written in the same second.
    """
    out: dict[str, list[Version]] = {}
    paginator = client.get_paginator("list_object_versions")
    for page in paginator.paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": PAGE_SIZE}
    ):
        for marker, entries in (
            (False, page.get("Versions", [])),
            (True, page.get("DeleteMarkers", [])),
        ):
            for v in entries:
                out.setdefault(v["Key"], []).append(
                    Version(
                        v["Key"],
                        v["VersionId"],
                        bool(v.get("IsLatest")),
                        _epoch(v["LastModified"]),
                        marker,
                        "" if marker else norm_etag(v.get("ETag")),
                        0 if marker else int(v.get("Size", 0)),
                    )
                )
    for key, versions in out.items():
        # boto3 hands versions and markers over in two lists: merge them newest first
        # (the latest, then by time). Same-second entries keep their listing order,
        # which S3 guarantees newest first among versions and among markers.
        versions.sort(key=lambda v: (not v.is_latest, -v.last_modified))
        out[key] = versions
    return out


def wall_t0(drill: Drill) -> float:
    """t0 on the wall clock (S3's LastModified is wall-clock time)."""
    wall = drill.record.wall(drill.record.t0_mono)
    if wall is None:
        raise RuntimeError("t0 is not marked yet: call drill.fault() first")
    return wall


def t0_cut(t0_wall: float, skew: float = 0.0) -> float:
    """LastModified strictly below this is certainly before t0 (S3 truncates to seconds)."""
    return float(math.floor(t0_wall - skew))
