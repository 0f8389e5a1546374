"""S3 scenario logic without a server: which version a restore picks, lag statistics,
manifests, the replication configuration's shape, object-lock NOT RUN.

The choice of a clean version is the heart of the ransomware restore; S3 gives
LastModified in whole seconds, so every case around t0's own second is pinned here.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from drillbook.errors import DrillNotRun
from drillbook.scenarios.s3 import backup
from drillbook.scenarios.s3.client import md5_hex, norm_etag
from drillbook.scenarios.s3.faults import PrefixDeleted, RansomwareAttack
from drillbook.scenarios.s3.manifest import (
    Manifest,
    ManifestEntry,
    Version,
    prefix_of,
    t0_cut,
)
from drillbook.scenarios.s3.recovery import RestoreResult, choose_clean_version
from drillbook.scenarios.s3.replicator import lag_stats

T0 = 1_700_000_100.4  # t0 wall clock: 0.4 s into its second


def v(
    vid: str, lm: float, etag: str = "", *, marker: bool = False, latest: bool = False
) -> Version:
    return Version("media/a.jpg", vid, latest, lm, marker, etag, 10)


def entry(etag: str) -> ManifestEntry:
    return ManifestEntry("media/a.jpg", "sha", 10, etag)


def test_t0_cut_is_the_start_of_t0s_second() -> None:
    assert t0_cut(T0) == math.floor(T0)
    assert t0_cut(T0, skew=2.0) == math.floor(T0 - 2.0)


def test_attacker_version_on_top_is_skipped_for_the_pre_t0_one() -> None:
    versions = [v("evil", T0 + 1, "e", latest=True), v("good", T0 - 30, "g")]
    chosen, why, ambiguous = choose_clean_version(versions, t0_wall=T0, entry=None)
    assert chosen is not None and chosen.version_id == "good"
    assert why == "newest version before t0" and ambiguous == 0


def test_a_version_in_t0s_second_is_ambiguous_without_a_manifest() -> None:
    """Written 0.2 s before t0 but LastModified says t0's second: cannot be trusted."""
    versions = [
        v("evil", math.floor(T0), "e", latest=True),
        v("recent", math.floor(T0), "r"),
        v("older", T0 - 5, "o"),
    ]
    chosen, _, ambiguous = choose_clean_version(versions, t0_wall=T0, entry=None)
    assert chosen is not None and chosen.version_id == "older"
    assert ambiguous == 2


def test_the_manifest_checksum_resolves_t0s_second() -> None:
    versions = [
        v("evil", math.floor(T0), "e", latest=True),
        v("recent", math.floor(T0), "r"),
        v("older", T0 - 5, "o"),
    ]
    chosen, why, _ = choose_clean_version(versions, t0_wall=T0, entry=entry("r"))
    assert chosen is not None and chosen.version_id == "recent"
    assert why == "checksum matches the manifest"


def test_a_newer_pre_t0_version_wins_over_an_older_manifest_match() -> None:
    """Updated after the manifest but before t0: the newest good version is the update."""
    versions = [
        v("evil", T0 + 2, "e", latest=True),
        v("update", T0 - 3, "u"),
        v("orig", T0 - 60, "o"),
    ]
    chosen, why, _ = choose_clean_version(versions, t0_wall=T0, entry=entry("o"))
    assert chosen is not None and chosen.version_id == "update"
    assert "no version matches the manifest" in why


def test_only_attacker_versions_means_no_clean_version() -> None:
    """The ransom note: created after t0, nothing to go back to."""
    versions = [v("note", T0 + 1, "n", latest=True)]
    chosen, why, _ = choose_clean_version(versions, t0_wall=T0, entry=None)
    assert chosen is None and why == "no version before t0"


def test_delete_markers_are_never_chosen() -> None:
    versions = [v("m", T0 + 1, marker=True, latest=True), v("good", T0 - 9, "g")]
    chosen, _, _ = choose_clean_version(versions, t0_wall=T0, entry=None)
    assert chosen is not None and chosen.version_id == "good"


def test_skew_widens_the_uncertain_window() -> None:
    versions = [
        v("evil", T0 + 1, "e", latest=True),
        v("close", T0 - 1.5, "c"),
        v("far", T0 - 10, "f"),
    ]
    chosen, _, ambiguous = choose_clean_version(versions, t0_wall=T0, entry=None, skew=2.0)
    assert chosen is not None and chosen.version_id == "far"
    assert ambiguous >= 1


