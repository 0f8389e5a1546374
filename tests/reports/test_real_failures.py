"""Real pytest runs that must-fail drills, a corrupt history and unwritable artefacts.

A small project whose drills start no server (a recovery step that raises is all a
must-fail drill needs) is run in a subprocess, as a team would run it:

- issue 11: a must-fail drill caught with its code is PASS in the banner, in
  drills.json and in ``drill_success``; one missing its code fails the run;
- issue 12: a corrupt history row is named by line number and skipped, the metrics
  still count all eight services of the history; a report, history or metrics file
  that cannot be written fails the run (exit 1) with the reason on one line, and
  what the other artefacts wrote is kept. Unwritable without root's privileges
  mattering: a path under a regular file, and a history that is ``/dev/full``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from drillbook.reports.model import anchor

from .test_history_rows import SERVICES, valid_row

TARGETS = """\
[services.smoke]
kind = "postgres"
rto = "5m"
rpo = "1m"
backup = ["pg_dump every 15m"]
"""

DRILLS = """\
import pytest

from drillbook.record import Phase


def broken_restore(drill):
    with drill.fault("drop the table") as ctx:
        ctx.run(["sh", "-c", "true"])
    drill.observe_detection("the table is gone")
    with drill.decision("restore the dump"):
        pass
    with drill.step("pg_restore of a truncated dump", Phase.EXECUTION):
        raise RuntimeError("pg_restore: error: could not read from input file")


@pytest.mark.drill(service="smoke", scenario="mutant: truncated dump")
@pytest.mark.drill_expect_fail("DRILL_ERROR")
def test_caught(drill):
    broken_restore(drill)


@pytest.mark.drill(service="smoke", scenario="mutant: truncated dump, wrong code")
@pytest.mark.drill_expect_fail("DATA_LOST")
def test_missed(drill):
    broken_restore(drill)
