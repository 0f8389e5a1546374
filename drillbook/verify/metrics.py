"""Prometheus textfile of the verifications (node_exporter's textfile collector).

Names are the runbooks' (runbooks/full-system.md: ``last_restore_test_timestamp_seconds``
and ``backup_restore_test_success_total / backup_restore_test_total``; 000_… and 004_…
ask for the backup's age) with ``check="verify"``, so a restore test of a real backup
is told apart from a drill's in the same Prometheus:

- ``backup_age_seconds{service}``: age of the newest backup at check time (this run);
- ``restore_duration_seconds{service}``: the restore alone; download and validation
  are ``verify_download_seconds`` / ``verify_validation_seconds``;
- ``backup_size_bytes``, ``restore_throughput_bytes_per_second``;
- ``verify_success{service}`` 1 for PASS, 0 for FAIL and NOT VERIFIED;
  ``verify_not_verified`` 1 when it could not run;
- counters over the verify history (this run included): ``backup_restore_test_total``
  (NOT VERIFIED included: an attempt that proved nothing) and
  ``backup_restore_test_success_total``; ``last_restore_test_timestamp_seconds`` is the
  start of the newest verification that actually ran (PASS or FAIL).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from drillbook.verify.drift import VERIFY_PREFIX
from drillbook.verify.model import PASS, VerifyResult

CHECK = "verify"
_GAUGES = (
    ("backup_age_seconds", "Age of the newest backup at check time", "backup_age_s"),
    ("restore_duration_seconds", "Restore of the newest backup into a sandbox", "restore_s"),
    ("verify_download_seconds", "Download (or one read) of the newest backup", "download_s"),
    ("verify_validation_seconds", "Validation of the restored data", "validate_s"),
    ("restore_throughput_bytes_per_second", "Backup bytes restored per second", "throughput"),
)


class VerifyCollector(Collector):
    def __init__(self, results: Sequence[VerifyResult], rows: Sequence[dict[str, Any]]) -> None:
        self.results, self.rows = list(results), list(rows)

    def _gauges(self) -> Iterable[Metric]:
        labels = ["service", "check"]
        for name, doc, attr in _GAUGES:
            fam = GaugeMetricFamily(name, doc, labels=labels)
            for r in self.results:
                value = getattr(r, attr)
                if value is not None:
                    fam.add_metric([r.service, CHECK], float(value))
            yield fam
        size = GaugeMetricFamily("backup_size_bytes", "Size of the newest backup", labels=labels)
        ok = GaugeMetricFamily("verify_success", "1 if the verification PASSed", labels=labels)
        nv = GaugeMetricFamily("verify_not_verified", "1 if it could not run", labels=labels)
        for r in self.results:
            if r.backup is not None and r.backup.size is not None:
                size.add_metric([r.service, CHECK], float(r.backup.size))
            ok.add_metric([r.service, CHECK], 1.0 if r.outcome == PASS else 0.0)
            nv.add_metric([r.service, CHECK], 1.0 if r.not_verified_reason else 0.0)
        yield from (size, ok, nv)

    def collect(self) -> Iterable[Metric]:
        yield from self._gauges()
        labels = ["service", "check"]
        total = CounterMetricFamily(
            "backup_restore_test", "Restore tests of real backups attempted", labels=labels
        )
        ok = CounterMetricFamily(
            "backup_restore_test_success",
            "Restore tests of real backups that passed",
            labels=labels,
        )
        last = GaugeMetricFamily(
            "last_restore_test_timestamp_seconds",
            "Start of the newest restore test of a real backup that ran (PASS or FAIL)",
            labels=labels,
        )
        per: dict[str, list[float]] = {}
        for row in self.rows:
            drill_id = str(row.get("drill_id") or "")
            if not drill_id.startswith(VERIFY_PREFIX):
                continue
            d = per.setdefault(drill_id[len(VERIFY_PREFIX) :], [0.0, 0.0, 0.0])
            d[0] += 1
            d[1] += row.get("verdict") == PASS
            if row.get("verdict") in ("PASS", "FAIL"):
                d[2] = max(d[2], float(row.get("started") or 0.0))
        for svc, (n, good, when) in sorted(per.items()):
            total.add_metric([svc, CHECK], n)
            ok.add_metric([svc, CHECK], good)
            if when:
                last.add_metric([svc, CHECK], when)
        yield from (total, ok, last)


def render(results: Sequence[VerifyResult], history_rows: Sequence[dict[str, Any]]) -> str:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(VerifyCollector(results, history_rows))
    return generate_latest(registry).decode("utf-8")
