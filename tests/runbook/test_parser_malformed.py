"""Markdown a drill cannot trust: every error names the line, nothing is guessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillbook.runbook.budget import parse_title
from drillbook.runbook.model import RunbookError, steps_of
from drillbook.runbook.parser import load, parse

FENCE = "```"


def test_unclosed_fence_names_its_line() -> None:
    text = f"# R\n\n1. **Step** (5 min)\n   {FENCE}bash\n   echo one\n\n2. **Next**\n"
    with pytest.raises(RunbookError) as err:
        parse(text, "rb.md")
    assert err.value.line == 4 and "never closed" in str(err.value)
    assert str(err.value).startswith("rb.md:4: ")


def test_unclosed_fence_at_end_of_file() -> None:
    with pytest.raises(RunbookError, match=r"rb.md:3: .*never closed"):
        parse(f"# R\n\n{FENCE}sql\nSELECT 1;\n", "rb.md")


@pytest.mark.parametrize(
    ("title", "problem"),
    [
        ("Restore (10-5 minutes)", "runs backwards"),
        ("Restore (5 to ten minutes)", "cannot read the budget"),
        ("Restore (about 5 mins or so)", "cannot read the budget"),
        ("Restore (5 min) (10 min)", "two budgets"),
    ],
)
def test_unreadable_budgets_are_errors(title: str, problem: str) -> None:
    with pytest.raises(RunbookError, match=problem):
        parse(f"# R\n\n## {title}\n", "rb.md")
    with pytest.raises(RunbookError) as err:
        parse_title(title, line=7)
    assert err.value.line == 7


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rb.md"
    path.write_bytes(b"# R\n\nok\n\xff\xfe broken\n")
    with pytest.raises(RunbookError, match=r"rb.md:4: not UTF-8"):
        load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="cannot read the runbook"):
        load(tmp_path / "absent.md")


def test_unknown_and_ambiguous_sections() -> None:
    runbook = parse("# R\n\n## Restore A\n\n## Restore B\n", "rb.md")
    with pytest.raises(RunbookError, match=r"no section 'Nothing'; headings: 'R' \(line 1\)"):
        runbook.section("Nothing")
    with pytest.raises(RunbookError, match=r"ambiguous: 'Restore A' \(line 3\), 'Restore B'"):
        runbook.section("Restore")
    assert runbook.section("restore-b").title == "Restore B"  # the GitHub anchor


def test_tolerated_markdown_keeps_structure() -> None:
    """Odd but valid Markdown: a fence after the list item (unindented), a bold label
    ending the trailing zone, a tilde fence, an indented code block (kept, never run)."""
    text = "\n".join(
        [
            "# R",
            "## Procedure",
            "1. **First** (1 min)",
            f"{FENCE}bash",
            "echo first",
            FENCE,
            "**Notes**:",
            "~~~sh",
            "echo belongs to the heading",
            "~~~",
            "",
            "    indented code",
            "",
        ]
    )
    section = parse(text).section("Procedure")
    (first,) = section.children
    assert [b.text for b in first.blocks] == ["echo first\n"]
    assert [(b.lang, b.label) for b in section.blocks] == [("sh", "Notes"), ("", "Notes")]
    assert section.blocks[1].runner is None
    assert [s.name for s in steps_of(section)] == ["Procedure", "1. First"]


def test_an_empty_document_has_no_steps() -> None:
    runbook = parse("")
    assert steps_of(runbook.root) == []
