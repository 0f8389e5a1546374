"""Media in two regions: versioned buckets of one name, replication configured on the
primary, drillbook's replicator copying (moto copies nothing), the catalogue uploaded.

*route* is how the replicator reaches the replica: the replica endpoint itself, or a
fault-proxy view of it (``routes.RoutedS3``) so cross-region copies take the link.
"""

from __future__ import annotations

from typing import Any

from drillbook.drill import Drill
from drillbook.record import Phase
from drillbook.scenarios.s3 import backup as s3_backup
from drillbook.scenarios.s3 import client as s3_client
from drillbook.scenarios.s3 import media as s3_media
from drillbook.scenarios.s3.manifest import Manifest
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
    pc, rc = s3_client.client(primary), s3_client.client(replica)
    with drill.step("media: versioned buckets in both regions, replication", Phase.SETUP) as s:
        s3_backup.create_bucket(s, pc, MEDIA, versioning=True)
        s3_backup.create_bucket(s, rc, MEDIA, versioning=True)
        s3_backup.configure_replication(s, pc, MEDIA, s3_backup.ReplicationRule(MEDIA))
    target = route if route is not None else replica
    replicator = Replicator(primary, MEDIA, target, MEDIA, scan_interval=0.5, delay=delay)
    replicator.start()
    with drill.step("media: upload the catalogue (replicated as acknowledged)", Phase.SETUP) as s:
        s.note("replicator", replicator.describe())
        manifest = s3_media.seed_media(
            s, pc, MEDIA, count=objects, seed=seed,
            on_upload=lambda k, e, a: replicator.notify(k, etag=e, ack_mono=a),
        )  # fmt: skip
        s.call("catch-up scan of the media bucket", replicator.sync_once)
    return replicator, manifest
