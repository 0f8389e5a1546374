"""What a careful new user tries first: every bad input is one clear line and a non-zero
exit, nothing is started, written or lost (issue 12).

pytest cases run in a pytest of their own (its start-up is what is tested); the CLI
cases call ``drillbook`` in-process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from drillbook import cli
from drillbook.errors import DrillNotRun
from drillbook.fixtures import procs
from drillbook.fixtures.external import ExternalBackend
from drillbook.fixtures.runner import unprivileged_preflight
from drillbook.runbook.parser import MAX_RUNBOOK_BYTES

ROOT = Path(__file__).resolve().parents[2]
NEEDS_PG = "def test_needs_postgres(pg):\n    raise AssertionError('must not start')\n"
NOT_WRITABLE = Path("/sys")  # a directory no one can create anything in, root included


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def pytest_run(tmp_path: Path, *args: str, test: str = NEEDS_PG, **env: str) -> tuple[int, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    (tmp_path / "test_bad_input.py").write_text(test)
    full = {k: v for k, v in os.environ.items() if not k.startswith("DRILLBOOK_EXTERNAL")}
    full.update(PYTHONPATH=str(ROOT), **env)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(tmp_path)],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return res.returncode, res.stdout + res.stderr


def assert_usage_error(code: int, out: str, *words: str) -> None:
    """pytest stopped at start-up with one line (exit 4), nothing collected ran."""
    assert code == 4, out
    assert len(lines(out)) <= 2 and "Traceback" not in out and "INTERNALERROR" not in out, out
    error = next(line for line in lines(out) if line.startswith("ERROR: "))
    for word in words:
        assert word in error, out


# -- DRILLBOOK_TMPDIR -------------------------------------------------------------------------


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "not-a-dir"
    path.write_text("someone's file\n")
    return path


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("file", "is a file, not a directory"),
        ("under-file", "cannot create"),
        ("not-writable", "is not writable"),
    ],
)
def test_pytest_with_an_unusable_tmpdir_is_one_line(
    tmp_path: Path, a_file: Path, where: str, says: str
) -> None:
    base = {"file": a_file, "under-file": a_file / "runs", "not-writable": NOT_WRITABLE}[where]
    code, out = pytest_run(tmp_path / "t", DRILLBOOK_TMPDIR=str(base))
    assert_usage_error(code, out, says, "DRILLBOOK_TMPDIR", str(base))
    assert a_file.read_text() == "someone's file\n"  # nothing lost


@pytest.mark.parametrize("command", [["clean"], ["clean", "--dry-run"]])
def test_clean_with_an_unusable_tmpdir_is_one_line(
    a_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    for base, says in ((a_file, "is a file"), (NOT_WRITABLE, "is not writable")):
        monkeypatch.setenv(procs.BASE_ENV, str(base))
        assert cli.main(command) == 1
        out, err = capsys.readouterr()
        assert not out and len(lines(err)) == 1 and says in err, err
    monkeypatch.setenv(procs.BASE_ENV, str(a_file.parent / "never-made"))
    assert cli.main(command) == 0  # a folder not there yet: simply nothing to clean
    assert "nothing to clean" in capsys.readouterr().out
    assert not (a_file.parent / "never-made").exists()


def test_doctor_names_an_unusable_tmpdir(
    a_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(procs.BASE_ENV, str(a_file))
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if "run directories" in line]
    assert "[missing]" in line and "is a file, not a directory" in line, out


@pytest.fixture
def private_parent(tmp_path: Path) -> Iterator[Path]:
    """A run-dir folder inside a 0700 directory, like pytest's own /tmp/pytest-of-root."""
    parent = tmp_path / "private"
    parent.mkdir(mode=0o700)
    yield parent / "runs"


