"""Prometheus textfile (node_exporter's textfile collector) with the drill results.

Metric names are those the alerts of runbook 003 already use
(``last_restore_test_timestamp_seconds``,
``backup_restore_test_success_total / backup_restore_test_total``) plus per-drill
gauges. Counters are computed from the whole history (this run included), so they only
ever grow while the history file is kept, as a Prometheus counter must.

Definitions:

- ``drill_success{drill,service}``: 1 for a PASS (a must-fail drill that failed as
  expected included), 0 for FAIL and for NOT RUN.
- ``backup_restore_test_total{service}``: drills attempted for the service, NOT RUN
  included (a restore test that could not run is an attempt that proved nothing).
- ``backup_restore_test_success_total{service}``: drills that PASSed.
- ``last_restore_test_timestamp_seconds{service}``: start of the latest drill that
  actually ran (PASS or FAIL); a NOT RUN drill tested no restore, so it does not reset
  the ``RestoreTestOverdue`` alert.

A must-fail drill that failed as expected proved that the harness catches a broken
recovery, not that the service restores: it is in none of the per-service restore-test
numbers. One that did not fail as required counts as a failed attempt.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from drillbook.record import DrillRecord
from drillbook.reports.model import FAIL, NOT_RUN, PASS, verdict_of
from drillbook.reports.rows import is_self_check

UNKNOWN_SERVICE = "unknown"
LABELS = ["drill", "service"]

#: Per-drill gauges: (name, help).
DRILL_GAUGES = (
    ("drill_rto_seconds", "Measured RTO of the drill's last run (validated - t0)"),
    (
        "drill_rpo_seconds",
        "Observed RPO of the drill's last run (worst ledger; resolution = write cadence)",
    ),
    (
        "drill_success",
        "1 if the drill's last run PASSed (a must-fail drill: failed as expected), "
        "0 if it FAILed or was NOT RUN",
    ),
    ("drill_not_run", "1 if the drill's last run could not run (NOT RUN)"),
    ("drill_last_run_timestamp_seconds", "Start of the drill's last run (Unix time)"),
    ("drill_rto_target_seconds", "RTO target of the drill's service (drills.toml)"),
    ("drill_rpo_target_seconds", "RPO target of the drill's service (drills.toml)"),
    (
        "drill_rpo_bound_seconds",
        "Worst-case data loss the service's declared backup method allows",
    ),
    (
        "drill_rpo_is_lower_bound",
        "1 when drill_rpo_seconds is only a minimum (every write lost), else 0",
    ),
)


def _drill_values(rec: DrillRecord) -> dict[str, float | None]:
    s = rec.summary()
    verdict = verdict_of(rec)
    return {
        "drill_rto_seconds": s["rto_s"],
        "drill_rpo_seconds": s["rpo_s"],
        "drill_success": 1.0 if verdict == PASS else 0.0,
        "drill_not_run": 1.0 if verdict == NOT_RUN else 0.0,
        "drill_last_run_timestamp_seconds": rec.origin_wall,
        "drill_rto_target_seconds": s["rto_target_s"],
        "drill_rpo_target_seconds": s["rpo_target_s"],
        "drill_rpo_bound_seconds": s["rpo_bound_s"],
        "drill_rpo_is_lower_bound": None
        if s["rpo_s"] is None
        else float(bool(s.get("rpo_is_lower_bound"))),
    }


def drill_gauges(records: Sequence[DrillRecord]) -> list[Metric]:
    """The gauges of this run's drills (a value not measured is left out, not 0)."""
    families = {name: GaugeMetricFamily(name, doc, labels=LABELS) for name, doc in DRILL_GAUGES}
    for rec in records:
        labels = [rec.drill_id, rec.service or UNKNOWN_SERVICE]
        for name, value in _drill_values(rec).items():
            if value is not None:
                families[name].add_metric(labels, value)
    return list(families.values())


@dataclass
class _ServiceTally:
    total: float = 0.0
    ok: float = 0.0
    last: float = 0.0


def _tally(rows: Iterable[dict[str, Any]]) -> dict[str, _ServiceTally]:
    per: dict[str, _ServiceTally] = {}
    for row in rows:
        if is_self_check(row):
            continue
        t = per.setdefault(str(row.get("service") or UNKNOWN_SERVICE), _ServiceTally())
        t.total += 1
        verdict = row.get("verdict")
        t.ok += verdict == PASS
        if verdict in (PASS, FAIL):
            t.last = max(t.last, float(row["started"]))
    return per


def service_metrics(history_rows: Iterable[dict[str, Any]]) -> list[Metric]:
    """Per-service restore-test counters and the latest test, over the whole history."""
    total = CounterMetricFamily(
        "backup_restore_test",
        "Restore tests (drills) attempted per service, NOT RUN included, over the history",
        labels=["service"],
    )
    ok = CounterMetricFamily(
        "backup_restore_test_success",
        "Restore tests (drills) that passed per service, over the history",
        labels=["service"],
    )
    last = GaugeMetricFamily(
        "last_restore_test_timestamp_seconds",
        "Start of the latest drill per service that actually ran (PASS or FAIL)",
        labels=["service"],
    )
    for svc, t in sorted(_tally(history_rows).items()):
        total.add_metric([svc], t.total)
        ok.add_metric([svc], t.ok)
        if t.last:
            last.add_metric([svc], t.last)
    return [total, ok, last]


class DrillCollector(Collector):
    """Per-drill gauges of this run, per-service counters over the history."""

    def __init__(self, records: Sequence[DrillRecord], history_rows: Sequence[dict[str, Any]]):
        self.records = list(records)
        self.rows = list(history_rows)

    def collect(self) -> Iterable[Metric]:
        yield from drill_gauges(self.records)
        yield from service_metrics(self.rows)


def render(records: Sequence[DrillRecord], history_rows: Sequence[dict[str, Any]]) -> str:
    """The textfile's text (written atomically by the caller). *history_rows* must have
    passed :func:`reports.rows.row_problem`, as :func:`reports.history.read_history`'s do."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(DrillCollector(records, history_rows))
    return generate_latest(registry).decode("utf-8")
