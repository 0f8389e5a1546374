"""A real pytest run of real drills, in a subprocess, shared by the report tests.

A throw-away project (``conftest.py`` with the project's plugins plus
``reports.plugin``, a ``drills.toml``, three drills) is run twice:

1. under pytest-xdist (``-n 2``) with pytest-html and ``--junitxml``: a PASS (a real
   PostgreSQL SIGKILLed and restarted while the ledger writes into it), a FAIL (a
   recovery step that raises) and a NOT RUN;
2. the NOT RUN drill alone with ``--drill-allow-not-run``, without pytest-html, so the
   history holds two runs and the JUnit file shows the skipped-with-reason form.

Secrets are planted on the way in: a DSN password in an exception message, the value
of a secret environment variable in a command's output and a note, a password on a
command line, the server's own DSN in a note. The redaction test scans every artefact.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

TARGETS = """\
[services.smoke]
kind = "postgres"
tier = "smoke"
description = "report tests: crash and restart in place"
rto = "5m"
rpo = "1m"
backup = ["wal archive, archive_timeout 1s"]
"""

CONFTEST = """\
# the drillbook plugin comes from its pytest11 entry point
"""

DRILLS = """\
import os
from pathlib import Path

import pytest

from drillbook.record import Phase
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink

DSN_SECRET = os.environ["PLANT_DSN_SECRET"]
CLI_SECRET = os.environ["PLANT_CLI_SECRET"]


@pytest.mark.drill(service="smoke", scenario="postgres crash, restart in place")
def test_crash_restart(drill, pg):
    Path(os.environ["PLANT_PW_FILE"]).write_text(pg.password)
    drill.record.versions.update(postgres=pg.version())
    drill.note("server", pg.url)  # the server's DSN, real password inside
    drill.note("token", os.environ["DRILL_PLANTED_API_TOKEN"])  # an env var's value
    ledger = drill.ledger(PostgresLedgerSink(pg), name="postgres")
    drill.wait_for_writes(ledger, 20)
    with drill.fault("SIGKILL of the PostgreSQL server") as ctx:
        ctx.call("pg.kill()", pg.kill)
    drill.detect(pg.probe, name="SELECT 1")
    with drill.decision("data dir intact: restart in place, WAL crash recovery"):
        pass
    with drill.step("start postgres (crash recovery)", Phase.EXECUTION) as ctx:
        ctx.call("pg.start()", pg.start)
        ctx.run(
            ["sh", "-c", "echo the value is $DRILL_PLANTED_API_TOKEN", "--password", CLI_SECRET]
        )
    drill.wait_healthy(pg.probe, name="SELECT 1")
    result = drill.verify_ledger(ledger)
    drill.check(
        "every acknowledged write read back",
        result.lost == 0 and not result.has_integrity_findings,
        detail=f"read back through {pg.url}",
    )


@pytest.mark.drill(service="smoke", scenario="restore with revoked credentials")
def test_leaky_error(drill):
    with drill.fault("revoke the restore user's grant") as ctx:
        ctx.run(["sh", "-c", "true"])
    drill.observe_detection("restore user cannot log in")
    with drill.decision("restore with the break-glass user"):
        pass
    with drill.step("pg_restore", Phase.EXECUTION):
        raise RuntimeError(
            f"could not connect to postgresql://restore:{DSN_SECRET}@10.0.0.9:5432/app"
        )


@pytest.mark.drill(service="smoke", scenario="needs docker")
def test_needs_docker(drill):
    drill.not_run("the docker backend is not available here", code="BACKEND_UNSUPPORTED")
"""


@dataclass
class Run:
    returncode: int
    output: str


@dataclass
class RealRun:
    project: Path
    out: Path
    history: Path
    metrics: Path
    first: Run
    second: Run
    junit_first: Path
    junit_second: Path
    pytest_html: Path
    secrets: dict[str, str]

    def artefacts(self) -> list[Path]:
        """Every file the report plugin wrote."""
        files = [p for p in self.out.rglob("*") if p.is_file()]
        return sorted([*files, self.history])


def _pytest(project: Path, env: dict[str, str], *args: str) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    return Run(proc.returncode, proc.stdout + proc.stderr)


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    project = tmp_path_factory.mktemp("drillproject")
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (project / "conftest.py").write_text(CONFTEST)
    (project / "drills.toml").write_text(TARGETS)
    (project / "test_drills.py").write_text(textwrap.dedent(DRILLS))
    planted = {
        "dsn": "dsnPw-" + secrets.token_hex(8),
        "cli": "cliPw-" + secrets.token_hex(8),
        "env": "envTok-" + secrets.token_hex(8),
    }
    pw_file = project / "server-password.txt"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "PLANT_DSN_SECRET": planted["dsn"],
        "PLANT_CLI_SECRET": planted["cli"],
        "DRILL_PLANTED_API_TOKEN": planted["env"],
        "PLANT_PW_FILE": str(pw_file),
    }
    for name in (
        "DRILLBOOK_NO_REPORT",
        "DRILLBOOK_REPORT_DIR",
        "DRILLBOOK_HISTORY",
        "DRILLBOOK_METRICS",
        "DRILLBOOK_ALLOW_NOT_RUN",
    ):
        env.pop(name, None)
    out, history = project / "out", project / "history.jsonl"
    junit1, junit2 = project / "junit-1.xml", project / "junit-2.xml"
    html = project / "pytest-html.html"
    first = _pytest(
        project,
        env,
        "-n",
        "2",
        "--html",
        str(html),
        "--self-contained-html",
        f"--junitxml={junit1}",
        f"--drill-report-dir={out}",
        f"--drill-history={history}",
        "test_drills.py",
    )
    second = _pytest(
        project,
        env,
        "-p",
        "no:html",
        "--drill-allow-not-run",
        f"--junitxml={junit2}",
        f"--drill-report-dir={out}",
        f"--drill-history={history}",
        "-k",
        "needs_docker",
        "test_drills.py",
    )
    planted["server"] = pw_file.read_text() if pw_file.exists() else ""
    run = RealRun(
        project, out, history, out / "drills.prom", first, second, junit1, junit2, html, planted
    )
    assert (out / "latest.html").exists(), first.output[-4000:]
    return run
