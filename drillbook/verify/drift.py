"""Volume drift and duration trends, against the last good verification in the history.

A nightly dump that restores cleanly but holds 40 % fewer orders than last night's is
a backup of a database that lost data (or of the wrong database): the structure is the
same, so only the volumes tell. Each table's row count is compared with the last run
that PASSed; one that lost more than the tolerance is a finding. Growth is normal and
never one. The same last good run gives the trend of the restore time ("19 % slower
than the last good run"), so a restore creeping towards the RTO shows before it misses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

VERIFY_PREFIX = "verify:"


def drill_id(service: str) -> str:
    """The history id of a service's verification (kept apart from its drills)."""
    return f"{VERIFY_PREFIX}{service}"


def last_good(rows: Iterable[Mapping[str, Any]], service: str) -> Mapping[str, Any] | None:
    """The newest history row of *service*'s verification that PASSed."""
    good = [
        r for r in rows if r.get("drill_id") == drill_id(service) and r.get("verdict") == "PASS"
    ]
    good.sort(key=lambda r: r.get("started") or 0.0)
    return good[-1] if good else None


@dataclass(frozen=True)
class Drift:
    table: str
    before: int
    now: int
    lost_fraction: float

    def sentence(self) -> str:
        if self.now == 0 and self.before:
            return f"{self.table}: {self.before} rows in the last good run, none now"
        return (
            f"{self.table}: {self.now} rows, {self.lost_fraction * 100:.0f} % fewer than the "
            f"{self.before} of the last good run"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def volume_drift(
    before: Mapping[str, int], now: Mapping[str, int], tolerance: float
) -> list[Drift]:
    """Tables that lost more than *tolerance* (a fraction) of their rows; a table with
    rows before and gone now counts as 0 rows."""
    out = []
    for table, was in sorted(before.items()):
        if not was:
            continue
        count = int(now.get(table, 0))
        lost = (was - count) / was
        if lost > tolerance + 1e-12:
            out.append(Drift(table, int(was), count, lost))
    return out


def _day(epoch: float | None) -> str:
    if not epoch:
        return "an earlier run"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def duration_trend(
    previous: Mapping[str, Any] | None, seconds: float | None, what: str = "restore"
) -> str | None:
    """``restore 19 % slower than the last good run (2024-06-01, 12.3 s)``, or None."""
    if previous is None or seconds is None:
        return None
    ref = (previous.get("verify") or {}).get(f"{what}_s")
    if not ref:
        return None
    ref = float(ref)
    change = (seconds - ref) / ref * 100.0
    when = _day(previous.get("started"))
    if abs(change) < 0.5:
        return f"{what} about the same as the last good run ({when}, {ref:.1f} s)"
    word = "slower" if change > 0 else "faster"
    return f"{what} {abs(change):.0f} % {word} than the last good run ({when}, {ref:.1f} s)"
