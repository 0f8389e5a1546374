"""The structure reference: one sorted line per object of the restored catalog.

A backup that restores without an error can still lack a table (excluded by a changed
``pg_dump -T``, a schema not dumped, a migration that dropped it). A committed,
diffable listing of what the restored database contains (``drillbook verify
--write-reference FILE``) turns "it restored" into "it restored what we had": a later
restore that lacks or adds objects is a finding with the lines that differ.

Lines are ``<kind> <qualified name> [<detail>]``, sorted and unique; ``#`` starts a
comment (the header says where and when the file was written). Only what the
backup controls goes in: no OIDs, sizes, row counts, ownership or server versions, so
the file stays stable from one night to the next and across server majors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

HEADER = "# drillbook structure reference: one line per object; `#` lines are ignored"
SHOW = 8  # lines quoted in a finding, per side
# Kinds whose lines a finding quotes first: a missing table before its columns.
_PARTS = ("column", "constraint", "index", "trigger", "policy")


def _salient(lines: list[str]) -> list[str]:
    return sorted(lines, key=lambda line: (line.split(" ", 1)[0] in _PARTS, line))


def reference_lines(rows: Iterable[tuple[str, str, str]]) -> list[str]:
    """Sorted, unique lines from (kind, name, detail) rows; whitespace folded."""
    lines = set()
    for kind, name, detail in rows:
        text = " ".join(f"{kind} {name} {detail or ''}".split())
        lines.add(text)
    return sorted(lines)


def render_reference(lines: Iterable[str], about: dict[str, Any] | None = None) -> str:
    """The file's text: a commented header, then the lines."""
    body = sorted(set(lines))
    head = [HEADER]
    for key, value in (about or {}).items():
        head.append(f"# {key}: {' '.join(str(value).split())}")
    head.append(f"# objects: {len(body)}")
    return "\n".join(head + body) + "\n"


def parse_reference(text: str) -> list[str]:
    """The object lines of a reference file (comments and blank lines dropped)."""
    out = set()
    for line in text.splitlines():
        stripped = " ".join(line.split())
        if stripped and not stripped.startswith("#"):
            out.add(stripped)
    return sorted(out)


@dataclass
class ReferenceDiff:
    missing: list[str] = field(default_factory=list)  # in the reference, not restored
    extra: list[str] = field(default_factory=list)  # restored, not in the reference
    expected: int = 0
    actual: int = 0

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra

    def summary(self) -> str:
        if self.ok:
            return f"{self.actual} objects, identical to the reference"
        parts = []
        for lines, what in ((self.missing, "missing"), (self.extra, "not in the reference")):
            if lines:
                shown = "; ".join(_salient(lines)[:SHOW]) + (" ..." if len(lines) > SHOW else "")
                parts.append(f"{len(lines)} {what} ({shown})")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "missing": self.missing,
            "extra": self.extra,
            "expected": self.expected,
            "actual": self.actual,
            "ok": self.ok,
        }


def diff_reference(expected: Iterable[str], actual: Iterable[str]) -> ReferenceDiff:
    want, have = set(expected), set(actual)
    return ReferenceDiff(
        missing=sorted(want - have),
        extra=sorted(have - want),
        expected=len(want),
        actual=len(have),
    )
