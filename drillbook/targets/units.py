"""Durations and sizes as people write them in ``drills.toml``, with sane ranges.

Only ASCII digits count: Python's ``\\d`` and ``float()`` read "١٥m" and "１５m" as 15
minutes, which no reviewer of the file would see. Values are bounded so that every
number the loader accepts fits where a drill puts it: a duration becomes a SIGALRM
timer (``setitimer`` overflows past ~292 years) and is added to wall-clock timestamps
(``datetime`` ends in year 9999); a size is multiplied and printed in JSON (Python
refuses to print integers of more than 4,300 digits). The limits are far above any real
target and far below those overflows.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from drillbook.targets.errors import TargetsError, show, toml_type

#: Longest duration accepted (366 days): no RTO, RPO or backup schedule is longer, and a
#: drill's deadline timer and timestamps stay far inside what they can hold.
MAX_DURATION_SECONDS = 366 * 86400.0
#: Largest size accepted (1 EB = 10**18 bytes; 1,000,000 TB).
MAX_SIZE_BYTES = 10**18

DURATION_ALLOWED = (
    "a duration such as 0, 500ms, 90s, 1.5s, 15m, 1h30m, 1d (at most 366d), or a number of seconds"
)
SIZE_ALLOWED = (
    "a size such as 512MB, 40GB, 1.5TB, 8GiB (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; at most 1EB)"
)

_DURATION_UNITS: dict[str, float] = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_UNIT_RANK = {unit: rank for rank, unit in enumerate(_DURATION_UNITS)}
# "ms" must be tried before "m".
_DURATION_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)(ms|d|h|m|s)")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_ZERO = re.compile(r"0+(?:\.0+)?")
_SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)")


def _duration_error(problem: str) -> TargetsError:
    return TargetsError(problem, allowed=DURATION_ALLOWED)


def _in_range(seconds: float, value: object) -> float:
    if not math.isfinite(seconds):
        raise _duration_error(f"{show(value)} is not a finite number")
    if seconds < 0:
        raise _duration_error(f"negative duration {show(value)}")
    if seconds > MAX_DURATION_SECONDS:
        raise _duration_error(f"duration {show(value)} is too long")
    return seconds


def _number_seconds(value: int | float) -> float:
    try:
        seconds = float(value)
    except OverflowError:
        raise _duration_error(f"duration {show(value)} is too long") from None
    return _in_range(seconds, value)


def _non_ascii(text: str, what: str, allowed: str) -> None:
    if not text.isascii():
        raise TargetsError(
            f"{what} {show(text)} has non-ASCII characters (digits must be 0-9)", allowed=allowed
        )


def parse_duration(text: object) -> float:
    """Seconds in ``text``: ``0``, ``500ms``, ``90s``, ``1.5s``, ``15m``, ``1h30m10s``, ``1d``.

    Components go largest unit first, each unit at most once. A bare TOML number means
    seconds. A bare number *string* other than 0 is refused: "90" could mean seconds or
    minutes depending on who wrote it. At most :data:`MAX_DURATION_SECONDS`.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise _duration_error(f"expected a duration, got {toml_type(text)} {show(text)}")
    if not isinstance(text, str):
        return _number_seconds(text)
    stripped = text.strip()
    if not stripped:
        raise _duration_error("empty duration")
    _non_ascii(stripped, "duration", DURATION_ALLOWED)
    if stripped.startswith("-"):
        raise _duration_error(f"negative duration {show(text)}")
    if _ZERO.fullmatch(stripped):
        return 0.0
    if _NUMBER.fullmatch(stripped):
        n = stripped if len(stripped) <= 20 else stripped[:17] + "..."
        raise _duration_error(f"duration {show(text)} has no unit (write {n}s or {n}m)")
    return _in_range(_sum_parts(stripped, text), text)


def _sum_parts(stripped: str, text: str) -> float:
    total = 0.0
    pos = 0
    last_rank = -1
    while pos < len(stripped):
        match = _DURATION_PART.match(stripped, pos)
        if match is None:
            raise _duration_error(f"cannot read duration {show(text)}")
        number, unit = match.groups()
        rank = _UNIT_RANK[unit]
        if rank <= last_rank:
            raise _duration_error(
                f"duration {show(text)}: units must appear once each, largest first (1h30m)"
            )
        last_rank = rank
        total += float(number) * _DURATION_UNITS[unit]
        pos = match.end()
    return total


def format_duration(seconds: float) -> str:
    """Human form that :func:`parse_duration` reads back: ``0``, ``120ms``, ``2.5s``, ``1h30m``.

    Rounded to the microsecond. Any finite value >= 0 formats (a measured time is not
    bounded like a target is).
    """
    if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"cannot format duration {seconds!r}: need a finite number >= 0")
    product = seconds * 1_000_000
    micros = round(product) if math.isfinite(product) else int(Decimal(seconds) * 1_000_000)
    if micros == 0:
        return "0"
    whole, frac = divmod(micros, 1_000_000)
    if whole == 0:
        ms, us = divmod(frac, 1000)
        return f"{ms}ms" if us == 0 else f"{ms}.{us:03d}".rstrip("0") + "ms"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    if frac:
        parts.append(f"{whole}.{frac:06d}".rstrip("0") + "s")
    elif whole:
        parts.append(f"{whole}s")
    return "".join(parts)


def parse_size(text: object) -> int:
    """Bytes in ``text``: KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB powers of 1024.

    A bare TOML integer means bytes. At most :data:`MAX_SIZE_BYTES`.
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise TargetsError(
            f"expected a size, got {toml_type(text)} {show(text)}", allowed=SIZE_ALLOWED
        )
    if isinstance(text, int):
        return _size_in_range(text, text)
    stripped = text.strip()
    _non_ascii(stripped, "size", SIZE_ALLOWED)
    if stripped.startswith("-"):
        raise TargetsError(f"negative size {show(text)}", allowed=SIZE_ALLOWED)
    match = _SIZE.fullmatch(stripped)
    if match is None or match.group(2).lower() not in _SIZE_UNITS:
        raise TargetsError(f"cannot read size {show(text)}", allowed=SIZE_ALLOWED)
    number, unit = match.groups()
    if len(number) > 40:  # Decimal would read it; nothing that long is a real size
        raise TargetsError(f"size {show(text)} is too large", allowed=SIZE_ALLOWED)
    value = Decimal(number) * _SIZE_UNITS[unit.lower()]
    if value != value.to_integral_value():
        raise TargetsError(
            f"size {show(text)} is not a whole number of bytes", allowed=SIZE_ALLOWED
        )
    return _size_in_range(int(value), text)


def _size_in_range(size: int, value: object) -> int:
    if size < 0:
        raise TargetsError(f"negative size {show(value)}", allowed=SIZE_ALLOWED)
    if size > MAX_SIZE_BYTES:
        raise TargetsError(f"size {show(value)} is too large", allowed=SIZE_ALLOWED)
    return size
