"""Step budgets from titles: "(5-10 minutes)", "(10 min)", "(if needed, 20-40 minutes)".

The upper end is the budget; a range is a window on the section's clock, a single value
a duration (:class:`~drillbook.runbook.model.Budget`). "if ..." or "optional" marks the
step conditional. A parenthesis that names a time unit but cannot be read ("(10-5
minutes)", "(5 to ten minutes)") is an error, not a step without a budget: a budget
that silently vanished would make ``runbook check`` add up the wrong total.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from drillbook.runbook.model import Budget, RunbookError

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}
_UNIT = "|".join(sorted(_UNITS, key=len, reverse=True))
_NUM = r"\d+(?:\.\d+)?"
_DURATION = re.compile(
    rf"~?\s*(?:(?P<low>{_NUM})\s*(?:-|–|—|to)\s*)?(?P<high>{_NUM})\s*(?P<unit>{_UNIT})\.?",
    re.IGNORECASE,
)
_UNIT_WORD = re.compile(rf"\b(?:{_UNIT})\b", re.IGNORECASE)
_CONDITION = re.compile(r"(?:if|when|only if|unless)\b.*|optional", re.IGNORECASE)
_PAREN = re.compile(r"\(([^()]*)\)")


@dataclass(frozen=True)
class TitleBudget:
    name: str  # the title without its budget and condition
    budget: Budget | None
    condition: str | None


def _duration(part: str, line: int | None) -> Budget | None:
    """A Budget when *part* is a duration, None when it says nothing about time."""
    match = _DURATION.fullmatch(part.strip())
    if match is None:
        if re.search(r"\d", part) and _UNIT_WORD.search(part):
            raise RunbookError(
                f"cannot read the budget {part.strip()!r}: write it like (10 min), "
                "(5-10 minutes) or (if needed, 20-40 minutes)",
                line=line,
            )
        return None
    scale = _UNITS[match.group("unit").lower()]
    high = float(match.group("high")) * scale
    low_text = match.group("low")
    if low_text is None:
        return Budget(seconds=high, text=part.strip())
    low = float(low_text) * scale
    if low > high:
        raise RunbookError(
            f"budget {part.strip()!r} runs backwards (from {low_text} to {match.group('high')})",
            line=line,
        )
    return Budget(seconds=high, low=low, text=part.strip())


def parse_title(title: str, *, line: int | None = None) -> TitleBudget:
    """Split a step title into its name, its budget and its condition."""
    budget: Budget | None = None
    condition: str | None = None
    consumed: list[str] = []
    for group in _PAREN.finditer(title):
        parts = [p.strip() for p in group.group(1).split(",")]
        found_here = False
        for part in parts:
            if _CONDITION.fullmatch(part):
                condition = part
                found_here = True
                continue
            parsed = _duration(part, line)
            if parsed is None:
                continue
            if budget is not None:
                raise RunbookError(
                    f"two budgets in one title ({budget.text!r} and {parsed.text!r}): "
                    "give a step one budget",
                    line=line,
                )
            budget = parsed
            found_here = True
        if found_here:
            consumed.append(group.group(0))
    name = title
    for text in consumed:
        name = name.replace(text, " ")
    name = re.sub(r"\s+", " ", name).strip().rstrip(":").strip()
    return TitleBudget(name=name, budget=budget, condition=condition)
