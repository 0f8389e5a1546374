"""A runbook as data: sections and steps, their budgets, commands, prose and checklists.

The parser (:mod:`drillbook.runbook.parser`) builds this from Markdown; ``drillbook
runbook check`` prints it and the executor runs it, so both always see the same steps.
Pure data: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: Fence languages run by bash (with ``set -euo pipefail``) and through psql.
SHELL_LANGS = frozenset({"bash", "sh", "shell", "zsh"})
SQL_LANGS = frozenset({"sql", "psql", "postgresql"})


class RunbookError(ValueError):
    """The runbook cannot be read: ``path:line: problem`` in one line."""

    def __init__(self, problem: str, *, line: int | None = None, path: str | None = None) -> None:
        self.problem = problem
        self.line = line
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.path, self.line) if p is not None)
        return f"{where}: {self.problem}" if where else self.problem

    def at(self, path: str) -> RunbookError:
        return RunbookError(self.problem, line=self.line, path=self.path or path)


#: A block label naming one of several alternative procedures.
ALTERNATIVE = re.compile(r"\s*(option|alternative|alternatively)\b", re.I)


def matches_choice(label: str, choice: str) -> bool:
    """``"Option B"``, ``"b"`` or ``"Option B: Restore"`` choose ``"Option B: Restore to
    New Database"`` (case-insensitive; the leading "Option" may be left out)."""

    def bare(text: str) -> str:
        return ALTERNATIVE.sub("", text, count=1).strip().lower()

    wanted = choice.strip().lower()
    if not wanted:
        return False
    if label.lower().startswith(wanted):
        return True
    head = bare(label)
    return head.startswith(bare(choice)) and (
        len(head) == len(bare(choice)) or not head[len(bare(choice))].isalnum()
    )


@dataclass(frozen=True)
class Budget:
    """The time a step may take, from its title.

    ``seconds`` is the upper end as written ("(5-10 minutes)" -> 600). A range is a
    *window* on the section's clock (the step should be done 10 minutes after the section
    started: the source runbooks write consecutive windows, 0-5, 5-10, 10-15); a single
    value ("(25 min)") is the step's own duration.
    """

    seconds: float
    low: float | None = None
    text: str = ""

    @property
    def is_window(self) -> bool:
        return self.low is not None

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "low": self.low, "text": self.text}


@dataclass
class Block:
    """A fenced (or indented) code block, attached to the step it appears under."""

    lang: str
    text: str
    line: int  # 1-based line of the opening fence
    label: str | None = None  # the bold label above it ("Option A: Restore ...")

    @property
    def runner(self) -> str | None:
        """``bash`` or ``sql`` for blocks a drill runs; None for text (json, yaml, ...)."""
        if self.lang in SHELL_LANGS:
            return "bash"
        if self.lang in SQL_LANGS:
            return "sql"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"lang": self.lang, "line": self.line, "label": self.label, "text": self.text}


@dataclass
class ChecklistItem:
    text: str
    checked: bool
    line: int


@dataclass
class Node:
    """A heading, a numbered list item or a bold step line ("**Phase 1: ... (10 min)**").

    ``blocks``, ``prose`` and ``checklist`` are what sits directly under the node, before
    or between its children; ``children`` are its sub-steps.
    """

    kind: str  # document | heading | item | phase
    title: str
    line: int
    level: int = 0
    number: str | None = None
    name: str = ""
    budget: Budget | None = None
    conditional: bool = False
    condition: str | None = None
    blocks: list[Block] = field(default_factory=list)
    prose: list[str] = field(default_factory=list)
    checklist: list[ChecklistItem] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The step's name as recorded: ``3. Database Recovery``."""
        name = self.name or self.title or "(untitled)"
        return f"{self.number}. {name}" if self.number else name

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def runnable_blocks(self) -> list[Block]:
        return [b for b in self.blocks if b.runner]

    @property
    def alternatives(self) -> list[str]:
        """The labels of alternative procedures the step offers ("**Option A: ...**",
        "**Option B: ...**"): a responder runs one, never all, so a drill must choose.
        Empty unless at least two runnable blocks carry different such labels."""
        labels: list[str] = []
        for block in self.runnable_blocks:
            label = block.label or ""
            if ALTERNATIVE.match(label) and label not in labels:
                labels.append(label)
        return labels if len(labels) > 1 else []

    def chosen_blocks(self, choice: str | None) -> list[Block]:
        """The runnable blocks of the alternative whose label starts with *choice* (plus
        the blocks outside every alternative); all of them when there is no alternative."""
        alternatives = self.alternatives
        if not alternatives:
            return self.runnable_blocks
        wanted = next((a for a in alternatives if choice and matches_choice(a, choice)), None)
        if wanted is None:
            raise RunbookError(
                f"step {self.label!r} (line {self.line}) offers alternatives "
                f"({'; '.join(alternatives)}): choose one, e.g. choose={{{self.label!r}: "
                f"{alternatives[0].split(':')[0]!r}}}"
            )
        return [b for b in self.runnable_blocks if b.label in (wanted, None, "")
                or not ALTERNATIVE.match(b.label or "")]  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "label": self.label,
            "line": self.line,
            "budget": self.budget.to_dict() if self.budget else None,
            "conditional": self.conditional,
            "condition": self.condition,
            "blocks": [b.to_dict() for b in self.blocks],
            "prose": list(self.prose),
            "checklist": [{"text": c.text, "checked": c.checked} for c in self.checklist],
            "children": [c.to_dict() for c in self.children],
        }


