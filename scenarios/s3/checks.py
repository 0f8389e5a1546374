"""What an S3 drill knows about its objects: manifests, version listings, checks, probes.

The runbooks verify a storage restore by counting files and checking they are not empty
(../shared/runbooks/004_…, "Verify Restore Procedure": ``find ./storage -type f | wc -l``,
``find ./storage -type f -size 0``). A count says nothing about content, so here:

- a :class:`Manifest` (key -> sha256, size, ETag, VersionId) is taken before the fault,
  by reading every object back (:func:`take_manifest`), or kept by the write path as an
  application's asset catalogue would (:meth:`Manifest.record`, :class:`CatalogLedgerSink`);
- after recovery every current object is downloaded and hashed (:func:`verify_objects`)
  and :func:`validate` turns that into the drill's checks: nothing missing, every sha256
  equal to the manifest, nothing unexpected, the count per prefix, and for ransomware no
  attacker bytes left and the ransom note gone;
- probes for the detection phase (:func:`bucket_probe`, :func:`presence_probe`,
  :func:`integrity_probe`) and the three questions of the decision tree
  (:func:`triage_probes`).

The RPO half of "every object's checksum against the ledger" is the engine's ledger
read-back (``drill.verify_ledger``): each ledger object's payload carries its checksum.

moto's server renders listings slowly (about 2 ms per entry) and copies the whole bucket
for every ``ListObjectVersions`` page, so listings ask for large pages (S3 and MinIO cap
a page at 1000 and paginate; moto honours the size asked for).
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from drillbook.drill import Drill, StepContext
from drillbook.record import Phase
from drillbook.scenarios.s3.ledger import PREFIX as LEDGER_PREFIX
from drillbook.scenarios.s3.ledger import S3LedgerSink
from drillbook.triage import TriageProbes

T = TypeVar("T")
R = TypeVar("R")

# The drills keep their RPO ledger inside the media prefix, so a fault on media/ hits it
# too and the ledger proves the restore brought every acknowledged object back.
MEDIA_LEDGER_PREFIX = "media/drill-ledger/"
LEDGER_PREFIXES: tuple[str, ...] = (MEDIA_LEDGER_PREFIX, LEDGER_PREFIX)

PAGE_SIZE = 100_000  # S3/MinIO cap a page at 1000; moto honours it (one bucket copy per page)
DETAIL_KEYS = 5  # keys named in a check's detail
EVIDENCE_LIMIT = 600


# -- small helpers shared by the S3 scenario modules ------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def norm_etag(etag: str | None) -> str:
    """An ETag without its quotes (S3 returns ``"<md5>"``)."""
    return (etag or "").strip().strip('"')


def is_multipart_etag(etag: str) -> bool:
    return "-" in etag


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ClientError ('NoSuchKey', 'AccessDenied', '404' ...)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or "ClientError"
    return type(exc).__name__


def is_delete_marker_error(exc: BaseException) -> bool:
    """A 404 whose response says the current version is a delete marker."""
    if not isinstance(exc, ClientError):
        return False
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return str(headers.get("x-amz-delete-marker", "")).lower() == "true"


def recorded(
    step: StepContext | None, description: str, fn: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """Run *fn* as a recorded API call of *step* (or plainly, outside a drill)."""
    if step is None:
        return fn(*args, **kwargs)
    result: T = step.call(description, fn, *args, **kwargs)
    return result


def pool_map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R | BaseException]:
    """``fn`` over *items* on a thread pool, in order; an item's exception is its result.

    S3 calls are network bound: a pool of clients' threads is how ``aws s3 sync`` and S3
    Batch Operations restore fast; one failed object never hides the others' results.
    """

    def guarded(item: T) -> R | BaseException:
        try:
            return fn(item)
        except Exception as exc:
            return exc

    if not items:
        return []
    if workers <= 1 or len(items) == 1:
        return [guarded(i) for i in items]
    with ThreadPoolExecutor(
        max_workers=min(workers, len(items)), thread_name_prefix="drillbook-s3"
    ) as pool:
        return list(pool.map(guarded, items))


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


def _short(keys: Iterable[str], limit: int = DETAIL_KEYS) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f" … (+{len(keys) - limit})" if len(keys) > limit else "")


# -- manifest ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestEntry:
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
        with self._lock:
            return self._entries.get(key)

    def entries(self) -> list[ManifestEntry]:
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: e.key)

    def all_keys(self) -> list[str]:
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
        return sum(e.size for e in self.entries())

    def counts_by_prefix(self, depth: int = 2) -> dict[str, int]:
        return dict(sorted(Counter(prefix_of(e.key, depth) for e in self.entries()).items()))

    def merged(self, *others: Manifest, name: str | None = None) -> Manifest:
        """One lookup over several manifests (later ones win on a shared key)."""
        out = Manifest(self.entries(), name=name or self.name)
        for other in others:
            for e in other.entries():
                out.add(e)
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "objects": len(self),
            "bytes": self.total_bytes,
            "by_prefix": self.counts_by_prefix(),
        }


@dataclass(frozen=True)
class CurrentObject:
    key: str
    etag: str
    size: int
    last_modified: float  # epoch seconds (S3: whole seconds)


def list_current(client: Any, bucket: str, prefix: str = "") -> dict[str, CurrentObject]:
    """The current (latest, not deleted) objects under *prefix*."""
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
    """Read every current object under *prefix* back and hash it.

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

    manifest = Manifest(name=name)
    for key, res in zip(keys, pool_map(read, keys, workers), strict=True):
        if isinstance(res, BaseException):
            raise RuntimeError(f"manifest: s3://{bucket}/{key} could not be read: {res}") from res
        manifest.add(res)
    return manifest


