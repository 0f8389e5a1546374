"""The S3 drills in both directions: healthy variants PASS, broken recoveries FAIL with
the finding that names what broke.

- media/ deleted, restored by copying the good versions back on top (the variant of
  drills/object_storage's marker removal) -> PASS;
- region lost while replication was paused (an outage): the replica is missing what was
  acknowledged during it -> DATA_LOST, RPO_EXCEEDED;
- region lost while replication lags 0.5 s behind S3's default acknowledgement (the
  primary's 200): the last half second never reached the replica -> DATA_LOST, RPO_EXCEEDED;
- ransomware restore of only half the keys: attacker bytes left -> INTEGRITY_FAILED.
"""

from __future__ import annotations

import pytest

from drillbook.drill import Drill
from drillbook.fixtures.s3 import S3Handle
from drillbook.scenarios.s3.client import S3Factory
from drills.object_storage.test_object_storage import bucket_loss_drill, prefix_deletion_drill
from drills.ransomware.test_ransomware import ransomware_drill


@pytest.mark.drill(service="media", scenario="media/ deleted -> good versions copied back")
def test_prefix_deletion_copy_back(drill: Drill, s3: S3Handle) -> None:
    prefix_deletion_drill(drill, s3, method="copy_back")


@pytest.mark.drill(service="media", scenario="region lost during a replication outage (must fail)")
@pytest.mark.drill_expect_fail("DATA_LOST", "RPO_EXCEEDED")
def test_replica_missing_objects_after_outage(drill: Drill, s3_factory: S3Factory) -> None:
    bucket_loss_drill(drill, s3_factory, fault="region", confirm=False, outage_writes=10)


@pytest.mark.drill(
    service="media", scenario="region lost, replication 0.5 s behind the primary's ack (must fail)"
)
@pytest.mark.drill_expect_fail("DATA_LOST", "RPO_EXCEEDED")
def test_replica_lagging_behind_acknowledged_writes(drill: Drill, s3_factory: S3Factory) -> None:
    bucket_loss_drill(drill, s3_factory, fault="region", confirm=False, delay=0.5, warmup=80)


@pytest.mark.drill(service="media", scenario="ransomware, half the keys restored (must fail)")
@pytest.mark.drill_expect_fail("INTEGRITY_FAILED")
def test_partial_ransomware_restore_leaves_attacker_bytes(
    drill: Drill, s3_factory: S3Factory
) -> None:
    ransomware_drill(drill, s3_factory, restore_fraction=0.5)
