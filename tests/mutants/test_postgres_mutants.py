"""PostgreSQL drills with their recovery broken: each must FAIL with its own code.

- a segment deleted from the middle of the archive a total-loss PITR replays ->
  WAL_ARCHIVE_GAP (and the writes after the gap: CAPTURED_WRITE_LOST);
- ``recovery_target = 'immediate'`` (the base backup alone, no WAL replayed) in q1's
  total loss and both q2 corruptions -> PITR_TARGET_UNREACHED;
- a PITR target an hour past t0, beyond the archive -> PITR_TARGET_UNREACHED;
- the dump truncated before its upload (a dump job that died, its checksum recorded
  over the truncated file) -> BACKUP_CORRUPT from pg_restore's own words;
- the dump altered in S3 and its metadata re-hashed to match -> BACKUP_CORRUPT (the
  harness's catalog, kept apart from the object, still has the upload's checksum);
- the lost primary brought back (an empty server where it was) instead of the standby
  promoted -> CAPTURED_WRITE_LOST (the standby had those writes at t0).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from drillbook.drill import Drill
from drillbook.record import Phase
from drillbook.scenarios.postgres import backup, pitr, recovery, schema
from drillbook.scenarios.postgres.stack import PgStack
from drills.failover import test_failover as failover
from drills.q1_auth_pitr import test_q1_auth_pitr as q1
from drills.q2_corruption import test_q2_corruption as q2
from drills.total_loss import test_total_loss as total_loss


def delete_a_middle_segment(st: PgStack) -> None:
    """The first segment of ledger writes after the base backup's, gone from S3."""
    span = st.archive.replay_range(st.bases[-1])
    assert span is not None and span.last is not None and span.last >= span.first + 2, span
    victim = span.name(span.first + 1)
    st.archive.store.client.delete_object(
        Bucket=st.archive.store.bucket, Key=st.archive.prefix + victim
    )


@pytest.mark.drill(service="auth", scenario="mutant: a WAL segment missing mid-archive")
@pytest.mark.drill_expect_fail("WAL_ARCHIVE_GAP", "CAPTURED_WRITE_LOST")
def test_wal_gap(drill: Drill, pg_factory: Any, s3: Any) -> None:
    q1.total_loss_pitr(drill, pg_factory, s3, segments=2, before_recovery=delete_a_middle_segment)


@pytest.fixture
def no_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """``recovery_target = 'immediate'``: consistent at the end of the base backup, stop."""
    settings = pitr._recovery_settings

    def immediate(*args: Any, **kwargs: Any) -> dict[str, Any]:
        out = settings(*args, **kwargs)
        for key in ("recovery_target_time", "recovery_target_name", "recovery_target_lsn"):
            out.pop(key, None)
        out.pop("recovery_target_timeline", None)
        return {**out, "recovery_target": "immediate"}

    monkeypatch.setattr(pitr, "_recovery_settings", immediate)


@pytest.mark.drill(service="auth", scenario="mutant: PITR replays no WAL (q1 total loss)")
@pytest.mark.drill_expect_fail("PITR_TARGET_UNREACHED", match="after reaching consistency")
def test_no_replay_total_loss(drill: Drill, pg_factory: Any, s3: Any, no_replay: None) -> None:
    q1.total_loss_pitr(drill, pg_factory, s3)


@pytest.mark.drill(service="projects", scenario="mutant: PITR replays no WAL (q2 physical)")
@pytest.mark.drill_expect_fail("PITR_TARGET_UNREACHED", match="after reaching consistency")
def test_no_replay_physical(drill: Drill, pg_factory: Any, s3: Any, no_replay: None) -> None:
    q2.test_physical_corruption(drill, pg_factory, s3)


@pytest.mark.drill(service="projects", scenario="mutant: PITR replays no WAL (q2 logical)")
@pytest.mark.drill_expect_fail("PITR_TARGET_UNREACHED", match="after reaching consistency")
def test_no_replay_logical(drill: Drill, pg_factory: Any, s3: Any, no_replay: None) -> None:
    q2.test_logical_corruption(drill, pg_factory, s3)


@pytest.mark.drill(service="auth", scenario="mutant: PITR target an hour past the archive")
@pytest.mark.drill_expect_fail(
    "PITR_TARGET_UNREACHED", match="recovery ended before configured recovery target"
)
def test_target_beyond_the_archive(drill: Drill, pg_factory: Any, s3: Any) -> None:
    q1.delete_pitr(drill, pg_factory, s3, target_after_t0=timedelta(hours=1))


@pytest.mark.drill(service="affiliate", scenario="mutant: the dump was truncated before upload")
@pytest.mark.drill_expect_fail("BACKUP_CORRUPT", match="pg_restore could not read the backup")
def test_truncated_dump(
    drill: Drill, pg_factory: Any, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = backup._upload

    def truncated(step: Any, store: Any, b: backup.Backup, files: Any) -> backup.Backup:
        if b.kind.startswith("dump"):
            path = files[0][0]
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])  # the job died half-way
        return upload(step, store, b, files)

    monkeypatch.setattr(backup, "_upload", truncated)
    total_loss.test_total_loss_restore_from_dump(drill, pg_factory, s3)


@pytest.mark.drill(service="affiliate", scenario="mutant: the dump altered and re-hashed in S3")
@pytest.mark.drill_expect_fail("BACKUP_CORRUPT", match="metadata was rewritten")
def test_rehashed_dump(
    drill: Drill, pg_factory: Any, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    restore = recovery.restore_dump

    def after_tampering(step: Any, store: Any, dumps: Any, *args: Any, **kw: Any) -> Any:
        for obj in dumps[-1].objects:  # bytes changed, the metadata checksum made to match
            body = bytearray(
                store.client.get_object(Bucket=store.bucket, Key=obj.key)["Body"].read()
            )
            body[len(body) // 2] ^= 0xFF
            store.client.put_object(
                Bucket=store.bucket,
                Key=obj.key,
                Body=bytes(body),
                Metadata={"sha256": hashlib.sha256(body).hexdigest(), "created": str(obj.created)},
            )
        return restore(step, store, dumps, *args, **kw)

    monkeypatch.setattr(recovery, "restore_dump", after_tampering)
    total_loss.test_total_loss_restore_from_dump(drill, pg_factory, s3)


def bring_back_the_old_primary(drill: Drill, pg_factory: Any, primary: Any, standby: Any) -> Any:
    """The lost primary's server started again, empty, the schema loaded: not a failover."""
    with drill.step("start the old primary again (its data directory is empty)", Phase.EXECUTION):
        again = pg_factory("primary-again")
        schema.app_database(again, "orders")
    return again


@pytest.mark.drill(service="affiliate", scenario="mutant: old primary restarted, no failover")
@pytest.mark.drill_expect_fail("CAPTURED_WRITE_LOST", match="asynchronous standby")
def test_old_primary_instead_of_the_standby(drill: Drill, pg_factory: Any) -> None:
    failover.failover_drill(
        drill, pg_factory, synchronous=False, recover=bring_back_the_old_primary
    )
