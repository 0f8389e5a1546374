"""HTML for a multi-service drill's sections (drillbook.sections): lanes per service
beside the phase timeline, the application's downtime strip, and the tables behind them.

Self-contained (inline SVG and a small stylesheet, no script): :func:`render` takes a
record and returns one ``<section>`` fragment, or "" when the record has no sections;
the report adds it to a drill's part. Every number in a chart is in a table too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from drillbook.record import DrillRecord

PHASES = {
    "detection": "#d68910",
    "decision": "#8e44ad",
    "execution": "#2e6fbd",
    "validation": "#1e8449",
}
OK, BAD, LANE, TRACK, INK, MUTED = "#1e8449", "#c0392b", "#2e6fbd", "#eef1f4", "#1f2933", "#616e7c"
WIDTH, LEFT, ROW = 780, 190, 22
STYLE = """
.sys-sections table{border-collapse:collapse;margin:.4em 0 1em}
.sys-sections th,.sys-sections td{border:1px solid #d9e2ec;padding:.2em .5em;text-align:left}
.sys-sections .pass{color:#1e8449}.sys-sections .fail{color:#c0392b}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds:.3f} s" if seconds < 120 else f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def _text(x: float, y: float, text: str, *, anchor: str = "start", fill: str = INK) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" text-anchor="{anchor}" '
        f'fill="{fill}">{_e(text)}</text>'
    )


def _bar(x0: float, x1: float, y: float, colour: str, title: str) -> str:
    w = max(1.0, x1 - x0)
    return (
        f'<rect x="{x0:.1f}" y="{y:.1f}" width="{w:.1f}" height="{ROW - 8}" fill="{colour}">'
        f"<title>{_e(title)}</title></rect>"
    )


def _horizon(rec: DrillRecord, sections: Mapping[str, Any]) -> float:
    ends = [s.get("ready_s") or 0.0 for s in sections.get("services", [])]
    ends.append((sections.get("application") or {}).get("rto_s") or 0.0)
    ends += [seg["end_s"] for seg in (sections.get("application") or {}).get("segments", [])]
    ends += [e - (rec.t0_mono or 0.0) for _, e in rec.phase_bounds().values()]
    return max([1.0, *ends]) * 1.04


def lanes_svg(rec: DrillRecord) -> str:
    """Phases, one lane per service (recovery start -> ready), one per journey and the
    application's downtime strip, on one time axis from t0."""
    sections = rec.sections or {}
    horizon = _horizon(rec, sections)
    scale = (WIDTH - LEFT - 10) / horizon

    def x(t: float) -> float:
        return LEFT + max(0.0, min(t, horizon)) * scale

    rows: list[str] = []
    y = 18.0
    rows.append(_text(LEFT - 6, y + 10, "phases", anchor="end"))
    for phase, (start, end) in rec.phase_bounds().items():
        s, e = start - (rec.t0_mono or 0.0), end - (rec.t0_mono or 0.0)
        rows.append(_bar(x(s), x(e), y, PHASES.get(phase, MUTED), f"{phase} {_s(s)} → {_s(e)}"))
    for svc in sections.get("services", []):
        y += ROW
        label = f"{svc['name']} ({svc['kind']})"
        rows.append(_text(LEFT - 6, y + 10, label, anchor="end"))
        rows.append(_bar(LEFT, WIDTH - 10, y, TRACK, label))
        if svc.get("start_s") is not None and svc.get("ready_s") is not None:
            title = f"{label}: recovery {_s(svc['start_s'])} → ready {_s(svc['ready_s'])}"
            rows.append(_bar(x(svc["start_s"]), x(svc["ready_s"]), y, LANE, title))
            rows.append(_text(x(svc["ready_s"]) + 3, y + 10, _s(svc["ready_s"]), fill=MUTED))
    app = sections.get("application") or {}
    for journey in app.get("journeys", []):
        y += ROW
        rows.append(_text(LEFT - 6, y + 10, f"journey {journey}", anchor="end"))
        for seg in app.get("segments", []):
            if seg["journey"] == journey and seg["end_s"] > 0:
                colour = OK if seg["ok"] else BAD
                state = "ok" if seg["ok"] else "failing"
                title = f"{journey} {state} {_s(seg['start_s'])} → {_s(seg['end_s'])}"
                rows.append(_bar(x(seg["start_s"]), x(seg["end_s"]), y, colour, title))
    y += ROW
    rows.append(_text(LEFT - 6, y + 10, "application down", anchor="end"))
    for start, end in app.get("downtime_windows", []):
        rows.append(_bar(x(start), x(end), y, BAD, f"down {_s(start)} → {_s(end)}"))
    height = y + ROW + 18
    marks = [_mark(x(0.0), height, "t0")]
    if app.get("rto_s") is not None:
        marks.append(_mark(x(app["rto_s"]), height, f"app RTO {_s(app['rto_s'])}"))
    body = "".join(rows + marks)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'role="img" aria-label="recovery lanes per service and the application downtime" '
        f'font-family="system-ui,sans-serif">{body}</svg>'
    )


