"""Downtime as the application's users see it: journey outcomes -> application RTO.

A synthetic client (``drillbook.scenarios.system.journeys``) runs the application's user
journeys at a fixed cadence through the whole drill and records each outcome here. The
numbers (runbooks/full-system.md, "Downtime from the user's side"):

- application RTO = t0 -> the end of the first fully successful journey after which
  every journey succeeds (journeys ordered by start); its resolution is the cadence;
- per journey the same, and the journey that recovered last (what held the users back);
- failed journeys and failed requests, and the failures per dependency (the store the
  application named in its 503);
- the error budget: the downtime against the budget an availability SLO leaves
  (99.9 % over 30 days = 43.2 min by default; a drill states its own);
- the downtime windows (any journey failing) and per-journey segments for the report's
  strip, relative to t0.

Pure logic, no I/O: a unit test feeds it outcomes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_SLO = 0.999
DEFAULT_SLO_WINDOW_S = 30 * 86400.0


@dataclass(frozen=True)
class JourneyOutcome:
    """One run of one journey: ok only when every request of it answered as expected."""

    journey: str
    start_mono: float
    end_mono: float
    ok: bool
    requests: int = 0
    failed_requests: int = 0
    error: str | None = None
    dependency: str | None = None  # the store the application blamed (its 503 body)
    served_by: str | None = None  # which deployment answered (region), when it said


class OutcomeLog:
    """Thread-safe list of outcomes (the client's journey threads append to it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[JourneyOutcome] = []

    def add(self, outcome: JourneyOutcome) -> None:
        with self._lock:
            self._items.append(outcome)

    @property
    def outcomes(self) -> list[JourneyOutcome]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


@dataclass
class JourneyStats:
    runs: int = 0
    failed: int = 0
    failed_before_t0: int = 0
    rto_s: float | None = None  # None: still failing at the end
    first_failure_s: float | None = None
    last_failure_s: float | None = None


@dataclass
class AppMeasurement:
    cadence_s: float
    journeys: list[str]
    runs: int = 0
    failed_runs: int = 0
    requests: int = 0
    failed_requests: int = 0
    failed_before_t0: int = 0
    outage_seen: bool = False
    recovered: bool = False
    rto_s: float | None = None
    first_failure_s: float | None = None  # detection from the users' side
    downtime_s: float | None = None  # first failure -> recovery (or -> last outcome)
    recovered_last: str | None = None
    per_journey: dict[str, JourneyStats] = field(default_factory=dict)
    failures_by_dependency: dict[str, int] = field(default_factory=dict)
    error_budget: dict[str, Any] = field(default_factory=dict)
    downtime_windows: list[tuple[float, float]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def recovery_time(outcomes: Sequence[JourneyOutcome], t0: float) -> tuple[bool, float | None]:
    """(recovered, seconds from t0) of ONE journey's outcomes ending after t0.

    The recovery instant is the end of the first success after the last failure (runs
    ordered by start); with a failure last there is none (still failing)."""
    post = sorted((o for o in outcomes if o.end_mono > t0), key=lambda o: o.start_mono)
    if not post:
        return False, None
    last_fail = max((i for i, o in enumerate(post) if not o.ok), default=-1)
    if last_fail == len(post) - 1:
        return False, None
    return True, post[last_fail + 1].end_mono - t0


def segments(outcomes: Iterable[JourneyOutcome], t0: float) -> list[dict[str, Any]]:
    """Consecutive outcomes of one journey with the same result, merged (times from t0)."""
    out: list[dict[str, Any]] = []
    by_journey: dict[str, list[JourneyOutcome]] = {}
    for o in outcomes:
        by_journey.setdefault(o.journey, []).append(o)
    for name, items in by_journey.items():
        current: dict[str, Any] | None = None
        for o in sorted(items, key=lambda x: x.start_mono):
            start, end = round(o.start_mono - t0, 4), round(o.end_mono - t0, 4)
            if current is not None and current["ok"] == o.ok:
                current["end_s"] = end
                current["runs"] += 1
                continue
            current = {"journey": name, "ok": o.ok, "start_s": start, "end_s": end, "runs": 1}
            out.append(current)
    return out


def failing_windows(segs: Iterable[dict[str, Any]]) -> list[tuple[float, float]]:
    """Intervals in which at least one journey was failing (merged across journeys)."""
    spans = sorted((s["start_s"], s["end_s"]) for s in segs if not s["ok"])
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def error_budget(
    downtime_s: float | None, *, slo: float = DEFAULT_SLO, window_s: float = DEFAULT_SLO_WINDOW_S
) -> dict[str, Any]:
    """The share of an availability SLO's error budget this outage used."""
    budget = (1.0 - slo) * window_s
    used = None if downtime_s is None or budget <= 0 else downtime_s / budget
    return {
        "slo": slo,
        "window_s": window_s,
        "budget_s": budget,
        "downtime_s": downtime_s,
        "used_fraction": used,
    }


def _journey_stats(items: list[JourneyOutcome], t0: float) -> JourneyStats:
    stats = JourneyStats(runs=len(items), failed=sum(not o.ok for o in items))
    stats.failed_before_t0 = sum(not o.ok and o.end_mono <= t0 for o in items)
    fails = [o.end_mono - t0 for o in items if not o.ok and o.end_mono > t0]
    if fails:
        stats.first_failure_s, stats.last_failure_s = min(fails), max(fails)
    _, stats.rto_s = recovery_time(items, t0)
    return stats


def measure(
    outcomes: Sequence[JourneyOutcome],
    t0: float,
    *,
    cadence_s: float,
    slo: float = DEFAULT_SLO,
    slo_window_s: float = DEFAULT_SLO_WINDOW_S,
) -> AppMeasurement:
    """Everything the record keeps about the application during one drill."""
    names = sorted({o.journey for o in outcomes})
    m = AppMeasurement(cadence_s=cadence_s, journeys=names, runs=len(outcomes))
    m.failed_runs = sum(not o.ok for o in outcomes)
    m.requests = sum(o.requests for o in outcomes)
    m.failed_requests = sum(o.failed_requests for o in outcomes)
    m.failed_before_t0 = sum(not o.ok and o.end_mono <= t0 for o in outcomes)
    post_fail = [o for o in outcomes if not o.ok and o.end_mono > t0]
    m.outage_seen = bool(post_fail)
    m.failures_by_dependency = dict(Counter(o.dependency or "none named" for o in post_fail))
    for name in names:
        m.per_journey[name] = _journey_stats([o for o in outcomes if o.journey == name], t0)
    # The application is back when every journey is: the latest journey recovery.
    rtos = [m.per_journey[n].rto_s for n in names]
    m.recovered = bool(names) and all(r is not None for r in rtos)
    m.rto_s = max(r for r in rtos if r is not None) if m.recovered else None
    if post_fail:
        # When a user first saw an error (a journey started before t0 may fail after it).
        m.first_failure_s = min(o.end_mono for o in post_fail) - t0
        end = m.rto_s if m.rto_s is not None else max(o.end_mono for o in outcomes) - t0
        m.downtime_s = max(0.0, end - m.first_failure_s)
    failed_names = [n for n in names if m.per_journey[n].first_failure_s is not None]
    if failed_names:
        # Still failing counts as the latest of all.
        m.recovered_last = max(failed_names, key=lambda n: m.per_journey[n].rto_s or float("inf"))
    m.error_budget = error_budget(m.downtime_s or 0.0, slo=slo, window_s=slo_window_s)
    m.segments = segments(outcomes, t0)
    m.downtime_windows = failing_windows(m.segments)
    return m
