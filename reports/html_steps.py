"""The step log: every step with its phase, times, outcome, notes and exact commands.

Collapsed ``<details>`` per step (opened for printing), so a long drill still reads
top-down; the commands are shown as run (secrets already redacted) with their exit
status and output tail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from drillbook.record import Command, DrillRecord, Step
from drillbook.reports import svg
from drillbook.reports.fmt import fmt_bytes, fmt_s
from drillbook.reports.html_parts import DrillView, e, wiso


def _notes(notes: Mapping[str, Any]) -> str:
    if not notes:
        return ""

    def show(v: Any) -> str:
        return e(v if isinstance(v, str) else json.dumps(v, default=str))

    items = "".join(f"<li><b>{e(k)}</b>: <code>{show(v)}</code></li>" for k, v in notes.items())
    return f"<ul class='muted'>{items}</ul>"


def _command(rec: DrillRecord, c: Command) -> str:
    exit_txt = "running" if c.exit_status is None else f"exit {c.exit_status}"
    bad = "outcome-failed" if c.exit_status not in (None, 0) else ""
    output = ""
    if c.output_tail:
        output = f"<div class='muted'>output (tail)</div><pre class='out'>{e(c.output_tail)}</pre>"
    return (
        f"<div class='cmd'><span class='muted'>{e(c.kind)} · <span class='{bad}'>{e(exit_txt)}"
        f"</span> · {e(fmt_s(c.duration))} · started {e(wiso(rec, c.start_mono))}</span>"
        f"<pre class='cmdline'>{e(c.text)}</pre>{output}</div>"
    )


def _summary_line(rec: DrillRecord, st: Step) -> str:
    colour = svg.PHASE_COLOURS.get(st.phase, svg.MUTED)
    rel = rec.rel(st.start_mono) or 0.0
    when = f"t0 {'+' if rel >= 0 else '−'} {fmt_s(abs(rel))}"
    moved = f" · {fmt_bytes(st.bytes_processed)}" if st.bytes_processed else ""
    return (
        f"<summary><span class='phase' style='background:{colour}'>{e(st.phase)}</span>"
        f"<b>{e(st.name)}</b><span class='muted'>{e(fmt_s(st.duration))}{e(moved)} · "
        f"{e(when)}</span><span class='outcome-{e(st.outcome)}'>{e(st.outcome)}</span>"
        f"<span class='muted'>{len(st.commands)} cmd</span></summary>"
    )


def _step(rec: DrillRecord, st: Step) -> str:
    error = ""
    if st.error:
        error = f"<div class='notice fail'><b>error</b><pre>{e(st.error)}</pre></div>"
    commands = "".join(_command(rec, c) for c in st.commands)
    times = (
        f"<div class='muted'>start {e(wiso(rec, st.start_mono))} · end "
        f"{e(wiso(rec, st.end_mono) or 'never')}</div>"
    )
    return (
        f"<details class='step'>{_summary_line(rec, st)}<div class='body'>{times}{error}"
        f"{_notes(st.notes)}"
        f"{commands or '<div class=muted>no command recorded in this step</div>'}"
        "</div></details>"
    )


def step_log(view: DrillView) -> str:
    rec = view.rec
    if not rec.steps:
        return "<p class='muted'>No step recorded.</p>"
    return "".join(_step(rec, st) for st in rec.steps)