# -- versions ------------------------------------------------------------------------------


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
        for v in page.get("Versions", []):
            out.setdefault(v["Key"], []).append(
                Version(
                    v["Key"],
                    v["VersionId"],
                    bool(v.get("IsLatest")),
                    _epoch(v["LastModified"]),
                    False,
                    norm_etag(v.get("ETag")),
                    int(v.get("Size", 0)),
                )
            )
        for m in page.get("DeleteMarkers", []):
            out.setdefault(m["Key"], []).append(
                Version(
                    m["Key"],
                    m["VersionId"],
                    bool(m.get("IsLatest")),
                    _epoch(m["LastModified"]),
                    True,
                )
            )
    for key, versions in out.items():
        # boto3 hands versions and markers over in two lists: merge them newest first
        # (the latest, then by time). Same-second entries keep their listing order,
        # which S3 guarantees newest first among versions and among markers.
        versions.sort(key=lambda v: (not v.is_latest, -v.last_modified))
        out[key] = versions
    return out


def count_versions(client: Any, bucket: str, prefix: str = "") -> tuple[int, int]:
    """(object versions, delete markers) under *prefix*."""
    versions = list_versions(client, bucket, prefix)
    objs = sum(1 for vs in versions.values() for v in vs if not v.delete_marker)
    markers = sum(1 for vs in versions.values() for v in vs if v.delete_marker)
    return objs, markers


def t0_wall(drill: Drill) -> float:
    """t0 on the wall clock (S3's LastModified is wall-clock time)."""
    wall = drill.record.wall(drill.record.t0_mono)
    if wall is None:
        raise RuntimeError("t0 is not marked yet: call drill.fault() first")
    return wall


def t0_cut(t0_wall: float, skew: float = 0.0) -> float:
    """LastModified strictly below this is certainly before t0 (S3 truncates to seconds)."""
    return float(math.floor(t0_wall - skew))


# -- verification --------------------------------------------------------------------------


@dataclass
class Verification:
    """Every current object under a prefix, hashed and compared with a manifest."""

    bucket: str
    prefix: str
    manifest_objects: int
    checked: int = 0
    matched: int = 0
    bytes_read: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    expected_by_prefix: dict[str, int] = field(default_factory=dict)
    actual_by_prefix: dict[str, int] = field(default_factory=dict)
    current_sha256: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched or self.extra or self.unreadable)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("current_sha256")
        for k in ("missing", "mismatched", "extra", "unreadable"):
            data[k] = data[k][:20]
        return data


def verify_objects(
    client: Any,
    bucket: str,
    manifest: Manifest,
    *,
    prefix: str = "",
    ignore: Sequence[str] = (),
    workers: int = 16,
) -> Verification:
    """Download and hash every current object under *prefix*; compare with *manifest*.

    Keys under an *ignore* prefix (the RPO ledger, verified by its own read-back) are
    hashed (for the attacker-bytes check) but neither counted nor compared.
    """
    expected = [
        e
        for e in manifest
        if e.key.startswith(prefix) and not any(e.key.startswith(x) for x in ignore)
    ]
    out = Verification(bucket, prefix, len(expected))
    current = list_current(client, bucket, prefix)
    keys = sorted(current)

    def read(key: str) -> tuple[str, int]:
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return sha256_hex(data), len(data)

    for key, res in zip(keys, pool_map(read, keys, workers), strict=True):
        if isinstance(res, BaseException):
            out.unreadable.append(f"{key}: {error_code(res)}")
            continue
        digest, size = res
        out.current_sha256[key] = digest
        out.bytes_read += size
    compared = [k for k in keys if not any(k.startswith(x) for x in ignore)]
    out.checked = len(compared)
    by_key = {e.key: e for e in expected}
    for key in compared:
        entry = by_key.get(key)
        if entry is None:
            out.extra.append(key)
        elif out.current_sha256.get(key) == entry.sha256:
            out.matched += 1
        elif key in out.current_sha256:
            out.mismatched.append(key)
    out.missing = sorted(k for k in by_key if k not in current)
    out.expected_by_prefix = dict(sorted(Counter(prefix_of(k) for k in by_key).items()))
    out.actual_by_prefix = dict(sorted(Counter(prefix_of(k) for k in compared).items()))
    return out


