"""Example drill (S3): every object of a versioned bucket is deleted by mistake; the
delete markers are removed and the previous versions are current again.

The recovery is plain boto3, the way a team's own script would do it. ``pytest
drills/s3_example`` runs it.
"""

from __future__ import annotations

import pytest

from drillbook.record import Phase
from drillbook.scenarios.s3.ledger import S3LedgerSink

BUCKET = "media"


@pytest.mark.drill(service="media", scenario="objects deleted -> delete markers removed")
def test_undelete_versioned_bucket(drill, s3) -> None:
    client = s3.client()
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for i in range(20):
        client.put_object(Bucket=BUCKET, Key=f"images/{i:03d}.png", Body=b"png%d" % i)
    ledger = drill.ledger(S3LedgerSink(s3, BUCKET), name="media", cadence=0.02)
    drill.wait_for_writes(ledger, 20)

    with drill.fault("aws s3 rm --recursive s3://media/ (delete markers)") as fault:  # t0
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        fault.call("DeleteObjects without VersionId", client.delete_objects, Bucket=BUCKET,
                   Delete={"Objects": [{"Key": k} for k in keys]})  # fmt: skip

    def images_present() -> None:
        client.head_object(Bucket=BUCKET, Key="images/000.png")

    drill.detect(images_present, name="HEAD images/000.png")
    drill.decide("versioning on: remove the delete markers")
    with drill.step("delete every delete marker", Phase.EXECUTION) as step:
        versions = client.list_object_versions(Bucket=BUCKET)
        markers = [{"Key": m["Key"], "VersionId": m["VersionId"]}
                   for m in versions.get("DeleteMarkers", []) if m["IsLatest"]]  # fmt: skip
        step.call(f"DeleteObjects ({len(markers)} markers)", client.delete_objects,
                  Bucket=BUCKET, Delete={"Objects": markers})  # fmt: skip
    drill.wait_healthy(images_present, name="HEAD images/000.png")

    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="images/").get("KeyCount", 0)
    drill.check("all 20 images are back", listed == 20, f"{listed} listed")
    drill.verify_ledger(ledger)
