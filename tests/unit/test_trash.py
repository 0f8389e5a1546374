"""Trash: a closed server's directory leaves its place at once and is removed behind."""

from __future__ import annotations

import time
from pathlib import Path

from drillbook.fixtures.trash import Trash


def _tree(root: Path, files: int = 50) -> Path:
    root.mkdir()
    for i in range(files):
        (root / f"f{i}").write_text("x")
    (root / "sub").mkdir()
    (root / "sub" / "g").write_text("y")
    return root


def _wait_empty(trash: Trash, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = sorted(p.name for p in trash.path.iterdir())
        if not left:
            return left
        time.sleep(0.02)
    return sorted(p.name for p in trash.path.iterdir())


def test_discarded_directories_go_at_once_and_are_removed_in_the_background(
    tmp_path: Path,
) -> None:
    trash = Trash(tmp_path)
    dirs = [_tree(tmp_path / f"pg-{i}") for i in range(3)]
    for d in dirs:
        trash.discard(d)
        assert not d.exists()  # out of the way before discard() returns
    assert _wait_empty(trash) == []
    trash.close()


def test_after_close_a_discard_leaves_the_rest_to_the_run_removal(tmp_path: Path) -> None:
    trash = Trash(tmp_path)
    trash.close()
    trash.discard(_tree(tmp_path / "late"))
    assert not (tmp_path / "late").exists()
    assert [p.name for p in trash.path.iterdir()] == ["late"]  # the run dir's rmtree takes it


def test_an_entry_that_cannot_be_removed_does_not_stop_the_others(tmp_path: Path) -> None:
    trash = Trash(tmp_path)
    trash.path.mkdir()
    stuck = trash.path / "aaa-stuck"
    stuck.write_text("a file, not a directory: rmtree cannot remove it")
    trash.discard(_tree(tmp_path / "zzz-server"))
    deadline = time.monotonic() + 30
    while (trash.path / "zzz-server").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(p.name for p in trash.path.iterdir()) == ["aaa-stuck"]
    trash.close()
