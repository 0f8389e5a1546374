"""Ransomware against the media bucket: restore clean versions, none of the attacker's bytes left.

runbooks/object-storage.md, "Ransomware / data encryption": "Files encrypted ...
Ransom note. 1. DO NOT PAY RANSOM 2. Isolate affected systems 3. Restore from clean
backups 4. Verify no malware remains"; prevention: "Regular backups (offline/immutable)".
The media bucket (RPO 0, RTO 10 min) is versioned and object-locked (COMPLIANCE:
not even an administrator can delete a locked version before its retention ends):

- the attacker first tries to delete every version for good, with the governance bypass
  (object lock refuses each one: the refusals are counted), then overwrites every
  object with random bytes (a new version on top of each good one) and drops a ransom
  note. Recovery makes the newest version that predates t0 current again (by
  LastModified, and by checksum against the manifest and the upload catalogue for what
  was written in t0's own second), hides the ransom note, and proves that no current
  object holds the attacker's bytes;
- the attacker deletes everything under ``media/`` after the same refused purge: the
  delete markers are removed and every version that existed before is still there.

Before anything, the endpoint is held to every rule of object lock (a GOVERNANCE version
refused without the bypass and deleted with it; COMPLIANCE refused even with the
bypass, its retention not lowerable; a legal hold refused until released): the drill
proves refusals only against a server that really enforces them (SeaweedFS here; moto
lets a COMPLIANCE retention be lowered, so the drill is NOT RUN on it).

COMPLIANCE-locked versions outlive any cleanup for a day, so each drill runs on its own
S3 endpoint (``s3_factory``), thrown away with everything in it at the end.
"""

from __future__ import annotations

from typing import Any

import pytest

from drillbook.drill import Drill
from drillbook.fixtures.s3 import S3Handle
from drillbook.record import Phase
from drillbook.scenarios.s3 import backup, checks, faults, recovery, triage
from drillbook.scenarios.s3.backup import ObjectLock
from drillbook.scenarios.s3.client import S3Factory, client
from drillbook.scenarios.s3.ledger import MEDIA_LEDGER_PREFIX, CatalogLedgerSink, S3LedgerSink
from drillbook.scenarios.s3.lock import require_lock_enforcement
from drillbook.scenarios.s3.manifest import Manifest, list_versions, wall_t0
from drillbook.scenarios.s3.media import seed_media
from drillbook.triage import Incident

MEDIA = "media-assets"
MEDIA_OBJECTS = 60
LEDGER_CADENCE = 0.02
LEDGER_WARMUP = 25
LOCK = ObjectLock("COMPLIANCE", days=1)


def locked_media(
    drill: Drill, s3_factory: S3Factory, lock: ObjectLock = LOCK
) -> tuple[S3Handle, Any, Manifest]:
    """An endpoint of its own, an object-locked media bucket, media uploaded: (handle, client,
    manifest). NOT RUN when the endpoint does not enforce every rule of object lock
    (GOVERNANCE, COMPLIANCE, legal hold: drillbook.scenarios.s3.lock), as moto does not."""
    media = s3_factory("media")
    drill.record.versions["s3"] = media.version()
    c = client(media)
    with drill.step("object lock enforced by the endpoint, rule by rule", Phase.SETUP) as s:
        rules = require_lock_enforcement(s, media)
    drill.note("object lock", {"relies_on": "the S3 server's object lock", **rules.summary()})
    with drill.step(
        f"object-locked media bucket ({lock.mode}, {lock.days} d) with media", Phase.SETUP
    ) as s:
        backup.create_bucket(s, c, MEDIA, lock=lock)
        manifest = seed_media(s, c, MEDIA, count=MEDIA_OBJECTS, seed=5)
    drill.note("manifest", manifest.summary())
    return media, c, manifest


