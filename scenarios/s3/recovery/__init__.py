"""Recovery procedures for S3: previous versions, the replica, clean versions after ransomware.

- :func:`undelete` — objects deleted under a prefix come back from their versions: the
  delete markers the fault created are removed (``remove_markers``), or the newest good
  version is copied on top (``copy_back``, leaving the markers in the history). Markers
  older than t0 were deletions someone meant: they stay.
- :func:`restore_from_replica` — a lost bucket (or region) is rebuilt from the replica
  endpoint: bucket recreated with its protection, every object copied back and its MD5
  checked against the replica's ETag.
- :func:`restore_clean_versions` — after ransomware, for each key the newest version
  that predates t0 becomes current again by a server-side copy; a key with no such
  version (the ransom note) is hidden under a delete marker, its versions kept as
  evidence. S3's LastModified has one-second resolution, so a version is "before t0" when
  its second ends before t0, or when its checksum equals the manifest's (see
  :func:`choose_clean_version`).

Each returns a :class:`RestoreResult` (objects, bytes, objects/s, what was skipped and
why); a drill passes the step so every S3 call is recorded.
"""

from __future__ import annotations

from drillbook.scenarios.s3.recovery.replica import restore_from_replica
from drillbook.scenarios.s3.recovery.result import RestoreResult
from drillbook.scenarios.s3.recovery.versions import (
    UndeleteMethod,
    choose_clean_version,
    restore_clean_versions,
    undelete,
)

__all__ = [
    "RestoreResult",
    "UndeleteMethod",
    "choose_clean_version",
    "restore_clean_versions",
    "restore_from_replica",
    "undelete",
]
