"""The S3 validation against a real endpoint, both directions, and the checks that cannot
run: they say NOT RUN and fail, never pass on nothing.

- a manifest read back from the bucket (``take_manifest``) equals the one kept at upload,
  and the bucket it describes validates;
- an object changed after the manifest fails the sha256 check, and the probes see it;
- a manifest with nothing under the prefix is a NOT RUN check (nothing to verify);
- no attacker digest to look for is a NOT RUN check;
- a probe over no key is refused (it could never fail, or would pass on nothing).
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from drillbook.drill import Drill
from drillbook.record import DrillRecord
from drillbook.scenarios.s3 import backup, checks, triage
from drillbook.scenarios.s3.client import client
from drillbook.scenarios.s3.manifest import Manifest, take_manifest
from drillbook.scenarios.s3.media import seed_media


def scratch_drill() -> Drill:
    return Drill(DrillRecord(drill_id="s3-checks", name="s3-checks"))


@pytest.fixture
def media(s3: Any) -> tuple[Any, str, Manifest]:
    c = client(s3)
    bucket = f"media-{secrets.token_hex(3)}"
    backup.create_bucket(None, c, bucket, versioning=True)
    return c, bucket, seed_media(None, c, bucket, count=12, seed=7)


def _checks(drill: Drill) -> dict[str, Any]:
    return {c.name: c for c in drill.record.checks}


def test_manifest_read_back_equals_the_uploads_and_validates(media: Any) -> None:
    c, bucket, uploaded = media
    read_back = take_manifest(c, bucket, prefix="media/")
    assert [(e.key, e.sha256, e.size, e.etag) for e in read_back] == [
        (e.key, e.sha256, e.size, e.etag) for e in uploaded
    ]
    drill = scratch_drill()
    v = checks.validate(drill, c, bucket, read_back)
    assert v.ok and v.matched == len(uploaded)
    assert all(check.passed for check in drill.record.checks)
    assert len(drill.record.checks) == 4


def test_an_object_changed_after_the_manifest_fails(media: Any) -> None:
    c, bucket, manifest = media
    key = manifest.all_keys()[3]
    c.put_object(Bucket=bucket, Key=key, Body=b"not the bytes the application stored")
    drill = scratch_drill()
    v = checks.validate(drill, c, bucket, manifest, attacker_sha256=set())
    found = _checks(drill)
    assert v.mismatched == [key]
    assert not found["every object's sha256 matches the manifest"].passed
    assert found["every manifest object present"].passed
    # No attacker digest to look for: NOT RUN, a failed check, never a pass.
    assert not found["no attacker bytes left"].passed
    assert found["no attacker bytes left"].detail.startswith("NOT RUN")
    probe = triage.integrity_probe(c, bucket, manifest, [key])
    with pytest.raises(RuntimeError, match="differ from the manifest"):
        probe()
    evidence = triage.probes(c, bucket, manifest).corrupt()
    assert isinstance(evidence, str) and "1 objects differ" in evidence


def test_a_manifest_with_nothing_to_verify_is_not_run(media: Any) -> None:
    c, bucket, manifest = media
    drill = scratch_drill()
    checks.validate(drill, c, bucket, manifest, prefix="site/")
    (only,) = drill.record.checks
    assert not only.passed and only.detail.startswith("NOT RUN")
    drill = scratch_drill()
    checks.validate(drill, c, bucket, Manifest(name="empty"))
    assert [c.passed for c in drill.record.checks] == [False]


def test_a_probe_over_no_key_is_refused(media: Any) -> None:
    c, bucket, manifest = media
    assert triage.sample_keys(manifest, 8, prefix="site/") == []
    with pytest.raises(ValueError, match="at least one key"):
        triage.presence_probe(c, bucket, [])
    with pytest.raises(ValueError, match="at least one key"):
        triage.integrity_probe(c, bucket, manifest, [])
    triage.presence_probe(c, bucket, triage.sample_keys(manifest, 4))()  # healthy: passes