def ransomware_drill(drill: Drill, s3_factory: S3Factory, *, restore_fraction: float = 1.0) -> None:
    """*restore_fraction* < 1 restores only that share of the keys (a broken restore)."""
    media, c, manifest = locked_media(drill, s3_factory)
    catalog = Manifest(name="upload catalogue (ledger objects, recorded at acknowledgement)")
    ledger = drill.ledger(
        CatalogLedgerSink(media, MEDIA, catalog), name="media", cadence=LEDGER_CADENCE
    )
    drill.wait_for_writes(ledger, LEDGER_WARMUP)

    with drill.fault(
        "ransomware: purge every version (bypass governance), overwrite every "
        "object with random bytes, drop a ransom note"
    ) as f:
        purge = f.call(
            f"DeleteObject VersionId=… BypassGovernanceRetention=true on every "
            f"version of s3://{MEDIA}",
            faults.purge_versions,
            c,
            MEDIA,
            bypass_governance=True,
        )
        f.note("purge attempts", purge.summary())
        attack = f.call(
            f"PutObject random bytes over every object of s3://{MEDIA} + {faults.RANSOM_NOTE}",
            faults.ransomware_overwrite,
            c,
            MEDIA,
        )
        f.note("attack", attack.summary())
    t0_wall = wall_t0(drill)
    sample = triage.sample_keys(manifest, 8)
    drill.detect(
        triage.integrity_probe(c, MEDIA, manifest, sample, note_key=faults.RANSOM_NOTE),
        name="sha256 of 8 sampled media objects vs the manifest; no ransom note",
    )
    drill.triage(triage.probes(c, MEDIA, manifest), expected=Incident.CORRUPTION)

    known_good = manifest.merged(catalog, name="manifest + upload catalogue")
    only = None
    if restore_fraction < 1.0:
        keys = sorted(set(manifest.all_keys()) | set(catalog.all_keys()))
        only = set(keys[: int(len(keys) * restore_fraction)])
    with drill.step(
        "restore the newest pre-t0 version of every object; hide the ransom note", Phase.EXECUTION
    ) as s:
        result = recovery.restore_clean_versions(
            s, c, MEDIA, t0_wall=t0_wall, manifest=known_good, only_keys=only
        )
    checks.await_healthy(
        drill,
        triage.integrity_probe(c, MEDIA, manifest, sample, note_key=faults.RANSOM_NOTE),
        name="sha256 of 8 sampled media objects vs the manifest",
    )
    drill.executed()
    drill.note("restore", result.summary())

    checks.validate(
        drill,
        c,
        MEDIA,
        manifest,
        attacker_sha256=attack.attacker_sha256,
        ransom_note=attack.note_key,
    )
    check_lock_held(
        drill,
        c,
        manifest,
        purge,
        "no version lost to the attack (VersionId of each upload still listed)",
    )
    drill.verify_ledger(ledger)


def check_lock_held(drill, c, manifest, purge, versions_check: str) -> None:
    """Object lock held: every delete of a locked version was refused, and every uploaded
    version (by its VersionId, not a count) is still listed."""
    drill.check(
        "every attempt to delete a locked version was refused",
        purge.all_refused,
        f"{purge.refused}/{purge.attempted} refused ({dict(purge.codes)})",
        expected=purge.attempted,
        actual=purge.refused,
    )
    versions = list_versions(c, MEDIA, "media/")
    have = {(k, v.version_id) for k, vs in versions.items() for v in vs}
    gone = [e.key for e in manifest if (e.key, e.version_id) not in have]
    drill.check(
        versions_check,
        not gone,
        f"{len(gone)} of {len(manifest)} original versions gone"
        if gone
        else f"all {len(manifest)} original versions present",
        expected=len(manifest),
        actual=len(manifest) - len(gone),
    )


@pytest.mark.drill(service="media", scenario="ransomware overwrite -> newest pre-t0 versions")
def test_ransomware_restore_clean_versions(drill: Drill, s3_factory: S3Factory) -> None:
    ransomware_drill(drill, s3_factory)


def locked_deletion_drill(drill: Drill, s3_factory: S3Factory) -> None:
    media, c, manifest = locked_media(drill, s3_factory)
    ledger = drill.ledger(
        S3LedgerSink(media, MEDIA, prefix=MEDIA_LEDGER_PREFIX), name="media", cadence=LEDGER_CADENCE
    )
    drill.wait_for_writes(ledger, LEDGER_WARMUP)

    with drill.fault(
        "attacker deletes media/: every version purged (bypass governance), "
        "then every object deleted"
    ) as f:
        purge = f.call(
            f"DeleteObject VersionId=… BypassGovernanceRetention=true on every "
            f"version under s3://{MEDIA}/media/",
            faults.purge_versions,
            c,
            MEDIA,
            prefix="media/",
            bypass_governance=True,
        )
        f.note("purge attempts", purge.summary())
        deleted = f.call(
            f"DeleteObjects (no VersionId) under s3://{MEDIA}/media/",
            faults.delete_prefix,
            c,
            MEDIA,
            "media/",
        )
        f.note("deleted", deleted.summary())
    t0_wall = wall_t0(drill)
    probe = triage.presence_probe(c, MEDIA, triage.sample_keys(manifest, 8))
    drill.detect(probe, name="HEAD 8 sampled media objects")
    drill.triage(triage.probes(c, MEDIA, manifest), expected=Incident.PARTIAL_LOSS)

    with drill.step("remove the attacker's delete markers under media/", Phase.EXECUTION) as s:
        result = recovery.undelete(s, c, MEDIA, prefix="media/", t0_wall=t0_wall, manifest=manifest)
    checks.await_healthy(drill, probe, name="HEAD 8 sampled media objects")
    drill.executed()
    drill.note("restore", result.summary())

    checks.validate(drill, c, MEDIA, manifest)
    check_lock_held(
        drill, c, manifest, purge, "every uploaded version still exists (VersionId of each upload)"
    )
    drill.verify_ledger(ledger)


@pytest.mark.drill(
    service="media", scenario="attacker purge + mass delete under object lock -> markers removed"
)
def test_locked_objects_deletion_refused(drill: Drill, s3_factory: S3Factory) -> None:
    locked_deletion_drill(drill, s3_factory)
