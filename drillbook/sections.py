"""Multi-service drills: one section per service, judged against its own targets.

A full-system or region drill (runbooks/full-system.md) recovers several services in
one incident. Its record keeps, in ``DrillRecord.sections`` (plain JSON data):

- ``services``: one :class:`ServiceSection` per service (its drills.toml target, when its
  recovery started, when it was ready again, its RTO and RPO from its own ledger);
- ``application``: :class:`drillbook.appclient.AppMeasurement` (downtime at the users);
- ``critical_path``: :func:`critical_path` (which service held the recovery back, how
  long);
- ``replication``: lag at t0 and the runbook's alert rule (:func:`lag_alert`);
- ``split_brain``: writes the old primary accepted after a partition.

:func:`findings` is the verdict's rule for them: a service that misses its own RTO or
RPO fails the drill with the service named; so does an application RTO over the
tightest target of the services it needs, and a split-brain write not preserved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from drillbook.record import DrillRecord, Finding

LAG_ALERT_FRACTION = 0.6  # runbooks: "Replication lag > 3 minutes (60 % of RPO)"


@dataclass
class ServiceSection:
    """One service of a multi-service drill; times are seconds from t0."""

    name: str  # the service in drills.toml
    kind: str
    role: str  # what the application keeps there
    procedure: str = ""
    target: dict[str, Any] | None = None  # ServiceTarget.to_dict()
    start_s: float | None = None  # its recovery began
    ready_s: float | None = None  # healthy and its own checks passed: its RTO
    ledger: str | None = None  # the ledger in DrillRecord.ledgers giving its RPO
    rpo_s: float | None = None
    lost: int = 0
    rpo_note: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def rto_s(self) -> float | None:
        return self.ready_s

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rto_s": self.rto_s}


def lag_alert(
    lag_s: float | None,
    rpo_s: float | None,
    *,
    fraction: float = LAG_ALERT_FRACTION,
    synchronous: bool = False,
) -> dict[str, Any]:
    """The runbook's alert rule, evaluated: fires when the lag exceeds *fraction* of RPO.

    With synchronous replication an acknowledged commit is on the standby already: the
    lag is replay delay, not data at risk, and the rule does not apply (it would fire on
    any lag against an RPO of 0)."""
    threshold = None if rpo_s is None else fraction * rpo_s
    firing = lag_s is not None and threshold is not None and lag_s > threshold
    return {
        "rule": f"replication lag > {fraction:.0%} of RPO",
        "lag_s": lag_s,
        "rpo_s": rpo_s,
        "threshold_s": threshold,
        "applies": not synchronous,
        "firing": firing and not synchronous,
        "note": "synchronous: no acknowledged write waits on this lag" if synchronous else "",
    }


def critical_path(services: Iterable[Mapping[str, Any]], app_rto_s: float | None) -> dict[str, Any]:
    """The chain of blockers from t0 to the application's recovery.

    Services ordered by ready time; each one alone held the recovery back from the
    previous one's ready instant (t0 for the first) to its own. The tail is the
    application itself (re-pointed, journeys back). ``critical`` is the longest link.
    """
    ready = sorted(
        ((str(s["name"]), float(s["ready_s"])) for s in services if s.get("ready_s") is not None),
        key=lambda x: x[1],
    )
    links: list[dict[str, Any]] = []
    prev = 0.0
    for name, at in ready:
        links.append({"service": name, "from_s": prev, "to_s": at, "held_s": max(0.0, at - prev)})
        prev = max(prev, at)
    if app_rto_s is not None and app_rto_s > prev:
        links.append(
            {
                "service": "application",
                "from_s": prev,
                "to_s": app_rto_s,
                "held_s": app_rto_s - prev,
            }
        )
    critical = max(links, key=lambda link: link["held_s"], default=None)
    total = app_rto_s if app_rto_s is not None else prev
    return {
        "links": links,
        "critical": critical["service"] if critical else None,
        "held_back_s": critical["held_s"] if critical else None,
        "share": (critical["held_s"] / total) if critical and total else None,
        "last_ready": ready[-1][0] if ready else None,
    }


def _fmt(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _service_findings(section: Mapping[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    target = section.get("target") or {}
    name = section.get("name")
    rto, rto_target = section.get("rto_s"), target.get("rto")
    if rto is not None and rto_target is not None and rto > rto_target:
        out.append(
            Finding(
                "RTO_EXCEEDED",
                f"service {name}: RTO {_fmt(rto)} (ready − t0) > its target {_fmt(rto_target)}",
            )
        )
    rpo, rpo_target = section.get("rpo_s"), target.get("rpo")
    # As for a single service: a loss is judged only when an acknowledged write was lost.
    if rpo is not None and rpo_target is not None and rpo > rpo_target and section.get("lost"):
        out.append(
            Finding(
                "RPO_EXCEEDED",
                f"service {name}: RPO {_fmt(rpo)} > its target {_fmt(rpo_target)} "
                f"({section.get('lost')} acknowledged writes lost; ledger {section.get('ledger')})",
            )
        )
    return out


def _app_findings(app: Mapping[str, Any], services: list[Mapping[str, Any]]) -> list[Finding]:
    targets = [(s["target"]["rto"], s["name"]) for s in services if (s.get("target") or {})]
    if not app or not targets:
        return []
    limit, tightest = min(targets)
    if not app.get("recovered"):
        return [
            Finding(
                "RTO_EXCEEDED",
                f"application: journey {app.get('recovered_last')} still failing when the "
                "drill ended (the users never got the service back)",
            )
        ]
    rto = app.get("rto_s")
    if rto is not None and rto > limit:
        return [
            Finding(
                "RTO_EXCEEDED",
                f"application: RTO {_fmt(rto)} (t0 → journeys back) > {_fmt(limit)}, the "
                f"tightest target of the services it needs ({tightest})",
            )
        ]
    return []


def findings(record: DrillRecord) -> list[Finding]:
    """Per-service, application and split-brain findings of a multi-service record."""
    data = record.sections or {}
    services = list(data.get("services") or [])
    out: list[Finding] = []
    for section in services:
        out += _service_findings(section)
    out += _app_findings(data.get("application") or {}, services)
    split = data.get("split_brain") or {}
    if split.get("accepted") and not split.get("preserved"):
        out.append(
            Finding(
                "DATA_LOST",
                f"split-brain: {split['accepted']} writes the old primary accepted after the "
                "partition were not preserved before it was fenced",
            )
        )
    return out
