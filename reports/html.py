"""The HTML drill report: one self-contained file a drill owner attaches to the record.

Self-contained means: inline CSS, inline SVG, no font, script or image from anywhere
else (:mod:`reports.html_style`), so it opens offline years later and prints to PDF.

The page is two lists of sections. :data:`RUN_SECTIONS` come after the run's banner
(each an ``<section id=key>`` with a heading and a link in the table of contents);
:data:`DRILL_SECTIONS` make up each drill's own ``<section>``, in order (each an
``<h3>`` and a ``<div id="<drill anchor>-<key>">``). A section is
``Section(key, title, render)`` where ``render(view)`` returns its HTML body, or
``None`` to leave it out for that drill; adding one is a function and one line here
(reports/README.md, "Adding a section").

The input is the run's drill records, already scrubbed of secrets
(:mod:`drillbook.redact`); this module only renders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from drillbook.record import DrillRecord
from drillbook.reports import (
    html_drill,
    html_run,
    html_runbook,
    html_steps,
    html_verify,
    system_view,
)
from drillbook.reports.fmt import iso
from drillbook.reports.gaps import Gap
from drillbook.reports.html_parts import (
    DrillView,
    RunView,
    Section,
    badge,
    e,
    outcome_note,
    vclass,
)
from drillbook.reports.html_style import CSS, SCRIPT
from drillbook.reports.model import RunInfo, anchor, outcome, overall
from drillbook.reports.trends import Trend

RUN_SECTIONS: list[Section[RunView]] = [
    Section("summary", "Drills", html_run.drills_table),
    Section("gaps", "Gaps vs. requirements", html_run.gaps),
    Section("checklist", "Drill checklist", html_run.checklist_matrix),
]

DRILL_SECTIONS: list[Section[DrillView]] = [
    Section("findings", "Verdict and findings", html_drill.findings),
    Section("rto", "Recovery time (RTO)", html_drill.rto),
    Section("rpo", "Data loss (RPO)", html_drill.rpo),
    Section("timeline", "Timeline", html_drill.timeline),
    Section("system", "Services and the application", system_view.section),
    Section("runbook", "The runbook, as run", html_runbook.runbook),
    Section("verify", "Restore test of the real backup", html_verify.verified_backup),
    Section("trend", "RTO trend", html_drill.trend),
    Section("ledgers", "Ledgers", html_drill.ledgers),
    Section("checks", "Integrity checks", html_drill.checks),
    Section("projection", "RTO projection at production size", html_drill.projection),
    Section("checklists", "Drill checklist", html_drill.checklists),
    Section("steps", "Step log", html_steps.step_log),
]

FOOTNOTE = (
    "RTO = validated − t0 (or − detection where the target says so); RPO = t0 − "
    "acknowledgement of the last write of the longest surviving ledger prefix, resolution = "
    "write cadence; RPO bound = worst case of the declared backup method. NOT RUN is never "
    "a pass; a must-fail drill passes only by failing with the findings it requires."
)


def drill_view(rec: DrillRecord, trend: Trend | None, gaps: Sequence[Gap]) -> DrillView:
    own = [g for g in gaps if g.drill_id == rec.drill_id]
    return DrillView(rec, outcome(rec), rec.summary(), trend, own)


def render_drill(view: DrillView) -> str:
    """One drill's ``<section>``: its heading, identity, then each of its sections."""
    rec, verdict = view.rec, view.outcome.verdict
    ident = anchor(rec.drill_id)
    parts = []
    for section in DRILL_SECTIONS:
        body = section.render(view)
        if body is not None:
            parts.append(
                f"<h3>{e(section.title)}</h3><div class='part' id='{ident}-{section.key}'>"
                f"{body}</div>"
            )
    return f"""
<section class="drill drill-{vclass(verdict)}" id="{ident}">
 <h2>{badge(verdict)} {e(rec.name)}{outcome_note(view.outcome)}</h2>
 {html_drill.meta(view)}
 {"".join(parts)}
</section>"""


def render_run_section(view: RunView, section: Section[RunView]) -> str:
    body = section.render(view)
    if body is None:
        return ""
    return f'\n<section id="{section.key}">\n <h2>{e(section.title)}</h2>\n {body}\n</section>'


def _toc(view: RunView) -> str:
    links = [f'<a href="#{s.key}">{e(s.title)}</a>' for s in RUN_SECTIONS]
    links += [f'<a href="#{anchor(d.rec.drill_id)}">{e(d.rec.name)}</a>' for d in view.drills]
    return f'<nav class="toc">{" ".join(links)}</nav>'


def render_report(
    records: Sequence[DrillRecord],
    run: RunInfo,
    *,
    trends: Mapping[str, Trend] | None = None,
    gaps: Sequence[Gap] = (),
) -> str:
    """The whole report as one HTML document."""
    trends = trends or {}
    drills = [drill_view(r, trends.get(r.drill_id), gaps) for r in records]
    view = RunView(run, drills, gaps)
    verdict = overall(records)
    top = "".join(render_run_section(view, s) for s in RUN_SECTIONS)
    sections = "".join(render_drill(d) for d in drills)
    artefacts = " · ".join(f"{e(k)}: <code>{e(v)}</code>" for k, v in run.artefacts.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="drillbook {e(run.drillbook)}">
<title>DR drill report — {e(verdict)} — {e(iso(run.started))}</title>
<style>{CSS}</style></head>
<body><main>
{html_run.header(view, verdict)}
{_toc(view)}
{top}
{sections}
<footer>Generated by drillbook {e(run.drillbook)} at {e(iso(run.finished))}. {artefacts}<br>
{e(FOOTNOTE)}</footer>
</main><script>{SCRIPT}</script></body></html>
"""
