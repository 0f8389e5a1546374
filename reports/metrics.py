"""Prometheus textfile (node_exporter's textfile collector) with the drill results.

Metric names are those the alerts of ``../shared/runbooks/003_6f8b148609103d28.md``
already use (``last_restore_test_timestamp_seconds``,
``backup_restore_test_success_total / backup_restore_test_total``) plus per-drill
gauges. Counters are computed from the whole history (this run included), so they only
ever grow while the history file is kept, as a Prometheus counter must.

Definitions:

- ``backup_restore_test_total{service}``: drills attempted for the service, NOT RUN
  included (a restore test that could not run is an attempt that proved nothing).
- ``backup_restore_test_success_total{service}``: drills that PASSed.
- ``last_restore_test_timestamp_seconds{service}``: start of the latest drill that
  actually ran (PASS or FAIL); a NOT RUN drill tested no restore, so it does not reset
  the ``RestoreTestOverdue`` alert.
- ``drill_success{drill,service}``: 1 for PASS, 0 for FAIL and for NOT RUN.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from drillbook.record import DrillRecord, Verdict
from drillbook.reports.model import verdict_of

UNKNOWN_SERVICE = "unknown"


class DrillCollector(Collector):
    """Per-drill gauges of this run, per-service counters over the history."""

    def __init__(self, records: Sequence[DrillRecord], history_rows: Sequence[dict[str, Any]]):
        self.records = list(records)
        self.rows = list(history_rows)

    def collect(self) -> Iterable[Metric]:
        labels = ["drill", "service"]
        rto = GaugeMetricFamily(
            "drill_rto_seconds",
            "Measured RTO of the drill's last run (validated - t0)",
            labels=labels,
        )
        rpo = GaugeMetricFamily(
            "drill_rpo_seconds",
            "Observed RPO of the drill's last run (worst ledger; resolution = write cadence)",
            labels=labels,
        )
        success = GaugeMetricFamily(
            "drill_success",
            "1 if the drill's last run PASSed, 0 if it FAILed or was NOT RUN",
            labels=labels,
        )
        not_run = GaugeMetricFamily(
            "drill_not_run", "1 if the drill's last run could not run (NOT RUN)", labels=labels
        )
        last = GaugeMetricFamily(
            "drill_last_run_timestamp_seconds",
            "Start of the drill's last run (Unix time)",
            labels=labels,
        )
        rto_target = GaugeMetricFamily(
            "drill_rto_target_seconds",
            "RTO target of the drill's service (drills.toml)",
            labels=labels,
        )
        rpo_target = GaugeMetricFamily(
            "drill_rpo_target_seconds",
            "RPO target of the drill's service (drills.toml)",
            labels=labels,
        )
        rpo_bound = GaugeMetricFamily(
            "drill_rpo_bound_seconds",
            "Worst-case data loss the service's declared backup method allows",
            labels=labels,
        )
        for rec in self.records:
            lv = [rec.drill_id, rec.service or UNKNOWN_SERVICE]
            s = rec.summary()
            verdict = verdict_of(rec)
            if s["rto_s"] is not None:
                rto.add_metric(lv, s["rto_s"])
            if s["rpo_s"] is not None:
                rpo.add_metric(lv, s["rpo_s"])
            success.add_metric(lv, 1.0 if verdict == Verdict.PASS.value else 0.0)
            not_run.add_metric(lv, 1.0 if verdict == Verdict.NOT_RUN.value else 0.0)
            last.add_metric(lv, rec.origin_wall)
            for fam, key in (
                (rto_target, "rto_target_s"),
                (rpo_target, "rpo_target_s"),
                (rpo_bound, "rpo_bound_s"),
            ):
                if s[key] is not None:
                    fam.add_metric(lv, s[key])
        yield from (rto, rpo, success, not_run, last, rto_target, rpo_target, rpo_bound)

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
        last_test = GaugeMetricFamily(
            "last_restore_test_timestamp_seconds",
            "Start of the latest drill per service that actually ran (PASS or FAIL)",
            labels=["service"],
        )
        per: dict[str, dict[str, float]] = {}
        for row in self.rows:
            svc = str(row.get("service") or UNKNOWN_SERVICE)
            d = per.setdefault(svc, {"total": 0.0, "ok": 0.0, "last": 0.0})
            d["total"] += 1
            row_verdict = row.get("verdict")
            if row_verdict == Verdict.PASS.value:
                d["ok"] += 1
            if row_verdict in (Verdict.PASS.value, Verdict.FAIL.value):
                d["last"] = max(d["last"], float(row.get("started") or 0.0))
        for svc, d in sorted(per.items()):
            total.add_metric([svc], d["total"])
            ok.add_metric([svc], d["ok"])
            if d["last"]:
                last_test.add_metric([svc], d["last"])
        yield from (total, ok, last_test)


def registry_for(
    records: Sequence[DrillRecord], history_rows: Sequence[dict[str, Any]]
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(DrillCollector(records, history_rows))
    return registry


def render(records: Sequence[DrillRecord], history_rows: Sequence[dict[str, Any]]) -> str:
    return generate_latest(registry_for(records, history_rows)).decode("utf-8")


def write_textfile(
    path: Path, records: Sequence[DrillRecord], history_rows: Sequence[dict[str, Any]]
) -> Path:
    """Write the textfile atomically (prometheus_client writes a temp file, then renames)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry_for(records, history_rows))
    return path
