"""Which steps of a runbook section a drill runs: conditional steps it skips (with a
reason) and, for a step offering alternatives ("**Option A**" / "**Option B**"), the one
it chooses. Both are checked before anything runs."""

from __future__ import annotations

from collections.abc import Mapping

from drillbook.runbook.model import RunbookError, Step


def check_skips(steps: list[Step], skip: Mapping[str, str]) -> None:
    names = {n for s in steps for n in (s.name, s.node.label, s.node.name)}
    for wanted in skip:
        if wanted not in names:
            raise RunbookError(f"skip: no step {wanted!r} in this section")
    for s in steps:
        if (s.name in skip or s.node.label in skip) and not s.node.conditional:
            raise RunbookError(
                f"skip: step {s.name!r} is not conditional (its title has no 'if needed'): "
                "a drill runs every step the runbook requires"
            )


def check_choices(steps: list[Step], choose: dict[str, str]) -> dict[int, str]:
    """Every step with alternatives chosen, every choice naming one: {step line: choice}.

    Checked before anything runs, like the skips: a drill never runs both alternatives.
    """
    out: dict[int, str] = {}
    for s in steps:
        wanted = next((choose.pop(k) for k in (s.name, s.node.label, s.node.name)
                       if k in choose), None)  # fmt: skip
        if wanted is not None and not s.node.alternatives:
            raise RunbookError(f"choose: step {s.name!r} offers no alternatives")
        s.node.chosen_blocks(wanted)  # raises, naming the alternatives, when unchosen
        if wanted is not None:
            out[s.node.line] = wanted
    if choose:
        raise RunbookError(f"choose: no step {next(iter(choose))!r} in this section")
    return out


def skipped(step: Step, skip: Mapping[str, str]) -> str | None:
    return skip.get(step.name) or skip.get(step.node.label) or skip.get(step.node.name)
