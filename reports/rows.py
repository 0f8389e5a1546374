"""What a history line must hold to be counted, checked before anything reads it.

The history is a file people keep for years, copy between machines and sometimes edit
by hand: a line may be torn by a crash, written by another tool, or say
``"started": "yesterday"``. Every reader (trends, metrics counters, the quarterly
summary) trusts only rows that passed :func:`row_problem`; a row that did not is
reported by line number and skipped, and the others are still counted. Keys a reader
does not use are not checked, so a newer writer's additions stay readable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from drillbook.reports.model import PASS, VERDICTS

SCHEMA_PREFIX = "drillbook.history/"
#: A row's times must fit a datetime (years 1970 to 9999).
MAX_EPOCH = 253402300799.0
#: Durations and targets: far more than any drill or target (300 years), still finite.
MAX_SECONDS = 1e10

#: Optional numbers (None allowed): durations and targets in seconds.
SECONDS_KEYS = (
    "rto_s",
    "rto_target_s",
    "rpo_s",
    "rpo_target_s",
    "rpo_bound_s",
    "rpo_resolution_s",
    "time_to_first_healthy_s",
)
#: Optional times (None allowed), Unix epoch seconds.
EPOCH_KEYS = ("recorded_at", "t0")
#: Optional text (None allowed).
TEXT_KEYS = ("run_id", "name", "service", "scenario", "tier", "backend", "not_run_reason")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_number(row: Mapping[str, Any], key: str, upper: float) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    if not _number(value) or not 0 <= value <= upper:
        return f"{key}: expected a number from 0 to {upper:.0f}, got {_short(value)}"
    return None


def _check_findings(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, list):
        return f"findings: expected a list, got {_short(value)}"
    for i, f in enumerate(value):
        if not isinstance(f, Mapping) or not isinstance(f.get("code"), str):
            return f"findings[{i}]: expected {{'code': str, ...}}, got {_short(f)}"
        for key in ("message", "severity"):
            if f.get(key) is not None and not isinstance(f[key], str):
                return f"findings[{i}].{key}: expected text, got {_short(f[key])}"
    return None


def _check_identity(row: Mapping[str, Any]) -> str | None:
    if not str(row.get("schema", "")).startswith(SCHEMA_PREFIX):
        return f"not a drillbook history row (schema {_short(row.get('schema'))})"
    for key in ("drill_id", "started", "verdict"):
        if key not in row:
            return f"missing {key!r}"
    if not isinstance(row["drill_id"], str) or not row["drill_id"]:
        return f"drill_id: expected text, got {_short(row['drill_id'])}"
    if row["verdict"] not in VERDICTS:
        return f"verdict: expected one of {', '.join(VERDICTS)}, got {_short(row['verdict'])}"
    started = row["started"]
    if not _number(started) or not 0 < started <= MAX_EPOCH:
        return f"started: expected a Unix time in seconds, got {_short(started)}"
    return None


def row_problem(row: Any) -> str | None:
    """Why *row* cannot be counted, or None when every key a reader uses is sound."""
    if not isinstance(row, Mapping):
        return f"expected a JSON object, got {type(row).__name__}"
    problem = _check_identity(row)
    for key in SECONDS_KEYS:
        problem = problem or _check_number(row, key, MAX_SECONDS)
    for key in EPOCH_KEYS:
        problem = problem or _check_number(row, key, MAX_EPOCH)
    for key in TEXT_KEYS:
        if problem is None and row.get(key) is not None and not isinstance(row[key], str):
            problem = f"{key}: expected text, got {_short(row[key])}"
    lower = row.get("rpo_is_lower_bound")
    if problem is None and lower is not None and not isinstance(lower, bool):
        problem = f"rpo_is_lower_bound: expected true or false, got {_short(lower)}"
    expected = row.get("expected_fail")
    codes_ok = isinstance(expected, list) and all(isinstance(c, str) for c in expected)
    if problem is None and expected is not None and not codes_ok:
        problem = f"expected_fail: expected a list of codes, got {_short(expected)}"
    return problem or _check_findings(row.get("findings"))


def is_self_check(row: Mapping[str, Any]) -> bool:
    """A must-fail drill that failed as expected: it tested the harness, not a restore."""
    return row.get("expected_fail") is not None and row.get("verdict") == PASS
