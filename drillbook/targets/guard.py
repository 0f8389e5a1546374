"""Checks on the raw text of a targets file, made before ``tomllib`` sees it.

Some inputs make the TOML parser itself fail badly rather than report an error, so they
must be refused before it runs:

- an integer literal of more than 4,300 digits raises a bare ``ValueError`` (Python's
  integer-string limit) that is no ``TOMLDecodeError``;
- a deep dotted key costs memory quadratic in its depth (``a.a.a...`` 30,000 levels
  deep, a 60 KB file, took 3.5 GB; 200 KB was OOM-killed); deeply nested arrays and
  inline tables recurse until ``RecursionError``;
- a file of many megabytes is read, hashed and parsed whole.

:func:`check_text` scans the text once, in linear time, with just enough of TOML's
lexical rules (strings, comments, table headers, keys, arrays, inline tables) to measure
nesting depth and the length of bare numbers, and raises a one-line
:class:`~drillbook.targets.errors.TargetsError` naming the line. It accepts everything
it cannot classify: ``tomllib`` reports syntax errors better.
"""

from __future__ import annotations

import re

from drillbook.targets.errors import TargetsError

#: Largest targets file read (a team's file with a hundred services is ~40 KB).
MAX_FILE_BYTES = 256 * 1024
#: Deepest nesting of tables, dotted-key parts, arrays and inline tables together
#: (``[services.auth.source]`` + ``key = [..]`` is 5).
MAX_DEPTH = 16
#: Longest run of digits in a bare number (sizes and durations need fewer than 20).
MAX_NUMBER_DIGITS = 100

_VALUE_STOPS = re.compile(r"[\[\]{},\"'#\n0-9]")
_KEY_STOPS = re.compile(r"[.=\"'#\n}\]]")
_DIGITS = re.compile(r"[0-9_]+")
_BLANK = re.compile(r"[ \t\r]*")
# What ends each kind of string (quote, triple): escapes are skipped in basic strings.
_STRING_END = {
    ('"', False): re.compile(r'\\[^\n]|"|\n'),
    ('"', True): re.compile(r'\\.|"""', re.DOTALL),
    ("'", False): re.compile(r"'|\n"),
    ("'", True): re.compile(r"'''"),
}


def check_size(size: int, source: str) -> None:
    """Refuse a file larger than :data:`MAX_FILE_BYTES` (before reading it whole)."""
    if size > MAX_FILE_BYTES:
        raise TargetsError(
            f"the targets file is {size} bytes, more than a targets file needs",
            source=source,
            allowed=f"at most {MAX_FILE_BYTES // 1024} KiB",
        )


def check_text(text: str, source: str) -> None:
    """Raise a located TargetsError for input the TOML parser cannot handle safely."""
    check_size(len(text.encode("utf-8", "surrogatepass")), source)
    _Scan(text, source).run()


class _Scan:
    """One pass over the text; ``depth`` is the nesting of the value being read."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.pos = 0
        self.line = 1
        self.header_depth = 0
        # Open arrays ("[") and inline tables ("{") with the depth inside each.
        self.stack: list[tuple[str, int]] = []

    # -- errors -------------------------------------------------------------------------
    def fail(self, problem: str, allowed: str) -> TargetsError:
        return TargetsError(problem, source=f"{self.source}:{self.line}", allowed=allowed)

    def deep(self, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise self.fail(
                f"nested more than {MAX_DEPTH} levels deep (tables, dotted keys, arrays)",
                f"at most {MAX_DEPTH} levels",
            )

    # -- the statement level --------------------------------------------------------------
    def run(self) -> None:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t\r":
                self.pos += 1
            elif char == "\n":
                self.newline()
            elif char == "#":
                self.comment()
            elif char == "[":
                self.header()
            else:
                depth = self.header_depth + self.key()
                self.deep(depth)
                self.value(depth)

    def newline(self) -> None:
        self.line += 1
        self.pos += 1

    def comment(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def header(self) -> None:
        """``[a.b.c]`` or ``[[a.b]]``: its parts are the depth of the keys under it."""
        self.pos += 1
        if self.text.startswith("[", self.pos):
            self.pos += 1
        self.header_depth = self.key()
        self.deep(self.header_depth)
        while self.pos < len(self.text) and self.text[self.pos] == "]":
            self.pos += 1

    def key(self) -> int:
        """Skip a (dotted) key up to its ``=`` or ``]``; return its number of parts."""
        parts = 1
        text = self.text
        while True:
            found = _KEY_STOPS.search(text, self.pos)
            if found is None:
                self.pos = len(text)
                return parts
            self.pos = found.start()
            char = found.group()
            if char == ".":
                parts += 1
                self.pos += 1
            elif char in "\"'":
                self.string()
            elif char == "=":
                self.pos += 1
                return parts
            else:  # "#", a line break, "}" or "]": the key ends here (or is malformed)
                return parts

    # -- values -----------------------------------------------------------------------------
    def value(self, depth: int) -> None:
        """Skip one value (arrays and inline tables included) and the rest of its line."""
        text = self.text
        while self.pos < len(text):
            found = _VALUE_STOPS.search(text, self.pos)
            if found is None:
                self.pos = len(text)
                return
            self.pos = found.start()
            char = found.group()
            if char == "\n":
                if not self.stack:
                    return
                self.newline()
            elif char == "#":
                self.comment()
            elif char in "\"'":
                self.string()
            elif char.isdigit():
                self.number()
            else:
                depth = self.bracket(char, depth)

    def bracket(self, char: str, depth: int) -> int:
        self.pos += 1
        if char == "[":
            self.stack.append(("[", depth + 1))
            self.deep(depth + 1)
            return depth + 1
        if char == "{":
            self.stack.append(("{", depth))
            return self.inline_key(depth)
        if char == "," and self.stack and self.stack[-1][0] == "{":
            return self.inline_key(self.stack[-1][1])
        if char in "]}" and self.stack:
            self.stack.pop()
            return self.stack[-1][1] if self.stack else depth
        return depth

    def inline_key(self, depth: int) -> int:
        blank = _BLANK.match(self.text, self.pos)
        self.pos = blank.end() if blank else self.pos
        if self.text.startswith("}", self.pos):
            return depth  # an empty inline table
        key_depth = depth + self.key()
        self.deep(key_depth)
        return key_depth

    def number(self) -> None:
        run = _DIGITS.match(self.text, self.pos)
        assert run is not None
        digits = len(run.group().replace("_", ""))
        if digits > MAX_NUMBER_DIGITS:
            raise self.fail(
                f"a number of {digits} digits", f"numbers of at most {MAX_NUMBER_DIGITS} digits"
            )
        self.pos = run.end()

    def string(self) -> None:
        """Skip a basic, literal or multi-line string, counting its line breaks.

        A single-line string ends at the end of its line even when unterminated, so a
        stray quote cannot make the rest of the file look like one string.
        """
        text, start = self.text, self.pos
        quote = text[start]
        triple = text.startswith(quote * 3, start)
        pattern = _STRING_END[(quote, triple)]
        end = start + (3 if triple else 1)
        while True:
            found = pattern.search(text, end)
            if found is None:
                end = len(text)
                break
            if found.group() == "\n":
                end = found.start()
                break
            end = found.end()
            if not found.group().startswith("\\"):
                break
        if triple:  # up to two more quotes belong to the string: """a""""" is 'a""'
            extra = 0
            while extra < 2 and text.startswith(quote, end):
                end += 1
                extra += 1
        self.line += text.count("\n", start, end)
        self.pos = end
