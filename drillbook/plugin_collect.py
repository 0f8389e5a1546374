"""A drill file that cannot be imported: one line saying where, what and what was meant.

pytest reports an ImportError during collection as a dozen lines (the import machinery's
frames, and a hint about "valid Python names" that is beside the point when a name is
misspelt). A drill author gets the file and line, the error, and the closest names the
module does have: ``drills/q1/test_q1.py:3: cannot import name 'create_buckett' from
'drillbook.scenarios.s3.backup' (did you mean 'create_bucket'?)``. The collection
still fails (pytest exits 2).
"""

from __future__ import annotations

import difflib
import pkgutil
import re
import sys
from collections.abc import Generator
from typing import Any

import pytest

_HEADER = "ImportError while importing test module"
_ERROR = re.compile(r"^E\s+((?:ImportError|ModuleNotFoundError): .*)$", re.MULTILINE)
_NAME = re.compile(r"cannot import name '([^']+)' from '([^']+)'")
_MODULE = re.compile(r"No module named '([^']+)'")


def _close(word: str, names: list[str]) -> str:
    found = difflib.get_close_matches(word, [n for n in names if not n.startswith("_")], n=3)
    return f" (did you mean {' or '.join(repr(f) for f in found)}?)" if found else ""


def suggestion(error: str) -> str:
    """Names close to the missing one, from the module or package that is there."""
    m = _NAME.search(error)
    if m:
        module = sys.modules.get(m.group(2))
        return _close(m.group(1), dir(module)) if module is not None else ""
    m = _MODULE.search(error)
    if m:
        parent, _, leaf = m.group(1).rpartition(".")
        package = sys.modules.get(parent)
        path = getattr(package, "__path__", None)
        if path is not None:
            return _close(leaf, [info.name for info in pkgutil.iter_modules(path)])
    return ""


def one_line(text: str, path: str) -> str | None:
    """pytest's ImportError text as ``path:line: error (did you mean ...)``, or None."""
    if _HEADER not in text:
        return None
    errors = _ERROR.findall(text)
    if not errors:
        return None
    error = errors[-1].strip()
    error = re.sub(r" \(/[^)]*\)$", "", error)  # the module's file: noise here
    error = error.split(": ", 1)[1] if error.startswith("ImportError: ") else error
    lines = re.findall(rf"^{re.escape(path)}:(\d+): in <module>$", text, re.MULTILINE)
    where = f"{path}:{lines[-1]}" if lines else path
    return f"{where}: {error}{suggestion(error)}"


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    report = yield
    if report.failed and isinstance(collector, pytest.Module):
        rel = collector.config.rootpath
        try:
            path = str(collector.path.relative_to(rel))
        except ValueError:
            path = str(collector.path)
        text = one_line(str(report.longrepr), path)
        if text is not None:
            report.longrepr = text
    return report
