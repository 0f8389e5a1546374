"""pytest start-up with the plugin loaded imports no client library or backend SDK.

Every pytest run in a team's repository loads drillbook through its entry point, also
``pytest tests/`` of code that never starts a drill; boto3, psycopg, redis-py, moto,
docker and friends cost it 0.3-1 s. They are imported when a fixture or backend first
needs them. This is a behavioural check (what is in ``sys.modules``), not a timing one:
``benchmarks/bench_suite.py`` prints the time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

# Top-level names of the libraries that only a started server or a backend may import.
HEAVY = (
    "boto3",
    "botocore",
    "s3transfer",
    "moto",
    "testcontainers",
    "docker",
    "psycopg",
    "psycopg_pool",
    "redis",
    "markdown_it",
    "filelock",
    "urllib3",
)

# What pytest does with the plugin before it runs a test: import each plugin module,
# register every backend's options (which imports the backend modules), load drills.toml.
_LOAD = textwrap.dedent(
    """
    import importlib, json, sys
    import drillbook.pytest_plugin as plugin
    for name in plugin.pytest_plugins:
        importlib.import_module(name)
    from drillbook.fixtures.backend import all_options
    all_options()
    heavy = json.loads(sys.argv[1])
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
    """
)

# The same seen from inside a real pytest run: a plugin of the test's own reports what
# is loaded once collection (of a test that uses no server) is over.
_PROBE_PLUGIN = textwrap.dedent(
    """
    import json, sys
    HEAVY = {heavy!r}

    def pytest_collection_finish(session):
        found = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
        with open({out!r}, "w") as fh:
            json.dump(found, fh)
    """
)


def test_loading_the_plugin_modules_imports_no_heavy_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _LOAD, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_pytest_run_without_servers_imports_no_heavy_library(tmp_path: Path) -> None:
    found = tmp_path / "found.json"
    (tmp_path / "heavyprobe.py").write_text(_PROBE_PLUGIN.format(heavy=HEAVY, out=str(found)))
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "heavyprobe", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={**_env(), "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "1 passed" in out.stdout
    assert json.loads(found.read_text()) == []


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
