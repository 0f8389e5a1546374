#!/usr/bin/env python3
"""Write docs/reference.md from the code: the Drill API and every public scenario name.

The page is generated, never edited by hand: each service package's ``__all__`` names
its role modules, each module's ``__all__`` its public API, and the signatures and
docstrings come from the objects themselves (``inspect``). Standard library only.

    python docs/gen_reference.py           # rewrite docs/reference.md
    python docs/gen_reference.py --check   # exit 1 when the page is out of date

tests/scenarios/test_docs.py fails when the committed page differs from what this
script writes.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

PAGE = Path(__file__).with_name("reference.md")
SERVICES = ("postgres", "redis", "s3")
SHARED = ("drillbook.scenarios.store", "drillbook.scenarios.common")
DRILL_CLASSES = ("Drill", "StepContext")
# The order a drill uses them in; a service's other modules follow, alphabetically.
ROLE_ORDER = (
    "stack",
    "schema",
    "media",
    "backup",
    "faults",
    "triage",
    "recovery",
    "checks",
    "ledger",
)

HEADER = """# drillbook reference

Generated from the code by `docs/gen_reference.py`; do not edit by hand (run
`python docs/gen_reference.py` after changing a signature or a docstring;
`tests/scenarios/test_docs.py` fails while this page is out of date). The guide to
writing a drill is [writing-drills.md](writing-drills.md).

A drill imports the scenario modules by their role, e.g.
`from drillbook.scenarios.postgres import checks, faults, recovery, stack`; every name
listed under a module below is importable from it.
"""

_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc):`~?\.?([^`]+)`")


def markdown(doc: str) -> str:
    """A docstring as Markdown: reST roles and double backticks become code spans."""
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", doc)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def _annotation(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return ""
    text = value if isinstance(value, str) else inspect.formatannotation(value)
    return text.replace("typing.", "").replace("collections.abc.", "")


def _default(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if callable(value):
        return getattr(value, "__qualname__", type(value).__name__)
    return repr(value)


def signature(obj: Any, *, skip_self: bool = False) -> str:
    """``(a: int, *, b: str = 'x') -> R`` with the annotations as written in the code."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    parts: list[str] = []
    star_done = False
    params = list(sig.parameters.values())
    if skip_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    for p in params:
        if p.name.startswith("_") and p.kind is p.KEYWORD_ONLY:
            continue  # a dataclass KW_ONLY marker
        if p.kind is p.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        if p.kind is p.VAR_POSITIONAL:
            star_done = True
            name = f"*{p.name}"
        elif p.kind is p.VAR_KEYWORD:
            name = f"**{p.name}"
        else:
            name = p.name
        ann = _annotation(p.annotation)
        text = f"{name}: {ann}" if ann else name
        if p.default is not inspect.Parameter.empty:
            text += f" = {_default(p.default)}" if ann else f"={_default(p.default)}"
        parts.append(text)
    ret = _annotation(sig.return_annotation)
    return f"({', '.join(parts)})" + (f" -> {ret}" if ret and ret != "None" else "")


def _doc(obj: Any) -> str:
    """The object's own docstring as Markdown ("" when it has none; the tests require one
    for every public scenario function and class)."""
    doc = obj.__doc__ and inspect.getdoc(obj)
    return markdown(doc) if doc else ""


def _methods(cls: type) -> Iterator[tuple[str, Any]]:
    """Public methods and properties defined on *cls* itself (or a drillbook base)."""
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property | staticmethod | classmethod) or inspect.isfunction(value):
            yield name, value


def _class(name: str, cls: type, level: str) -> list[str]:
    kind = "dataclass" if dataclasses.is_dataclass(cls) else "class"
    if issubclass(cls, enum.Enum):
        members = ", ".join(f"`{m.name}`" for m in cls)
        return [f"{level} `{name}` (enum)", "", _doc(cls), "", f"Members: {members}.", ""]
    if issubclass(cls, BaseException):
        return [f"{level} `{name}` (exception)", "", _doc(cls), ""]
    lines = [f"{level} `{name}{signature(cls)}` ({kind})", "", _doc(cls), ""]
    for meth_name, meth in _methods(cls):
        if isinstance(meth, property):
            lines.append(f"- `.{meth_name}` (property){_first(meth.fget)}")
        else:
            fn = meth.__func__ if isinstance(meth, staticmethod | classmethod) else meth
            lines.append(f"- `.{meth_name}{signature(fn, skip_self=True)}`{_first(fn)}")
    if lines[-1] != "":
        lines.append("")
    return lines


