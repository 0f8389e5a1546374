"""The summary as Markdown and as self-contained HTML, from one list of blocks.

The document is built once (:func:`blocks`: headings, lists, tables, paragraphs) and
each format only says how a block looks, so the Markdown and the HTML can never drift
apart. Text in backticks is code: kept as is in Markdown, ``<code>`` in HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from drillbook.reports.fmt import day, fmt_s, fmt_target, pct, plural
from drillbook.reports.html_style import CSS
from drillbook.reports.summary import ServiceStats, Summary


@dataclass
class Block:
    kind: str  # h2 | ul | ol | table | p | note
    lines: list[str]
    head: list[str] | None = None  # a table's header
    rows: list[list[str]] | None = None
    anchor: str = ""  # the HTML section id a heading opens


SERVICE_HEAD = [
    "Service",
    "Tier",
    "Target RTO",
    "Target RPO",
    "RPO bound",
    "Drills",
    "Meets RTO",
    "Meets RPO",
    "Average RTO",
    "Worst RTO",
    "Avg RTO vs previous period",
    "Average RPO",
    "Worst RPO",
]
FINDINGS_HEAD = ["Code", "Count", "Drills", "Latest message"]
GAPS_HEAD = ["Drill", "Service", "Last run", "Verdict", "Gap", "Measured", "Target", "What"]
RULES = (
    "Counting: every attempt counts, NOT RUN included, and a NOT RUN attempt never meets a "
    "target. Meets RPO = a ledger measured the RPO within target, the backup's bound is "
    "within target, and no data was lost, corrupted or invented. A must-fail drill that "
    "failed as expected tested the harness, not a restore: it is counted apart."
)
NOT_TRACKED = (
    "Backup statistics (total/successful/failed backups, size, duration) and incidents are "
    "not recorded by drills: fill them in from backup monitoring and the incident log."
)


def _change(st: ServiceStats) -> str:
    if st.avg_rto is None or not st.prev_avg_rto:
        return "n/a"
    return f"{(st.avg_rto - st.prev_avg_rto) / st.prev_avg_rto * 100:+.0f} %"


def _service_row(st: ServiceStats) -> list[str]:
    t = st.tally
    worst = "n/a"
    if st.worst_rto_row is not None:
        worst = f"{fmt_s(st.worst_rto)} ({day(st.worst_rto_row.get('started'))})"
    return [
        st.service,
        st.tier or "—",
        fmt_target(st.rto_target),
        fmt_target(st.rpo_target),
        fmt_target(st.rpo_bound),
        f"{t.attempts} ({t.passed} pass, {t.failed} fail, {t.not_run} not run)",
        f"{pct(t.rto_met, t.attempts)} ({t.rto_met}/{t.attempts})",
        f"{pct(t.rpo_met, t.attempts)} ({t.rpo_met}/{t.attempts})",
        fmt_s(st.avg_rto),
        worst,
        _change(st),
        *(
            (f"≥ {v}" if st.rpo_lower_bound else v)
            for v in (fmt_s(st.avg_rpo), fmt_s(st.worst_rpo))
        ),
    ]


def _status(s: Summary) -> list[Block]:
    t = s.total
    lines = [
        f"RTO Achievement: {pct(t.rto_met, t.attempts)} of drills ({t.rto_met} of {t.attempts})",
        f"RPO Achievement: {pct(t.rpo_met, t.attempts)} of drills ({t.rpo_met} of {t.attempts})",
    ]
    services = (
        Block("table", [], SERVICE_HEAD, [_service_row(st) for st in s.services])
        if s.services
        else Block("p", ["_No drill in this period._"])
    )
    return [
        Block("h2", ["RTO/RPO Status"], anchor="status"),
        Block("ul", lines),
        services,
        Block("note", [RULES]),
    ]


def _drills(s: Summary) -> list[Block]:
    t = s.total
    lines = [
        f"Drills Conducted: {t.attempts} ({t.ran} ran, {t.not_run} not run)",
        f"Drills Passed: {t.passed}",
        f"Drills Failed: {t.failed}",
        f"Issues Identified: {sum(f.count for f in s.findings)} findings "
        f"({len(s.findings)} distinct codes)",
    ]
    if s.self_checks:
        lines.append(
            f"Must-fail drills that failed as expected (harness self-checks): {s.self_checks}"
        )
    return [Block("h2", ["DR Drills"], anchor="drills"), Block("ul", lines)]


def _table_section(
    title: str, anchor: str, head: list[str], rows: list[list[str]], empty: str
) -> list[Block]:
    body = Block("table", [], head, rows) if rows else Block("p", [empty])
    return [Block("h2", [title], anchor=anchor), body]


def _findings(s: Summary) -> list[Block]:
    rows = [
        [f"`{f.code}`", str(f.count), ", ".join(f.drills), f.latest_message] for f in s.findings
    ]
    return _table_section(
        "Findings", "findings", FINDINGS_HEAD, rows, "No findings in this period."
    )


def _gaps(s: Summary) -> list[Block]:
    rows = [
        [f"`{g.drill_id}`", g.service or "—", day(g.last_run), g.verdict, f"`{g.code}`", *g.cells]
        for g in s.gaps
    ]
    empty = "None: the latest attempt of every drill in this period passed."
    return _table_section("Open gaps", "open-gaps", GAPS_HEAD, rows, empty)


def _actions(s: Summary) -> list[Block]:
    actions: list[str] = []
    for g in s.gaps:
        if g.code == "NOT_RUN":
            action = f"Make `{g.drill_id}` runnable: {g.message}"
        else:
            action = f"Fix {g.code} in `{g.drill_id}` ({g.service}): {g.message}"
        if action not in actions:
            actions.append(action)
    body = Block("ol", actions) if actions else Block("p", ["None from the drills."])
    return [Block("h2", ["Next actions"], anchor="actions"), body]


def _history_note(s: Summary) -> list[Block]:
    if not s.skipped:
        return []
    head = f"{plural(len(s.skipped), 'unreadable history line')} skipped, not counted:"
    return [
        Block("h2", ["History lines not counted"], anchor="history"),
        Block("p", [head]),
        Block("ul", list(s.skipped)),
    ]


def blocks(s: Summary) -> list[Block]:
    """The summary document, in the template's order."""
    return [
        *_status(s),
        *_drills(s),
        *_findings(s),
        *_gaps(s),
        *_actions(s),
        Block("h2", ["Backup statistics and incidents"], anchor="not-tracked"),
        Block("p", [NOT_TRACKED]),
        *_history_note(s),
    ]


