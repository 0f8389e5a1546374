"""The HTML drill report: one self-contained file a drill owner attaches to the record.

Self-contained means: inline CSS, inline SVG, no font, script or image from anywhere
else, so it opens offline years later and prints to PDF (``@media print`` opens every
collapsed step log and starts each drill on a new page). The only script is a few
lines that open the ``<details>`` before printing; without it the report still reads.

The input is the run's drill records, already scrubbed of secrets
(:mod:`drillbook.redact`); this module only renders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from drillbook.record import DrillRecord, Phase, Verdict
from drillbook.reports import svg
from drillbook.reports.history import Trend
from drillbook.reports.model import (
    NA,
    NO,
    PARTIAL,
    YES,
    ChecklistItem,
    Gap,
    RunInfo,
    after_checklist,
    anchor,
    counts,
    describe_code,
    drill_checklist,
    fmt_bytes,
    fmt_s,
    fmt_target,
    iso,
    ledger_integrity_problems,
    overall,
    resolution,
    rpo_is_lower_bound,
    tier,
    verdict_of,
)

CSS = """
:root{--pass:#1e8449;--fail:#c0392b;--notrun:#b9770e;--ink:#1f2933;--muted:#616e7c;
--line:#d9dee3;--soft:#f5f7fa;--warn:#b9770e}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--soft);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1140px;margin:0 auto;padding:20px}
header.top,section{background:#fff;border:1px solid var(--line);border-radius:8px;
padding:16px 20px;margin:0 0 16px}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:18px;margin:0 0 10px}
h3{font-size:14px;margin:18px 0 6px;text-transform:uppercase;letter-spacing:.04em;
color:var(--muted)}
a{color:#1f5fa8}
.badge{display:inline-block;padding:2px 8px;border-radius:4px;color:#fff;font-weight:700;
font-size:12px;letter-spacing:.03em;vertical-align:middle;white-space:nowrap}
.v-PASS{background:var(--pass)}.v-FAIL{background:var(--fail)}.v-NOT-RUN{background:var(--notrun)}
.banner{display:flex;align-items:center;gap:14px;flex-wrap:wrap}
.banner .badge{font-size:20px;padding:6px 14px}
.counts{font-size:15px;margin:4px 0 10px}
.counts b{font-size:17px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:8px 0 0}
dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:4px 0}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;background:var(--soft)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.codes code{display:inline-block;margin:0 4px 2px 0}
td.spark{width:150px}td.spark svg{width:140px}
code,pre{font:12px/1.4 ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--soft);border:1px solid var(--line);
border-radius:4px;padding:6px 8px;margin:4px 0;max-height:360px;overflow:auto}
.muted{color:var(--muted)}
.sev-warn{color:var(--warn)}.sev-fail{color:var(--fail)}
.finding code{font-weight:700}
ul.findings{margin:4px 0;padding-left:20px}
.notice{border-left:4px solid var(--notrun);background:#fdf6e9;padding:8px 12px;margin:8px 0}
.notice.fail{border-color:var(--fail);background:#fbeeee}
.st{display:inline-flex;align-items:center;gap:4px;white-space:nowrap;font-weight:600}
.st svg{width:14px;height:14px;flex:none}
.st-yes{color:var(--pass)}.st-no{color:var(--fail)}.st-partial{color:var(--warn)}
.st-todo,.st-na{color:var(--muted)}
ul.check{list-style:none;padding:0;margin:4px 0}
ul.check li{padding:3px 0;display:grid;grid-template-columns:110px 1fr;gap:8px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:4px 24px}
details.step{border:1px solid var(--line);border-radius:4px;margin:4px 0;background:#fff}
details.step>summary{cursor:pointer;padding:5px 8px;display:flex;gap:8px;align-items:baseline;
flex-wrap:wrap}
details.step[open]>summary{border-bottom:1px solid var(--line);background:var(--soft)}
details.step .body{padding:6px 10px}
.phase{display:inline-block;min-width:78px;font-size:11px;font-weight:700;color:#fff;
border-radius:3px;padding:1px 6px;text-align:center}
.outcome-failed,.outcome-timeout,.outcome-running{color:var(--fail);font-weight:700}
.cmd{border-top:1px dashed var(--line);padding-top:4px;margin-top:6px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;color:var(--muted);margin:4px 0}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;
vertical-align:-1px}
svg.chart{display:block;height:auto;margin:4px 0}
.trend{display:flex;gap:16px;align-items:center;flex-wrap:wrap}
nav.toc{font-size:13px;margin:0 0 12px}
nav.toc a{margin-right:12px}
.drill{border-left:6px solid var(--line)}
.drill-v-PASS{border-left-color:var(--pass)}.drill-v-FAIL{border-left-color:var(--fail)}
.drill-v-NOT-RUN{border-left-color:var(--notrun)}
.projection{border:1px dashed var(--muted);border-radius:6px;padding:8px 12px}
footer{color:var(--muted);font-size:12px;padding:0 4px 30px}
@page{size:A4;margin:12mm}
@media print{
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 body{background:#fff;font-size:11px}
 main{max-width:none;padding:0}
 header.top,section{border:none;border-radius:0;padding:0;margin:0 0 14px}
 section.drill{break-before:page;padding-left:10px}
 nav.toc{display:none}
 details.step>summary{list-style:none}
 details.step>summary::-webkit-details-marker{display:none}
 pre{max-height:none;overflow:visible;font-size:8px;line-height:1.25;padding:1px 4px;margin:1px 0;
 border:none}
 .cmd{margin-top:2px;padding-top:2px}
 details.step{margin:2px 0}
 details.step .body{padding:2px 6px}
 tr,svg.chart,.notice,.cmd{break-inside:avoid}
 a{color:inherit;text-decoration:none}
}
"""

# Opens every step log for printing (and closes them again afterwards).
SCRIPT = """
(function(){var opened=[];
window.addEventListener('beforeprint',function(){
document.querySelectorAll('details:not([open])').forEach(function(d){d.open=true;opened.push(d);});});
window.addEventListener('afterprint',function(){opened.forEach(function(d){d.open=false;});opened=[];});
})();
"""

_ICONS = {
    YES: '<path d="M2 7.5l3.2 3.2L12 4" fill="none" stroke="currentColor" stroke-width="2.2"/>',
    NO: '<path d="M3 3l8 8M11 3l-8 8" fill="none" stroke="currentColor" stroke-width="2.2"/>',
    PARTIAL: '<circle cx="7" cy="7" r="5.2" fill="none" stroke="currentColor" stroke-width="1.6"/>'
    '<path d="M7 1.8a5.2 5.2 0 0 1 0 10.4z" fill="currentColor"/>',
    "todo": '<rect x="1.5" y="1.5" width="11" height="11" rx="2" fill="none" '
    'stroke="currentColor" stroke-width="1.5"/>',
    NA: '<path d="M3 7h8" stroke="currentColor" stroke-width="2"/>',
}
_STATUS_TEXT = {YES: "yes", NO: "no", PARTIAL: "partly", "todo": "to do", NA: "n/a"}


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def wiso(rec: DrillRecord, mono: float | None) -> str | None:
    """Wall-clock time of a monotonic instant of *rec*, ISO 8601 UTC with milliseconds."""
    wall = rec.wall(mono)
    return None if wall is None else iso(wall, "milliseconds")


def vclass(verdict: str) -> str:
    return "v-" + verdict.replace(" ", "-")


def badge(verdict: str) -> str:
    return f'<span class="badge {vclass(verdict)}">{e(verdict)}</span>'


def status(st: str) -> str:
    icon = _ICONS.get(st, _ICONS[NA])
    return (
        f'<span class="st st-{e(st)}"><svg viewBox="0 0 14 14" aria-hidden="true">{icon}</svg>'
        f"{e(_STATUS_TEXT.get(st, st))}</span>"
    )


def _rpo_observed(rec: DrillRecord) -> str:
    """Observed RPO with its resolution, marked when only a lower bound is known."""
    s = rec.summary()
    res = resolution(rec)
    observed = fmt_s(s["rpo_s"]) if s["rpo_s"] is not None else "not measured"
    if s["rpo_s"] is not None and res:
        observed += f" ± {fmt_s(res)}"
    if rpo_is_lower_bound(rec):
        observed = "≥ " + observed
    return observed


# ------------------------------------------------------------------------- header


def render_header(records: Sequence[DrillRecord], run: RunInfo) -> str:
    c = counts(records)
    verdict = overall(records)
    versions = "; ".join(f"{name} {', '.join(vs)}" for name, vs in run.versions.items()) or "n/a"
    digests = ", ".join(
        f'<code title="{e(d)}">sha256 {e(d[:16])}…</code>' for d in run.targets_digests
    )
    duration = fmt_s(run.finished - run.started)
    args = " ".join(run.args)
    workers = f" · {run.workers} xdist workers" if run.workers else ""
    return f"""
<header class="top" id="run">
 <div class="banner">{badge(verdict)}<h1>DR drill report</h1></div>
 <p class="counts"><b>{c["PASS"]}</b> passed · <b>{c["FAIL"]}</b> failed ·
 <b>{c["NOT RUN"]}</b> not run <span class="muted">(of {len(records)} drills; NOT RUN is never
 counted as a pass)</span></p>
 <dl class="meta">
  <dt>When</dt><dd>{e(iso(run.started))} → {e(iso(run.finished))} ({e(duration)}, UTC)</dd>
  <dt>Where</dt><dd>backend <b>{e(", ".join(run.backends) or "n/a")}</b> on host
  <b>{e(run.host)}</b> (user {e(run.user)}, {e(run.platform)}{e(workers)})</dd>
  <dt>Server versions</dt><dd>{e(versions)}</dd>
  <dt>Targets</dt><dd>drills.toml {digests or '<span class="muted">no targets file</span>'}</dd>
  <dt>Harness</dt><dd>drillbook {e(run.drillbook)} · pytest {e(run.pytest)} ·
  Python {e(run.python)}</dd>
  <dt>Command</dt><dd><code>pytest {e(args)}</code></dd>
  <dt>Run id</dt><dd><code>{e(run.run_id)}</code></dd>
 </dl>
</header>"""


def render_toc(records: Sequence[DrillRecord]) -> str:
    links = [
        '<a href="#summary">Drills</a>',
        '<a href="#gaps">Gaps vs. requirements</a>',
        '<a href="#checklist">Checklist</a>',
    ]
    links += [f'<a href="#{anchor(r.drill_id)}">{e(r.name)}</a>' for r in records]
    return f'<nav class="toc">{" ".join(links)}</nav>'


def render_summary(records: Sequence[DrillRecord], trends: Mapping[str, Trend]) -> str:
    rows = []
    for rec in records:
        v = verdict_of(rec)
        s = rec.summary()
        codes = sorted({f.code for f in rec.findings})
        if v == Verdict.NOT_RUN.value:
            rto = rpo = "<span class='muted'>not measured</span>"
            fcell = e(rec.not_run_reason or "")
        else:
            rto = (
                f"{e(fmt_s(s['rto_s']))}<br><span class='muted'>target "
                f"{e(fmt_target(s['rto_target_s']))}</span>"
            )
            rpo = (
                f"{e(_rpo_observed(rec))}<br><span class='muted'>bound "
                f"{e(fmt_target(s['rpo_bound_s']))} · target {e(fmt_target(s['rpo_target_s']))}"
                "</span>"
            )
            fcell = (
                " ".join(f"<code>{e(c)}</code>" for c in codes) or "<span class='muted'>none</span>"
            )
        t = trends.get(rec.drill_id)
        trend = svg.sparkline(t.points, (rec.target or {}).get("rto")) if t else ""
        service = e(rec.service or "—")
        if tier(rec):
            service += f" <span class='muted'>({e(tier(rec))})</span>"
        rows.append(
            f"<tr><td>{badge(v)}</td><td><a href='#{anchor(rec.drill_id)}'>{e(rec.name)}</a>"
            f"<br><span class='muted'>{e(rec.scenario or '')}</span></td>"
            f"<td>{service}</td><td class='num'>{rto}</td><td class='num'>{rpo}</td>"
            f"<td class='codes'>{fcell}</td><td class='spark'>{trend}</td></tr>"
        )
    return f"""
<section id="summary">
 <h2>Drills</h2>
 <table class="summary"><thead><tr><th>Verdict</th><th>Drill / scenario</th>
 <th>Service (tier)</th><th class="num">RTO</th><th class="num">RPO ± resolution</th>
 <th>Findings</th><th>RTO trend</th></tr></thead>
 <tbody>{"".join(rows)}</tbody></table>
</section>"""


def render_gaps(gaps: Sequence[Gap]) -> str:
    if not gaps:
        body = (
            "<p>No gaps: every drill ran, met its RTO and RPO targets, and its record "
            "satisfies the drill checklist.</p>"
        )
    else:
        rows = "".join(
            f"<tr class='sev-{e(g.severity)}'><td><a href='#{anchor(g.drill_id)}'>{e(g.name)}</a>"
            f"<br><span class='muted'>{e(g.service or '')}</span></td>"
            f"<td><code title='{e(describe_code(g.code))}'>{e(g.code)}</code>"
            f"{' <span class=muted>(warning)</span>' if g.severity == 'warn' else ''}</td>"
            f"<td class='num'>{e(g.measured)}</td><td class='num'>{e(g.target)}</td>"
            f"<td>{e(g.message)}</td></tr>"
            for g in gaps
        )
        body = (
            "<table><thead><tr><th>Drill</th><th>Code</th><th class='num'>Measured</th>"
            "<th class='num'>Target</th><th>What</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    return f"""
<section id="gaps">
 <h2>Gaps vs. requirements</h2>
 <p class="muted">Every missed target and finding, with the measured number against the
 target (runbook 000_b9e419547e14e1e8.md, "After drill: Document gaps vs requirements").</p>
 {body}
</section>"""


def render_checklist_matrix(records: Sequence[DrillRecord]) -> str:
    from drillbook.reports.model import DURING_DRILL

    head = "".join(f"<th>{e(label)}</th>" for _, label in DURING_DRILL)
    rows = []
    for rec in records:
        items = {i.key: i for i in drill_checklist(rec)}
        cells = "".join(
            f"<td title='{e(items[k].evidence)}'>{status(items[k].status)}</td>"
            for k, _ in DURING_DRILL
        )
        rows.append(f"<tr><td><a href='#{anchor(rec.drill_id)}'>{e(rec.name)}</a></td>{cells}</tr>")
    return f"""
<section id="checklist">
 <h2>Drill checklist</h2>
 <p class="muted">Runbook 000_b9e419547e14e1e8.md, "DR Drill Checklist — During drill",
 ticked from what each drill record contains (hover or see each drill for the evidence).</p>
 <table><thead><tr><th>Drill</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>
</section>"""


# ------------------------------------------------------------------------- one drill


def _checklist(items: Sequence[ChecklistItem]) -> str:
    return (
        "<ul class='check'>"
        + "".join(
            f"<li>{status(i.status)}<span><b>{e(i.label)}</b> — {e(i.evidence)}</span></li>"
            for i in items
        )
        + "</ul>"
    )


def _targets(rec: DrillRecord) -> str:
    tgt = rec.target
    if not tgt:
        return "<span class='muted'>no targets (the drill has no service in drills.toml)</span>"
    backups = "; ".join(
        f"{b.get('text')} (bound {fmt_target(b.get('rpo_bound'))}"
        + (f": {b.get('basis')}" if b.get("basis") else "")
        + ")"
        for b in tgt.get("backups", [])
    )
    clock = "detection" if tgt.get("rto_clock") == "detection" else "the fault (t0)"
    return (
        f"RTO {e(fmt_target(tgt.get('rto')))} (clock starts at {e(clock)}) · RPO "
        f"{e(fmt_target(tgt.get('rpo')))} · RPO bound {e(fmt_target(tgt.get('rpo_bound')))}"
        f"<br><span class='muted'>backup: {e(backups or 'none declared')}</span>"
    )


def _findings(rec: DrillRecord) -> str:
    if verdict_of(rec) == Verdict.NOT_RUN.value:
        return (
            f"<div class='notice'><b>NOT RUN</b> — {e(rec.not_run_reason or 'no reason recorded')}"
            "<br>Nothing was measured; this drill is not a pass.</div>"
        )
    if not rec.findings:
        return "<p>No findings.</p>"
    items = "".join(
        f"<li class='finding sev-{e(f.severity)}'><code>{e(f.code)}</code>"
        f"{' (warning)' if f.severity == 'warn' else ''} — {e(f.message)}</li>"
        for f in rec.findings
    )
    return f"<ul class='findings'>{items}</ul>"


def _rto(rec: DrillRecord) -> str:
    s = rec.summary()
    if verdict_of(rec) == Verdict.NOT_RUN.value:
        return "<p class='muted'>Not measured (NOT RUN).</p>"
    extra = []
    if s["time_to_first_healthy_s"] is not None:
        extra.append(f"first healthy probe − t0: <b>{e(fmt_s(s['time_to_first_healthy_s']))}</b>")
    if rec.deadline_s is not None:
        extra.append(f"drill deadline {e(fmt_target(rec.deadline_s))} after t0")
    phases = s["phases_s"]
    if phases:
        extra.append("phases: " + ", ".join(f"{e(p)} {e(fmt_s(d))}" for p, d in phases.items()))
    return svg.rto_bar(s["rto_s"], s["rto_target_s"], clock=s["rto_clock"]) + (
        f"<p>{' · '.join(extra)}</p>" if extra else ""
    )


def _rpo(rec: DrillRecord) -> str:
    s = rec.summary()
    if verdict_of(rec) == Verdict.NOT_RUN.value:
        return "<p class='muted'>Not measured (NOT RUN).</p>"
    res = resolution(rec)
    chart = svg.rpo_chart(
        s["rpo_s"], s["rpo_bound_s"], s["rpo_target_s"], res, lower_bound=rpo_is_lower_bound(rec)
    )
    if s["rpo_s"] is None:
        text = "No ledger was read back: the data actually lost was not measured."
    else:
        text = (
            f"Observed RPO is the worst of {len(rec.ledgers)} ledger(s): t0 minus the "
            f"acknowledgement of the last write of the longest surviving prefix. Resolution "
            f"<b>{e(fmt_s(res))}</b> (the ledger's write cadence): the RPO cannot be measured "
            "finer than one write interval."
        )
    text += (
        " The bound is the worst case the declared backup method guarantees; drills run "
        "compressed schedules, so the bound is what is compared with the production target."
    )
    return chart + f"<p class='muted'>{text}</p>"


def _timeline(rec: DrillRecord) -> str:
    chart = svg.timeline(rec)
    if chart is None:
        return "<p class='muted'>No timeline: no fault was injected (no t0).</p>"
    durations = rec.phase_durations()
    legend = "".join(
        f"<span><i style='background:{svg.PHASE_COLOURS[p.value]}'></i>{e(p.value)}"
        + (f" {e(fmt_s(durations[p.value]))}" if p.value in durations else "")
        + "</span>"
        for p in Phase
        if p is not Phase.SETUP
    )
    before = [s for s in rec.steps if rec.t0_mono is not None and s.start_mono < rec.t0_mono - 1e-6]
    note = (
        f"<p class='muted'>{len(before)} step(s) before t0 (set-up: data, backups, ledger) are in "
        "the step log, not on the chart.</p>"
        if before
        else ""
    )
    return chart + f"<div class='legend'>{legend}</div>" + note


def _ledgers(rec: DrillRecord) -> str:
    if not rec.ledgers:
        return "<p class='muted'>No ledger in this drill.</p>"
    classes = ("survived", "lost", "corrupted", "indeterminate", "phantom")
    head = "".join(f"<th class='num'>{c}</th>" for c in classes)
    rows = []
    for name, led in rec.ledgers.items():
        c = led.get("counts", {})
        after = led.get("counts_after_t0", {})
        after_txt = ", ".join(f"{k} {v}" for k, v in after.items() if v) or "none"
        rp = led.get("recovery_point_seq")
        rp_at = wiso(rec, led.get("recovery_point_ack_mono"))
        rpo = fmt_s(led.get("rpo_seconds"))
        if led.get("rpo_is_lower_bound"):
            rpo = "≥ " + rpo + " (no write survived)"
        problems = ledger_integrity_problems(led)
        cells = "".join(f"<td class='num'>{e(c.get(k, 0))}</td>" for k in classes)
        point = "none"
        if rp is not None:
            point = f"seq {e(rp)}<br><span class='muted'>acked {e(rp_at)}</span>"
        res = fmt_s(led.get("resolution_seconds"))
        bad = f"<br><b class='sev-fail'>{e('; '.join(problems))}</b>" if problems else ""
        rows.append(
            f"<tr><td><b>{e(name)}</b></td><td class='num'>{e(led.get('writes_total'))}</td>"
            f"<td class='num'>{e(led.get('acked_before_t0'))}</td>{cells}"
            f"<td class='num'>{e(led.get('holes', 0))}</td><td>{point}</td>"
            f"<td class='num'>{e(rpo)}<br><span class='muted'>± {e(res)}</span></td>"
            f"<td>{e(after_txt)}{bad}</td></tr>"
        )
    return (
        "<table><thead><tr><th>Ledger</th><th class='num'>writes</th>"
        f"<th class='num'>acked before t0</th>{head}<th class='num'>holes</th>"
        "<th>recovery point</th><th class='num'>RPO</th><th>after t0</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _checks(rec: DrillRecord) -> str:
    if not rec.checks:
        return "<p class='muted'>No integrity check recorded.</p>"
    rows = []
    for c in rec.checks:
        values = ""
        if c.expected is not None or c.actual is not None:
            values = f"expected <code>{e(c.expected)}</code>, got <code>{e(c.actual)}</code>"
        at = rec.rel(c.at_mono)
        rows.append(
            f"<tr><td>{status(YES if c.passed else NO)}</td><td>{e(c.name)}</td>"
            f"<td>{e(c.detail)}{'<br>' + values if values else ''}</td>"
            f"<td class='num'>t0 + {e(fmt_s(at))}</td></tr>"
        )
    return (
        "<table><thead><tr><th>Result</th><th>Check</th><th>Detail</th><th class='num'>When</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _projection(rec: DrillRecord) -> str:
    p = rec.projection
    if p is None:
        size = (rec.target or {}).get("production_size")
        why = (
            "no restore step recorded how many bytes it moved"
            if size
            else "the service declares no production_size in drills.toml"
        )
        return f"<p class='muted'>No projection: {e(why)}.</p>"
    over = p.rto_target is not None and p.projected_seconds > p.rto_target
    return f"""<div class="projection"><b>Projection, not a measurement.</b>
 Step <i>{e(p.step)}</i> moved {e(fmt_bytes(p.measured_bytes))} in {e(fmt_s(p.measured_seconds))}
 ({e(fmt_bytes(p.throughput_bytes_per_s))}/s). At the production size of
 {e(fmt_bytes(p.production_size_bytes))}, with the drill's other {e(fmt_s(p.fixed_overhead_s))}
 as fixed overhead, a restore would take about <b class="{"sev-fail" if over else ""}">
 {e(fmt_s(p.projected_seconds))}</b> against an RTO target of {e(fmt_target(p.rto_target))}.
 <span class="muted">Assumes the throughput scales linearly with size.</span></div>"""


def _notes(notes: Mapping[str, Any]) -> str:
    if not notes:
        return ""

    def show(v: Any) -> str:
        return e(v if isinstance(v, str) else json.dumps(v, default=str))

    items = "".join(f"<li><b>{e(k)}</b>: <code>{show(v)}</code></li>" for k, v in notes.items())
    return f"<ul class='muted'>{items}</ul>"


def _step_log(rec: DrillRecord) -> str:
    if not rec.steps:
        return "<p class='muted'>No step recorded.</p>"
    out = []
    for st in rec.steps:
        colour = svg.PHASE_COLOURS.get(st.phase, svg.MUTED)
        rel = rec.rel(st.start_mono)
        rel_txt = f"t0 {'+' if (rel or 0) >= 0 else '−'} {fmt_s(abs(rel or 0))}"
        cmds = []
        for c in st.commands:
            exit_txt = "running" if c.exit_status is None else f"exit {c.exit_status}"
            bad = c.exit_status not in (None, 0)
            cmds.append(
                f"<div class='cmd'><span class='muted'>{e(c.kind)} · "
                f"<span class='{'outcome-failed' if bad else ''}'>{e(exit_txt)}</span> · "
                f"{e(fmt_s(c.duration))} · started {e(wiso(rec, c.start_mono))}</span>"
                f"<pre class='cmdline'>{e(c.text)}</pre>"
                + (
                    "<div class='muted'>output (tail)</div>"
                    f"<pre class='out'>{e(c.output_tail)}</pre>"
                    if c.output_tail
                    else ""
                )
                + "</div>"
            )
        error = (
            f"<div class='notice fail'><b>error</b><pre>{e(st.error)}</pre></div>"
            if st.error
            else ""
        )
        thr = f" · {fmt_bytes(st.bytes_processed)}" if st.bytes_processed else ""
        out.append(
            f"<details class='step'><summary><span class='phase' style='background:{colour}'>"
            f"{e(st.phase)}</span><b>{e(st.name)}</b>"
            f"<span class='muted'>{e(fmt_s(st.duration))}{e(thr)} · {e(rel_txt)}</span>"
            f"<span class='outcome-{e(st.outcome)}'>{e(st.outcome)}</span>"
            f"<span class='muted'>{len(st.commands)} cmd</span></summary>"
            f"<div class='body'><div class='muted'>start {e(wiso(rec, st.start_mono))} · end "
            f"{e(wiso(rec, st.end_mono) or 'never')}</div>{error}{_notes(st.notes)}"
            f"{''.join(cmds) or '<div class=muted>no command recorded in this step</div>'}"
            "</div></details>"
        )
    return "".join(out)


def render_drill(rec: DrillRecord, trend: Trend | None, gaps: Sequence[Gap]) -> str:
    v = verdict_of(rec)
    svc = e(rec.service or "—") + (f" (tier {e(tier(rec))})" if tier(rec) else "")
    triage = ""
    if rec.triage:
        triage = (
            f"<dt>Triage</dt><dd>observed {e(rec.triage.get('observed'))}, expected "
            f"{e(rec.triage.get('expected'))}</dd>"
        )
    versions = "; ".join(f"{k} {v}" for k, v in rec.versions.items()) or "n/a"
    trend_html = ""
    if trend is not None:
        trend_html = (
            f"<h3>RTO trend</h3><div class='trend'>"
            f"{svg.sparkline(trend.points, (rec.target or {}).get('rto'))}"
            f"<p class='trend-sentence'>{e(trend.sentence)}</p></div>"
        )
    desc = (rec.target or {}).get("description")
    description = f" — {e(desc)}" if desc else ""
    t0_at = e(wiso(rec, rec.t0_mono) or "")
    return f"""
<section class="drill drill-{vclass(v)}" id="{anchor(rec.drill_id)}">
 <h2>{badge(v)} {e(rec.name)}</h2>
 <dl class="meta">
  <dt>Drill</dt><dd><code>{e(rec.drill_id)}</code></dd>
  <dt>Service</dt><dd>{svc}{description}</dd>
  <dt>Scenario</dt><dd>{e(rec.scenario or "—")}</dd>
  <dt>Fault (t0)</dt><dd>{e(rec.fault or "—")} <span class="muted">{t0_at}</span></dd>
  <dt>Procedure</dt><dd>{e(rec.procedure or "—")}</dd>{triage}
  <dt>Targets</dt><dd>{_targets(rec)}</dd>
  <dt>Backend</dt><dd>{e(rec.backend or "n/a")} · {e(versions)}</dd>
  <dt>Started</dt><dd>{e(wiso(rec, rec.origin_mono))}</dd>
 </dl>
 <h3>Verdict and findings</h3>{_findings(rec)}
 <h3>Recovery time (RTO)</h3>{_rto(rec)}
 <h3>Data loss (RPO)</h3>{_rpo(rec)}
 <h3>Timeline</h3>{_timeline(rec)}
 {trend_html}
 <h3>Ledgers</h3>{_ledgers(rec)}
 <h3>Integrity checks</h3>{_checks(rec)}
 <h3>RTO projection at production size</h3>{_projection(rec)}
 <h3>Drill checklist</h3>
 <div class="grid2"><div><b>During drill</b>{_checklist(drill_checklist(rec))}</div>
 <div><b>After drill</b>{_checklist(after_checklist(rec, gaps))}</div></div>
 <h3>Step log</h3>{_step_log(rec)}
</section>"""


# ------------------------------------------------------------------------- document


def render_report(
    records: Sequence[DrillRecord],
    run: RunInfo,
    *,
    trends: Mapping[str, Trend] | None = None,
    gaps: Sequence[Gap] = (),
) -> str:
    """The whole report as one HTML document."""
    trends = trends or {}
    verdict = overall(records)
    drills = "".join(render_drill(r, trends.get(r.drill_id), gaps) for r in records)
    artefacts = " · ".join(f"{e(k)}: <code>{e(v)}</code>" for k, v in run.artefacts.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="drillbook {e(run.drillbook)}">
<title>DR drill report — {e(verdict)} — {e(iso(run.started))}</title>
<style>{CSS}</style></head>
<body><main>
{render_header(records, run)}
{render_toc(records)}
{render_summary(records, trends)}
{render_gaps(gaps)}
{render_checklist_matrix(records)}
{drills}
<footer>Generated by drillbook {e(run.drillbook)} at {e(iso(run.finished))}. {artefacts}<br>
RTO = validated − t0 (or − detection where the target says so); RPO = t0 − acknowledgement
of the last write of the longest surviving ledger prefix, resolution = write cadence; RPO
bound = worst case of the declared backup method. NOT RUN is never a pass.</footer>
</main><script>{SCRIPT}</script></body></html>
"""
