"""``pytest -n 2``: every drill isolated per worker, one report and history for the run.

A throw-away project with two drill files (two drills each, ``--dist loadfile`` gives
each worker one file) runs under pytest-xdist. Each drill SIGKILLs the session
PostgreSQL and restarts it, so two workers sharing a server would break each other's
drills. Each drill writes down its worker, the server's port, data directory and
postmaster pid, and the session Redis's port: the workers' servers must differ, the
drills of one worker must share them (session servers, started once per worker), and
the controller's report and history must hold every drill exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

TARGETS = """\
[services.smoke]
kind = "postgres"
tier = "smoke"
rto = "5m"
rpo = "1m"
backup = ["wal archive, archive_timeout 1s"]
"""

DRILL = """
import json, os
from pathlib import Path

import pytest

from drillbook.record import Phase
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink


def _crash(drill, pg, redis_db, tag):
    seen = {
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
        "pg_port": pg.port,
        "pg_data": str(pg.data_dir),
        "pg_pid": pg.pid,
        "redis_port": redis_db.port,
    }
    Path(os.environ["XDIST_SEEN"], tag + ".json").write_text(json.dumps(seen))
    ledger = drill.ledger(PostgresLedgerSink(pg), name="postgres")
    drill.wait_for_writes(ledger, 10)
    with drill.fault("SIGKILL of the session PostgreSQL"):
        pg.kill()
    drill.detect(pg.probe)
    drill.decide("data dir intact: restart in place")
    with drill.step("start postgres", Phase.EXECUTION):
        pg.start()
    drill.wait_healthy(pg.probe)
    result = drill.verify_ledger(ledger)
    drill.check("no acknowledged write lost", result.lost == 0)


@pytest.mark.drill(service="smoke", scenario="crash {n}a")
def test_crash_{n}a(drill, pg, redis_db):
    _crash(drill, pg, redis_db, "{n}a")


@pytest.mark.drill(service="smoke", scenario="crash {n}b")
def test_crash_{n}b(drill, pg, redis_db):
    _crash(drill, pg, redis_db, "{n}b")
"""


def test_two_workers_run_isolated_drills_into_one_report(tmp_path: Path) -> None:
    project, seen = tmp_path / "project", tmp_path / "seen"
    project.mkdir()
    seen.mkdir()
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (project / "drills.toml").write_text(TARGETS)
    for n in ("1", "2"):
        (project / f"test_drills_{n}.py").write_text(textwrap.dedent(DRILL).replace("{n}", n))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DRILLBOOK_NO"))}
    env.update(XDIST_SEEN=str(seen), PYTHONPATH=str(project))
    out, history = project / "out", project / "history.jsonl"
    argv = [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadfile"]
    proc = subprocess.run(
        [*argv, f"--drill-report-dir={out}", f"--drill-history={history}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "drills: 4 passed, 0 failed, 0 not run" in proc.stdout

    by_tag = {p.stem: json.loads(p.read_text()) for p in seen.glob("*.json")}
    assert sorted(by_tag) == ["1a", "1b", "2a", "2b"]
    workers = {tag: s["worker"] for tag, s in by_tag.items()}
    assert workers["1a"] == workers["1b"] and workers["2a"] == workers["2b"]
    assert workers["1a"] != workers["2a"] and workers["1a"].startswith("gw")
    for key in ("pg_port", "pg_data", "redis_port"):
        assert by_tag["1a"][key] == by_tag["1b"][key], key  # one session server per worker
        assert by_tag["1a"][key] != by_tag["2a"][key], key  # never one of the other worker
    assert by_tag["1a"]["pg_pid"] != by_tag["2a"]["pg_pid"]

    doc = json.loads((out / "latest.json").read_text())
    ids = sorted(d["drill_id"] for d in doc["drills"])
    assert ids == sorted(f"test_drills_{n}.py::test_crash_{n}{x}" for n in "12" for x in "ab")
    assert doc["run"]["workers"] == 2
    assert doc["counts"]["total"] == 4
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs  # the controller wrote the run's report, once
    lines = [json.loads(line) for line in history.read_text().splitlines()]
    assert sorted(line["drill_id"] for line in lines) == ids
