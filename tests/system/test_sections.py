"""Per-service sections and their verdict rules (drillbook.sections): each service is
judged against its own targets and named in the finding; the application against the
tightest target of the services it needs; split-brain writes must be preserved."""

from __future__ import annotations

from typing import Any

import pytest

from drillbook.ledger import LedgerResult, WriteClass
from drillbook.record import DrillRecord, Phase, Step
from drillbook.sections import ServiceSection, critical_path, findings, lag_alert
from drillbook.verdict import finalize


def section(name, *, rto, rpo, ready, rpo_s=0.0, lost=0, start=0.0):
    return ServiceSection(
        name=name, kind="postgres", role="r", target={"rto": rto, "rpo": rpo}, start_s=start,
        ready_s=ready, ledger=name, rpo_s=rpo_s, lost=lost,
    ).to_dict()  # fmt: skip


def record(services, app=None, **extra) -> DrillRecord:
    rec = DrillRecord(drill_id="d", name="d", t0_mono=10.0, detected_mono=10.1)
    rec.steps.append(Step("recover", Phase.EXECUTION.value, 10.2, 11.0, "ok"))
    rec.sections = {"services": services, "application": app or {}, **extra}
    rec.validated_mono = 12.0
    return rec


def codes(rec):
    return [(f.code, f.message) for f in findings(rec)]


def test_services_within_their_targets_give_no_finding():
    rec = record([section("auth", rto=900, rpo=300, ready=9.8, rpo_s=1.0, lost=90)],
                 {"recovered": True, "rto_s": 15.0})  # fmt: skip
    assert codes(rec) == []


def test_a_missed_rto_and_rpo_name_the_service():
    rec = record([
        section("auth", rto=900, rpo=300, ready=9.8),
        section("media", rto=10, rpo=0, ready=12.5, rpo_s=0.15, lost=6),
    ])  # fmt: skip
    got = codes(rec)
    assert [c for c, _ in got] == ["RTO_EXCEEDED", "RPO_EXCEEDED"]
    assert all("service media" in m for _, m in got)
    assert "6 acknowledged writes lost" in got[1][1]


def test_rpo_over_target_without_a_lost_write_is_not_a_loss():
    rec = record([section("media", rto=600, rpo=0, ready=1.0, rpo_s=0.004, lost=0)])
    assert codes(rec) == []


def test_the_application_is_judged_against_the_tightest_service_target():
    services = [
        section("auth", rto=900, rpo=300, ready=1),
        section("sessions", rto=5, rpo=1, ready=1),
    ]
    late = codes(record(services, {"recovered": True, "rto_s": 6.0}))
    assert late and late[0][0] == "RTO_EXCEEDED" and "(sessions)" in late[0][1]
    never = codes(record(services, {"recovered": False, "recovered_last": "media"}))
    assert never and "journey media still failing" in never[0][1]


def test_split_brain_writes_must_be_preserved():
    lost = record([], split_brain={"accepted": 3, "preserved": False})
    assert [c for c, _ in codes(lost)] == ["DATA_LOST"]
    kept = record([], split_brain={"accepted": 3, "preserved": True})
    assert codes(kept) == []


def test_finalize_fails_with_the_section_finding_once():
    rec = record([section("media", rto=600, rpo=0, ready=1.0, rpo_s=0.2, lost=2)])
    rec.checks = []
    lost = dict.fromkeys(WriteClass, 0) | {WriteClass.LOST: 2}
    rec.ledgers = {
        "media": LedgerResult(0.0, 0.01, 0.01, 10, counts=lost, rpo_seconds=0.2).to_dict()
    }
    assert finalize(rec).value == "FAIL"
    finalize(rec)
    messages = [f.message for f in rec.findings if f.code == "RPO_EXCEEDED"]
    assert len(messages) == 1 and messages[0].startswith("service media")


def test_sections_survive_the_json_round_trip():
    rec = record([section("auth", rto=900, rpo=300, ready=2.0)], {"recovered": True})
    back = DrillRecord.from_json(rec.to_json())
    assert back.sections == rec.sections
    assert DrillRecord.from_dict({"drill_id": "x", "name": "x"}).sections == {}


def test_critical_path_chains_the_blockers_to_the_application():
    services: list[dict[str, Any]] = [
        {"name": "media", "ready_s": 5.0},
        {"name": "auth", "ready_s": 3.0},
        {"name": "cache", "ready_s": None},
    ]
    cp = critical_path(services, 6.5)
    assert [(x["service"], x["held_s"]) for x in cp["links"]] == [
        ("auth", 3.0), ("media", 2.0), ("application", 1.5),
    ]  # fmt: skip
    assert cp["critical"] == "auth" and cp["last_ready"] == "media"
    assert cp["share"] == pytest.approx(3.0 / 6.5)
    assert critical_path([], None)["critical"] is None


def test_lag_alert_at_60_percent_of_rpo():
    assert lag_alert(0.07, 1.0)["firing"] is False
    fired = lag_alert(1.5, 1.0)
    assert fired["firing"] is True and fired["threshold_s"] == pytest.approx(0.6)
    assert lag_alert(None, 1.0)["firing"] is False
    assert lag_alert(0.5, None)["threshold_s"] is None
    sync = lag_alert(0.08, 0.0, synchronous=True)
    assert sync["firing"] is False and sync["applies"] is False
    assert lag_alert(0.08, 0.0)["firing"] is True  # asynchronous against RPO 0: any lag
