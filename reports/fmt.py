"""How the artefacts write numbers and times: one formatter each, shared by every writer.

Every formatter takes ``None`` (not measured) and says ``n/a``: a report states that a
number is missing instead of printing a reassuring ``0``. Non-finite values (a corrupt
input) read ``n/a`` too rather than crashing the report that would show them.
"""

from __future__ import annotations

import math
import traceback
from datetime import UTC, datetime

from drillbook.targets import format_duration


def _finite(value: float | None) -> bool:
    return value is not None and not isinstance(value, bool) and math.isfinite(value)


def fmt_s(seconds: float | None) -> str:
    """A measured duration: ``12.6 ms``, ``1.670 s``, ``5m12s (312 s)``; ``n/a`` if None."""
    if seconds is None or not _finite(seconds):
        return "n/a"
    if seconds == 0:
        return "0 s"
    if abs(seconds) < 1:
        return f"{seconds * 1000:.1f} ms"
    if abs(seconds) < 60:
        return f"{seconds:.3f} s"
    sign = "−" if seconds < 0 else ""
    return f"{sign}{format_duration(round(abs(seconds)))} ({seconds:.0f} s)"


def fmt_target(seconds: float | None) -> str:
    """A target as the team wrote it in drills.toml: ``15m``, ``0``, ``1s``."""
    if seconds is None or not _finite(seconds):
        return "n/a"
    return format_duration(seconds) if seconds > 0 else "0"


def fmt_bytes(n: float | None) -> str:
    """Decimal units (a disk's size, a throughput): ``200 B``, ``1.5 MB``."""
    if n is None or not _finite(n):
        return "n/a"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _utc(epoch: float | None) -> datetime | None:
    if epoch is None or not _finite(epoch):
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):  # outside what a datetime holds
        return None


def iso(epoch: float | None, timespec: str = "seconds") -> str:
    """UTC ISO 8601 with a ``Z``: ``2026-11-02T10:00:00Z``."""
    when = _utc(epoch)
    if when is None:
        return "n/a"
    return when.isoformat(timespec=timespec).replace("+00:00", "Z")


def day(epoch: float | None) -> str:
    when = _utc(epoch)
    return "n/a" if when is None else when.strftime("%Y-%m-%d")


def pct(part: float, whole: float) -> str:
    return "n/a" if not whole else f"{100.0 * part / whole:.0f} %"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def one_line(exc: BaseException, most: int = 300) -> str:
    """An exception as one short line: ``NotADirectoryError: [Errno 20] ...``."""
    text = " ".join("".join(traceback.format_exception_only(type(exc), exc)).split())
    return text if len(text) <= most else text[: most - 3] + "..."
