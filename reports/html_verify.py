"""A drill that restored the team's real backup first (the ``verified_backup`` fixture)
shows that restore test: source, format, age against the RPO, restore and validation
times, and its findings — the same block ``drillbook verify`` writes (drillbook.verify).
"""

from __future__ import annotations

from drillbook.reports.html_parts import DrillView


def verified_backup(view: DrillView) -> str | None:
    """The restore test of the drill's real backup; None for drills without one."""
    data = view.rec.notes.get("verify")
    if not isinstance(data, dict):
        return None
    from drillbook.verify.model import VerifyResult
    from drillbook.verify.report import service_html

    return service_html(VerifyResult.from_dict(data))
