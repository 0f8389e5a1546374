"""The sections of one drill: its header, verdict, RTO, RPO, timeline, ledgers, checks...

Each ``def name(view: DrillView) -> str | None`` is a section body listed in
:data:`reports.html.DRILL_SECTIONS`; None leaves the section out (a drill with no
trend yet has no trend section). The step log, the longest, is :mod:`reports.html_steps`.
"""

from __future__ import annotations

from drillbook.record import DrillRecord, Phase
from drillbook.reports import svg, svg_timeline
from drillbook.reports.checklist import NO, YES, after_checklist, drill_checklist
from drillbook.reports.fmt import fmt_bytes, fmt_s, fmt_target
from drillbook.reports.html_parts import (
    DrillView,
    checklist,
    e,
    muted,
    status,
    table,
    wiso,
)
from drillbook.reports.model import ledger_integrity_problems, resolution, rpo_is_lower_bound, tier

NOT_MEASURED = "<p class='muted'>Not measured (NOT RUN).</p>"


def _targets(rec: DrillRecord) -> str:
    tgt = rec.target
    if not tgt:
        return muted("no targets (the drill has no service in drills.toml)")
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
        f"<br>{muted('backup: ' + (backups or 'none declared'))}"
    )


def meta(view: DrillView) -> str:
    """The drill's identity: what broke, what repaired it, against which targets."""
    rec = view.rec
    svc = e(rec.service or "—") + (f" (tier {e(t)})" if (t := tier(rec)) else "")
    desc = (rec.target or {}).get("description")
    triage = ""
    if rec.triage:
        triage = (
            f"<dt>Triage</dt><dd>observed {e(rec.triage.get('observed'))}, expected "
            f"{e(rec.triage.get('expected'))}</dd>"
        )
    versions = "; ".join(f"{k} {v}" for k, v in rec.versions.items()) or "n/a"
    return f"""<dl class="meta">
  <dt>Drill</dt><dd><code>{e(rec.drill_id)}</code></dd>
  <dt>Service</dt><dd>{svc}{f" — {e(desc)}" if desc else ""}</dd>
  <dt>Scenario</dt><dd>{e(rec.scenario or "—")}</dd>
  <dt>Fault (t0)</dt><dd>{e(rec.fault or "—")} {muted(wiso(rec, rec.t0_mono) or "")}</dd>
  <dt>Procedure</dt><dd>{e(rec.procedure or "—")}</dd>{triage}
  <dt>Targets</dt><dd>{_targets(rec)}</dd>
  <dt>Backend</dt><dd>{e(rec.backend or "n/a")} · {e(versions)}</dd>
  <dt>Started</dt><dd>{e(wiso(rec, rec.origin_mono))}</dd>
 </dl>"""


def _expected(view: DrillView) -> str:
    o = view.outcome
    if o.expected is None or view.not_run:
        return ""
    if o.failed_as_expected:
        return (
            f"<div class='notice ok'><b>Must-fail drill: {e(o.label)}.</b> It breaks the recovery "
            "on purpose; the harness caught it with the required findings, so it counts as a "
            "pass.</div>"
        )
    return (
        f"<div class='notice fail'><b>Must-fail drill {e(o.label)}.</b> "
        "It counts as a failure.</div>"
    )


def findings(view: DrillView) -> str:
    rec = view.rec
    if view.not_run:
        return (
            f"<div class='notice'><b>NOT RUN</b> — {e(rec.not_run_reason or 'no reason recorded')}"
            "<br>Nothing was measured; this drill is not a pass.</div>"
        )
    if not rec.findings:
        return _expected(view) + "<p>No findings.</p>"
    items = "".join(
        f"<li class='finding sev-{e(f.severity)}'><code>{e(f.code)}</code>"
        f"{' (warning)' if f.severity == 'warn' else ''} — {e(f.message)}</li>"
        for f in rec.findings
    )
    return _expected(view) + f"<ul class='findings'>{items}</ul>"


def rto(view: DrillView) -> str:
    s, rec = view.summary, view.rec
    if view.not_run:
        return NOT_MEASURED
    extra = []
    if s["time_to_first_healthy_s"] is not None:
        extra.append(f"first healthy probe − t0: <b>{e(fmt_s(s['time_to_first_healthy_s']))}</b>")
    if rec.deadline_s is not None:
        extra.append(f"drill deadline {e(fmt_target(rec.deadline_s))} after t0")
    if s["phases_s"]:
        extra.append(
            "phases: " + ", ".join(f"{e(p)} {e(fmt_s(d))}" for p, d in s["phases_s"].items())
        )
    chart = svg.rto_bar(s["rto_s"], s["rto_target_s"], clock=s["rto_clock"])
    return chart + (f"<p>{' · '.join(extra)}</p>" if extra else "")


def rpo(view: DrillView) -> str:
    s, rec = view.summary, view.rec
    if view.not_run:
        return NOT_MEASURED
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


def timeline(view: DrillView) -> str:
    rec = view.rec
    chart = svg_timeline.timeline(rec)
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
    t0 = rec.t0_mono
    before = [s for s in rec.steps if t0 is not None and s.start_mono < t0 - 1e-6]
    note = ""
    if before:
        note = (
            f"<p class='muted'>{len(before)} step(s) before t0 (set-up: data, backups, ledger) "
            "are in the step log, not on the chart.</p>"
        )
    return chart + f"<div class='legend'>{legend}</div>" + note


