"""Inline SVG charts: RTO bar, RPO comparison, RTO sparkline (the timeline: svg_timeline).

Inline SVG (no script, no external file) so the report opens offline and prints to PDF
as vectors. Every chart states its numbers in text too: a chart is never the only
place a number lives, and a printout in black and white still reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from drillbook.record import Phase
from drillbook.reports.fmt import day, fmt_s, fmt_target
from drillbook.reports.trends import TrendPoint

PHASE_COLOURS = {
    Phase.SETUP.value: "#9aa5b1",
    Phase.FAULT.value: "#c0392b",
    Phase.DETECTION.value: "#d68910",
    Phase.DECISION.value: "#8e44ad",
    Phase.EXECUTION.value: "#2e6fbd",
    Phase.VALIDATION.value: "#1e8449",
    Phase.CLEANUP.value: "#7f8c8d",
}
VERDICT_COLOURS = {"PASS": "#1e8449", "FAIL": "#c0392b", "NOT RUN": "#b9770e"}
OK, BAD, TRACK, INK, MUTED = "#1e8449", "#c0392b", "#eef1f4", "#1f2933", "#616e7c"
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"


def svg_text(
    x: float,
    y: float,
    text: str,
    *,
    size: int = 12,
    anchor: str = "start",
    fill: str = INK,
    weight: str = "normal",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{fill}" font-weight="{weight}">{escape(text)}</text>'
    )


def chart(width: int, height: int, body: str, label: str, cls: str) -> str:
    return (
        f'<svg class="{cls}" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" style="{FONT};max-width:{width}px">'
        f"<title>{escape(label)}</title>{body}</svg>"
    )


def nice_ticks(upper: float, count: int = 6) -> list[float]:
    """Round tick values from 0 to at least *upper* (1, 2, 5 × 10^k steps)."""
    if upper <= 0 or not math.isfinite(upper):
        return [0.0, 1.0]
    raw = upper / max(1, count - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(upper / step - 1e-9)
    return [i * step for i in range(n + 1)]


def tick_label(v: float) -> str:
    if v == 0:
        return "0"
    if v < 1:
        return f"{v * 1000:g} ms"
    if v < 120:
        return f"{v:g} s"
    return fmt_target(v)


# ------------------------------------------------------------------------- RTO bar


def rto_bar(rto: float | None, target: float | None, *, clock: str = "fault") -> str:
    """Measured RTO as a bar against the target line."""
    width, height, left, right = 640, 58, 10, 30
    span = width - left - right
    label = f"RTO {fmt_s(rto)} against target {fmt_target(target)}"
    body = [f'<rect x="{left}" y="14" width="{span}" height="18" rx="3" fill="{TRACK}"/>']
    top = max(rto or 0.0, target or 0.0) * 1.12 or 1.0
    x = lambda v: left + span * (v / top)  # noqa: E731
    if rto is not None:
        ok = target is None or rto <= target
        w = max(2.0, x(rto) - left)
        body.append(
            f'<rect class="bar-rto" x="{left}" y="14" width="{w:.1f}" height="18" rx="3" '
            f'fill="{OK if ok else BAD}"><title>{escape(label)}</title></rect>'
        )
        share = ""
        if target:
            ratio = rto / target * 100
            share = f" ({ratio:.1f} % of target)" if ratio >= 0.1 else " (< 0.1 % of target)"
        start = "detection" if clock == "detection" else "t0"
        body.append(
            svg_text(
                left,
                48,
                f"measured {fmt_s(rto)}{share} · validated − {start}",
                size=12,
                weight="600",
            )
        )
    else:
        body.append(
            svg_text(left + 8, 28, "not measured: the recovery was never validated", fill=BAD)
        )
    if target is not None:
        tx = x(target)
        body.append(
            f'<line x1="{tx:.1f}" y1="6" x2="{tx:.1f}" y2="40" stroke="{INK}" '
            f'stroke-width="2" stroke-dasharray="4 3"/>'
        )
        body.append(svg_text(tx - 4, 48, f"target {fmt_target(target)}", anchor="end", fill=MUTED))
    return chart(width, height, "".join(body), label, "chart rto-bar")


# ------------------------------------------------------------------------- RPO chart


def rpo_chart(
    observed: float | None,
    bound: float | None,
    target: float | None,
    res: float | None,
    *,
    lower_bound: bool = False,
) -> str:
    """Observed RPO, the backup method's bound and the target on one scale."""
    width, row, left, right = 660, 24, 170, 140
    rows = [
        ("observed (ledger)", observed, "#2e6fbd"),
        ("bound (backup)", bound, "#8e44ad"),
        ("target", target, INK),
    ]
    height = row * len(rows) + 10
    span = width - left - right
    top = max([v for _, v, _ in rows if v is not None] or [0.0]) * 1.05 or 1.0
    body = []
    label = (
        f"RPO observed {fmt_s(observed)}, bound {fmt_target(bound)}, "
        f"target {fmt_target(target)}, resolution {fmt_s(res)}"
    )
    for i, (name, value, colour) in enumerate(rows):
        y = 4 + i * row
        body.append(svg_text(left - 8, y + 14, name, anchor="end", fill=MUTED))
        body.append(
            f'<rect x="{left}" y="{y + 3}" width="{span}" height="14" rx="2" fill="{TRACK}"/>'
        )
        if value is None:
            text = "not measured" if i == 0 else "n/a"
            body.append(svg_text(left + 6, y + 14, text, fill=MUTED))
            continue
        w = max(2.0, span * value / top)
        fill = colour
        if i == 0 and target is not None and value > target:
            fill = BAD
        if i == 1 and target is not None and value > target:
            fill = BAD
        body.append(
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="14" rx="2" fill="{fill}"/>'
        )
        text = fmt_s(value) if i == 0 else fmt_target(value)
        if i == 0 and res:
            text += f" ± {fmt_s(res)}"
        if i == 0 and lower_bound:
            text = "≥ " + text
        body.append(svg_text(left + span + 8, y + 14, text, weight="600" if i == 0 else "normal"))
    return chart(width, height, "".join(body), label, "chart rpo-chart")


