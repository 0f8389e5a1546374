"""RTO projection at production size: fixed overhead + size / measured throughput.

Drills restore small databases; a team's production one is 40 GB. When a restore step
knows how many bytes it moved and the service declares ``production_size``, the record
carries the projected restore time, clearly labelled as a projection (it assumes the
throughput scales linearly, which a report must say).
"""

from __future__ import annotations

from drillbook.record import DrillRecord, Phase, Projection


def project(record: DrillRecord) -> Projection | None:
    """The projected restore time, or None without a production size or a measured step."""
    size = record.target_snapshot.production_size
    rto = record.rto_seconds
    if not size or rto is None:
        return None
    steps = [
        s for s in record.steps if s.phase == Phase.EXECUTION.value and s.throughput and s.duration
    ]
    if not steps:
        return None
    step = max(steps, key=lambda s: s.bytes_processed or 0)
    assert step.throughput is not None and step.duration is not None
    overhead = max(0.0, rto - step.duration)
    return Projection(
        step=step.name,
        measured_bytes=int(step.bytes_processed or 0),
        measured_seconds=step.duration,
        throughput_bytes_per_s=step.throughput,
        fixed_overhead_s=overhead,
        production_size_bytes=size,
        projected_seconds=overhead + size / step.throughput,
        rto_target=record.target_snapshot.rto,
    )
