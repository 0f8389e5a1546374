"""What breaks an object store: a prefix deleted, a bucket or region lost, ransomware.

Each fault is what an operator, a script or an attacker really sends to S3, and returns
what it did (keys touched, bytes written, refusals) for the record:

- :func:`delete_prefix` — ``aws s3 rm --recursive s3://bucket/prefix``: on a versioned
  bucket every object gets a delete marker; the versions stay.
- :func:`delete_bucket` — ``aws s3 rb --force`` by someone allowed to delete versions:
  every version and marker deleted (bypassing GOVERNANCE retention), then the bucket.
- :func:`lose_region` — the primary endpoint SIGKILLed: moto keeps objects in memory,
  so everything in that "region" is gone (a server with data on disk gets it wiped).
- :func:`ransomware_overwrite` — every object replaced by random bytes of the same size,
  as a new version on top of the good ones, and a ransom note dropped.
- :func:`purge_versions` — an attacker deleting every version by VersionId (with the
  governance bypass if asked): object lock must refuse each one; the refusals are counted.
- :func:`truncate_object`, :func:`delete_object` — one object damaged: a backup kept in
  S3 (a truncated dump, a lost WAL segment of the archive).

Each takes a boto3 client (``client.client(handle)``) or the handle, and records nothing
itself: call it inside ``with drill.fault(...) as f`` (``f.call(...)`` records the call).
"""

from __future__ import annotations

from drillbook.scenarios.s3.faults.attack import (
    RANSOM_NOTE,
    DeletionAttempts,
    RansomwareAttack,
    purge_versions,
    ransomware_overwrite,
)
from drillbook.scenarios.s3.faults.loss import (
    BucketLost,
    ObjectDamage,
    PrefixDeleted,
    RegionLost,
    delete_bucket,
    delete_object,
    delete_prefix,
    lose_region,
    truncate_object,
)

__all__ = [
    "RANSOM_NOTE",
    "BucketLost",
    "DeletionAttempts",
    "ObjectDamage",
    "PrefixDeleted",
    "RansomwareAttack",
    "RegionLost",
    "delete_bucket",
    "delete_object",
    "delete_prefix",
    "lose_region",
    "purge_versions",
    "ransomware_overwrite",
    "truncate_object",
]