def test_root_tmpdir_that_postgres_user_cannot_enter_is_one_line(
    tmp_path: Path, private_parent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root PostgreSQL runs as nobody: a run-dir folder it cannot reach is found at
    start-up (not as initdb's 'Permission denied' deep in a drill); not as root, the
    server is ourselves and the same folder is fine."""
    monkeypatch.setenv(procs.BASE_ENV, str(private_parent))
    if os.geteuid() != 0:
        assert unprivileged_preflight() is None
        return
    code, out = pytest_run(tmp_path / "t", DRILLBOOK_TMPDIR=str(private_parent))
    assert_usage_error(code, out, "cannot enter", str(private_parent.parent), "chmod o+x")
    # Only when a collected test needs a server: unit tests run there all the same.
    code, out = pytest_run(
        tmp_path / "u", test="def test_pure():\n    pass\n", DRILLBOOK_TMPDIR=str(private_parent)
    )
    assert code == 0 and "1 passed" in out, out


# -- drillbook init, runbook check, report --------------------------------------------------


def test_init_into_a_file_or_an_unwritable_folder_writes_nothing(
    a_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for target, says in (
        (a_file, "is a file, not a folder"),
        (a_file / "team", "is a file, not a folder"),
        (NOT_WRITABLE / "team", "cannot write"),
    ):
        assert cli.main(["init", str(target)]) == 1
        out, err = capsys.readouterr()
        assert len(lines(out + err)) == 1 and says in err and "nothing written" in err, err
    assert a_file.read_text() == "someone's file\n"


def test_runbook_check_of_what_is_not_a_runbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "runbook.md"
    binary.write_bytes(bytes(range(256)) * 8)
    huge = tmp_path / "huge.md"
    with huge.open("wb") as f:
        f.write(b"# Restore\n" + b"x" * (MAX_RUNBOOK_BYTES + 1))
    for target, says in (
        (binary, "not UTF-8"),
        (tmp_path, "Is a directory"),
        (tmp_path / "missing.md", "No such file"),
        (huge, "more than 4 MiB"),
        (Path("/dev/zero"), "more than 4 MiB"),  # endless: read up to the limit only
    ):
        assert cli.main(["runbook", "check", str(target)]) == 1
        out, err = capsys.readouterr()
        assert len(lines(out + err)) == 1 and says in out + err, out + err


def test_report_without_a_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for history in (tmp_path / "history.jsonl", tmp_path):
        assert cli.main(["report", "--quarter", "--history", str(history)]) == 2
        out, err = capsys.readouterr()
        assert len(lines(out + err)) == 1 and "no history file" in err, err


# -- the external backend -------------------------------------------------------------------


def test_external_backend_without_urls_is_one_line(tmp_path: Path) -> None:
    code, out = pytest_run(tmp_path, "--drill-backend=external")
    assert_usage_error(code, out, "needs the URL of at least one server", "--drill-backend=local")


@pytest.mark.parametrize(
    ("option", "url", "says"),
    [
        ("--drill-external-postgres", "mysql://u:pw-secret-1@db/app", "must start with"),
        ("--drill-external-redis", "http://:pw-secret-1@cache:6379/0", "must start with"),
        ("--drill-external-s3", "ftp://files.example:21", "must start with"),
        ("--drill-external-redis", "redis://:pw-secret-1@cache:6379/zero", "is not a number"),
        ("--drill-external-postgres", "postgresql://u:pw-secret-1@db:port/app", "cannot parse"),
    ],
)
def test_external_url_with_a_bad_scheme_is_one_line(
    tmp_path: Path, option: str, url: str, says: str
) -> None:
    code, out = pytest_run(tmp_path, "--drill-backend=external", f"{option}={url}")
    assert_usage_error(code, out, option, says)
    assert "pw-secret-1" not in out


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[bytes]]]:
    """A listening socket that records every connection: a proxy or a metadata service
    nobody named must receive nothing."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    hits: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                hits.append(conn.recv(200))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}", hits
    finally:
        stop.set()
        thread.join(5)
        srv.close()


def test_external_unresolvable_host_is_not_run_and_contacts_nothing_else(
    monkeypatch: pytest.MonkeyPatch, recorder: tuple[str, list[bytes]]
) -> None:
    """The host given does not resolve: NOT RUN in one line, and no request went to an
    address the user did not give (an HTTP(S)_PROXY of the environment, for one)."""
    url, hits = recorder
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3-secret-never-sent")
    backend = ExternalBackend(
        postgres="postgresql://u:pw@no-such-host.invalid:5432/app",
        redis="redis://no-such-host.invalid:6379/0",
        s3="http://no-such-host.invalid:9000",
    )
    for kind in ("postgres", "redis", "s3"):
        with pytest.raises(DrillNotRun) as info:
            getattr(backend, kind)(f"{kind}-session")
        reason = info.value.reason
        assert info.value.code == "SETUP_FAILED" and "\n" not in reason.strip(), reason
        assert "no-such-host.invalid" in reason and "does not answer" in reason, reason
    assert hits == []


def test_verify_without_credentials_never_asks_the_metadata_address(
    tmp_path: Path, recorder: tuple[str, list[bytes]]
) -> None:
    """An S3 source with its own endpoint and no keys in the environment: one line, NOT
    VERIFIED (exit 3), and EC2's metadata address (here a recorder) is never asked."""
    url, hits = recorder
    (tmp_path / "drills.toml").write_text(
        '[services.app-db]\nkind = "postgres"\ntier = "P0"\nrto = "15m"\nrpo = "1d"\n'
        'backup = ["pg_dump every 1d"]\n\n[services.app-db.source]\n'
        f'url = "s3://backups/db/"\nendpoint = "http://127.0.0.1:{procs.free_port()}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DRILLBOOK_EXTERNAL"))}
    env.update(AWS_EC2_METADATA_SERVICE_ENDPOINT=url, AWS_CONFIG_FILE="/dev/null")
    env.update(AWS_SHARED_CREDENTIALS_FILE="/dev/null", PYTHONPATH=str(ROOT))
    res = subprocess.run(
        [sys.executable, "-m", "drillbook.cli", "verify", "-q", "--history", "none"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 3, out
    [line] = [line for line in lines(out) if "app-db" in line]
    assert "NOT VERIFIED" in line and "credentials" in line, out
    assert hits == []


# -- a drill file that cannot be imported ---------------------------------------------------


def test_drill_importing_a_name_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    test = (
        "import pytest\n"
        "from drillbook.scenarios.s3.backup import create_buckett\n\n"
        "def test_x(s3):\n    pass\n"
    )
    code, out = pytest_run(tmp_path, test=test)
    assert code == 2, out
    expected = (
        "test_bad_input.py:2: cannot import name 'create_buckett' from "
        "'drillbook.scenarios.s3.backup' (did you mean 'create_bucket'?)"
    )
    assert expected in lines(out), out
    assert "Traceback" not in out and "valid Python names" not in out, out
