"""A team adopts drillbook: ``drillbook init`` in a repository of its own, then
``pytest drills`` there runs the example drills on the local backend, and they PASS.

Two ways: with this checkout's (editable) install, and the way a team does it, with
the built wheel installed into a new virtualenv in an empty directory outside the
project (no ``pythonpath``, no conftest, no generic top-level module importable).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASS_LINE = re.compile(r"^PASS\s+drills/(\w+)/", re.M)
EXAMPLES = {"postgres_example", "redis_example", "s3_example", "readme_example"}


def readme_drill() -> str:
    """The drill the README shows under "What a drill looks like", as written there."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## What a drill looks like\n+```python\n(.*?)```", text, re.S)
    assert block, "README.md lost its example drill"
    return block.group(1)


def env_for(tmp: Path) -> dict[str, str]:
    # DRILLBOOK_TMPDIR stays as it is: PostgreSQL runs as an unprivileged user when root,
    # and pytest's tmp_path (mode 0700 under /tmp/pytest-of-root) is not reachable for it.
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}


def adopt(python: Path | str, drillbook: Path | str, repo: Path, env: dict[str, str]) -> str:
    repo.mkdir()
    res = subprocess.run([str(drillbook), "init", str(repo)], capture_output=True, text=True,
                         env=env, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    (repo / "drills/readme_example").mkdir()
    (repo / "drills/readme_example/test_readme_example.py").write_text(readme_drill())
    res = subprocess.run(
        [str(python), "-m", "pytest", "drills", "-p", "no:cacheprovider"],
        cwd=repo, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert set(PASS_LINE.findall(out)) == EXAMPLES, out
    assert (repo / "reports/out/latest.html").is_file(), "the report belongs to the team's repo"
    return out


def test_init_then_pytest_drills_with_this_install(tmp_path: Path) -> None:
    adopt(sys.executable, Path(sys.executable).with_name("drillbook"), tmp_path / "repo",
          env_for(tmp_path))  # fmt: skip


@pytest.mark.slow
def test_the_wheel_in_an_empty_directory(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    dist, src = tmp_path / "dist", tmp_path / "src"
    # Built from a copy: setuptools writes build/ and *.egg-info/ into the source tree.
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".tox"))  # fmt: skip
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(src)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    (wheel,) = dist.glob("drillbook-*.whl")
    home = tmp_path / "team"
    venv.create(home / ".venv", with_pip=True)
    bin_dir = home / ".venv/bin"
    res = subprocess.run([str(bin_dir / "pip"), "install", "-q", str(wheel)], capture_output=True,
                         text=True, env=env, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr
    probe = (
        "import importlib.util, drillbook.fixtures as f; print(f.__file__); "
        "print([m for m in ('fixtures', 'scenarios', 'reports') if importlib.util.find_spec(m)])"
    )
    res = subprocess.run([str(bin_dir / "python"), "-c", probe], capture_output=True, text=True,
                         cwd=home, env=env, timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stderr
    where, generic = res.stdout.splitlines()
    assert "site-packages/drillbook/fixtures" in where
    assert generic == "[]", "a generic top-level name is importable from the wheel"
    adopt(bin_dir / "python", bin_dir / "drillbook", home / "repo", env)