def trend(view: DrillView) -> str | None:
    t = view.trend
    if t is None:
        return None
    spark = svg.sparkline(t.points, (view.rec.target or {}).get("rto"))
    return f"<div class='trend'>{spark}<p class='trend-sentence'>{e(t.sentence)}</p></div>"


LEDGER_CLASSES = ("survived", "lost", "corrupted", "indeterminate", "phantom")


def _ledger_row(rec: DrillRecord, name: str, led: dict) -> str:
    c = led.get("counts", {})
    after = ", ".join(f"{k} {v}" for k, v in led.get("counts_after_t0", {}).items() if v)
    rpo_cell = fmt_s(led.get("rpo_seconds"))
    if led.get("rpo_is_lower_bound"):
        rpo_cell = "≥ " + rpo_cell + " (no write survived)"
    point = "none"
    if (seq := led.get("recovery_point_seq")) is not None:
        acked = wiso(rec, led.get("recovery_point_ack_mono"))
        point = f"seq {e(seq)}<br>{muted(f'acked {acked}')}"
    res = fmt_s(led.get("resolution_seconds"))
    problems = ledger_integrity_problems(led)
    bad = f"<br><b class='sev-fail'>{e('; '.join(problems))}</b>" if problems else ""
    cells = "".join(f"<td class='num'>{e(c.get(k, 0))}</td>" for k in LEDGER_CLASSES)
    return (
        f"<tr><td><b>{e(name)}</b></td><td class='num'>{e(led.get('writes_total'))}</td>"
        f"<td class='num'>{e(led.get('acked_before_t0'))}</td>{cells}"
        f"<td class='num'>{e(led.get('holes', 0))}</td><td>{point}</td>"
        f"<td class='num'>{e(rpo_cell)}<br>{muted(f'± {res}')}</td>"
        f"<td>{e(after or 'none')}{bad}</td></tr>"
    )


def ledgers(view: DrillView) -> str:
    rec = view.rec
    if not rec.ledgers:
        return "<p class='muted'>No ledger in this drill.</p>"
    head = ["Ledger", "writes", "acked before t0", *LEDGER_CLASSES, "holes", "recovery point"]
    rows = [_ledger_row(rec, name, led) for name, led in rec.ledgers.items()]
    return table([*head, "RPO", "after t0"], rows, (1, 2, 3, 4, 5, 6, 7, 8, 10))


def checks(view: DrillView) -> str:
    rec = view.rec
    if not rec.checks:
        return "<p class='muted'>No integrity check recorded.</p>"
    rows = []
    for c in rec.checks:
        values = ""
        if c.expected is not None or c.actual is not None:
            values = f"<br>expected <code>{e(c.expected)}</code>, got <code>{e(c.actual)}</code>"
        rows.append(
            f"<tr><td>{status(YES if c.passed else NO)}</td><td>{e(c.name)}</td>"
            f"<td>{e(c.detail)}{values}</td>"
            f"<td class='num'>t0 + {e(fmt_s(rec.rel(c.at_mono)))}</td></tr>"
        )
    return table(["Result", "Check", "Detail", "When"], rows, (3,))


def projection(view: DrillView) -> str:
    rec = view.rec
    p = rec.projection
    if p is None:
        why = (
            "no restore step recorded how many bytes it moved"
            if (rec.target or {}).get("production_size")
            else "the service declares no production_size in drills.toml"
        )
        return f"<p class='muted'>No projection: {e(why)}.</p>"
    over = p.rto_target is not None and p.projected_seconds > p.rto_target
    scaled = [
        (s.name, s.measured_bytes, s.measured_seconds, s.throughput_bytes_per_s, s.fixed_seconds)
        for s in p.steps
    ]
    # A record from before issue 14 projected one step only.
    scaled = scaled or [
        (p.step, p.measured_bytes, p.measured_seconds, p.throughput_bytes_per_s, 0.0)
    ]
    moved = "; ".join(
        f"step <i>{e(name)}</i> moved {e(fmt_bytes(nbytes))} in {e(fmt_s(secs))}"
        f" ({e(fmt_bytes(rate))}/s"
        + (f"; its other {e(fmt_s(fixed))} do not grow with the data" if fixed else "")
        + ")"
        for name, nbytes, secs, rate, fixed in scaled
    )
    return f"""<div class="projection"><b>Projection, not a measurement.</b>
 Measured: {moved}. At the production size of
 {e(fmt_bytes(p.production_size_bytes))}, each of these steps at its measured rate, with the
 drill's other {e(fmt_s(p.fixed_overhead_s))} as fixed overhead, the RTO would be about
 <b class="{"sev-fail" if over else ""}">{e(fmt_s(p.projected_seconds))}</b> against a target
 of {e(fmt_target(p.rto_target))}.
 <span class="muted">Assumes the throughput scales linearly with size.</span></div>"""


def checklists(view: DrillView) -> str:
    during = checklist(drill_checklist(view.rec))
    after = checklist(after_checklist(view.rec, len(view.gaps)))
    return (
        f"<div class='grid2'><div><b>During drill</b>{during}</div>"
        f"<div><b>After drill</b>{after}</div></div>"
    )
