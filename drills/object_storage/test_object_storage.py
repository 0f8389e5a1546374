"""Object storage: media deleted, media bucket lost (RPO 0, RTO 10 min).

runbooks/object-storage.md, targets: "S3 media assets | 0 | 10 minutes | S3 versioning
+ cross-region replication". Two incidents, each recovered the way that protection
allows:

- every object under ``media/`` deleted (``aws s3 rm --recursive``; "accidental data
  deletion"): the versions are still there; the delete markers the fault made are
  removed, or the good versions copied back on top;
- the whole media bucket lost ("provider outage" / "storage loss"): the primary
  region's S3 endpoint killed (all objects gone: moto forgets them, SeaweedFS's data
  directory is wiped too), or every version
  and the bucket deleted; rebuilt from the replica endpoint (cross-region
  replication).

Neither S3 server drillbook runs replicates: moto accepts the replication configuration
and copies nothing, SeaweedFS does not implement it (PutBucketReplication is refused).
The replica is filled by drillbook's replicator (drillbook.scenarios.s3.replicator), and
the record's ``replication`` note says which of the two holds the rule. RPO 0
across the loss of a region needs uploads acknowledged once the replica has them
(``confirm=True``); with S3's default acknowledgement the objects still in flight to the
replica are lost (tests/scenarios/test_s3_replica.py proves that direction).

The RPO ledger writes inside ``media/`` (``media/drill-ledger/``), so the fault hits it
too: every acknowledged ledger object must be back for RPO 0.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

from drillbook.drill import Drill
from drillbook.fixtures.base import Capability
from drillbook.fixtures.s3 import S3Handle
from drillbook.fixtures.session import start_together
from drillbook.record import Phase
from drillbook.scenarios.s3 import backup, checks, faults, recovery, triage
from drillbook.scenarios.s3.client import S3Factory, client
from drillbook.scenarios.s3.ledger import MEDIA_LEDGER_PREFIX, ReplicatedLedgerSink, S3LedgerSink
from drillbook.scenarios.s3.manifest import list_versions, wall_t0
from drillbook.scenarios.s3.media import seed_media
from drillbook.scenarios.s3.replicator import Replicator
from drillbook.triage import Incident

MEDIA = "media-assets"
REPLICA = "media-assets-replica"
MEDIA_OBJECTS = 60
SITE_OBJECTS = 6  # outside media/: must come through the fault untouched
LEDGER_CADENCE = 0.02
LEDGER_WARMUP = 25


def acked(ledger: Any) -> int:
    return sum(1 for w in ledger.writes if w.status == "acked")


# -- media prefix deleted -> previous versions ---------------------------------------------------


def prefix_deletion_drill(
    drill: Drill, s3: S3Handle, *, method: recovery.UndeleteMethod = "remove_markers"
) -> None:
    drill.record.versions["s3"] = s3.version()
    c = client(s3)
    with drill.step("versioned media bucket with media and site objects", Phase.SETUP) as s:
        backup.create_bucket(s, c, MEDIA, versioning=True)
        media = seed_media(s, c, MEDIA, count=MEDIA_OBJECTS, seed=1)
        site = seed_media(
            s, c, MEDIA, count=SITE_OBJECTS, prefixes=("site/",), seed=2, name="site objects"
        )
    manifest = media.merged(site, name="manifest (from the acknowledged uploads)")
    drill.note("manifest", manifest.summary())
    ledger = drill.ledger(
        S3LedgerSink(s3, MEDIA, prefix=MEDIA_LEDGER_PREFIX), name="media", cadence=LEDGER_CADENCE
    )
    drill.wait_for_writes(ledger, LEDGER_WARMUP)

    with drill.fault(f"aws s3 rm --recursive s3://{MEDIA}/media/ (delete markers)") as f:
        deleted = f.call(
            f"DeleteObjects (no VersionId) on every object under s3://{MEDIA}/media/",
            faults.delete_prefix,
            c,
            MEDIA,
            "media/",
        )
        f.note("deleted", deleted.summary())
    t0_wall = wall_t0(drill)
    probe = triage.presence_probe(c, MEDIA, triage.sample_keys(manifest, 8, prefix="media/"))
    drill.detect(probe, name="HEAD 8 sampled media objects")
    drill.triage(triage.probes(c, MEDIA, manifest), expected=Incident.PARTIAL_LOSS)

    with drill.step(f"restore previous versions under media/ ({method})", Phase.EXECUTION) as s:
        result = recovery.undelete(
            s, c, MEDIA, prefix="media/", t0_wall=t0_wall, method=method, manifest=manifest
        )
    checks.await_healthy(drill, probe, name="HEAD 8 sampled media objects")
    drill.executed()
    drill.note("restore", result.summary())
    drill.note(
        "delete markers",
        "found through ListObjectVersions (IsLatest markers from t0's second on); HEAD's "
        "x-amz-delete-marker is not relied on (SeaweedFS does not send it)",
    )

    checks.validate(drill, c, MEDIA, manifest)
    site_keys = [e.key for e in manifest if e.key.startswith("site/")]
    current = {
        k for k, vs in list_versions(c, MEDIA, "site/").items() if vs and not vs[0].delete_marker
    }
    missing = [k for k in site_keys if k not in current]
    drill.check(
        "site/ objects outside the deleted prefix still current in the bucket",
        bool(site_keys) and not missing,
        f"{len(site_keys) - len(missing)}/{len(site_keys)} site/ objects listed",
        expected=len(site_keys),
        actual=len(site_keys) - len(missing),
    )
    drill.verify_ledger(ledger)


@pytest.mark.drill(service="media", scenario="media/ deleted -> delete markers removed")
def test_prefix_deletion_version_restore(drill: Drill, s3: S3Handle) -> None:
    prefix_deletion_drill(drill, s3, method="remove_markers")


# -- media bucket lost -> replica endpoint --------------------------------------------------------


def bucket_loss_drill(
    drill: Drill,
    s3_factory: S3Factory,
    *,
    fault: Literal["region", "bucket"] = "region",
    confirm: bool = True,
    delay: float = 0.0,
    outage_writes: int = 0,
    warmup: int | None = None,
) -> None:
    """Primary media bucket lost, rebuilt from the replica endpoint.

    *confirm*: uploads acknowledged once replicated (else at the primary's 200).
    *delay*: replication lag the replicator keeps. *outage_writes*: pause replication
    and let that many more writes be acknowledged before the fault. *warmup*: ledger
    writes acknowledged before anything else happens.
    """
    primary, replica = start_together(lambda: s3_factory("primary"), lambda: s3_factory("replica"))
    if fault == "region":
        primary.require(Capability.KILL, Capability.STOP_START)
    else:
        primary.require(Capability.DESTRUCTIVE)
    drill.record.versions["s3"] = primary.version()
    pc = client(primary)
    rc = client(replica)
    rule = backup.ReplicationRule(REPLICA)
    with drill.step(
        "protect: versioned buckets on both endpoints, replication configuration", Phase.SETUP
    ) as s:
        backup.create_bucket(s, pc, MEDIA, versioning=True)
        backup.create_bucket(s, rc, REPLICA, versioning=True)
        backup.configure_replication(s, pc, MEDIA, rule)

    replicator = Replicator(
        primary,
        MEDIA,
        replica,
        REPLICA,
        prefix=rule.prefix,
        delete_markers=rule.delete_markers,
        scan_interval=1.0,
        delay=delay,
    )
    try:
        with drill.step(
            "drillbook replicator: start (the S3 server copies nothing)", Phase.SETUP
        ) as s:
            replicator.start()
            s.note("replicator", replicator.describe())
        with drill.step(
            "upload media objects (replicated as they are acknowledged)", Phase.SETUP
        ) as s:
            manifest = seed_media(
                s,
                pc,
                MEDIA,
                count=MEDIA_OBJECTS,
                seed=3,
                on_upload=lambda k, e, a: replicator.notify(k, etag=e, ack_mono=a),
            )
            missed = s.call(
                f"catch up: scan s3://{MEDIA} ({primary.endpoint}), copy what is "
                f"not on s3://{REPLICA} ({replica.endpoint})",
                replicator.sync_once,
            )
            s.note("copied by the catch-up scan", missed)
        drill.note("manifest", manifest.summary())
        sink = ReplicatedLedgerSink(primary, MEDIA, replicator, confirm=confirm)
        ledger = drill.ledger(sink, name="media", cadence=LEDGER_CADENCE)
        # A confirmed upload waits for the copy: fewer writes in the same time.
        drill.wait_for_writes(ledger, warmup or (LEDGER_WARMUP if not confirm else 15))
        if outage_writes:
            with drill.step("replication outage: drillbook replicator paused", Phase.SETUP):
                replicator.pause()
            drill.wait_for_writes(ledger, acked(ledger) + outage_writes)

        if fault == "region":
            with drill.fault(
                "region lost: the primary S3 endpoint SIGKILLed (all objects gone)"
            ) as f:
                lost = f.call(f"SIGKILL {primary.endpoint}", faults.lose_region, primary)
                f.note(
                    "lost",
                    {"endpoint": lost.endpoint, "pid": lost.pid, "data_wiped": lost.data_wiped},
                )
        else:
            with drill.fault(
                f"bucket lost: every version of s3://{MEDIA} and the bucket deleted"
            ) as f:
                gone = f.call(
                    f"DeleteObjects every VersionId + DeleteBucket {MEDIA}",
                    faults.delete_bucket,
                    pc,
                    MEDIA,
                )
                f.note("lost", gone.summary())
        t0 = drill.record.t0_mono
        probe_client = client(primary, timeout=2, pool=2)
        drill.detect(triage.bucket_probe(probe_client, MEDIA), name=f"HeadBucket {MEDIA}")
        drill.triage(triage.probes(probe_client, MEDIA, manifest), expected=Incident.TOTAL_LOSS)

        with drill.step("suspend replication while the primary is rebuilt", Phase.EXECUTION) as s:
            s.call("drillbook replicator: pause", replicator.pause)
        if fault == "region":
            with drill.step(
                "primary region back, empty: start its S3 endpoint", Phase.EXECUTION
            ) as s:
                s.call(f"start {primary.endpoint}", primary.start)
        with drill.step(f"restore s3://{MEDIA} from the replica endpoint", Phase.EXECUTION) as s:
            restored = recovery.restore_from_replica(s, rc, REPLICA, pc, MEDIA, versioning=True)
        with drill.step(
            "re-apply the replication configuration, resume replication", Phase.EXECUTION
        ) as s:
            applied = backup.configure_replication(s, pc, MEDIA, rule)
            s.call("drillbook replicator: resume", replicator.resume)
        checks.await_healthy(
            drill,
            triage.presence_probe(pc, MEDIA, triage.sample_keys(manifest, 8)),
            name="HEAD 8 sampled media objects on the rebuilt primary",
        )
        drill.executed()
        drill.note("restore", restored.summary())

        checks.validate(drill, pc, MEDIA, manifest)
        state = backup.protection_state(pc, MEDIA)
        drill.check(
            "rebuilt bucket is versioned",
            state["versioning"] == "Enabled",
            f"versioning {state['versioning']}",
            expected="Enabled",
            actual=state["versioning"],
        )
        in_force, found = backup.replication_in_force(applied, pc, MEDIA)
        drill.check(
            "replication configuration re-applied",
            in_force and not replicator.paused,
            f"{found}; drillbook replicator {'paused' if replicator.paused else 'running'}",
        )
        drill.verify_ledger(ledger)
        lag = replicator.lag(sink.acks(), t0=t0)
        drill.note(
            "replication",
            {
                **replicator.describe(),
                "ledger_lag": lag.to_dict(),
                "uploads_acknowledged": "after the replica's ack"
                if confirm
                else "at the primary's 200 (asynchronous replication)",
                "mechanism": applied["mechanism"],
            },
        )
    finally:
        replicator.stop()


@pytest.mark.drill(
    service="media", scenario="region lost -> bucket rebuilt from the replica endpoint"
)
def test_region_loss_replica_restore(drill: Drill, s3_factory: S3Factory) -> None:
    bucket_loss_drill(drill, s3_factory, fault="region")


@pytest.mark.drill(
    service="media", scenario="bucket deleted (every version) -> rebuilt from the replica"
)
def test_bucket_deleted_replica_restore(drill: Drill, s3_factory: S3Factory) -> None:
    bucket_loss_drill(drill, s3_factory, fault="bucket")
