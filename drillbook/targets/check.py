"""``drillbook check``: the targets file validated, and what each service is held to."""

from __future__ import annotations

from pathlib import Path

from drillbook.targets.errors import TargetsError
from drillbook.targets.loader import load_targets
from drillbook.targets.model import ServiceTarget
from drillbook.targets.units import format_duration

_HEADER = ["service", "kind", "tier", "RTO", "RPO", "RTO clock", "RPO bound", "bound meets RPO"]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _printable(text: str) -> str:
    """A cell on one terminal line: control and other unprintable characters escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _row(svc: ServiceTarget) -> list[str]:
    return [
        svc.name,
        svc.kind,
        _printable(svc.tier) if svc.tier else "-",
        format_duration(svc.rto),
        format_duration(svc.rpo),
        svc.rto_clock,
        "n.a." if svc.rpo_bound is None else format_duration(svc.rpo_bound),
        {True: "yes", False: "NO", None: "n.a."}[svc.bound_meets_target()],
    ]


def check_command(path: str | Path) -> tuple[int, str]:
    """Validate a targets file; the exit code and the text to print.

    Exit codes: 0 valid and every RPO bound meets its target (or does not apply);
    1 the file is invalid (the one-line error is the output); 2 valid, but the declared
    backup methods of some service cannot meet its RPO target, so CI can gate on it.
    """
    try:
        targets = load_targets(path)
    except TargetsError as err:
        return 1, str(err)
    missed = [
        f"{svc.name} (bound {format_duration(svc.rpo_bound)} > RPO {format_duration(svc.rpo)})"
        for svc in targets
        if svc.bound_meets_target() is False and svc.rpo_bound is not None
    ]
    lines = [f"{_printable(targets.source)}: {len(targets)} services, sha256 {targets.digest[:12]}"]
    lines += _table([_HEADER, *(_row(svc) for svc in targets)])
    if missed:
        lines.append(
            "RPO bound exceeds target: "
            + ", ".join(missed)
            + ": the declared backup methods cannot meet these RPO targets"
        )
        return 2, "\n".join(lines)
    lines.append("every RPO bound meets its target (n.a.: data rebuilt from source)")
    return 0, "\n".join(lines)
