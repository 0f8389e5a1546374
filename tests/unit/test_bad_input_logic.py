"""Pure logic behind the one-line answers to bad input: which directory stops the server
user, and the import error of a drill file as one line (end to end:
tests/integration/test_bad_inputs.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from drillbook.fixtures import basedir
from drillbook.plugin_collect import one_line, suggestion

OTHER_UID = 4242424  # no such user: only "other" permission bits apply to it
OTHER_GID = 4242424


def test_blocked_for_finds_the_first_directory_without_the_x_bit() -> None:
    # Not under tmp_path: pytest's own temp root is 0700, which is what this finds.
    root = Path(tempfile.mkdtemp(prefix="drillbook-blocked-"))
    try:
        _blocked_for_cases(root)
    finally:
        shutil.rmtree(root)


def _blocked_for_cases(root: Path) -> None:
    top = root / "a"
    deep = top / "b" / "c"
    deep.mkdir(parents=True)
    for d in (root, top, top / "b", deep):
        d.chmod(0o755)
    assert basedir.blocked_for(deep, OTHER_UID, OTHER_GID) is None
    (top / "b").chmod(0o750)  # group only: the stranger is stopped there
    assert basedir.blocked_for(deep, OTHER_UID, OTHER_GID) == top / "b"
    os.chown(top / "b", os.getuid(), OTHER_GID)
    assert basedir.blocked_for(deep, OTHER_UID, OTHER_GID) is None  # ... unless in the group
    (top / "b").chmod(0o700)
    os.chown(top / "b", OTHER_UID, os.getgid())
    assert basedir.blocked_for(deep, OTHER_UID, OTHER_GID) is None  # ... or the owner
    assert basedir.blocked_for(deep / "not-yet", OTHER_UID, OTHER_GID) is None


PYTEST_TEXT = """ImportError while importing test module '/x/drills/q/test_q.py'.
Hint: make sure your test modules/packages have valid Python names.
Traceback:
/usr/lib/python3.11/importlib/__init__.py:126: in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
drills/q/test_q.py:3: in <module>
    from drillbook.scenarios.s3.backup import create_buckett
E   ImportError: cannot import name 'create_buckett' from 'drillbook.scenarios.s3.backup' \
(/x/scenarios/s3/backup.py)
"""


def test_import_error_becomes_one_line_with_the_closest_names() -> None:
    import drillbook.scenarios.s3.backup  # noqa: F401 - the module the suggestion reads

    assert one_line(PYTEST_TEXT, "drills/q/test_q.py") == (
        "drills/q/test_q.py:3: cannot import name 'create_buckett' from "
        "'drillbook.scenarios.s3.backup' (did you mean 'create_bucket'?)"
    )
    assert one_line("SyntaxError: invalid syntax", "x.py") is None  # left to pytest
    missing = "ModuleNotFoundError: No module named 'drillbook.scenarios.s3.bakup'"
    assert suggestion(missing) == " (did you mean 'backup'?)"
    assert suggestion("ModuleNotFoundError: No module named 'nothing_like_it_at_all'") == ""