def test_lag_stats_counts_pending_at_t0_and_percentiles() -> None:
    pairs: list[tuple[float, float | None]] = [
        (0.0, 0.1),
        (1.0, 1.2),
        (2.0, 2.3),  # replicated well before t0
        (9.0, 10.5),  # acknowledged before t0, replicated after: pending at t0
        (9.5, None),  # never replicated: pending at t0
        (11.0, 11.1),  # after t0
    ]
    s = lag_stats(pairs, t0=10.0)
    assert s.writes == 6 and s.replicated == 5 and s.not_replicated == 1
    assert s.pending_at_t0 == 2
    assert s.max_s == pytest.approx(1.5)
    assert s.p50_s == pytest.approx(0.2)
    assert lag_stats([]).p50_s is None


def test_manifest_record_counts_and_merge() -> None:
    m = Manifest(name="m")
    e = m.record("media/images/a.jpg", b"abc", etag='"x"', version_id="v1")
    assert e.etag == "x" and e.size == 3 and e.version_id == "v1"
    m.record("media/video/b.mp4", b"defg")
    assert m.get("media/video/b.mp4") is not None
    assert m.get("media/video/b.mp4").etag == md5_hex(b"defg")  # type: ignore[union-attr]
    assert m.counts_by_prefix() == {"media/images/": 1, "media/video/": 1}
    other = Manifest([ManifestEntry("site/c.css", "s", 1, "t")])
    both = m.merged(other)
    assert len(both) == 3 and len(m) == 2 and "site/c.css" in both
    assert m.total_bytes == 7


def test_prefix_of_and_etags() -> None:
    assert prefix_of("media/images/a.jpg") == "media/images/"
    assert prefix_of("media/a.jpg") == "media/"
    assert prefix_of("note.txt") == "/"
    assert norm_etag('"abc"') == "abc"


def test_replication_configuration_has_the_runbook_shape() -> None:
    """runbooks/object-storage.md's replication-config.json: Role, one enabled rule, prefix
    filter, RTC 15 min."""
    cfg = backup.ReplicationRule("media-replica", prefix="media/").configuration()
    rule = cfg["Rules"][0]
    assert cfg["Role"].startswith("arn:aws:iam::")
    assert rule["Status"] == "Enabled" and rule["Priority"] == 1
    assert rule["Filter"] == {"Prefix": "media/"}
    assert rule["Destination"]["Bucket"] == "arn:aws:s3:::media-replica"
    assert rule["Destination"]["ReplicationTime"] == {"Status": "Enabled", "Time": {"Minutes": 15}}


def test_object_lock_configuration() -> None:
    cfg = backup.ObjectLock("COMPLIANCE", 7).configuration()
    assert cfg == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 7}},
    }


class _NoLockHandle:
    endpoint = "http://127.0.0.1:1"
    implementation = "fake"
    backend = "test"


def test_a_backend_without_object_lock_is_not_run(monkeypatch: Any) -> None:
    monkeypatch.setattr(
        backup,
        "object_lock_support",
        lambda h: backup.LockSupport(False, "CreateBucket refused"),
    )
    with pytest.raises(DrillNotRun) as err:
        backup.require_object_lock(_NoLockHandle())
    assert err.value.code == "BACKEND_UNSUPPORTED"
    assert "CreateBucket refused" in err.value.reason


def test_restore_result_rates() -> None:
    r = RestoreResult("p", "b", "")
    assert r.objects_per_s is None
    r.restored, r.plan_seconds, r.apply_seconds = 100, 0.5, 1.5
    assert r.objects_per_s == pytest.approx(50.0)
    assert r.apply_objects_per_s == pytest.approx(100 / 1.5)
    assert r.summary()["restored"] == 100


def test_fault_summaries_count_lists_and_leave_digests_out() -> None:
    deleted = PrefixDeleted("media", "media/", keys=[f"media/{i}" for i in range(25)], markers=25)
    summary = deleted.summary()
    assert summary["n_keys"] == 25 and len(summary["keys"]) == 10
    assert summary["markers"] == 25 and summary["n_errors"] == 0
    attack = RansomwareAttack(
        "media", "", keys=["a"], attacker_sha256={"x" * 64}, started_wall=1.0, finished_wall=3.5
    )
    summary = attack.summary()
    assert "attacker_sha256" not in summary and summary["attack_seconds"] == 2.5