"""
CAUGHT, MISSED = "test_mutants.py::test_caught", "test_mutants.py::test_missed"


@dataclass
class Run:
    code: int
    output: str


@dataclass
class Project:
    root: Path
    env: dict[str, str]

    def pytest(self, *args: str, select: str = "", max_file: int | None = None) -> Run:
        """Run the drills; *max_file* bytes is the most any file may grow to (a full disk)."""
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_mutants.py"]
        if select:
            argv += ["-k", select]

        def small_disk() -> None:
            if max_file is not None:  # writes past it fail with EFBIG, as on a full disk
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (max_file, max_file))

        proc = subprocess.run(
            [*argv, *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            preexec_fn=small_disk,
        )
        return Run(proc.returncode, proc.stdout + proc.stderr)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("mutants")
    (root / "drills.toml").write_text(TARGETS)
    (root / "test_mutants.py").write_text(textwrap.dedent(DRILLS))
    (root / "a-file").write_text("a regular file: nothing can be created under it\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRILLBOOK_")}
    env["DRILLBOOK_TMPDIR"] = os.environ.get("DRILLBOOK_TMPDIR", str(root / "runs"))
    return Project(root, env)


def samples(prom: Path, name: str) -> dict[str, float]:
    return {
        s.labels.get("drill") or s.labels["service"]: s.value
        for fam in text_string_to_metric_families(prom.read_text())
        for s in fam.samples
        if s.name == name
    }


def report_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "could not write" in line]


def test_must_fail_drills_and_a_corrupt_history(project: Project) -> None:
    history = project.root / "history.jsonl"
    rows = [valid_row(i, svc, 1.7e9 + i, "PASS", 1.0) for i, svc in enumerate(SERVICES)]
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, json.dumps({**rows[0], "started": "yesterday"}))
    history.write_text("\n".join(lines) + "\n")
    out = project.root / "out"
    run = project.pytest(f"--drill-report-dir={out}", f"--drill-history={history}")
    assert run.code == 1, run.output[-3000:]  # the missed must-fail drill fails the run
    assert "1 passed" in run.output and "1 failed" in run.output
    assert "line 4: started: expected a Unix time in seconds, got 'yesterday'" in run.output
    assert report_lines(run.output) == []
    doc = json.loads((out / "latest.json").read_text())
    verdicts = {d["drill_id"]: (d["verdict"], d["drill_verdict"]) for d in doc["drills"]}
    assert verdicts == {CAUGHT: ("PASS", "FAIL"), MISSED: ("FAIL", "FAIL")}
    assert doc["overall"] == "FAIL"
    page = (out / "latest.html").read_text()
    start = page.index(f'id="{anchor(CAUGHT)}"')
    caught = page[start : page.index("</section>", start)]
    assert '<span class="badge v-PASS">PASS</span>' in caught
    assert "failed as expected: DRILL_ERROR" in caught
    prom = out / "drills.prom"
    assert samples(prom, "drill_success") == {CAUGHT: 1.0, MISSED: 0.0}
    # All eight services of the history still counted, plus this run's failed attempt.
    totals = samples(prom, "backup_restore_test_total")
    assert totals == {**dict.fromkeys(SERVICES, 1.0), "smoke": 1.0}
    # The history grew by this run's two lines; the corrupt one is kept as it was.
    after = history.read_text().splitlines()
    assert after[: len(lines)] == lines and len(after) == len(lines) + 2


def test_must_fail_caught_alone_is_a_passing_run(project: Project) -> None:
    out = project.root / "out-caught"
    run = project.pytest(f"--drill-report-dir={out}", "--drill-history=none", select="caught")
    assert run.code == 0, run.output[-3000:]
    doc = json.loads((out / "latest.json").read_text())
    assert doc["overall"] == "PASS"
    assert doc["counts"] == {"PASS": 1, "FAIL": 0, "NOT RUN": 0, "total": 1}
    page = (out / "latest.html").read_text()
    assert '<div class="banner"><span class="badge v-PASS">PASS</span>' in page
    assert samples(out / "drills.prom", "drill_success") == {CAUGHT: 1.0}


def _unwritable(project: Project, option: str, value: str) -> tuple[Run, Path, Path]:
    name = f"{option}-{Path(value).name}"  # one output and history per case
    out, history = project.root / f"out-{name}", project.root / f"history-{name}.jsonl"
    args = {"report-dir": str(out), "history": str(history)}  # metrics: <report dir>/drills.prom
    args[option] = value
    run = project.pytest(*(f"--drill-{k}={v}" for k, v in args.items()), select="caught")
    return run, out, history


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("report-dir", "a-file/out", "NotADirectoryError"),
        ("report-dir", "a-file", "is a file, not a folder"),  # metrics under it: said once
        ("history", "a-file/history.jsonl", "NotADirectoryError"),
        ("history", "full-disk.jsonl", "No space left on device"),
        ("metrics", "a-file/drills.prom", "NotADirectoryError"),
    ],
)
def test_an_artefact_that_cannot_be_written_fails_the_run(
    project: Project, option: str, value: str, reason: str
) -> None:
    full = project.root / "full-disk.jsonl"
    if not full.is_symlink():
        full.symlink_to("/dev/full")  # every write: ENOSPC, as on a full disk
    run, out, history = _unwritable(project, option, str(project.root / value))
    assert run.code == 1, run.output[-3000:]
    (line,) = report_lines(run.output)
    assert line.startswith("drill report: could not write ") and reason in line
    assert f"--drill-{option}" in line  # says which option to change
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output
    # Every other artefact was still written.
    if option != "report-dir":
        assert (out / "latest.html").is_file() and (out / "latest.json").is_file()
    if option != "history":
        assert len(history.read_text().splitlines()) == 1
    if option == "history":
        assert (out / "drills.prom").is_file()


def test_a_full_disk_loses_nothing_already_written(project: Project) -> None:
    out, history = project.root / "out-full", project.root / "history-full.jsonl"
    args = (f"--drill-report-dir={out}", f"--drill-history={history}")
    first = project.pytest(*args, select="caught")
    assert first.code == 0, first.output[-3000:]
    before = (out / "latest.html").read_bytes()
    # The next run's report no longer fits: the HTML (tens of KB) fails, the small files
    # (drills.json, the history line, the metrics) still fit.
    run = project.pytest(*args, select="caught", max_file=16_000)
    assert run.code == 1, run.output[-3000:]
    (line,) = report_lines(run.output)
    assert "HTML report: OSError: [Errno 27] File too large" in line
    assert (out / "latest.html").read_bytes() == before  # the earlier report, intact
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    rows = [json.loads(x) for x in history.read_text().splitlines()]
    assert len(rows) == 2 and len({r["run_id"] for r in rows}) == 2
