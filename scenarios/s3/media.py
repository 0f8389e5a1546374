"""The media objects an S3 drill protects: uploaded with their checksums, and the
manifest (what the application knows it stored) built from the acknowledged uploads."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from drillbook.drill import StepContext
from drillbook.scenarios.s3.client import md5_hex, norm_etag, pool_all, recorded, sha256_hex
from drillbook.scenarios.s3.manifest import Manifest, ManifestEntry

__all__ = ["MEDIA_PREFIXES", "MEDIA_TYPES", "seed_media"]

MEDIA_PREFIXES: tuple[str, ...] = ("media/images/", "media/video/", "media/thumbs/")
MEDIA_TYPES = {
    "media/images/": "image/jpeg",
    "media/video/": "video/mp4",
    "media/thumbs/": "image/webp",
}


Upload = tuple[str, int, str]  # key, size, content type


def _plan(
    count: int, prefixes: Sequence[str], sizes: tuple[int, int], seed: int | None
) -> list[Upload]:
    rng = random.Random(seed)
    plan = []
    for i in range(count):
        prefix = prefixes[i % len(prefixes)]
        ctype = MEDIA_TYPES.get(prefix, "application/octet-stream")
        plan.append((f"{prefix}asset-{i:05d}.bin", rng.randint(*sizes), ctype))
    return plan


def _upload(
    c: Any, bucket: str, item: Upload, on_upload: Callable[[str, str, float], None] | None
) -> ManifestEntry:
    """One PutObject of random bytes; its ETag must be their MD5."""
    key, size, ctype = item
    data = os.urandom(size)
    digest = sha256_hex(data)
    resp = c.put_object(
        Bucket=bucket, Key=key, Body=data, ContentType=ctype, Metadata={"sha256": digest}
    )
    ack = time.monotonic()
    etag = norm_etag(resp["ETag"])
    if etag != md5_hex(data):
        raise RuntimeError(f"s3://{bucket}/{key}: ETag {etag} is not the MD5 of the upload")
    if on_upload is not None:
        on_upload(key, etag, ack)
    return ManifestEntry(key, digest, size, etag, resp.get("VersionId"))


def seed_media(
    step: StepContext | None,
    c: Any,
    bucket: str,
    *,
    count: int = 120,
    prefixes: Sequence[str] = MEDIA_PREFIXES,
    min_size: int = 512,
    max_size: int = 32 * 1024,
    seed: int | None = None,
    workers: int = 16,
    on_upload: Callable[[str, str, float], None] | None = None,
    name: str = "media manifest (at upload)",
) -> Manifest:
    """Upload *count* media objects spread over *prefixes*; their manifest from the uploads.

    *step*: the drill step the uploads are recorded in (None outside a drill); *c*: a
    boto3 client (``client.client(handle)``); sizes between *min_size* and *max_size*
    bytes, reproducible with *seed*; *workers*: parallel uploads; *name*: the
    manifest's. The manifest is what the application knows it stored: the sha256 of the
    bytes sent, the ETag the endpoint acknowledged (checked to be their MD5) and the
    VersionId. Content is random (media does not compress) with a type per prefix and
    the sha256 in the object's metadata, as a media service stores it.
    *on_upload(key, etag, ack_mono)* sees each acknowledged upload (the replicator's
    ObjectCreated event). Records the bytes uploaded and the note ``seeded``.
    """
    plan = _plan(count, prefixes, (min_size, max_size), seed)
    manifest = Manifest(name=name)

    def upload(item: Upload) -> ManifestEntry:
        return _upload(c, bucket, item, on_upload)

    def run() -> int:
        for entry in pool_all(upload, plan, workers, f"upload to s3://{bucket}/{{0[0]}}"):
            manifest.add(entry)
        return len(manifest)

    recorded(
        step,
        f"PutObject ×{count} s3://{bucket}/{{{','.join(prefixes)}}} "
        f"({min_size}-{max_size} bytes, {workers} workers)",
        run,
    )
    if step is not None:
        step.processed(manifest.total_bytes)
        step.note("seeded", manifest.summary())
    return manifest
