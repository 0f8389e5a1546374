"""The storage host of the media bucket: its S3 server crashed, or its disk lost.

runbooks/object-storage.md ("Bucket or Region Lost: Restore from the Replica"), targets
of ``media``: RPO 0, RTO 10 min. The S3 server is a real object store with its data on
disk (SeaweedFS on the local backend), so both incidents happen for real:

- the server SIGKILLed, its disk intact: restarted in place, every acknowledged object
  must be back from its data directory (RPO 0 without any copy);
- the server SIGKILLed and its data directory wiped (the host's disk is gone): the host
  comes back empty, the bucket is rebuilt from the replica endpoint, which drillbook's
  replicator filled (the S3 servers do not replicate: the record's ``replication`` note
  says so), with uploads acknowledged once the replica had them (RPO 0 across the loss).

Both need a server that keeps its objects on disk: on moto (objects in memory, no data
directory) they are NOT RUN, as a lost disk cannot be drilled there.
"""

from __future__ import annotations

from typing import Any

import pytest

from drillbook.drill import Drill
from drillbook.fixtures.base import Capability
from drillbook.fixtures.s3 import S3Handle
from drillbook.record import Phase
from drillbook.scenarios.common import wipe_directory
from drillbook.scenarios.s3 import backup, checks, recovery, triage
from drillbook.scenarios.s3.client import S3Factory, client
from drillbook.scenarios.s3.ledger import MEDIA_LEDGER_PREFIX, ReplicatedLedgerSink, S3LedgerSink
from drillbook.scenarios.s3.media import seed_media
from drillbook.scenarios.system.media import MEDIA, replicated_media
from drillbook.triage import Incident

MEDIA_OBJECTS = 60
LEDGER_CADENCE = 0.02
NEEDS = (Capability.KILL, Capability.STOP_START, Capability.DATA_DIR, Capability.PERSISTENT)


def storage_host(drill: Drill, s3_factory: S3Factory, name: str) -> S3Handle:
    """An S3 server of the drill's own whose disk the drill may destroy."""
    host = s3_factory(name)
    host.require(*NEEDS)
    drill.record.versions["s3"] = host.version()
    return host


def kill_host(drill: Drill, host: S3Handle, *, wipe: bool) -> None:
    """t0: SIGKILL of the server (and, with *wipe*, everything in its data directory)."""
    what = "its data directory wiped (the disk lost)" if wipe else "its disk intact"
    with drill.fault(f"storage host: SIGKILL of the S3 server, {what}") as f:
        pid = getattr(host, "pid", None)
        f.call(f"SIGKILL {host.endpoint} (pid {pid} and its descendants)", host.kill)
        lost: dict[str, Any] = {"endpoint": host.endpoint, "pid": pid}
        if wipe:
            gone = f.call(f"rm -rf {host.data_dir}/*", wipe_directory, host.data_dir, names=False)
            lost.update(data_dir=gone.data_dir, files=gone.files_removed, bytes=gone.bytes_removed)
        f.note("lost", lost)


@pytest.mark.drill(service="media", scenario="S3 server SIGKILLed, disk intact -> restart in place")
def test_server_killed_restarts_in_place(drill: Drill, s3_factory: S3Factory) -> None:
    host = storage_host(drill, s3_factory, "storage-host")
    c = client(host)
    with drill.step("versioned media bucket with media", Phase.SETUP) as s:
        backup.create_bucket(s, c, MEDIA, versioning=True)
        manifest = seed_media(s, c, MEDIA, count=MEDIA_OBJECTS, seed=7)
    ledger = drill.ledger(
        S3LedgerSink(host, MEDIA, prefix=MEDIA_LEDGER_PREFIX), name="media", cadence=LEDGER_CADENCE
    )
    drill.wait_for_writes(ledger, 25)

    kill_host(drill, host, wipe=False)
    probe_client = client(host, timeout=2, pool=2)
    drill.detect(triage.bucket_probe(probe_client, MEDIA), name=f"HeadBucket {MEDIA}")
    with drill.decision("data directory intact: restart the S3 server in place") as s:
        files = sorted(p.name for p in host.data_dir.iterdir())
        s.note("data directory", {"path": str(host.data_dir), "entries": files})
    with drill.step("start the S3 server on its data directory", Phase.EXECUTION) as s:
        s.call(f"start {host.endpoint}", host.start)
    probe = triage.presence_probe(c, MEDIA, triage.sample_keys(manifest, 8))
    checks.await_healthy(drill, probe, name="HEAD 8 sampled media objects")
    drill.executed()
    checks.validate(drill, c, MEDIA, manifest)
    drill.verify_ledger(ledger)


@pytest.mark.drill(
    service="media", scenario="storage host lost its disk -> bucket rebuilt from the replica"
)
def test_disk_lost_rebuilt_from_replica(drill: Drill, s3_factory: S3Factory) -> None:
    host = storage_host(drill, s3_factory, "storage-host")
    replica = s3_factory("replica")
    replicator, manifest = replicated_media(drill, host, replica, objects=MEDIA_OBJECTS, seed=8)
    pc, rc = client(host), client(replica)
    try:
        sink = ReplicatedLedgerSink(host, MEDIA, replicator, confirm=True)
        ledger = drill.ledger(sink, name="media", cadence=LEDGER_CADENCE)
        drill.wait_for_writes(ledger, 15)

        kill_host(drill, host, wipe=True)
        probe_client = client(host, timeout=2, pool=2)
        drill.detect(triage.bucket_probe(probe_client, MEDIA), name=f"HeadBucket {MEDIA}")
        drill.triage(triage.probes(probe_client, MEDIA, manifest), expected=Incident.TOTAL_LOSS)

        with drill.step("suspend replication while the host is rebuilt", Phase.EXECUTION) as s:
            s.call("drillbook replicator: pause", replicator.pause)
        with drill.step("storage host back with an empty disk: start its S3 server",
                        Phase.EXECUTION) as s:  # fmt: skip
            s.call(f"start {host.endpoint}", host.start)
            buckets = s.call(
                "ListBuckets", lambda: [b["Name"] for b in pc.list_buckets()["Buckets"]]
            )
        drill.check(
            "the restarted server kept nothing: the disk was lost for real",
            MEDIA not in buckets,
            f"buckets on the restarted server: {buckets or 'none'}",
        )
        with drill.step(f"restore s3://{MEDIA} from the replica endpoint", Phase.EXECUTION) as s:
            restored = recovery.restore_from_replica(s, rc, MEDIA, pc, MEDIA, versioning=True)
        with drill.step("re-apply the replication rule, resume replication",
                        Phase.EXECUTION) as s:  # fmt: skip
            applied = backup.configure_replication(s, pc, MEDIA, backup.ReplicationRule(MEDIA))
            s.call("drillbook replicator: resume", replicator.resume)
        probe = triage.presence_probe(pc, MEDIA, triage.sample_keys(manifest, 8))
        checks.await_healthy(drill, probe, name="HEAD 8 sampled media objects on the rebuilt host")
        drill.executed()
        drill.note("restore", restored.summary())

        checks.validate(drill, pc, MEDIA, manifest)
        in_force, found = backup.replication_in_force(applied, pc, MEDIA)
        drill.check("replication in force again", in_force and not replicator.paused, found)
        drill.verify_ledger(ledger)
        drill.note(
            "replication",
            {
                **replicator.describe(),
                "mechanism": applied["mechanism"],
                "uploads_acknowledged": "after the replica's ack",
            },
        )
    finally:
        replicator.stop()