def validate(
    drill: Drill,
    client: Any,
    bucket: str,
    manifest: Manifest,
    *,
    prefix: str = "",
    ignore: Sequence[str] = LEDGER_PREFIXES,
    attacker_sha256: set[str] | None = None,
    ransom_note: str | None = None,
    workers: int = 16,
) -> Verification:
    """The validation phase's object checks, each recorded with expected and actual values."""
    where = f"s3://{bucket}/{prefix}"
    with drill.step(
        f"verify every object under {where} against the manifest", Phase.VALIDATION
    ) as s:
        v = s.call(
            f"ListObjectsV2 + GetObject of every object under {where}, sha256 each",
            verify_objects,
            client,
            bucket,
            manifest,
            prefix=prefix,
            ignore=ignore,
            workers=workers,
        )
        s.processed(v.bytes_read)
        s.note("verification", v.summary())
    drill.check(
        "every manifest object present",
        not v.missing,
        f"{len(v.missing)} of {v.manifest_objects} missing: {_short(v.missing)}"
        if v.missing
        else f"all {v.manifest_objects} present",
        expected=v.manifest_objects,
        actual=v.manifest_objects - len(v.missing),
    )
    drill.check(
        "every object's sha256 matches the manifest",
        not v.mismatched and not v.unreadable,
        f"{len(v.mismatched)} differ, {len(v.unreadable)} unreadable: "
        f"{_short(v.mismatched + v.unreadable)}"
        if v.mismatched or v.unreadable
        else f"{v.matched} objects, {v.bytes_read} bytes hashed",
        expected=v.manifest_objects,
        actual=v.matched,
    )
    drill.check(
        "no object outside the manifest",
        not v.extra,
        f"{len(v.extra)} unexpected: {_short(v.extra)}" if v.extra else "none",
        expected=0,
        actual=len(v.extra),
    )
    drill.check(
        "object count per prefix",
        v.expected_by_prefix == v.actual_by_prefix,
        ", ".join(
            f"{p} {v.actual_by_prefix.get(p, 0)}/{v.expected_by_prefix.get(p, 0)}"
            for p in sorted(set(v.expected_by_prefix) | set(v.actual_by_prefix))
        ),
        expected=v.expected_by_prefix,
        actual=v.actual_by_prefix,
    )
    if attacker_sha256 is not None:
        left = sorted(k for k, d in v.current_sha256.items() if d in attacker_sha256)
        differ = sorted(set(left) | set(v.mismatched))
        drill.check(
            "no attacker bytes left",
            not differ,
            f"{len(differ)} current objects hold the attacker's bytes or differ from the "
            f"manifest: {_short(differ)}"
            if differ
            else f"none of the {len(attacker_sha256)} attacker digests in "
            f"{len(v.current_sha256)} current objects",
            expected=0,
            actual=len(differ),
        )
    if ransom_note is not None:
        present = ransom_note in v.current_sha256 or ransom_note in v.extra
        drill.check(
            "ransom note removed",
            not present,
            f"s3://{bucket}/{ransom_note} {'still present' if present else 'gone'}",
            expected="absent",
            actual="present" if present else "absent",
        )
    return v


def await_healthy(
    drill: Drill, probe: Callable[[], Any], *, name: str, timeout: float = 10.0
) -> bool:
    """``drill.wait_healthy`` whose failure becomes a failed check, not a drill error.

    A restore that left the bucket broken must still reach validation, so the record
    says what is wrong (which objects, which bytes) instead of only "probe timed out".
    """
    try:
        drill.wait_healthy(probe, timeout=timeout, name=name)
    except TimeoutError as exc:
        drill.check(f"healthy after recovery: {name}", False, str(exc))
        return False
    return True


# -- the ledger as an application's upload path ---------------------------------------------


