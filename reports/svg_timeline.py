"""The phase timeline: RTO phases from t0 as a band, each step after t0 as a bar.

One time axis for everything after the fault; the set-up steps before t0 stay in the
step log. Markers show the first healthy probe, the validation and the RTO target.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from drillbook.record import DrillRecord, Phase, Step
from drillbook.reports.fmt import fmt_s
from drillbook.reports.svg import (
    BAD,
    INK,
    MUTED,
    OK,
    PHASE_COLOURS,
    chart,
    nice_ticks,
    svg_text,
    tick_label,
)


@dataclass
class _Axis:
    """The timeline's time axis: t0 at the left edge, *total* seconds across."""

    t0: float
    total: float
    ticks: list[float]
    width: int = 1000
    left: int = 300
    right: int = 20
    row: int = 20
    y0: int = 26

    @property
    def span(self) -> int:
        return self.width - self.left - self.right

    def x(self, mono: float) -> float:
        return self.left + self.span * ((mono - self.t0) / self.total)

    def bottom(self, n_rows: int) -> float:
        return self.y0 + self.row * (n_rows + 0.5)


def _axis_for(rec: DrillRecord, t0: float, end: float) -> _Axis:
    total = max(end - t0, 1e-3)
    rto_target = (rec.target or {}).get("rto")
    if rto_target is not None and rec.rto_seconds is not None and rec.rto_seconds > rto_target:
        total = max(total, rto_target)  # show where the target was
    ticks = nice_ticks(total)
    return _Axis(t0, ticks[-1], ticks)


def _grid(ax: _Axis, bottom: float) -> list[str]:
    body = []
    for tick in ax.ticks:
        tx = ax.left + ax.span * tick / ax.total
        body.append(
            f'<line x1="{tx:.1f}" y1="{ax.y0 - 6}" x2="{tx:.1f}" y2="{bottom:.1f}" '
            f'stroke="#d9dee3" stroke-width="1"/>'
        )
        body.append(
            svg_text(tx, ax.y0 - 10, tick_label(tick), anchor="middle", size=10, fill=MUTED)
        )
    body.append(
        svg_text(ax.left - 8, ax.y0 - 10, "time since t0", anchor="end", size=10, fill=MUTED)
    )
    return body


def _phase_band(ax: _Axis, bounds: dict[str, tuple[float, float]]) -> list[str]:
    y = ax.y0
    body = [svg_text(ax.left - 8, y + 14, "RTO phases", anchor="end", weight="600")]
    for phase, (start, stop) in bounds.items():
        w = max(1.5, ax.x(stop) - ax.x(start))
        body.append(
            f'<rect x="{ax.x(start):.1f}" y="{y + 2}" width="{w:.1f}" height="16" '
            f'fill="{PHASE_COLOURS[phase]}"><title>{escape(phase)}: {escape(fmt_s(stop - start))}'
            f"</title></rect>"
        )
        if w > 70:
            body.append(svg_text(ax.x(start) + 4, y + 14, phase, size=11, fill="#fff"))
    return body


def _step_bar(ax: _Axis, step: Step, y: float, end: float) -> list[str]:
    name = step.name if len(step.name) <= 44 else step.name[:43] + "…"
    stop = step.end_mono if step.end_mono is not None else end
    x0, x1 = ax.x(step.start_mono), ax.x(stop)
    w = max(1.5, x1 - x0)
    failed = step.outcome in ("failed", "timeout", "running")
    stroke = f' stroke="{BAD}" stroke-width="2"' if failed else ""
    tip = f"{step.name} [{step.phase}] {fmt_s(step.duration)} {step.outcome}"
    fill = PHASE_COLOURS.get(step.phase, MUTED)
    body = [
        svg_text(ax.left - 8, y + 14, name, anchor="end", size=11),
        f'<rect x="{x0:.1f}" y="{y + 4}" width="{w:.1f}" height="12" '
        f'fill="{fill}"{stroke}><title>{escape(tip)}</title></rect>',
    ]
    dur = fmt_s(step.duration) if step.duration is not None else "unfinished"
    if x1 + 4 <= ax.width - 90:  # right of the bar
        body.append(svg_text(x1 + 4, y + 14, dur, size=10, fill=MUTED))
    elif w > 70:  # inside the bar, at its end
        body.append(svg_text(x1 - 4, y + 14, dur, anchor="end", size=10, fill="#fff"))
    elif x0 - ax.left > 60:  # left of the bar
        body.append(svg_text(x0 - 4, y + 14, dur, anchor="end", size=10, fill=MUTED))
    return body


def _markers(ax: _Axis, rec: DrillRecord, bottom: float) -> tuple[list[str], int]:
    marks = [(rec.first_healthy_mono, "first healthy", OK), (rec.validated_mono, "validated", INK)]
    rto_target = (rec.target or {}).get("rto")
    if rto_target is not None and rto_target <= ax.total:
        marks.append((ax.t0 + rto_target, "RTO target", BAD))
    body = []
    for i, (mono, name, colour) in enumerate(marks):
        if mono is None:
            continue
        mx = ax.x(mono)
        body.append(
            f'<line x1="{mx:.1f}" y1="{ax.y0}" x2="{mx:.1f}" y2="{bottom:.1f}" stroke="{colour}" '
            f'stroke-width="1.5" stroke-dasharray="5 3"/>'
        )
        body.append(svg_text(mx, bottom + 12 + 11 * i, name, anchor="middle", size=10, fill=colour))
    return body, len(marks)


def timeline(rec: DrillRecord) -> str | None:
    """Phases from t0 as a band, then each step after t0 as a bar on the same axis."""
    if rec.t0_mono is None:
        return None
    t0 = rec.t0_mono
    steps = [s for s in rec.steps if s.start_mono >= t0 - 1e-6 and s.phase != Phase.SETUP.value]
    bounds = rec.phase_bounds()
    ends = [s.end_mono for s in steps if s.end_mono is not None]
    ends += [stop for _, stop in bounds.values()]
    ends += [m for m in (rec.validated_mono, rec.first_healthy_mono, rec.detected_mono) if m]
    end = max(ends, default=t0 + 1.0)
    ax = _axis_for(rec, t0, end)
    bottom = ax.bottom(len(steps) + 1)
    body = _grid(ax, bottom) + _phase_band(ax, bounds)
    for i, step in enumerate(steps, start=1):
        body += _step_bar(ax, step, ax.y0 + i * ax.row, end)
    marks, n_marks = _markers(ax, rec, bottom)
    height = int(bottom + 12 + 11 * n_marks + 4)
    label = f"Timeline of drill {rec.name}: phases and steps after t0"
    return chart(ax.width, height, "".join(body + marks), label, "chart timeline")
