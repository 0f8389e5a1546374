"""Media in two regions: versioned buckets of one name, replication configured on the
primary, drillbook's replicator copying (moto copies nothing), the catalogue uploaded.

*route* is how the replicator reaches the replica: the replica endpoint itself, or a
fault-proxy view of it (``routes.RoutedS3``) so cross-region copies take the link.
"""

from __future__ import annotations

from typing import Any

from drillbook.drill import Drill
from drillbook.record import Phase
from drillbook.scenarios.s3 import protection
from drillbook.scenarios.s3.checks import Manifest
from drillbook.scenarios.s3.replicator import Replicator

MEDIA = "media"


def replicated_media(
    drill: Drill,
    primary: Any,
    replica: Any,
    *,
    route: Any = None,
    delay: float = 0.0,
    objects: int = 30,
    seed: int = 4,
) -> tuple[Replicator, Manifest]:
    """Both buckets, the replication rule, a started replicator and the uploaded catalogue."""
    pc, rc = protection.client(primary), protection.client(replica)
    with drill.step("media: versioned buckets in both regions, replication", Phase.SETUP) as s:
        protection.create_bucket(s, pc, MEDIA, versioning=True)
        protection.create_bucket(s, rc, MEDIA, versioning=True)
        protection.configure_replication(s, pc, MEDIA, protection.ReplicationRule(MEDIA))
    target = route if route is not None else replica
    replicator = Replicator(primary, MEDIA, target, MEDIA, scan_interval=0.5, delay=delay)
    replicator.start()
    with drill.step("media: upload the catalogue (replicated as acknowledged)", Phase.SETUP) as s:
        s.note("replicator", replicator.describe())
        manifest = protection.seed_media(
            s, pc, MEDIA, count=objects, seed=seed,
            on_upload=lambda k, e, a: replicator.notify(k, etag=e, ack_mono=a),
        )  # fmt: skip
        s.call("catch-up scan of the media bucket", replicator.sync_once)
    return replicator, manifest
