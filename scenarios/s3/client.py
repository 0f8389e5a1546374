"""The S3 client the scenarios use, and the small helpers every S3 module shares: ETags
and digests, error codes, recorded calls, a thread pool that keeps each item's error."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeAlias, TypeVar

from botocore.exceptions import ClientError

from drillbook.drill import StepContext
from drillbook.fixtures.s3 import S3Handle, endpoint_client

__all__ = [
    "S3Factory",
    "client",
    "error_code",
    "get_verified",
    "is_delete_marker_error",
    "is_multipart_etag",
    "latest_is_delete_marker",
    "md5_hex",
    "norm_etag",
    "pool_all",
    "pool_map",
    "pool_split",
    "put_copy",
    "recorded",
    "sha256_hex",
]

T = TypeVar("T")
R = TypeVar("R")

#: The ``s3_factory`` fixture: another endpoint (a "region") per call.
S3Factory: TypeAlias = Callable[[str], S3Handle]


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of *data*, hex: what manifests and ledgers compare."""
    return hashlib.sha256(data).hexdigest()


def md5_hex(data: bytes) -> str:
    """The MD5 of *data*, hex: a single-part upload's ETag."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def norm_etag(etag: str | None) -> str:
    """An ETag without its quotes (S3 returns ``"<md5>"``)."""
    return (etag or "").strip().strip('"')


def is_multipart_etag(etag: str) -> bool:
    """A multipart upload's ETag (``<md5>-<parts>``) is not the content's MD5."""
    return "-" in etag


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ClientError ('NoSuchKey', 'AccessDenied', '404' ...)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or "ClientError"
    return type(exc).__name__


def is_delete_marker_error(exc: BaseException) -> bool:
    """A 404 whose response says the current version is a delete marker (AWS, moto;
    SeaweedFS never sends ``x-amz-delete-marker``: see :func:`latest_is_delete_marker`)."""
    if not isinstance(exc, ClientError):
        return False
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return str(headers.get("x-amz-delete-marker", "")).lower() == "true"


def latest_is_delete_marker(c: Any, bucket: str, key: str) -> bool:
    """Whether *key*'s current version is a delete marker, from ListObjectVersions.

    What a HEAD says on AWS and moto (``x-amz-delete-marker: true`` on its 404) but not on
    SeaweedFS, whose 404 is the same for a marker and for a key deleted for good. The
    listing is in key order, so *key*'s own entries come first under ``Prefix=key``."""
    resp = c.list_object_versions(Bucket=bucket, Prefix=key)
    return any(m["Key"] == key and m.get("IsLatest") for m in resp.get("DeleteMarkers", []))


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


def pool_split(
    fn: Callable[[T], R], items: Sequence[T], workers: int
) -> tuple[list[tuple[T, R]], list[tuple[T, BaseException]]]:
    """:func:`pool_map`, split: (item, result) of the calls that worked and (item,
    error) of those that failed, each in the order of *items*."""
    done: list[tuple[T, R]] = []
    failed: list[tuple[T, BaseException]] = []
    for item, res in zip(items, pool_map(fn, items, workers), strict=True):
        if isinstance(res, BaseException):
            failed.append((item, res))
        else:
            done.append((item, res))
    return done, failed


def pool_all(fn: Callable[[T], R], items: Sequence[T], workers: int, what: str) -> list[R]:
    """Every result of :func:`pool_map`, or the first failure raised, naming *what*
    (formatted with the item) failed."""
    done, failed = pool_split(fn, items, workers)
    if failed:
        item, exc = failed[0]
        raise RuntimeError(f"{what.format(item)} failed ({len(failed)} failed): {exc}") from exc
    return [res for _item, res in done]


def _content_md5(request: Any, **_: Any) -> None:
    """Give CopyObject a Content-MD5 (of its empty body).

    S3 requires Content-MD5 (or an SDK checksum) on writes into a bucket with a default
    object-lock retention; boto3 adds a checksum to PutObject but not to CopyObject,
    so copying a good version back into a locked bucket would be refused without it.
    """
    if "Content-MD5" in request.headers:
        return
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    if not isinstance(body, bytes):
        return
    digest = hashlib.md5(body, usedforsecurity=False).digest()
    request.headers["Content-MD5"] = base64.b64encode(digest).decode()


def client(handle: Any, *, timeout: float = 30.0, pool: int = 16) -> Any:
    """A boto3 S3 client for *handle*'s endpoint with a connection pool for *pool* threads.

    Like ``S3Handle.client()`` (path-style, one attempt, never AWS) plus a pool sized
    for parallel restores and the CopyObject Content-MD5 that object lock demands. A
    handle's own client keeps its backend's checks (the external backend refuses changes
    to buckets the run did not create).
    """
    if isinstance(handle, S3Handle):
        c = handle.client(timeout=timeout, pool=pool)
    else:  # an endpoint seen through a proxy (system drills): the same settings
        c = endpoint_client(handle, timeout=timeout, pool=pool)
    c.meta.events.register("before-sign.s3.CopyObject", _content_md5)
    return c


def get_verified(c: Any, bucket: str, key: str) -> tuple[bytes, str, dict[str, Any]]:
    """GetObject whose body must hash to its ETag (single-part uploads): (data, ETag,
    response). A copy made from a damaged read would spread the damage."""
    resp: dict[str, Any] = c.get_object(Bucket=bucket, Key=key)
    data = resp["Body"].read()
    etag = norm_etag(resp.get("ETag"))
    if not is_multipart_etag(etag) and md5_hex(data) != etag:
        raise RuntimeError(f"s3://{bucket}/{key}: MD5 {md5_hex(data)} of the body != ETag {etag}")
    return data, etag, resp


def put_copy(c: Any, bucket: str, key: str, data: bytes, source: dict[str, Any]) -> None:
    """PutObject of *data* with the content type and metadata of the *source* GetObject
    response; the ETag written must be the data's MD5."""
    kwargs: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "Body": data,
        "Metadata": source.get("Metadata", {}),
    }
    if source.get("ContentType"):
        kwargs["ContentType"] = source["ContentType"]
    put = c.put_object(**kwargs)
    if norm_etag(put.get("ETag")) != md5_hex(data):
        raise RuntimeError(
            f"s3://{bucket}/{key}: written ETag {put.get('ETag')} != MD5 of the data"
        )
