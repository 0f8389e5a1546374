"""The one error type of the targets loader, and the helpers that keep it one short line.

Every problem with a targets file is a :class:`TargetsError` whose text is a single line,
``<file>: <key>: <problem>; allowed: <...>``: CI logs show the whole story and it can be
grepped. Values and keys taken from the file are echoed shortened (:func:`show`), so a
10 MB key cannot turn the "one-line" error into 10 MB of output.
"""

from __future__ import annotations

import difflib
import re
from datetime import date, datetime, time

#: Longest text of a value or key an error message echoes (longer ones end in "...").
ECHO_LIMIT = 60
#: Longest word :func:`suggest` compares: difflib is quadratic, a huge key gets no hint.
_SUGGEST_LIMIT = 64

_LINE_BREAKS = re.compile(r"[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+(?:\[[0-9]+\])?")


class TargetsError(ValueError):
    """The targets file (or one value in it) is invalid.

    ``str(err)`` is always exactly one line: ``<source>: <key>: <problem>; allowed: <...>``
    (source and key omitted when unknown), so a CI log shows the whole story.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = None,
        key: str | None = None,
        allowed: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.key = key
        self.allowed = allowed
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.problem
        if self.allowed:
            text = f"{text}; allowed: {self.allowed}"
        location = ": ".join(part for part in (self.source, self.key) if part)
        if location:
            text = f"{location}: {text}"
        return _LINE_BREAKS.sub(" ", text)

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments: pickle (xdist, multiprocessing) must rebuild through them.
        return (_rebuild, (self.problem, self.source, self.key, self.allowed))

    def located(self, *, source: str | None = None, key: str | None = None) -> TargetsError:
        """The same error with its file and key filled in (where not already set)."""
        return TargetsError(
            self.problem,
            source=self.source or source,
            key=self.key or key,
            allowed=self.allowed,
        )


def _rebuild(
    problem: str, source: str | None, key: str | None, allowed: str | None
) -> TargetsError:
    return TargetsError(problem, source=source, key=key, allowed=allowed)


def show(value: object, limit: int = ECHO_LIMIT) -> str:
    """A value for an error message: repr (escapes line breaks), shortened."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]  # repr of a 10 MB string first, then cut, would cost 10 MB
    try:
        text = repr(value)
    except ValueError:  # an integer of more than 4,300 digits refuses to print
        assert isinstance(value, int)
        text = f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def cut(text: str, limit: int = ECHO_LIMIT) -> str:
    """*text* on one line and at most *limit* characters (without quoting it)."""
    text = _LINE_BREAKS.sub(" ", text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def suggest(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """The choice the user most likely meant (``rpo`` for ``rpo_target``), if any."""
    if len(word) > _SUGGEST_LIMIT:
        return None
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return close[0]
    lowered = word.lower()
    prefixed = [c for c in choices if lowered.startswith(c) or c.startswith(lowered)]
    return max(prefixed, key=len) if prefixed and lowered else None


def key_path(*parts: str) -> str:
    """``services.auth.rto``; a part that is not a bare TOML key is quoted, long ones cut."""
    out = []
    for part in parts:
        if len(part) <= 40 and _BARE_KEY.fullmatch(part):
            out.append(part)
        else:
            out.append(show(part, 40))
    return ".".join(out)


def toml_type(value: object) -> str:
    """The TOML name of a decoded value's type, for "expected X, got Y" messages."""
    names: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (bool, "boolean"),
        (int, "integer"),
        (float, "float"),
        (str, "string"),
        (list, "array"),
        (dict, "table"),
        (datetime, "datetime"),
        (date, "date"),
        (time, "time"),
    )
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return type(value).__name__
