"""A lost bucket (or region) rebuilt from the replica endpoint's bucket
(runbooks/object-storage.md, "Provider outage" / cross-region replication)."""

from __future__ import annotations

from typing import Any

from drillbook.drill import StepContext
from drillbook.scenarios.s3.backup import ObjectLock, create_bucket
from drillbook.scenarios.s3.client import error_code, get_verified, pool_split, put_copy, recorded
from drillbook.scenarios.s3.manifest import list_current
from drillbook.scenarios.s3.recovery.result import RestoreResult, finish, timed


def restore_from_replica(
    step: StepContext | None,
    replica: Any,
    replica_bucket: str,
    primary: Any,
    bucket: str,
    *,
    prefix: str = "",
    versioning: bool = True,
    lock: ObjectLock | None = None,
    workers: int = 16,
) -> RestoreResult:
    """Rebuild *bucket* on the primary endpoint from the replica endpoint's bucket.

    *step*: the drill step every S3 call is recorded in; *replica*, *primary*: boto3
    clients of the two endpoints. The bucket is recreated with its protection first
    (*versioning*, *lock*: a restored bucket without versioning would be unprotected
    against the next deletion), then every current replica object under *prefix* is
    read and written back with its content type and metadata; each copy's MD5 must
    equal the replica's ETag. Records the bytes restored and the note ``restore``.
    """
    result = RestoreResult("restore from the replica endpoint", bucket, prefix)

    def plan() -> list[str]:
        create_bucket(step, primary, bucket, versioning=versioning, lock=lock)
        objects = recorded(
            step,
            f"ListObjectsV2 replica s3://{replica_bucket}/{prefix}",
            list_current,
            replica,
            replica_bucket,
            prefix,
        )
        return sorted(objects)

    keys = timed(result, "plan", plan)
    result.keys_examined = len(keys)
    timed(
        result,
        "apply",
        lambda: recorded(
            step,
            f"GetObject replica + PutObject primary ×{len(keys)} "
            f"s3://{replica_bucket}/{prefix}* -> s3://{bucket}/ ({workers} workers)",
            _copy_all,
            (replica, replica_bucket),
            (primary, bucket),
            keys,
            workers,
            result,
        ),
    )
    result.reasons["copied from the replica"] = result.restored
    return finish(step, result)


def _copy_all(
    source: tuple[Any, str],
    dest: tuple[Any, str],
    keys: list[str],
    workers: int,
    result: RestoreResult,
) -> int:
    """Each key read from (client, bucket) *source*, MD5-checked, written to *dest*."""

    def copy(key: str) -> int:
        data, _etag, resp = get_verified(*source, key)
        put_copy(*dest, key, data, resp)
        return len(data)

    done, failed = pool_split(copy, keys, workers)
    result.errors += [f"{key}: {error_code(exc)}: {exc}"[:300] for key, exc in failed]
    result.restored += len(done)
    result.bytes += sum(size for _key, size in done)
    return result.restored