def _mark(xpos: float, height: float, label: str) -> str:
    return (
        f'<line x1="{xpos:.1f}" y1="12" x2="{xpos:.1f}" y2="{height - 14:.1f}" stroke="{INK}" '
        f'stroke-dasharray="3,3"/>{_text(xpos, height - 3, label, anchor="middle")}'
    )


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _verdict(measured: float | None, target: float | None, lost: int = 1) -> str:
    if measured is None or target is None:
        return "n/a"
    ok = measured <= target or not lost
    return f'<span class="{"pass" if ok else "fail"}">{"met" if ok else "MISSED"}</span>'


def services_table(sections: Mapping[str, Any]) -> str:
    rows = []
    for s in sections.get("services", []):
        t = s.get("target") or {}
        rows.append([
            _e(s["name"]), _e(s["role"]), _e(s.get("procedure")),
            f"{_s(s.get('rto_s'))} / {_s(t.get('rto'))} {_verdict(s.get('rto_s'), t.get('rto'))}",
            f"{_s(s.get('rpo_s'))} / {_s(t.get('rpo'))} "
            f"{_verdict(s.get('rpo_s'), t.get('rpo'), int(s.get('lost') or 0))}",
            _e(s.get("lost")), _e(s.get("rpo_note")),
        ])  # fmt: skip
    head = ["service", "holds", "procedure", "RTO / target", "RPO / target", "lost", "RPO from"]
    return _table(head, rows)


def application_table(app: Mapping[str, Any]) -> str:
    budget = app.get("error_budget") or {}
    used = budget.get("used_fraction")
    rows = [
        ["application RTO (t0 → every journey succeeds)", _e(_s(app.get("rto_s")))],
        ["first error a user saw", _e(_s(app.get("first_failure_s")))],
        ["journey that recovered last", _e(app.get("recovered_last"))],
        ["failed journeys / runs", f"{_e(app.get('failed_runs'))} / {_e(app.get('runs'))}"],
        ["failed requests / requests",
         f"{_e(app.get('failed_requests'))} / {_e(app.get('requests'))}"],
        ["failures by dependency", _e(app.get("failures_by_dependency"))],
        ["error budget used", _e("n/a" if used is None else f"{used:.2%}")
         + _e(f" of {_s(budget.get('budget_s'))} ({budget.get('slo', 0):.3%} SLO over "
              f"{(budget.get('window_s') or 0) / 86400:.0f} d)")],
        ["resolution", _e(f"journeys every {app.get('cadence_s')} s each")],
    ]  # fmt: skip
    return _table(["application (as its users saw it)", "value"], rows)


def extras(sections: Mapping[str, Any]) -> str:
    out = []
    cp = sections.get("critical_path") or {}
    if cp.get("links"):
        rows = [[_e(link["service"]), _e(_s(link["from_s"])), _e(_s(link["to_s"])),
                 _e(_s(link["held_s"]))] for link in cp["links"]]  # fmt: skip
        out.append(f"<p>Critical path: <b>{_e(cp.get('critical'))}</b> held the recovery back "
                   f"{_e(_s(cp.get('held_back_s')))}.</p>")  # fmt: skip
        out.append(_table(["blocking", "from", "to", "held back"], rows))
    rep = sections.get("replication") or {}
    if rep:
        alert = rep.get("alert") or {}
        state = "FIRING" if alert.get("firing") else "not firing"
        if alert.get("applies") is False:
            state = f"not applicable ({alert.get('note')})"
        out.append(
            f"<p>Replication lag at t0: <b>{_e(_s(rep.get('lag_at_t0_s')))}</b> "
            f"({_e(rep.get('source'))}); alert “{_e(alert.get('rule'))}” "
            f"(threshold {_e(_s(alert.get('threshold_s')))}): <b>{state}</b>.</p>"
        )
    sb = sections.get("split_brain") or {}
    if sb:
        out.append(
            f"<p>Split-brain: the old primary accepted <b>{_e(sb.get('accepted'))}</b> writes "
            f"after the partition ({_e(sb.get('acknowledged'))} acknowledged, "
            f"{_e(sb.get('in_flight'))} left waiting); exported to {_e(sb.get('export_key'))} "
            f"({_e(sb.get('exported'))} rows, preserved: {_e(sb.get('preserved'))}); fenced: "
            f"{_e(sb.get('fenced'))} ({_e(sb.get('fencing'))}; a write now: "
            f"{_e(sb.get('write_refused'))}).</p>"
        )
    return "".join(out)


def render(rec: DrillRecord, *, heading: bool = True) -> str:
    """The sections of *rec* as one HTML fragment ("" when it has none)."""
    sections = rec.sections or {}
    if not sections.get("services") and not sections.get("application"):
        return ""
    parts = [f"<style>{STYLE}</style>"]
    if heading:
        parts.append("<h4>Services and the application</h4>")
    parts.append(lanes_svg(rec))
    parts.append(services_table(sections))
    if sections.get("application"):
        parts.append(application_table(sections["application"]))
    parts.append(extras(sections))
    return f'<section class="sys-sections">{"".join(parts)}</section>'


def section(view: Any) -> str | None:
    """A drill section body for the report (``view.rec`` is the record): one line in
    ``reports.html.DRILL_SECTIONS`` wires it,
    ``Section("system", "Services and the application", system_view.section)``; None
    leaves the section out of drills that have no sections."""
    return render(view.rec, heading=False) or None
