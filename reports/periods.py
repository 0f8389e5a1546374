"""The periods a summary covers: a calendar month, a calendar quarter, the last N days.

All in UTC, start inclusive and end exclusive, so a drill at midnight belongs to exactly
one month. Each period knows the one before it (for "average RTO vs previous period").
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Period:
    label: str  # "November 2026", "2026 Q4", "last 90 days"
    slug: str  # "2026-11", "2026-Q4", "last-90d-20261123"
    start: float
    end: float  # exclusive

    def contains(self, epoch: float | None) -> bool:
        return epoch is not None and self.start <= epoch < self.end

    def previous(self) -> Period:
        start = datetime.fromtimestamp(self.start, UTC)
        if re.fullmatch(r"\d{4}-\d{2}", self.slug):
            return month((start - timedelta(days=1)).strftime("%Y-%m"))
        if re.fullmatch(r"\d{4}-Q\d", self.slug):
            prev = start - timedelta(days=1)
            return quarter(f"{prev.year}-Q{(prev.month - 1) // 3 + 1}")
        length = self.end - self.start
        return Period(
            f"previous {self.label}", f"prev-{self.slug}", self.start - length, self.start
        )


#: Years a history can hold (Unix times, and a period before each one).
YEARS = range(1971, 9999)


def _ts(dt: datetime) -> float:
    return dt.replace(tzinfo=UTC).timestamp()


def _year(text: str, option: str) -> int:
    year = int(text)
    if year not in YEARS:
        raise ValueError(f"--{option} {text}: the year must be from {YEARS[0]} to {YEARS[-1]}")
    return year


def month(text: str | None = None, now: datetime | None = None) -> Period:
    """``2026-11`` (default: the current month, UTC)."""
    now = now or datetime.now(UTC)
    if text in (None, "", "current"):
        year, mon = now.year, now.month
    else:
        m = re.fullmatch(r"(\d{4})-(\d{1,2})", str(text).strip(), re.ASCII)
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValueError(f"--month {str(text)[:40]!r}: expected YYYY-MM, e.g. 2026-11")
        year, mon = _year(m.group(1), "month"), int(m.group(2))
    start = datetime(year, mon, 1)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1)
    return Period(f"{calendar.month_name[mon]} {year}", f"{year}-{mon:02d}", _ts(start), _ts(end))


def quarter(text: str | None = None, now: datetime | None = None) -> Period:
    """``2026-Q4`` or ``2026Q4`` (default: the current quarter, UTC)."""
    now = now or datetime.now(UTC)
    if text in (None, "", "current"):
        year, q = now.year, (now.month - 1) // 3 + 1
    else:
        m = re.fullmatch(r"(\d{4})-?[Qq]([1-4])", str(text).strip(), re.ASCII)
        if not m:
            raise ValueError(f"--quarter {str(text)[:40]!r}: expected YYYY-Qn, e.g. 2026-Q4")
        year, q = _year(m.group(1), "quarter"), int(m.group(2))
    start = datetime(year, 3 * (q - 1) + 1, 1)
    end = datetime(year + (q == 4), (3 * q) % 12 + 1, 1)
    return Period(f"{year} Q{q}", f"{year}-Q{q}", _ts(start), _ts(end))


#: --days beyond this reaches before the Unix epoch of any history.
MAX_DAYS = 36500


def last_days(days: int, now: datetime | None = None) -> Period:
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"--days {days}: expected a number of days from 1 to {MAX_DAYS}")
    now = now or datetime.now(UTC)
    end = now.timestamp() + 1
    return Period(
        f"last {days} days" if days != 1 else "last day",
        f"last-{days}d-{now.strftime('%Y%m%d')}",
        end - days * 86400.0,
        end,
    )