# ------------------------------------------------------------------------- sparkline


def sparkline(points: Sequence[TrendPoint], target: float | None = None) -> str:
    """RTO of this drill over past runs (left) to this run (right, larger dot)."""
    width, height, pad = 260, 56, 6
    values = [p.rto_s for p in points if p.rto_s is not None]
    top = max(values, default=1.0) * 1.15 or 1.0
    n = len(points)
    xs = [pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5) for i in range(n)]
    y = lambda v: height - pad - (height - 2 * pad - 10) * (v / top)  # noqa: E731
    body: list[str] = []
    segment: list[str] = []
    segments: list[list[str]] = []
    for xi, p in zip(xs, points, strict=True):
        if p.rto_s is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{xi:.1f},{y(p.rto_s):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) > 1:
            body.append(
                f'<polyline points="{" ".join(seg)}" fill="none" stroke="#2e6fbd" '
                f'stroke-width="1.5"/>'
            )
    for xi, p in zip(xs, points, strict=True):
        colour = VERDICT_COLOURS.get(p.verdict, BAD)
        r = 4.5 if p.current else 2.8
        tip = f"{day(p.started)} {p.verdict} RTO {fmt_s(p.rto_s)}" + (
            " (this run)" if p.current else ""
        )
        if p.rto_s is None:
            body.append(
                f'<text x="{xi:.1f}" y="{height - pad:.1f}" font-size="10" text-anchor="middle" '
                f'fill="{colour}">×<title>{escape(tip)}</title></text>'
            )
        else:
            ring = ' stroke="#000" stroke-width="1"' if p.current else ""
            body.append(
                f'<circle cx="{xi:.1f}" cy="{y(p.rto_s):.1f}" r="{r}" fill="{colour}"{ring}>'
                f"<title>{escape(tip)}</title></circle>"
            )
    top_text = f"max {fmt_s(max(values)) if values else 'n/a'}"
    body.append(f'<g class="spark-max">{svg_text(pad, 10, top_text, size=9, fill=MUTED)}</g>')
    label = f"RTO over the last {n} runs"
    if target is not None:
        label += f" (target {fmt_target(target)})"
    return chart(width, height, "".join(body), label, "chart sparkline")