def _period_line(s: Summary) -> str:
    p = s.period
    return (
        f"Period {day(p.start)} to {day(p.end - 1)} (UTC) · {s.total.attempts} drill attempts "
        f"from `{s.source}`"
    )


# ------------------------------------------------------------------------- Markdown


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    def cell(v: str) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def _md_block(b: Block) -> list[str]:
    if b.kind == "h2":
        return [f"## {b.lines[0]}", ""]
    if b.kind == "ul":
        return [f"- {line}" for line in b.lines] + [""]
    if b.kind == "ol":
        return [f"{i}. {line}" for i, line in enumerate(b.lines, 1)] + [""]
    if b.kind == "table":
        return [*_md_table(b.head or [], b.rows or []), ""]
    if b.kind == "note":
        return [f"_{b.lines[0]}_", ""]
    return [*b.lines, ""]


def render_markdown(s: Summary) -> str:
    generated = datetime.fromtimestamp(s.generated, UTC)
    out = [
        f"# DR Drill Report — {s.period.label}",
        "",
        f"{_period_line(s)} · generated {generated:%Y-%m-%d %H:%M} UTC",
        "",
    ]
    for b in blocks(s):
        out += _md_block(b)
    return "\n".join(out)


# ------------------------------------------------------------------------- HTML


def _inline(text: str) -> str:
    """Escaped text, `code` as <code>, _emphasis_ of a whole line dropped."""
    text = text[1:-1] if len(text) > 1 and text[0] == text[-1] == "_" else text
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def _html_block(b: Block) -> str:
    if b.kind == "h2":
        return f"<h2>{_inline(b.lines[0])}</h2>"
    if b.kind in ("ul", "ol"):
        return f"<{b.kind}>" + "".join(f"<li>{_inline(x)}</li>" for x in b.lines) + f"</{b.kind}>"
    if b.kind == "table":
        head = "".join(f"<th>{escape(x)}</th>" for x in b.head or [])
        body = "".join(
            "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
            for row in b.rows or []
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    cls = " class='muted'" if b.kind == "note" else ""
    return "".join(f"<p{cls}>{_inline(x)}</p>" for x in b.lines)


def render_html(s: Summary) -> str:
    sections: list[str] = []
    for b in blocks(s):
        if b.kind == "h2":
            sections.append(f'</section><section id="{b.anchor}">')
        sections.append(_html_block(b))
    body = "".join(sections).removeprefix("</section>") + "</section>"
    label = escape(s.period.label)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>DR Drill Report — {label}</title><style>{CSS}</style></head>
<body><main>
<header class="top" id="summary-head"><h1>DR Drill Report — {label}</h1>
<p class="muted">{_inline(_period_line(s))}</p></header>
{body}
</main></body></html>
"""