def _first(obj: Any) -> str:
    """``: <docstring>`` joined into one paragraph for a list item ("" without one:
    ``to_dict`` and the like say what they do by their names)."""
    doc = inspect.getdoc(obj)
    return f": {markdown(' '.join(doc.split()))}" if doc else ""


def entry(name: str, obj: Any, level: str = "####") -> list[str]:
    """The Markdown of one public name."""
    if inspect.isclass(obj):
        return _class(name, obj, level)
    if inspect.isfunction(obj):
        return [f"{level} `{name}{signature(obj)}`", "", _doc(obj), ""]
    if isinstance(obj, str | int | float | tuple | frozenset) and not isinstance(obj, bool):
        return [f"- `{name} = {obj!r}`"]
    return [f"- `{name}`: `{_annotation(obj) or type(obj).__name__}`"]


def module_section(module: ModuleType, level: str = "###") -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        raise SystemExit(f"{module.__name__} has no __all__: its public API is undefined")
    lines = [f"{level} `{module.__name__}`", "", markdown(_summary(module)), ""]
    constants: list[str] = []
    for name in names:
        obj = getattr(module, name)
        part = entry(name, obj, level + "#")
        if len(part) == 1:
            constants += part
        else:
            lines += part
    if constants:
        lines += ["Constants and types:", "", *constants, ""]
    return lines


def _summary(module: ModuleType) -> str:
    """A module docstring's first paragraph."""
    doc = inspect.getdoc(module) or ""
    return doc.split("\n\n")[0]


def drill_section() -> list[str]:
    drill = importlib.import_module("drillbook.drill")
    lines = ["## The drill API (`drillbook.drill`)", ""]
    for name in DRILL_CLASSES:
        cls = getattr(drill, name)
        lines += [f"### `{name}`", "", _doc(cls), ""]
        for meth_name, meth in _methods(cls):
            fn = meth.fget if isinstance(meth, property) else meth
            lines += [f"#### `{name}.{meth_name}{signature(fn, skip_self=True)}`", ""]
            lines += [_doc(fn), ""] if _doc(fn) else []
    return lines


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def roles(package: ModuleType) -> list[str]:
    """The package's modules (its ``__all__``) in the order a drill uses them."""
    names: list[str] = list(package.__all__)
    first = [r for r in ROLE_ORDER if r in names]
    return first + sorted(set(names) - set(first))


def contents() -> list[str]:
    """A table of contents: the drill API, then each module by service and role."""
    lines = ["Contents:", "", "- [The drill API](#the-drill-api-drillbookdrill)"]
    for service in SERVICES:
        package = importlib.import_module(f"drillbook.scenarios.{service}")
        names = [f"{package.__name__}.{role}" for role in roles(package)]
        links = ", ".join(f"[{n.rsplit('.', 1)[1]}](#{_anchor(n)})" for n in names)
        lines.append(f"- `{package.__name__}`: {links}")
    links = ", ".join(f"[{n.rsplit('.', 1)[1]}](#{_anchor(n)})" for n in SHARED)
    lines += [f"- shared: {links}", ""]
    return lines


def render() -> str:
    lines = [HEADER, *contents(), *drill_section()]
    for service in SERVICES:
        package = importlib.import_module(f"drillbook.scenarios.{service}")
        lines += [f"## `drillbook.scenarios.{service}`", "", markdown(_summary(package)), ""]
        for role in roles(package):
            lines += module_section(importlib.import_module(f"{package.__name__}.{role}"))
    lines += ["## Shared by every service", ""]
    for name in SHARED:
        lines += module_section(importlib.import_module(name))
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if PAGE.read_text() != text:
            print(f"{PAGE} is out of date: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