@dataclass(frozen=True)
class Step:
    """One executable step of a section: a node, with the groups it sits in."""

    node: Node
    groups: tuple[Node, ...] = ()

    @property
    def name(self) -> str:
        return " › ".join([*(g.label for g in self.groups), self.node.label])

    @property
    def blocks(self) -> list[Block]:
        return self.node.blocks


def slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\s-]", "", text.strip().lower())
    return re.sub(r"\s", "-", text)


@dataclass
class Runbook:
    """A parsed runbook: the document tree and the file it came from."""

    path: str
    sha256: str
    root: Node
    lines: int = 0

    @property
    def title(self) -> str:
        first = next((n for n in self.root.walk() if n.kind == "heading"), None)
        return first.title if first else self.path

    def nodes(self) -> Iterator[Node]:
        yield from (n for n in self.root.walk() if n is not self.root)

    def section(self, wanted: str | None) -> Node:
        """The node titled *wanted* (title, name, label or anchor; case-insensitive).

        An exact match wins over a title it starts, which wins over a substring; an
        ambiguous or unknown name is a :class:`RunbookError` listing the candidates with
        their lines.
        """
        if not wanted:
            return self.root
        key = wanted.strip().lstrip("#").lower()
        nodes = list(self.nodes())

        def exact(n: Node) -> bool:
            names = {n.title.lower(), n.name.lower(), n.label.lower(), slug(n.title)}
            return key in names

        hits = (
            [n for n in nodes if exact(n)]
            or [n for n in nodes if n.title.lower().startswith(key)]
            or [n for n in nodes if key in n.title.lower()]
        )
        if len(hits) == 1:
            return hits[0]
        if not hits:
            headings = [f"{n.title!r} (line {n.line})" for n in nodes if n.kind == "heading"]
            raise RunbookError(
                f"no section {wanted!r}; headings: " + ", ".join(headings), path=self.path
            )
        listed = ", ".join(f"{n.title!r} (line {n.line})" for n in hits)
        raise RunbookError(f"section {wanted!r} is ambiguous: {listed}", path=self.path)


def steps_of(section: Node) -> list[Step]:
    """The executable steps of *section*, in document order.

    A node without sub-steps is one step. A node with sub-steps is a group: the blocks
    written directly under it (before its first sub-step) run first as a step of its
    own, then its sub-steps, recursively. A leaf section is a single step.
    """
    if not section.children:
        return [Step(section)] if section.kind != "document" else []
    out: list[Step] = []
    if section.blocks and section.kind != "document":
        out.append(Step(section))
    for child in section.children:
        out += _flatten(child, ())
    return out


def _flatten(node: Node, groups: tuple[Node, ...]) -> list[Step]:
    if not node.children:
        return [Step(node, groups)]
    out = [Step(node, groups)] if node.blocks else []
    for child in node.children:
        out += _flatten(child, (*groups, node))
    return out


def groups_of(section: Node) -> list[Node]:
    """Nodes below *section* that hold sub-steps and a budget of their own."""
    return [n for n in section.walk() if n is not section and n.children and n.budget]


def cumulative_budget(nodes: list[Node]) -> tuple[float, int]:
    """Seconds the steps *nodes* budget one after another, and how many have none.

    A window ("5-10 minutes") ends at its upper end on the clock of the steps' parent,
    a duration ("(25 min)") adds to it, a step without a budget adds what its own
    sub-steps budget (or nothing).
    """
    clock = 0.0
    unbudgeted = 0
    for node in nodes:
        if node.budget is None:
            inner, missing = cumulative_budget(node.children)
            clock += inner
            unbudgeted += missing + (0 if node.children else 1)
        elif node.budget.is_window:
            clock = max(clock, node.budget.seconds)
        else:
            clock += node.budget.seconds
    return clock, unbudgeted


def section_budget(section: Node) -> tuple[float, int]:
    """The section's budget: its own when its title has one, else its steps' sum."""
    if section.budget is not None and section.kind != "document":
        return section.budget.seconds, 0
    if not section.children:
        return 0.0, 1
    return cumulative_budget(section.children)


_VALIDATION = re.compile(
    r"\b(?:verif\w*|validat\w*|integrity|smoke tests?|health checks?|confirm\w*)\b", re.I
)


def phase_of(step: Step) -> str:
    """``validation`` for a step whose name says it checks ("Verification", "Data
    Integrity Check", "Validate Recovery"), else ``execution``."""
    return "validation" if _VALIDATION.search(step.node.name or step.node.title) else "execution"
