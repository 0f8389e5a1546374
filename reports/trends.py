"""A drill's RTO over past runs: the sparkline's points and the sentence beside it.

Compared with the last *passing* run of the same drill: a failed run's RTO is not a
baseline anyone wants to hold a recovery to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from drillbook.record import DrillRecord
from drillbook.reports.fmt import day, fmt_s
from drillbook.reports.model import PASS, verdict_of

#: How many past runs a sparkline shows.
TREND_POINTS = 30


@dataclass
class TrendPoint:
    started: float
    rto_s: float | None
    verdict: str
    run_id: str | None
    current: bool = False


@dataclass
class Trend:
    drill_id: str
    points: list[TrendPoint]
    sentence: str


def _pct_sentence(rto: float, ref: float, when: str) -> str:
    if ref <= 0:
        return f"RTO {fmt_s(rto)}; the last passing run ({when}) took {fmt_s(ref)}"
    change = (rto - ref) / ref * 100.0
    if abs(change) < 0.5:
        return f"RTO about the same as the last passing run ({when}, {fmt_s(ref)})"
    word = "slower" if change > 0 else "faster"
    return f"RTO {abs(change):.0f} % {word} than the last passing run ({when}, {fmt_s(ref)})"


def _sentence(rto: float | None, mine: list[dict[str, Any]]) -> str:
    passes = [r for r in mine if r.get("verdict") == PASS and r.get("rto_s") is not None]
    if not passes:
        if mine:
            return "No earlier passing run of this drill in the history to compare with."
        return "First run of this drill in the history: no trend yet."
    last = passes[-1]
    when = day(last["started"])
    if rto is None:
        return (
            f"No RTO this run; the last passing run ({when}) recovered in {fmt_s(last['rto_s'])}."
        )
    return _pct_sentence(rto, float(last["rto_s"]), when) + "."


def trend(
    past_rows: Iterable[dict[str, Any]], rec: DrillRecord, run_id: str | None = None
) -> Trend:
    """This drill's RTO over past runs plus this one, and how it compares."""
    mine = [r for r in past_rows if r.get("drill_id") == rec.drill_id and r.get("run_id") != run_id]
    mine.sort(key=lambda r: r.get("started") or 0)
    points = [
        TrendPoint(r.get("started") or 0.0, r.get("rto_s"), str(r.get("verdict")), r.get("run_id"))
        for r in mine[-(TREND_POINTS - 1) :]
    ]
    rto = rec.rto_seconds
    points.append(TrendPoint(rec.origin_wall, rto, verdict_of(rec), run_id, current=True))
    return Trend(rec.drill_id, points, _sentence(rto, mine))
