"""The drill's cells in pytest-html: a verdict line in the results table, extras per test.

Loaded only when pytest-html is (the plugin's hooks import this module lazily). The
record attached to a test report comes from a worker under pytest-xdist, whose
secrets the controller does not know: it is scrubbed here again.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any

from drillbook.record import DrillRecord
from drillbook.redact import Scrubber
from drillbook.reports.fmt import fmt_s, fmt_target
from drillbook.reports.gaps import rpo_text
from drillbook.reports.model import NOT_RUN, anchor, outcome

COLOURS = {"PASS": "#1e8449", "FAIL": "#c0392b"}
NOT_RUN_COLOUR = "#b9770e"


def report_link(index: Path, html_path: str | None) -> str:
    """The report's index, relative to the pytest-html file when known (``#anchor`` added
    by the caller)."""
    target = index.resolve()
    if html_path:
        base = Path(os.path.abspath(html_path)).parent
        return Path(os.path.relpath(target, base)).as_posix()
    return target.as_uri()


def one_line(rec: DrillRecord) -> str:
    """The drill's row in pytest-html: outcome, then RTO and RPO against their targets."""
    s = rec.summary()
    result = outcome(rec)
    if result.drill_verdict == NOT_RUN:
        return f"NOT RUN: {rec.not_run_reason or 'no reason recorded'}"
    label = f" ({result.label})" if result.label else ""
    return (
        f"{result.verdict}{label} · RTO {fmt_s(s['rto_s'])} / target "
        f"{fmt_target(s['rto_target_s'])} · RPO {rpo_text(rec)} / bound "
        f"{fmt_target(s['rpo_bound_s'])} / target {fmt_target(s['rpo_target_s'])}"
    )


def attach(report: Any, data: dict[str, Any], link: str | None) -> None:
    """Add the drill's verdict, numbers and (when a report is written) a link to it."""
    from pytest_html import extras

    scrub = Scrubber()
    rec = DrillRecord.from_dict(scrub.data(data))
    verdict = outcome(rec).verdict
    codes = ", ".join(sorted({f.code for f in rec.findings}))
    href = None if link is None else f"{link}#{anchor(rec.drill_id)}"
    content = (
        f'<div class="drill-extra"><b style="color:{COLOURS.get(verdict, NOT_RUN_COLOUR)}">'
        f"{escape(verdict)}</b> {escape(one_line(rec).removeprefix(verdict))}"
        + (f"<br>findings: {escape(codes)}" if codes else "")
        + (f'<br><a href="{escape(href)}">drill report section</a>' if href else "")
        + "</div>"
    )
    report_extras = list(getattr(report, "extras", []))
    report_extras.append(extras.html(scrub.final(content)))
    if href:
        report_extras.append(extras.url(href, name="drill report"))
    report.extras = report_extras


def row_cell(data: dict[str, Any] | None) -> str:
    text = escape(one_line(DrillRecord.from_dict(Scrubber().data(data)))) if data else ""
    return f'<td class="col-drill">{text}</td>'
