"""What every HTML section is given, and the small pieces they all draw with.

A section is a function from a *view* to an HTML fragment (or ``None`` to be left
out). :class:`RunView` is the whole run (for the sections at the top of the report),
:class:`DrillView` one drill (for the sections of each drill). The views are built
once by :mod:`reports.html`; a section reads them and renders, it never measures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Generic, TypeVar

from drillbook.record import DrillRecord
from drillbook.reports.checklist import NA, NO, PARTIAL, TODO, YES, ChecklistItem
from drillbook.reports.fmt import iso
from drillbook.reports.gaps import Gap
from drillbook.reports.model import NOT_RUN, Outcome, RunInfo, anchor
from drillbook.reports.trends import Trend


@dataclass(frozen=True)
class DrillView:
    """One drill as its sections see it."""

    rec: DrillRecord
    outcome: Outcome
    summary: dict[str, Any]  # rec.summary(), computed once
    trend: Trend | None
    gaps: Sequence[Gap]  # this drill's gaps

    @property
    def not_run(self) -> bool:
        return self.outcome.drill_verdict == NOT_RUN


@dataclass(frozen=True)
class RunView:
    """The whole run as the top sections see it."""

    run: RunInfo
    drills: Sequence[DrillView]
    gaps: Sequence[Gap]


V = TypeVar("V", RunView, DrillView)


@dataclass(frozen=True)
class Section(Generic[V]):
    """A titled part of the report: ``render(view)`` gives its HTML, or None to omit it."""

    key: str  # the element id (run sections) or id suffix (drill sections)
    title: str
    render: Callable[[V], str | None]


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def muted(text: str) -> str:
    """Escaped text in the muted colour."""
    return f"<span class='muted'>{e(text)}</span>"


def wiso(rec: DrillRecord, mono: float | None) -> str | None:
    """Wall-clock time of a monotonic instant of *rec*, ISO 8601 UTC with milliseconds."""
    wall = rec.wall(mono)
    return None if wall is None else iso(wall, "milliseconds")


def vclass(verdict: str) -> str:
    return "v-" + verdict.replace(" ", "-")


def badge(verdict: str) -> str:
    return f'<span class="badge {vclass(verdict)}">{e(verdict)}</span>'


def outcome_note(outcome: Outcome, short: bool = False) -> str:
    """A must-fail drill's outcome beside its badge ("failed as expected: CODE")."""
    if not outcome.label:
        return ""
    cls = "expected" if outcome.failed_as_expected else "expected-missed"
    text = outcome.short if short else outcome.label
    return f" <span class='{cls}' title='{e(outcome.label)}'>{e(text)}</span>"


_ICONS = {
    YES: '<path d="M2 7.5l3.2 3.2L12 4" fill="none" stroke="currentColor" stroke-width="2.2"/>',
    NO: '<path d="M3 3l8 8M11 3l-8 8" fill="none" stroke="currentColor" stroke-width="2.2"/>',
    PARTIAL: '<circle cx="7" cy="7" r="5.2" fill="none" stroke="currentColor" stroke-width="1.6"/>'
    '<path d="M7 1.8a5.2 5.2 0 0 1 0 10.4z" fill="currentColor"/>',
    TODO: '<rect x="1.5" y="1.5" width="11" height="11" rx="2" fill="none" '
    'stroke="currentColor" stroke-width="1.5"/>',
    NA: '<path d="M3 7h8" stroke="currentColor" stroke-width="2"/>',
}
_STATUS_TEXT = {YES: "yes", NO: "no", PARTIAL: "partly", TODO: "to do", NA: "n/a"}


def status(st: str) -> str:
    """A checklist status as icon + word (the word, so a black-and-white print reads)."""
    icon = _ICONS.get(st, _ICONS[NA])
    return (
        f'<span class="st st-{e(st)}"><svg viewBox="0 0 14 14" aria-hidden="true">{icon}</svg>'
        f"{e(_STATUS_TEXT.get(st, st))}</span>"
    )


def checklist(items: Sequence[ChecklistItem]) -> str:
    lines = "".join(
        f"<li>{status(i.status)}<span><b>{e(i.label)}</b> — {e(i.evidence)}</span></li>"
        for i in items
    )
    return f"<ul class='check'>{lines}</ul>"


def table(head: Sequence[str], rows: Sequence[str], num: Sequence[int] = ()) -> str:
    """A table of ready-made ``<tr>`` rows; the *num* columns are right-aligned numbers."""
    cells = "".join(
        f"<th class='num'>{e(h)}</th>" if i in num else f"<th>{e(h)}</th>"
        for i, h in enumerate(head)
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def drill_link(rec: DrillRecord) -> str:
    return f"<a href='#{anchor(rec.drill_id)}'>{e(rec.name)}</a>"
