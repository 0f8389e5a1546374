"""The runbook as written, annotated with what the drill did with it.

A drill whose recovery is the team's Markdown runbook (``drill.runbook(...)``) records
each runbook step as a drill step (``notes["runbook_line"]``, its budget, its fenced
blocks as written and as run) and the run itself in ``record.notes["runbook"]``. This
section shows the runbook's steps in the runbook's order with, per step: its budget
and the time it took, the outcome (ok / failed / manual / skipped / not run), each
block as written and as run (secrets already redacted) with its exit status, the
step's prose and checklist, and the findings that name it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drillbook.record import DrillRecord, Finding, Step
from drillbook.reports.fmt import fmt_s
from drillbook.reports.html_parts import DrillView, e, table

_OUTCOME_CLASS = {"ok": "ok", "failed": "failed", "manual": "failed"}


def _steps_by_line(rec: DrillRecord) -> dict[int, Step]:
    return {int(s.notes["runbook_line"]): s for s in rec.steps if "runbook_line" in s.notes}


def _time(result: Mapping[str, Any]) -> str:
    took, budget = result.get("seconds"), result.get("budget_s")
    text = fmt_s(took) if took is not None else "—"
    if budget is not None:
        text += f" / {fmt_s(budget)}"
    cls = " class='outcome-failed'" if result.get("over_budget") else ""
    return f"<td class='num'{cls}>{e(text)}{' (over budget)' if cls else ''}</td>"


def _row(result: Mapping[str, Any], findings: Sequence[Finding]) -> str:
    outcome = str(result.get("outcome", "not run"))
    cls = _OUTCOME_CLASS.get(outcome.split(":")[0], "muted")
    name = str(result.get("name", ""))
    said = [f for f in findings if f"'{name}'" in f.message or f'"{name}"' in f.message]
    codes = ", ".join(sorted({f.code for f in said})) or "—"
    exits = ", ".join(str(x) for x in result.get("exits", [])) or "—"
    return (
        f"<tr><td class='num'>{e(result.get('line'))}</td><td>{e(name)}</td>"
        f"<td>{e(result.get('phase'))}</td><td class='outcome-{cls}'>{e(outcome)}</td>"
        f"{_time(result)}<td class='num'>{e(exits)}</td><td>{e(codes)}</td></tr>"
    )


def _blocks(step: Step) -> str:
    out = []
    for block in step.notes.get("blocks", []):
        status = block.get("exit")
        shown = "not run" if status is None else f"exit {status}"
        bad = " outcome-failed" if status not in (None, 0) else ""
        ran = block.get("ran") or block.get("text") or ""
        mapped = "".join(f"<li>mapped: {e(m)}</li>" for m in block.get("mapped", []))
        manual = "".join(f"<li>manual: {e(m)}</li>" for m in block.get("manual", []))
        as_written = ""
        if ran != block.get("text"):
            as_written = f"<div class='muted'>as written</div><pre>{e(block.get('text'))}</pre>"
        out.append(
            f"<div class='cmd'><span class='muted'>{e(block.get('lang') or 'text')} block, "
            f"line {e(block.get('line'))} · <span class='{bad.strip()}'>{e(shown)}</span>"
            f"</span>{as_written}<pre class='cmdline'>{e(ran)}</pre>"
            f"{f'<ul class=muted>{mapped}{manual}</ul>' if mapped or manual else ''}</div>"
        )
    return "".join(out)


def _step_detail(name: str, step: Step | None) -> str:
    if step is None:
        return f"<details class='step'><summary><b>{e(name)}</b> — not run</summary></details>"
    prose = "".join(f"<p>{e(p)}</p>" for p in step.notes.get("prose", []))
    items = step.notes.get("checklist", [])
    checklist = "".join(
        f"<li>[{'x' if i.get('checked') else ' '}] {e(i.get('text'))}</li>" for i in items
    )
    chosen = step.notes.get("chosen")
    choice = f"<p class='muted'>alternative run: {e(chosen)}</p>" if chosen else ""
    body = (
        f"{choice}{prose}{f'<ul>{checklist}</ul>' if checklist else ''}"
        f"{_blocks(step) or '<p class=muted>no command: a person does this step</p>'}"
    )
    return (
        f"<details class='step'><summary><b>{e(name)}</b> <span class='muted'>"
        f"{e(fmt_s(step.duration))}</span></summary><div class='body'>{body}</div></details>"
    )


def _one_run(rec: DrillRecord, run: Mapping[str, Any]) -> str:
    result = run.get("result") or {}
    steps = result.get("steps", [])
    by_line = _steps_by_line(rec)
    rto, budget = result.get("rto_s"), result.get("budget_s")
    head = (
        f"<p><code>{e(result.get('path'))}</code>, section <b>{e(result.get('section'))}</b>"
        f" (sha256 {e(str(run.get('sha256', ''))[:12])}), service {e(run.get('service') or '—')}"
        f": budgets add up to {e(fmt_s(budget))} against an RTO of {e(fmt_s(rto))}.</p>"
    )
    rows = [_row(r, rec.findings) for r in steps]
    grid = table(["line", "step", "phase", "outcome", "took / budget", "exit", "findings"],
                 rows, num=(0, 4, 5))  # fmt: skip
    details = "".join(_step_detail(str(r.get("name")), by_line.get(r.get("line"))) for r in steps)
    return head + grid + details


def runbook(view: DrillView) -> str | None:
    """The annotated runbook of a runbook-driven drill; None for any other drill."""
    runs = view.rec.notes.get("runbook")
    if not runs:
        return None
    return "".join(_one_run(view.rec, run) for run in runs if isinstance(run, Mapping))