class CatalogLedgerSink(S3LedgerSink):
    """S3 ledger writes recorded, once acknowledged, in an asset catalogue (a Manifest).

    A media application keeps each upload's checksum in its database; a ransomware
    restore checks versions against it. S3's LastModified has one-second resolution, so
    without it a write made in t0's second cannot be told from the attacker's.
    """

    def __init__(
        self, handle: Any, bucket: str, catalog: Manifest, *, prefix: str = MEDIA_LEDGER_PREFIX
    ) -> None:
        super().__init__(handle, bucket, prefix=prefix)
        self.catalog = catalog

    def write(self, seq: int, payload: str) -> None:
        if self._client is None:
            self._client = self.handle.client(timeout=2)
        body = payload.encode()
        resp = self._client.put_object(Bucket=self.bucket, Key=self.key(seq), Body=body)
        self.catalog.record(
            self.key(seq), body, etag=resp.get("ETag"), version_id=resp.get("VersionId")
        )


# -- probes ----------------------------------------------------------------------------------


def bucket_probe(client: Any, bucket: str) -> Callable[[], None]:
    """HeadBucket + a one-key listing: fails when the endpoint or the bucket is gone."""

    def probe() -> None:
        client.head_bucket(Bucket=bucket)
        client.list_objects_v2(Bucket=bucket, MaxKeys=1)

    return probe


def sample_keys(manifest: Manifest, n: int = 8, *, prefix: str = "", seed: int = 0) -> list[str]:
    keys = [k for k in manifest.all_keys() if k.startswith(prefix)]
    if len(keys) <= n:
        return keys
    return sorted(random.Random(seed).sample(keys, n))


def presence_probe(client: Any, bucket: str, keys: Sequence[str]) -> Callable[[], None]:
    """HEAD each sampled key: a delete marker or a missing key fails the probe."""

    def probe() -> None:
        missing = []
        for key in keys:
            try:
                client.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) in ("404", "NoSuchKey"):
                    missing.append(key)
                else:
                    raise
        if missing:
            raise RuntimeError(
                f"{len(missing)}/{len(keys)} sampled objects missing: {_short(missing)}"
            )

    return probe


def integrity_probe(
    client: Any,
    bucket: str,
    manifest: Manifest,
    keys: Sequence[str],
    *,
    note_key: str | None = None,
) -> Callable[[], None]:
    """GET each sampled key and compare its sha256 with the manifest (and look for a note)."""

    def probe() -> None:
        bad = []
        for key in keys:
            entry = manifest.get(key)
            data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            if entry is not None and sha256_hex(data) != entry.sha256:
                bad.append(key)
        if bad:
            raise RuntimeError(
                f"{len(bad)}/{len(keys)} sampled objects differ from the manifest: {_short(bad)}"
            )
        if note_key is not None:
            try:
                client.head_object(Bucket=bucket, Key=note_key)
            except ClientError as exc:
                if error_code(exc) not in ("404", "NoSuchKey"):
                    raise
            else:
                raise RuntimeError(f"unexpected object s3://{bucket}/{note_key}")

    return probe


def triage_probes(
    client: Any,
    bucket: str,
    manifest: Manifest,
    *,
    ignore: Sequence[str] = LEDGER_PREFIXES,
    workers: int = 16,
) -> TriageProbes:
    """The decision tree's questions for a bucket, answered against *manifest*.

    reachable: HeadBucket succeeds (the endpoint answers and the bucket exists);
    corrupt: current objects whose sha256 differs from the manifest, or objects the
    manifest does not know (a ransom note);
    missing: manifest objects that are not current (deleted, or hidden by delete markers).
    """

    def reachable() -> bool:
        try:
            client.head_bucket(Bucket=bucket)
        except Exception:
            return False
        return True

    def corrupt() -> str | None:
        v = verify_objects(client, bucket, manifest, ignore=ignore, workers=workers)
        found = []
        if v.mismatched:
            found.append(
                f"{len(v.mismatched)} objects differ from the manifest ({_short(v.mismatched, 3)})"
            )
        if v.extra:
            found.append(f"{len(v.extra)} objects not in the manifest ({_short(v.extra, 3)})")
        text = "; ".join(found)
        return text[:EVIDENCE_LIMIT] if text else None

    def missing() -> str | None:
        current = list_current(client, bucket)
        gone = [k for k in manifest.all_keys() if k not in current]
        if not gone:
            return None
        by_prefix = Counter(prefix_of(k) for k in gone)
        return (
            f"{len(gone)} of {len(manifest)} manifest objects missing: "
            + ", ".join(f"{p} {n}" for p, n in sorted(by_prefix.items()))
        )[:EVIDENCE_LIMIT]

    return TriageProbes(reachable=reachable, corrupt=corrupt, missing=missing)


def by_prefix(keys: Iterable[str], depth: int = 2) -> Mapping[str, int]:
    return dict(sorted(Counter(prefix_of(k, depth) for k in keys).items()))
