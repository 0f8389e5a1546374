"""A write that fails half-way (a full disk) leaves every earlier byte as it was.

The disk fills up in a child process whose files may not grow past a few bytes more
than they hold (``RLIMIT_FSIZE``; root is held to it too): the history append gets
``EFBIG`` after writing part of its line, and must cut the file back; a replaced file
(the report, drills.json, the metrics) must keep its old content and leave no temp file.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from drillbook.reports.files import atomic_write_text, ensure_folder
from drillbook.reports.history import append_history, read_history

CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from drillbook.reports.files import atomic_write_text
    from drillbook.reports.history import append_history

    what, path, room = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = path.stat().st_size + room
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    row = {"schema": "drillbook.history/1", "pad": "x" * 5000}
    try:
        if what == "append":
            append_history(path, [row, row])
        else:
            atomic_write_text(path, "y" * 20000)
    except OSError as exc:
        print(f"raised {type(exc).__name__}: {exc}")
    """
)


def _fill_up(what: str, path: Path, room: int) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, what, str(path), str(room)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _rows(n: int) -> list[dict]:
    return [
        {"schema": "drillbook.history/1", "drill_id": f"d{i}", "verdict": "PASS", "started": 1.7e9}
        for i in range(n)
    ]


@pytest.mark.parametrize("torn_tail", [False, True])
def test_history_append_on_a_full_disk_is_cut_back(tmp_path: Path, torn_tail: bool) -> None:
    path = tmp_path / "history.jsonl"
    append_history(path, _rows(3))
    if torn_tail:  # an earlier writer died mid-line: our "\n" repair must be cut back too
        with open(path, "a") as fh:
            fh.write('{"schema": "drillbook')
    before = path.read_bytes()
    out = _fill_up("append", path, room=300)
    assert out.startswith("raised OSError: [Errno 27] File too large"), out
    assert path.read_bytes() == before
    assert len(read_history(path).rows) == 3
    append_history(path, _rows(1))  # and the next writer appends cleanly
    assert len(read_history(path).rows) == 4


def test_replacing_a_file_on_a_full_disk_keeps_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "latest.html"
    atomic_write_text(path, "<html>the earlier report</html>\n")
    out = _fill_up("replace", path, room=100)
    assert out.startswith("raised OSError: [Errno 27] File too large"), out
    assert path.read_text() == "<html>the earlier report</html>\n"
    assert [p.name for p in tmp_path.iterdir()] == ["latest.html"]  # no temp file left


def test_a_file_where_a_folder_should_be_is_named(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"is a file, not a folder: .*plain'"):
        ensure_folder(tmp_path / "plain" / "out" / "run")
    with pytest.raises(NotADirectoryError, match="plain"):
        append_history(tmp_path / "plain" / "history.jsonl", _rows(1))
