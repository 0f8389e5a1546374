"""Monthly / quarterly DR summary from the drill history, in Markdown and HTML.

Follows the "Monthly Report Template" of ``../shared/runbooks/001_61317e2ff6da1521.md``
(RTO/RPO status, DR drills conducted/passed, issues, next actions), computed from the
history lines only. Counting rules, stated in the output too:

- a drill *attempt* is one history line; NOT RUN attempts are counted and never meet
  a target (a restore test that could not run proved nothing);
- *meets RTO*: an RTO was measured and is within the target;
- *meets RPO*: an RPO was measured (a ledger), it is within the target, the declared
  backup's bound is within the target, and no data was lost, corrupted or invented;
- *open gaps*: the findings of each drill's latest attempt in the period that did not
  pass.

Backup statistics and incidents of the template are not something drills record; the
summary says so instead of printing zeros.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from statistics import fmean
from typing import Any

from drillbook.reports.model import day, fmt_s, fmt_target, pct

DATA_CODES = {
    "DATA_LOST",
    "DATA_CORRUPTED",
    "PHANTOM_WRITE",
    "RPO_EXCEEDED",
    "RPO_BOUND_EXCEEDS_TARGET",
}


# ------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    label: str  # "November 2026", "2026 Q4", "last 90 days"
    slug: str  # "2026-11", "2026-Q4", "last-90d-20261123"
    start: float
    end: float  # exclusive

    def contains(self, epoch: float | None) -> bool:
        return epoch is not None and self.start <= epoch < self.end

    def previous(self) -> Period:
        length = self.end - self.start
        start = datetime.fromtimestamp(self.start, UTC)
        if re.fullmatch(r"\d{4}-\d{2}", self.slug):
            prev = (start - timedelta(days=1)).strftime("%Y-%m")
            return month(prev)
        if re.fullmatch(r"\d{4}-Q\d", self.slug):
            prev_start = start - timedelta(days=1)
            return quarter(f"{prev_start.year}-Q{(prev_start.month - 1) // 3 + 1}")
        return Period(
            f"previous {self.label}", f"prev-{self.slug}", self.start - length, self.start
        )


def _ts(dt: datetime) -> float:
    return dt.replace(tzinfo=UTC).timestamp()


def month(text: str | None = None, now: datetime | None = None) -> Period:
    """``2026-11`` (default: the current month, UTC)."""
    now = now or datetime.now(UTC)
    if text in (None, "", "current"):
        year, mon = now.year, now.month
    else:
        m = re.fullmatch(r"(\d{4})-(\d{1,2})", str(text).strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValueError(f"--month {text!r}: expected YYYY-MM, e.g. 2026-11")
        year, mon = int(m.group(1)), int(m.group(2))
    start = datetime(year, mon, 1)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1)
    return Period(f"{calendar.month_name[mon]} {year}", f"{year}-{mon:02d}", _ts(start), _ts(end))


def quarter(text: str | None = None, now: datetime | None = None) -> Period:
    """``2026-Q4`` or ``2026Q4`` (default: the current quarter, UTC)."""
    now = now or datetime.now(UTC)
    if text in (None, "", "current"):
        year, q = now.year, (now.month - 1) // 3 + 1
    else:
        m = re.fullmatch(r"(\d{4})-?[Qq]([1-4])", str(text).strip())
        if not m:
            raise ValueError(f"--quarter {text!r}: expected YYYY-Qn, e.g. 2026-Q4")
        year, q = int(m.group(1)), int(m.group(2))
    start = datetime(year, 3 * (q - 1) + 1, 1)
    end = datetime(year + (q == 4), (3 * q) % 12 + 1, 1)
    return Period(f"{year} Q{q}", f"{year}-Q{q}", _ts(start), _ts(end))


def last_days(days: int, now: datetime | None = None) -> Period:
    if days < 1:
        raise ValueError(f"--days {days}: expected a positive number of days")
    now = now or datetime.now(UTC)
    end = now.timestamp() + 1
    return Period(
        f"last {days} days" if days != 1 else "last day",
        f"last-{days}d-{now.strftime('%Y%m%d')}",
        end - days * 86400.0,
        end,
    )


# ------------------------------------------------------------------------- numbers


def meets_rto(row: dict[str, Any]) -> bool:
    rto, target = row.get("rto_s"), row.get("rto_target_s")
    return rto is not None and target is not None and rto <= target


def meets_rpo(row: dict[str, Any]) -> bool:
    rpo, target, bound = row.get("rpo_s"), row.get("rpo_target_s"), row.get("rpo_bound_s")
    if rpo is None or target is None or rpo > target:
        return False
    if bound is not None and bound > target:
        return False
    codes = {f.get("code") for f in row.get("findings") or []}
    return not (codes & DATA_CODES)


@dataclass
class ServiceStats:
    service: str
    tier: str | None = None
    rto_target: float | None = None
    rpo_target: float | None = None
    rpo_bound: float | None = None
    attempts: int = 0
    ran: int = 0
    passed: int = 0
    failed: int = 0
    not_run: int = 0
    rto_met: int = 0
    rpo_met: int = 0
    rtos: list[float] = field(default_factory=list)
    rpos: list[float] = field(default_factory=list)
    worst_rto_row: dict[str, Any] | None = None
    prev_avg_rto: float | None = None

    @property
    def avg_rto(self) -> float | None:
        return fmean(self.rtos) if self.rtos else None

    @property
    def worst_rto(self) -> float | None:
        return max(self.rtos) if self.rtos else None

    @property
    def avg_rpo(self) -> float | None:
        return fmean(self.rpos) if self.rpos else None

    @property
    def worst_rpo(self) -> float | None:
        return max(self.rpos) if self.rpos else None


@dataclass
class OpenGap:
    drill_id: str
    service: str | None
    last_run: float
    verdict: str
    code: str
    message: str
    measured: str
    target: str


@dataclass
class Summary:
    period: Period
    source: str
    rows: list[dict[str, Any]]
    services: list[ServiceStats]
    findings: list[tuple[str, int, list[str], str]]  # code, count, drills, latest message
    gaps: list[OpenGap]
    attempts: int = 0
    ran: int = 0
    passed: int = 0
    failed: int = 0
    not_run: int = 0
    rto_met: int = 0
    rpo_met: int = 0
    generated: float = 0.0


def _gap_numbers(row: dict[str, Any], code: str) -> tuple[str, str]:
    if code == "RTO_EXCEEDED":
        return fmt_s(row.get("rto_s")), fmt_target(row.get("rto_target_s"))
    if code == "RPO_EXCEEDED":
        return fmt_s(row.get("rpo_s")), fmt_target(row.get("rpo_target_s"))
    if code == "RPO_BOUND_EXCEEDS_TARGET":
        return f"bound {fmt_target(row.get('rpo_bound_s'))}", fmt_target(row.get("rpo_target_s"))
    return "—", "—"


def summarise(rows: Sequence[dict[str, Any]], period: Period, source: str = "") -> Summary:
    mine = sorted(
        (r for r in rows if period.contains(r.get("started"))), key=lambda r: r["started"]
    )
    prev_period = period.previous()
    prev_rtos: dict[str, list[float]] = {}
    for r in rows:
        if prev_period.contains(r.get("started")) and r.get("rto_s") is not None:
            prev_rtos.setdefault(str(r.get("service") or "unknown"), []).append(float(r["rto_s"]))
    services: dict[str, ServiceStats] = {}
    findings: dict[str, list[dict[str, Any]]] = {}
    out = Summary(period, source, mine, [], [], [])
    out.generated = datetime.now(UTC).timestamp()
    for r in mine:
        svc = str(r.get("service") or "unknown")
        st = services.setdefault(svc, ServiceStats(svc))
        st.tier = r.get("tier") or st.tier
        for attr, key in (
            ("rto_target", "rto_target_s"),
            ("rpo_target", "rpo_target_s"),
            ("rpo_bound", "rpo_bound_s"),
        ):
            if r.get(key) is not None:
                setattr(st, attr, r[key])
        verdict = r.get("verdict")
        st.attempts += 1
        out.attempts += 1
        if verdict == "NOT RUN":
            st.not_run += 1
            out.not_run += 1
        else:
            st.ran += 1
            out.ran += 1
            if verdict == "PASS":
                st.passed += 1
                out.passed += 1
            else:
                st.failed += 1
                out.failed += 1
        if meets_rto(r):
            st.rto_met += 1
            out.rto_met += 1
        if meets_rpo(r):
            st.rpo_met += 1
            out.rpo_met += 1
        if r.get("rto_s") is not None:
            st.rtos.append(float(r["rto_s"]))
            if st.worst_rto_row is None or r["rto_s"] >= st.worst_rto_row["rto_s"]:
                st.worst_rto_row = r
        if r.get("rpo_s") is not None:
            st.rpos.append(float(r["rpo_s"]))
        for f in r.get("findings") or []:
            findings.setdefault(str(f.get("code")), []).append({**f, "_drill": r.get("drill_id")})
    for svc, st in services.items():
        if prev_rtos.get(svc):
            st.prev_avg_rto = fmean(prev_rtos[svc])
    out.services = [services[k] for k in sorted(services)]
    out.findings = sorted(
        (
            (
                code,
                len(items),
                sorted({str(i["_drill"]) for i in items}),
                str(items[-1].get("message")),
            )
            for code, items in findings.items()
        ),
        key=lambda t: (-t[1], t[0]),
    )
    latest: dict[str, dict[str, Any]] = {}
    for r in mine:
        latest[str(r.get("drill_id"))] = r
    for drill_id, r in sorted(latest.items()):
        verdict = str(r.get("verdict"))
        if verdict == "PASS":
            continue
        if verdict == "NOT RUN":
            out.gaps.append(
                OpenGap(
                    drill_id,
                    r.get("service"),
                    r["started"],
                    verdict,
                    "NOT_RUN",
                    str(r.get("not_run_reason") or "no reason recorded"),
                    "not measured",
                    f"RTO {fmt_target(r.get('rto_target_s'))}",
                )
            )
            continue
        for f in r.get("findings") or []:
            measured, target = _gap_numbers(r, str(f.get("code")))
            out.gaps.append(
                OpenGap(
                    drill_id,
                    r.get("service"),
                    r["started"],
                    verdict,
                    str(f.get("code")),
                    str(f.get("message")),
                    measured,
                    target,
                )
            )
    return out


# ------------------------------------------------------------------------- rendering


def _change(st: ServiceStats) -> str:
    if st.avg_rto is None or not st.prev_avg_rto:
        return "n/a"
    change = (st.avg_rto - st.prev_avg_rto) / st.prev_avg_rto * 100
    return f"{change:+.0f} %"


def _service_rows(s: Summary) -> list[list[str]]:
    rows = []
    for st in s.services:
        worst = ""
        if st.worst_rto_row is not None:
            worst = f"{fmt_s(st.worst_rto)} ({day(st.worst_rto_row.get('started'))})"
        rows.append(
            [
                st.service,
                st.tier or "—",
                fmt_target(st.rto_target),
                fmt_target(st.rpo_target),
                fmt_target(st.rpo_bound),
                f"{st.attempts} ({st.passed} pass, {st.failed} fail, {st.not_run} not run)",
                f"{pct(st.rto_met, st.attempts)} ({st.rto_met}/{st.attempts})",
                f"{pct(st.rpo_met, st.attempts)} ({st.rpo_met}/{st.attempts})",
                fmt_s(st.avg_rto),
                worst or "n/a",
                _change(st),
                fmt_s(st.avg_rpo),
                fmt_s(st.worst_rpo),
            ]
        )
    return rows


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

RULES = (
    "Counting: every attempt counts, NOT RUN included, and a NOT RUN attempt never meets a "
    "target. Meets RPO = a ledger measured the RPO within target, the backup's bound is "
    "within target, and no data was lost, corrupted or invented."
)
NOT_TRACKED = (
    "Backup statistics (total/successful/failed backups, size, duration) and incidents are "
    "not recorded by drills: fill them in from backup monitoring and the incident log."
)


def _status_lines(s: Summary) -> list[str]:
    return [
        f"RTO Achievement: {pct(s.rto_met, s.attempts)} of drills ({s.rto_met} of {s.attempts})",
        f"RPO Achievement: {pct(s.rpo_met, s.attempts)} of drills ({s.rpo_met} of {s.attempts})",
    ]


def _drill_lines(s: Summary) -> list[str]:
    return [
        f"Drills Conducted: {s.attempts} ({s.ran} ran, {s.not_run} not run)",
        f"Drills Passed: {s.passed}",
        f"Drills Failed: {s.failed}",
        f"Issues Identified: {sum(n for _, n, _, _ in s.findings)} findings "
        f"({len(s.findings)} distinct codes)",
    ]


def _actions(s: Summary) -> list[str]:
    actions = []
    seen = set()
    for g in s.gaps:
        key = (g.drill_id, g.code)
        if key in seen:
            continue
        seen.add(key)
        if g.code == "NOT_RUN":
            actions.append(f"Make `{g.drill_id}` runnable: {g.message}")
        else:
            actions.append(f"Fix {g.code} in `{g.drill_id}` ({g.service}): {g.message}")
    return actions


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    def cell(v: str) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(s: Summary) -> str:
    p = s.period
    out = [
        f"# DR Drill Report — {p.label}",
        "",
        f"Period {day(p.start)} to {day(p.end - 1)} (UTC) · {s.attempts} drill attempts from "
        f"`{s.source}` · generated {datetime.fromtimestamp(s.generated, UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "## RTO/RPO Status",
        "",
        *(f"- {line}" for line in _status_lines(s)),
        "",
        _md_table(SERVICE_HEAD, _service_rows(s)) if s.services else "_No drill in this period._",
        "",
        f"_{RULES}_",
        "",
        "## DR Drills",
        "",
        *(f"- {line}" for line in _drill_lines(s)),
        "",
        "## Findings",
        "",
    ]
    if s.findings:
        out.append(
            _md_table(
                ["Code", "Count", "Drills", "Latest message"],
                [[f"`{c}`", str(n), ", ".join(d), m] for c, n, d, m in s.findings],
            )
        )
    else:
        out.append("No findings in this period.")
    out += ["", "## Open gaps", ""]
    if s.gaps:
        out.append(
            _md_table(
                ["Drill", "Service", "Last run", "Verdict", "Gap", "Measured", "Target", "What"],
                [
                    [
                        f"`{g.drill_id}`",
                        g.service or "—",
                        day(g.last_run),
                        g.verdict,
                        f"`{g.code}`",
                        g.measured,
                        g.target,
                        g.message,
                    ]
                    for g in s.gaps
                ],
            )
        )
    else:
        out.append("None: the latest attempt of every drill in this period passed.")
    out += ["", "## Next actions", ""]
    actions = _actions(s)
    out += [f"{i}. {a}" for i, a in enumerate(actions, 1)] or ["None from the drills."]
    out += ["", "## Backup statistics and incidents", "", NOT_TRACKED, ""]
    return "\n".join(out)


def render_html(s: Summary) -> str:
    from drillbook.reports.html import CSS

    def table(head: list[str], rows: list[list[str]]) -> str:
        h = "".join(f"<th>{escape(x)}</th>" for x in head)
        b = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"

    p = s.period
    svc = table(SERVICE_HEAD, _service_rows(s)) if s.services else "<p>No drill in this period.</p>"
    findings = (
        table(
            ["Code", "Count", "Drills", "Latest message"],
            [[c, str(n), ", ".join(d), m] for c, n, d, m in s.findings],
        )
        if s.findings
        else "<p>No findings in this period.</p>"
    )
    gaps = (
        table(
            ["Drill", "Service", "Last run", "Verdict", "Gap", "Measured", "Target", "What"],
            [
                [
                    g.drill_id,
                    g.service or "—",
                    day(g.last_run),
                    g.verdict,
                    g.code,
                    g.measured,
                    g.target,
                    g.message,
                ]
                for g in s.gaps
            ],
        )
        if s.gaps
        else "<p>None: the latest attempt of every drill in this period passed.</p>"
    )
    actions = "".join(f"<li>{escape(a.replace('`', ''))}</li>" for a in _actions(s))

    def ul(lines: list[str]) -> str:
        return "<ul>" + "".join(f"<li>{escape(x)}</li>" for x in lines) + "</ul>"

    ol = f"<ol>{actions}</ol>" if actions else "<p>None from the drills.</p>"
    period = f"Period {day(p.start)} to {day(p.end - 1)} (UTC) · {s.attempts} drill attempts"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>DR Drill Report — {escape(p.label)}</title><style>{CSS}</style></head>
<body><main>
<header class="top" id="summary-head"><h1>DR Drill Report — {escape(p.label)}</h1>
<p class="muted">{escape(period)} from <code>{escape(s.source)}</code></p></header>
<section id="status"><h2>RTO/RPO Status</h2>{ul(_status_lines(s))}
{svc}<p class="muted">{escape(RULES)}</p></section>
<section id="drills"><h2>DR Drills</h2>{ul(_drill_lines(s))}</section>
<section id="findings"><h2>Findings</h2>{findings}</section>
<section id="open-gaps"><h2>Open gaps</h2>{gaps}</section>
<section id="actions"><h2>Next actions</h2>{ol}</section>
<section id="not-tracked"><h2>Backup statistics and incidents</h2>
<p>{escape(NOT_TRACKED)}</p></section>
</main></body></html>
"""
