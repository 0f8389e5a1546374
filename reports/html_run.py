"""The top of the report: the run's banner and the sections about every drill at once.

:func:`header` is the banner (overall verdict, counts, when, where, what ran); the
others are :class:`reports.html_parts.Section` renderers listed in
:data:`reports.html.RUN_SECTIONS`.
"""

from __future__ import annotations

from drillbook.reports import svg
from drillbook.reports.checklist import DURING_DRILL, drill_checklist
from drillbook.reports.fmt import fmt_s, fmt_target, iso
from drillbook.reports.gaps import Gap, describe_code, rpo_text
from drillbook.reports.html_parts import (
    DrillView,
    RunView,
    badge,
    drill_link,
    e,
    muted,
    outcome_note,
    status,
    table,
)
from drillbook.reports.model import FAIL, NOT_RUN, PASS, anchor, tier


def _counts(view: RunView) -> str:
    c = {v: 0 for v in (PASS, FAIL, NOT_RUN)}
    for d in view.drills:
        c[d.outcome.verdict] += 1
    expected = sum(d.outcome.failed_as_expected for d in view.drills)
    as_expected = f" ({expected} failed as expected)" if expected else ""
    return (
        f'<p class="counts"><b>{c[PASS]}</b> passed{e(as_expected)} · <b>{c[FAIL]}</b> failed · '
        f"<b>{c[NOT_RUN]}</b> not run <span class='muted'>(of {len(view.drills)} drills; "
        "NOT RUN is never counted as a pass)</span></p>"
    )


def header(view: RunView, verdict: str) -> str:
    run = view.run
    versions = "; ".join(f"{name} {', '.join(vs)}" for name, vs in run.versions.items()) or "n/a"
    digests = ", ".join(
        f'<code title="{e(d)}">sha256 {e(d[:16])}…</code>' for d in run.targets_digests
    )
    workers = f" · {run.workers} xdist workers" if run.workers else ""
    return f"""
<header class="top" id="run">
 <div class="banner">{badge(verdict)}<h1>DR drill report</h1></div>
 {_counts(view)}
 <dl class="meta">
  <dt>When</dt><dd>{e(iso(run.started))} → {e(iso(run.finished))}
  ({e(fmt_s(run.finished - run.started))}, UTC)</dd>
  <dt>Where</dt><dd>backend <b>{e(", ".join(run.backends) or "n/a")}</b> on host
  <b>{e(run.host)}</b> (user {e(run.user)}, {e(run.platform)}{e(workers)})</dd>
  <dt>Server versions</dt><dd>{e(versions)}</dd>
  <dt>Targets</dt><dd>drills.toml {digests or '<span class="muted">no targets file</span>'}</dd>
  <dt>Harness</dt><dd>drillbook {e(run.drillbook)} · pytest {e(run.pytest)} ·
  Python {e(run.python)}</dd>
  <dt>Command</dt><dd><code>pytest {e(" ".join(run.args))}</code></dd>
  <dt>Run id</dt><dd><code>{e(run.run_id)}</code></dd>
 </dl>
</header>"""


def _numbers(d: DrillView) -> tuple[str, str, str]:
    """RTO, RPO and findings cells of a drill's row."""
    s, rec = d.summary, d.rec
    if d.not_run:
        cell = muted("not measured")
        return cell, cell, e(rec.not_run_reason or "")
    rto = f"{e(fmt_s(s['rto_s']))}<br>{muted('target ' + fmt_target(s['rto_target_s']))}"
    rpo = f"{e(rpo_text(rec))}<br>" + muted(
        f"bound {fmt_target(s['rpo_bound_s'])} · target {fmt_target(s['rpo_target_s'])}"
    )
    codes = sorted({f.code for f in rec.findings})
    found = " ".join(f"<code>{e(c)}</code>" for c in codes) or muted("none")
    if d.outcome.expected is not None:
        found += "<br>" + muted("must fail with " + d.outcome.expected.text())
    return rto, rpo, found


def _drill_row(d: DrillView) -> str:
    rec = d.rec
    rto, rpo, found = _numbers(d)
    trend = svg.sparkline(d.trend.points, (rec.target or {}).get("rto")) if d.trend else ""
    service = e(rec.service or "—") + (f" {muted('(' + t + ')')}" if (t := tier(rec)) else "")
    return (
        f"<tr><td>{badge(d.outcome.verdict)}{outcome_note(d.outcome, short=True)}</td>"
        f"<td>{drill_link(rec)}<br>{muted(rec.scenario or '')}</td>"
        f"<td>{service}</td><td class='num'>{rto}</td><td class='num'>{rpo}</td>"
        f"<td class='codes'>{found}</td><td class='spark'>{trend}</td></tr>"
    )


def drills_table(view: RunView) -> str:
    head = ["Verdict", "Drill / scenario", "Service (tier)", "RTO", "RPO ± resolution"]
    return table([*head, "Findings", "RTO trend"], [_drill_row(d) for d in view.drills], (3, 4))


def _gap_row(g: Gap) -> str:
    warning = " <span class=muted>(warning)</span>" if g.severity == "warn" else ""
    link = f"<a href='#{anchor(g.drill_id)}'>{e(g.name)}</a>"
    return (
        f"<tr class='sev-{e(g.severity)}'><td>{link}<br>{muted(g.service or '')}</td>"
        f"<td><code title='{e(describe_code(g.code))}'>{e(g.code)}</code>{warning}</td>"
        f"<td class='num'>{e(g.measured)}</td><td class='num'>{e(g.target)}</td>"
        f"<td>{e(g.message)}</td></tr>"
    )


def gaps(view: RunView) -> str:
    intro = (
        "<p class='muted'>Every missed target and finding, with the measured number against "
        'the target (runbook 000, "After drill: Document gaps vs requirements").</p>'
    )
    if not view.gaps:
        return intro + (
            "<p>No gaps: every drill ran, met its RTO and RPO targets, and its record "
            "satisfies the drill checklist.</p>"
        )
    rows = [_gap_row(g) for g in view.gaps]
    return intro + table(["Drill", "Code", "Measured", "Target", "What"], rows, (2, 3))


def checklist_matrix(view: RunView) -> str:
    rows = []
    for d in view.drills:
        items = {i.key: i for i in drill_checklist(d.rec)}
        cells = "".join(
            f"<td title='{e(items[k].evidence)}'>{status(items[k].status)}</td>"
            for k, _ in DURING_DRILL
        )
        rows.append(f"<tr><td>{drill_link(d.rec)}</td>{cells}</tr>")
    intro = (
        "<p class='muted'>Runbook 000, \"DR Drill Checklist — During drill\", ticked from what "
        "each drill record contains (hover or see each drill for the evidence).</p>"
    )
    return intro + table(["Drill", *(label for _, label in DURING_DRILL)], rows)
