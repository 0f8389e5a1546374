"""Markdown runbook -> :class:`~drillbook.runbook.model.Runbook`, with markdown-it-py.

What is a step, in the shape the source runbooks use:

- every heading is a node; its sub-headings are its sub-steps;
- every numbered list item is a step of the heading (or item) it sits in;
- a paragraph that is bold and nothing else is a *label* ("**Steps**:", "**Option A:
  Restore to New Database**"); a label that carries a budget or starts "Step N" /
  "Phase N" is a step of its own ("**Phase 2: Restoration (25 min)**").

Fenced blocks belong to the nearest step above them: inside its list item, or after the
list when the runbook writes the block unindented under "1. **Assess Damage** (5
minutes)". A label ends that trailing attachment (what follows belongs to the heading
again) and names the blocks under it (``Block.label``). Bullet text is kept as prose,
``- [ ]`` items as the step's checklist, tables are skipped.

Errors carry the line: a fence that is never closed, a budget that cannot be read, a
file that is not UTF-8.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from drillbook.runbook.budget import parse_title
from drillbook.runbook.model import Block, ChecklistItem, Node, Runbook, RunbookError

_STEP_LABEL = re.compile(r"(?:(?:step|phase)\s+\d+\b|\d+[.)]\s)", re.IGNORECASE)
_HEADING_NUMBER = re.compile(r"(\d+(?:\.\d+)*)[.)]\s+(.*)")
_CHECKBOX = re.compile(r"\[([ xX])\]\s+(.*)", re.DOTALL)


def inline_text(token: Token) -> str:
    """Plain text of an inline token: markup dropped, code spans and link text kept."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _is_label(token: Token) -> bool:
    """Bold and nothing else (a trailing colon allowed): ``**Phase 1: Preparation**``."""
    kids = [c for c in token.children or [] if not (c.type == "text" and not c.content.strip())]
    if len(kids) < 3 or kids[0].type != "strong_open":
        return False
    depth = 0
    for i, kid in enumerate(kids):
        if kid.type == "strong_open":
            depth += 1
        elif kid.type == "strong_close":
            depth -= 1
            if depth == 0:
                rest = kids[i + 1 :]
                return all(k.type == "text" and k.content.strip() in (":", "") for k in rest)
    return False


class _Builder:
    """Walks the block tokens once, keeping the node each piece of content belongs to."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.root = Node(kind="document", title="", line=1)
        self.headings: list[Node] = [self.root]  # stack by level
        self.items: list[Node | None] = []  # open list items (None: a bullet item)
        self.lists: list[tuple[str, list[Node]]] = []  # open lists: kind, step items
        self.trailing: Node | None = None  # a closed item the following blocks extend
        self.phase: Node | None = None  # the open "**Phase N**" step at this scope
        self.phase_scope: Node | None = None
        self.label: str | None = None

    # -- where content goes ------------------------------------------------------------
    def scope(self) -> Node:
        """The heading or list item that owns new steps here."""
        for item in reversed(self.items):
            if item is not None:
                return item
        return self.headings[-1]

    def target(self) -> Node:
        """The node a block, paragraph or list found here belongs to."""
        scope = self.scope()
        if not self.items and self.trailing is not None:
            return self.trailing
        if self.phase is not None and self.phase_scope is scope:
            return self.phase
        return scope

    def _node(self, kind: str, title: str, line: int, level: int, number: str | None) -> Node:
        parsed = parse_title(title, line=line)
        return Node(
            kind=kind,
            title=title,
            line=line,
            level=level,
            number=number,
            name=parsed.name,
            budget=parsed.budget,
            conditional=parsed.condition is not None,
            condition=parsed.condition,
        )

    # -- token handlers ------------------------------------------------------------------
    def heading(self, open_tok: Token, inline: Token) -> None:
        level = int(open_tok.tag[1])
        title = inline_text(inline)
        number = None
        match = _HEADING_NUMBER.fullmatch(title)
        if match:
            number, title = match.group(1), match.group(2)
        node = self._node("heading", title, _line(open_tok), level, number)
        while self.headings[-1].kind == "heading" and self.headings[-1].level >= level:
            self.headings.pop()
        self.headings[-1].children.append(node)
        self.headings.append(node)
        self.trailing = None
        self.phase = None
        self.label = None

    def paragraph(self, inline: Token, line: int) -> None:
        text = inline_text(inline)
        if not text:
            return
        in_bullet = bool(self.items) and self.items[-1] is None
        if _is_label(inline) and not in_bullet:
            self.label_or_phase(text, line)
            return
        if in_bullet:
            match = _CHECKBOX.fullmatch(text)
            if match:
                self.target().checklist.append(
                    ChecklistItem(match.group(2).strip(), match.group(1) != " ", line)
                )
                return
            text = "- " + text
        self.target().prose.append(text)

    def label_or_phase(self, text: str, line: int) -> None:
        parsed = parse_title(text, line=line)
        if parsed.budget is not None or _STEP_LABEL.match(text):
            scope = self.scope()
            title, number = text.rstrip(":").strip(), None
            match = _HEADING_NUMBER.fullmatch(title)
            if match:
                number, title = match.group(1), match.group(2)
            node = self._node("phase", title, line, 0, number)
            scope.children.append(node)
            self.phase, self.phase_scope = node, scope
            self.trailing = None
            self.label = None
            return
        if not self.items:
            self.trailing = None  # "**Backup Schedule**:" starts the heading's own content
        self.label = text.rstrip(":").strip()

    def fence(self, tok: Token) -> None:
        start, end = tok.map or (0, 0)
        last = self.lines[end - 1].strip() if 0 < end <= len(self.lines) else ""
        closed = end - 1 > start and last.startswith(tok.markup) and set(last) == set(tok.markup)
        if not closed:
            raise RunbookError(
                f"fenced block opened here ({tok.markup}{tok.info}) is never closed",
                line=start + 1,
            )
        lang = (tok.info.split() or [""])[0].lower()
        self.target().blocks.append(Block(lang, tok.content, start + 1, self.label))

    def code_block(self, tok: Token) -> None:
        self.target().blocks.append(Block("", tok.content, _line(tok), self.label))

    def list_open(self, tok: Token) -> None:
        kind = "ordered" if tok.type == "ordered_list_open" else "bullet"
        self.lists.append((kind, []))

    def item_open(self, tok: Token, inline: Token | None) -> None:
        kind, items = self.lists[-1]
        if kind != "ordered":
            self.items.append(None)
            return
        scope = self.scope()
        if not self.items:
            self.trailing = None
        if self.phase is not None and self.phase_scope is scope:
            scope = self.phase  # "**Phase 1 (10 min)**" then "1. ...": the phase's sub-steps
        title = inline_text(inline) if inline is not None else ""
        node = self._node("item", title, _line(tok), len(self.items) + 1, tok.info or None)
        scope.children.append(node)
        items.append(node)
        self.items.append(node)
        self.label = None

    def item_close(self) -> None:
        self.items.pop()

    def list_close(self) -> None:
        kind, items = self.lists.pop()
        if kind == "ordered" and items and not self.items:
            self.trailing = items[-1]


def _line(tok: Token) -> int:
    return (tok.map[0] + 1) if tok.map else 0


def _first_inline(tokens: list[Token], i: int) -> Token | None:
    """The inline token of a list item's first paragraph (its title), if it has one."""
    if i + 2 < len(tokens) and tokens[i + 1].type == "paragraph_open":
        return tokens[i + 2]
    return None


