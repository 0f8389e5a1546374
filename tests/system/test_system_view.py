"""The sections' HTML fragment: empty without sections; with them, every service, the
application's numbers, a missed target marked, and nothing that loads from outside."""

from __future__ import annotations

import re
from types import SimpleNamespace

from drillbook.appclient import JourneyOutcome, measure
from drillbook.record import DrillRecord, Phase, Step
from drillbook.reports.system_view import render, section
from drillbook.sections import ServiceSection, critical_path, lag_alert


def test_no_sections_no_fragment():
    rec = DrillRecord(drill_id="d", name="d")
    assert render(rec) == ""
    assert section(SimpleNamespace(rec=rec)) is None


def test_fragment_has_lanes_tables_and_marks_a_missed_target():
    rec = DrillRecord(drill_id="d", name="d", t0_mono=50.0, detected_mono=50.2)
    rec.steps.append(Step("promote", Phase.EXECUTION.value, 50.3, 52.0, "ok"))
    rec.validated_mono = 53.0
    services = [
        ServiceSection("region-db", "postgres", "users", target={"rto": 3600, "rpo": 1.0},
                       start_s=0.1, ready_s=0.4, rpo_s=1.5, lost=120).to_dict(),
        ServiceSection("media", "s3", "media", target={"rto": 600, "rpo": 0.0},
                       start_s=0.4, ready_s=2.0, rpo_s=0.0).to_dict(),
    ]  # fmt: skip
    outcomes = [
        JourneyOutcome("login", 49.0, 49.1, True),
        JourneyOutcome("login", 50.1, 50.2, False, dependency="network"),
        JourneyOutcome("login", 52.5, 52.6, True),
    ]
    app = measure(outcomes, 50.0, cadence_s=0.2).to_dict()
    rec.sections = {
        "services": services,
        "application": app,
        "critical_path": critical_path(services, app["rto_s"]),
        "replication": {"lag_at_t0_s": 1.53, "alert": lag_alert(1.53, 1.0), "source": "x"},
        "split_brain": {"accepted": 3, "preserved": True, "fenced": True},
    }
    html = render(rec)
    assert html.startswith('<section class="sys-sections">') and "<svg" in html
    for text in ("region-db (postgres)", "media (s3)", "journey login", "application down"):
        assert text in html
    assert html.count("MISSED") == 1  # region-db's RPO; media met both
    assert "FIRING" in html and "2.600 s" in html  # the app RTO in the table
    assert not re.search(r"<script|\bsrc=|\bhref=|url\(", html)
    body = section(SimpleNamespace(rec=rec))
    assert body is not None and "<h4>" not in body and "region-db (postgres)" in body
