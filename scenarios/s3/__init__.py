"""S3 scenarios: what a drill protects, breaks, restores and checks in an object store.

Import the modules by their role; each one's ``__all__`` is its public API (listed in
docs/reference.md)::

    from drillbook.scenarios.s3 import backup, checks, client, faults, lock, media, recovery, triage
    from drillbook.scenarios.s3.ledger import S3LedgerSink

- :mod:`.backup`: the protections (versioning, object lock, replication configuration)
- :mod:`.lock`: object lock proved rule by rule (GOVERNANCE, COMPLIANCE, legal hold)
- :mod:`.media`: the media objects a drill protects, and their manifest
- :mod:`.faults`: a prefix or a bucket deleted, a region lost, ransomware, a purge
- :mod:`.recovery`: previous versions back, clean versions after ransomware, the replica
- :mod:`.checks`: every object against the manifest, as recorded checks
- :mod:`.triage`: probes for detection and the decision tree
- :mod:`.ledger`: the RPO ledger as objects (plain, catalogued, replicated)
- :mod:`.manifest`: manifests and listings (current objects, versions, t0's second)
- :mod:`.replicator`: drillbook's cross-region replicator (the S3 servers copy nothing)
- :mod:`.client`: the boto3 client the scenarios use, and shared S3 helpers
"""

from drillbook.scenarios.s3 import (
    backup,
    checks,
    client,
    faults,
    ledger,
    lock,
    manifest,
    media,
    recovery,
    replicator,
    triage,
)

__all__ = [
    "backup",
    "checks",
    "client",
    "faults",
    "ledger",
    "lock",
    "manifest",
    "media",
    "recovery",
    "replicator",
    "triage",
]