def _walk(tokens: list[Token], b: _Builder) -> None:
    i = 0
    skip_title: set[int] = set()
    while i < len(tokens):
        tok = tokens[i]
        kind = tok.type
        if kind == "heading_open":
            b.heading(tok, tokens[i + 1])
            i += 3
            continue
        if kind == "paragraph_open":
            if i + 1 not in skip_title:
                b.paragraph(tokens[i + 1], _line(tok))
            i += 3
            continue
        if kind == "fence":
            b.fence(tok)
        elif kind == "code_block":
            b.code_block(tok)
        elif kind in ("ordered_list_open", "bullet_list_open"):
            b.list_open(tok)
        elif kind in ("ordered_list_close", "bullet_list_close"):
            b.list_close()
        elif kind == "list_item_open":
            inline = _first_inline(tokens, i)
            if b.lists[-1][0] == "ordered" and inline is not None:
                skip_title.add(i + 2)
            b.item_open(tok, inline)
        elif kind == "list_item_close":
            b.item_close()
        elif kind == "table_open":
            while i < len(tokens) and tokens[i].type != "table_close":
                i += 1
        i += 1


_MD = MarkdownIt("commonmark").enable("table")


def parse(text: str, path: str = "<runbook>") -> Runbook:
    """Parse Markdown text into a Runbook; a RunbookError names the line when it cannot."""
    builder = _Builder(text)
    try:
        _walk(_MD.parse(text), builder)
    except RunbookError as err:
        raise err.at(path) from None
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return Runbook(path=path, sha256=digest, root=builder.root, lines=len(builder.lines))


MAX_RUNBOOK_BYTES = 4 * 1024 * 1024  # the runbooks this was built from are 8-18 KB


def load(path: str | Path) -> Runbook:
    """Read and parse a runbook file (UTF-8, at most :data:`MAX_RUNBOOK_BYTES`: a bigger
    file is not a runbook, and would be read and parsed whole before saying so)."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_RUNBOOK_BYTES + 1)
    except OSError as err:
        raise RunbookError(f"cannot read the runbook: {err.strerror or err}", path=source) from None
    if len(data) > MAX_RUNBOOK_BYTES:
        raise RunbookError(
            f"more than {MAX_RUNBOOK_BYTES // 1024**2} MiB: not a runbook (a Markdown page of "
            "steps); check the file name",
            path=source,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise RunbookError(
            f"not UTF-8 text (byte {err.start}): save the runbook as UTF-8", line=line, path=source
        ) from None
    return parse(text, source)


def describe(runbook: Runbook) -> dict[str, Any]:
    """The whole tree as plain data (what the record and ``--json`` carry)."""
    return {"path": runbook.path, "sha256": runbook.sha256, "root": runbook.root.to_dict()}
