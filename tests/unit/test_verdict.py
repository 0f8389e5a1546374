"""Verdicts and findings, both directions: each code fires on the broken record and not
on a healthy one.

Records are built by hand from a healthy drill's timeline; ledger entries come from the
real classifier (:func:`drillbook.ledger.classify`) on synthetic writes, so the numbers
are the engine's own. Findings recorded while a drill runs (FAULT_NOT_EFFECTIVE,
STEP_TIMEOUT, RTO_EXCEEDED at the drill deadline) are produced through the live
:class:`~drillbook.drill.Drill` API.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator

import pytest

from drillbook.drill import Drill
from drillbook.errors import StepTimeout
from drillbook.ledger import LedgerWrite, WriteStatus, checksum_of, classify, make_payload
from drillbook.record import Check, DrillRecord, Finding, Phase, Step, Verdict
from drillbook.verdict import FINDING_CODES, decide, evaluate, finalize

T0 = 1000.0
MakeDrill = Callable[..., Drill]
CADENCE = 0.01
TOKEN = "tok"


# -- a healthy record -------------------------------------------------------------------


def writes(n: int, *, first_ack: float = T0 - 0.5) -> list[LedgerWrite]:
    """n acknowledged writes, one per cadence, the last acknowledged before t0."""
    out = []
    for seq in range(1, n + 1):
        payload = make_payload(TOKEN, seq, 32)
        sent = first_ack + (seq - 1) * CADENCE
        out.append(
            LedgerWrite(
                seq=seq,
                payload=payload,
                checksum=checksum_of(payload),
                sent_mono=sent,
                ack_mono=sent + 0.001,
                status=WriteStatus.ACKED,
                done_mono=sent + 0.001,
            )
        )
    return out


def ledger_entry(
    ws: list[LedgerWrite], readback: dict[int, str] | None = None, t0: float = T0
) -> dict:
    if readback is None:
        readback = {w.seq: w.payload for w in ws}
    return classify(ws, readback, t0, CADENCE).to_dict()


def healthy(**target: object) -> DrillRecord:
    """A drill that broke, was detected, recovered and validated well inside its targets."""
    tgt: dict[str, object] = {
        "name": "svc",
        "kind": "postgres",
        "rto": 10.0,
        "rpo": 1.0,
        "rto_clock": "fault",
        "rpo_bound": 0.0,
        "backups": [{"text": "sync replication"}],
        "production_size": None,
    }
    tgt.update(target)
    r = DrillRecord(drill_id="drills/x.py::test_x", name="test_x", service="svc", target=tgt)
    r.t0_mono = T0
    r.fault = "SIGKILL"
    r.steps = [
        Step("SIGKILL", Phase.FAULT.value, T0, T0 + 0.01, "ok"),
        Step("detect: probe fails", Phase.DETECTION.value, T0 + 0.01, T0 + 0.1, "ok"),
        Step("decide: restart", Phase.DECISION.value, T0 + 0.1, T0 + 0.2, "ok"),
        Step("start", Phase.EXECUTION.value, T0 + 0.2, T0 + 2.0, "ok"),
        Step("ledger read-back: pg", Phase.VALIDATION.value, T0 + 2.0, T0 + 2.5, "ok"),
    ]
    r.detected_mono = T0 + 0.1
    r.decided_mono = T0 + 0.2
    r.first_healthy_mono = T0 + 2.0
    r.checks = [Check("rows intact", True, "0 lost", at_mono=T0 + 2.6)]
    r.validated_mono = T0 + 2.7
    r.ledgers = {"pg": ledger_entry(writes(50))}
    return r


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def test_the_healthy_record_has_no_finding_and_passes() -> None:
    r = healthy()
    assert evaluate(r) == []
    assert finalize(r) is Verdict.PASS
    assert r.verdict == "PASS"
    assert r.findings == []
    assert r.rto_seconds == pytest.approx(2.7)


# -- each code, both directions -----------------------------------------------------------


def _slow(r: DrillRecord) -> None:
    r.validated_mono = T0 + 11.0


def _rpo_over(r: DrillRecord) -> None:
    ws = writes(300)  # acknowledged from t0-0.5 s to t0+2.5 s: keep those before t0
    ws = [w for w in ws if w.ack_mono is not None and w.ack_mono < T0]
    # Only the first 10 came back: a restore to ~0.4 s before t0... with a 0.1 s target.
    r.target = {**(r.target or {}), "rpo": 0.1}
    r.ledgers = {"pg": ledger_entry(ws, {w.seq: w.payload for w in ws[:10]})}


def _bound_over(r: DrillRecord) -> None:
    r.target = {**(r.target or {}), "rpo": 60.0, "rpo_bound": 3600.0,
                "backups": [{"text": "pg_dump every 1h"}]}  # fmt: skip


def _hole(r: DrillRecord) -> None:
    ws = writes(20)
    back = {w.seq: w.payload for w in ws if w.seq != 7}
    r.ledgers = {"pg": ledger_entry(ws, back)}


def _lost_with_rpo_zero(r: DrillRecord) -> None:
    ws = writes(20)
    r.target = {**(r.target or {}), "rpo": 0.0}
    # Tail loss whose RPO is under... nothing: RPO 0 promises every acknowledged write.
    r.ledgers = {"pg": ledger_entry(ws, {w.seq: w.payload for w in ws[:-1]})}


def _lost_after_t0(r: DrillRecord) -> None:
    ws = writes(20, first_ack=T0 - 0.1)  # the last 10 were sent and acked after t0
    assert any(w.sent_mono > T0 for w in ws)
    r.ledgers = {"pg": ledger_entry(ws, {w.seq: w.payload for w in ws[:-1]})}


def _corrupted(r: DrillRecord) -> None:
    ws = writes(20)
    back = {w.seq: w.payload for w in ws}
    back[5] = "garbage"
    r.ledgers = {"pg": ledger_entry(ws, back)}


def _phantom(r: DrillRecord) -> None:
    ws = writes(20)
    back = {w.seq: w.payload for w in ws}
    back[999] = make_payload(TOKEN, 999, 32)
    r.ledgers = {"pg": ledger_entry(ws, back)}


def _check_failed(r: DrillRecord) -> None:
    r.checks.append(Check("orphans", False, "3 orphaned rows", at_mono=T0 + 2.65))


def _no_t0(r: DrillRecord) -> None:
    r.t0_mono = None


def _no_detection(r: DrillRecord) -> None:
    r.detected_mono = None


def _no_execution(r: DrillRecord) -> None:
    r.steps = [s for s in r.steps if s.phase != Phase.EXECUTION.value]


def _no_validation(r: DrillRecord) -> None:
    r.checks = []
    r.ledgers = {}


def _triage_mismatch(r: DrillRecord) -> None:
    r.triage = {"observed": "degraded", "expected": "total_loss", "evidence": []}


def _projection_over(r: DrillRecord) -> None:
    # 100 MB restored in 1 s; production is 40 GB against a 10 s RTO.
    r.target = {**(r.target or {}), "production_size": 40 * 10**9}
    r.steps[3].bytes_processed = 100 * 10**6
    r.steps[3].end_mono = r.steps[3].start_mono + 1.0


BROKEN: dict[str, tuple[str, Callable[[DrillRecord], None]]] = {
    "rto over target": ("RTO_EXCEEDED", _slow),
    "rpo over target": ("RPO_EXCEEDED", _rpo_over),
    "rpo bound over target": ("RPO_BOUND_EXCEEDS_TARGET", _bound_over),
    "hole": ("DATA_LOST", _hole),
    "loss under rpo 0": ("DATA_LOST", _lost_with_rpo_zero),
    "loss after t0": ("DATA_LOST", _lost_after_t0),
    "corrupted": ("DATA_CORRUPTED", _corrupted),
    "phantom": ("PHANTOM_WRITE", _phantom),
    "check failed": ("INTEGRITY_FAILED", _check_failed),
    "no t0": ("FAULT_NOT_INJECTED", _no_t0),
    "no detection": ("DETECTION_MISSING", _no_detection),
    "no recovery": ("RECOVERY_NOT_RUN", _no_execution),
    "no validation": ("VALIDATION_NOT_RUN", _no_validation),
    "triage mismatch": ("TRIAGE_MISMATCH", _triage_mismatch),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_each_finding_fires_on_its_broken_record(case: str) -> None:
    code, breaker = BROKEN[case]
    assert code in FINDING_CODES
    assert code not in codes(evaluate(healthy()))
    r = healthy()
    breaker(r)
    found = [f for f in evaluate(r) if f.code == code]
    assert found, f"{case}: {code} missing from {evaluate(r)}"
    for f in found:
        assert f.severity == "fail"
        assert "\n" not in f.message and f.message
    assert finalize(r) is Verdict.FAIL
    assert code in codes(r.findings)


def test_projection_over_the_rto_is_a_warning_not_a_failure() -> None:
    r = healthy()
    _projection_over(r)
    assert finalize(r) is Verdict.PASS
    assert r.projection is not None
    assert r.projection.projected_seconds > 10.0
    [f] = r.findings
    assert (f.code, f.severity) == ("RTO_PROJECTED_EXCEEDED", "warn")
    assert "projection" in f.message
    # Fast enough at production size: no warning.
    r = healthy(production_size=10**6)
    _projection_over(r)
    r.target = {**(r.target or {}), "production_size": 10**6}
    assert finalize(r) is Verdict.PASS
    assert r.findings == []


def test_messages_carry_the_numbers() -> None:
    r = healthy()
    _slow(r)
    [f] = [f for f in evaluate(r) if f.code == "RTO_EXCEEDED"]
    assert "11.000 s" in f.message and "10.000 s" in f.message
    r = healthy()
    _hole(r)
    [f] = [f for f in evaluate(r) if f.code == "DATA_LOST"]
    assert "1 acknowledged writes missing" in f.message
    r = healthy()
    _corrupted(r)
    [f] = [f for f in evaluate(r) if f.code == "DATA_CORRUPTED"]
    assert "ledger pg: 1 writes" in f.message
    r = healthy()
    _rpo_over(r)
    [f] = [f for f in evaluate(r) if f.code == "RPO_EXCEEDED"]
    assert "target 0.100 s" in f.message and f"resolution {CADENCE:.3f} s" in f.message


# -- boundaries and the other direction ------------------------------------------------------


def test_rto_equal_to_the_target_is_met() -> None:
    r = healthy()
    r.validated_mono = T0 + 10.0
    assert "RTO_EXCEEDED" not in codes(evaluate(r))


def test_rto_clock_from_detection_subtracts_the_detection_phase() -> None:
    r = healthy(rto_clock="detection")
    r.detected_mono = T0 + 2.0
    r.validated_mono = T0 + 11.0  # 11 s from t0, 9 s from detection
    assert "RTO_EXCEEDED" not in codes(evaluate(r))
    r.target = {**(r.target or {}), "rto_clock": "fault"}
    assert "RTO_EXCEEDED" in codes(evaluate(r))


def test_tail_loss_inside_the_rpo_target_is_no_failure() -> None:
    """Losing the last writes is what an RPO measures: within target, the drill passes.
    Within the declared method's bound it is no finding at all; above it (here: sync
    replication promises 0) a warning says the method lost more than it promises."""
    ws = writes(20)
    r = healthy()
    r.ledgers = {"pg": ledger_entry(ws, {w.seq: w.payload for w in ws[:-3]})}
    assert r.ledgers["pg"]["counts"]["lost"] == 3
    assert r.ledgers["pg"]["holes"] == 0
    [warning] = evaluate(r)
    assert (warning.code, warning.severity) == ("RPO_BOUND_EXCEEDED", "warn")
    assert "the RPO target is still met" in warning.message
    assert decide(evaluate(r)) is Verdict.PASS
    r = healthy(rpo_bound=1.0, backups=[{"text": "async replication, lag 1s"}])
    r.ledgers = {"pg": ledger_entry(ws, {w.seq: w.payload for w in ws[:-3]})}
    assert evaluate(r) == []


def test_nothing_back_is_a_loss_whatever_the_rpo_target() -> None:
    """Every write lost, the oldest 0.5 s before t0, against a 1 h target: "RPO ≥ 0.5 s"
    is only a lower bound (a schema-only restore, a wiped AOF dir), never a pass."""
    ws = writes(50)
    r = healthy(rpo=3600.0, rpo_bound=1.0, backups=[{"text": "aof everysec"}])
    r.ledgers = {"pg": ledger_entry(ws, {})}
    assert r.ledgers["pg"]["rpo_is_lower_bound"]
    [f] = [f for f in evaluate(r) if f.code == "DATA_LOST"]
    assert "none of the 50 writes" in f.message and "lower bound" in f.message
    assert finalize(r) is Verdict.FAIL
    # The first write lost, the rest back: also no recovery point; the hole says so.
    r = healthy(rpo=3600.0)
    r.ledgers = {"pg": ledger_entry(ws, {w.seq: w.payload for w in ws[1:]})}
    [f] = [f for f in evaluate(r) if f.code == "DATA_LOST"]
    assert "1 acknowledged writes missing before later surviving ones" in f.message
    # Every write back: no finding; the tail lost: the RPO is measured, no lower bound.
    r = healthy(rpo=3600.0, rpo_bound=1.0, backups=[{"text": "aof everysec"}])
    r.ledgers = {"pg": ledger_entry(ws, {w.seq: w.payload for w in ws[:1]})}
    assert not r.ledgers["pg"]["rpo_is_lower_bound"]
    assert evaluate(r) == []


def test_rpo_equal_to_the_target_is_met() -> None:
    ws = writes(20)
    entry = ledger_entry(ws, {w.seq: w.payload for w in ws[:10]})
    r = healthy(rpo=entry["rpo_seconds"])
    r.ledgers = {"pg": entry}
    assert "RPO_EXCEEDED" not in codes(evaluate(r))


def test_every_failed_check_and_every_data_loss_is_its_own_finding() -> None:
    r = healthy(rpo=0.0)
    r.checks.append(Check("a", False, at_mono=T0 + 2.6))
    r.checks.append(Check("b", False, at_mono=T0 + 2.6))
    ws = writes(20)
    r.ledgers = {
        "one": ledger_entry(ws, {w.seq: w.payload for w in ws if w.seq != 3}),
        "two": ledger_entry(ws, {w.seq: w.payload for w in ws[:-1]}),
    }
    found = evaluate(r)
    assert [f.code for f in found].count("INTEGRITY_FAILED") == 2
    # ledger one: a hole (and, under RPO 0, its lost write); ledger two: a tail loss.
    assert [f.code for f in found].count("DATA_LOST") == 3


def test_fault_not_effective_suppresses_detection_missing() -> None:
    r = healthy()
    r.detected_mono = None
    r.findings = [Finding("FAULT_NOT_EFFECTIVE", "the fault broke nothing")]
    found = codes(evaluate(r))
    assert "FAULT_NOT_EFFECTIVE" in found
    assert "DETECTION_MISSING" not in found


def test_matching_triage_is_no_finding() -> None:
    r = healthy()
    r.triage = {"observed": "total_loss", "expected": "total_loss", "evidence": []}
    assert evaluate(r) == []
    r.triage = {"observed": "total_loss", "expected": None, "evidence": []}
    assert evaluate(r) == []


# -- errors -----------------------------------------------------------------------------


def test_an_unexpected_error_is_drill_error_with_its_first_line() -> None:
    found = evaluate(healthy(), error=RuntimeError("pg_restore failed\ndetails..."))
    [f] = [f for f in found if f.code == "DRILL_ERROR"]
    assert f.message == "RuntimeError: pg_restore failed"


def test_a_failed_assertion_is_check_failed() -> None:
    found = evaluate(healthy(), error=AssertionError("assert 3 == 0\n+ where ..."))
    [f] = [f for f in found if f.code == "CHECK_FAILED"]
    assert f.message == "assertion failed: assert 3 == 0"
    assert "DRILL_ERROR" not in codes(found)


def test_the_timeout_that_ended_a_drill_is_not_also_a_drill_error() -> None:
    for code in ("RTO_EXCEEDED", "STEP_TIMEOUT"):
        r = healthy()
        r.findings = [Finding(code, "stopped")]
        found = codes(evaluate(r, error=StepTimeout("deadline")))
        assert code in found
        assert "DRILL_ERROR" not in found


def test_decide_fails_on_any_fail_severity_only() -> None:
    assert decide([]) is Verdict.PASS
    assert decide([Finding("RTO_PROJECTED_EXCEEDED", "x", "warn")]) is Verdict.PASS
    assert decide([Finding("RTO_PROJECTED_EXCEEDED", "x", "warn"), Finding("X", "y")]) is (
        Verdict.FAIL
    )


# -- finalize ----------------------------------------------------------------------------


def test_finalize_derives_validated_from_the_last_check_or_validation_step() -> None:
    r = healthy()
    r.validated_mono = None
    r.checks = [
        Check("a", True, at_mono=T0 + 2.6),
        Check("b", True, at_mono=T0 + 3.25),
    ]
    assert finalize(r) is Verdict.PASS
    assert r.validated_mono == T0 + 3.25
    assert r.rto_seconds == 3.25

    r = healthy()
    r.validated_mono = None
    r.steps[-1].end_mono = T0 + 4.0  # the ledger read-back ended after the last check
    finalize(r)
    assert r.validated_mono == T0 + 4.0


def test_finalize_does_not_validate_a_drill_whose_validation_step_failed() -> None:
    r = healthy()
    r.validated_mono = None
    r.steps[-1].outcome = "failed"
    finalize(r)
    assert r.validated_mono is None
    assert r.rto_seconds is None


def test_finalize_does_not_validate_a_drill_that_raised() -> None:
    r = healthy()
    r.validated_mono = None
    assert finalize(r, error=RuntimeError("boom")) is Verdict.FAIL
    assert r.validated_mono is None


def test_a_failed_check_gives_no_rto() -> None:
    """Never validated: no RTO at all, so a slow and broken drill reports only the check."""
    r = healthy()
    r.validated_mono = None
    r.checks = [Check("orphans", False, "3 orphans", at_mono=T0 + 50.0)]
    assert finalize(r) is Verdict.FAIL
    assert r.validated_mono is None
    assert r.rto_seconds is None
    assert r.summary()["rto_s"] is None
    assert codes(r.findings) == {"INTEGRITY_FAILED"}


def test_a_failed_check_undoes_an_explicit_validated_mark() -> None:
    r = healthy()
    r.validated_mono = T0 + 50.0  # drill.validated() was called, yet a check failed
    r.checks.append(Check("orphans", False, at_mono=T0 + 2.65))
    finalize(r)
    assert r.validated_mono is None
    assert "RTO_EXCEEDED" not in codes(r.findings)


def test_finalize_keeps_not_run() -> None:
    r = DrillRecord("d", "d", verdict=Verdict.NOT_RUN.value, not_run_reason="[X] no docker")
    assert finalize(r) is Verdict.NOT_RUN
    assert r.findings == []
    assert r.verdict == "NOT RUN"


def test_finalize_is_idempotent() -> None:
    """finalize() says so; a report that finalizes again must not double the findings."""
    r = healthy(rpo=0.0)
    _check_failed(r)
    _hole(r)
    finalize(r)
    first = copy.deepcopy(r.findings)
    assert finalize(r) is Verdict.FAIL
    assert r.findings == first


# -- findings recorded while a drill runs ---------------------------------------------------


@pytest.fixture
def live() -> Iterator[MakeDrill]:
    """Live drills, always closed: a drill's SIGALRM deadline must never outlive its test."""
    made: list[Drill] = []

    def make(rto_target: float | None = None) -> Drill:
        drill = Drill(DrillRecord("d", "d"), rto_target=rto_target, probe_interval=0.005)
        made.append(drill)
        return drill

    yield make
    for drill in made:
        drill.close()


def test_detect_never_failing_is_fault_not_effective(live: MakeDrill) -> None:
    drill = live()
    with drill.fault("a fault that does nothing"):
        pass
    assert drill.detect(lambda: None, timeout=0.05) is None
    [f] = drill.record.findings
    assert f.code == "FAULT_NOT_EFFECTIVE"
    assert "a fault that does nothing" in f.message
    assert drill.record.detected_mono is None
    assert drill.record.steps[-1].outcome == "failed"


def test_detect_failing_probe_is_no_finding(live: MakeDrill) -> None:
    drill = live()
    calls = {"n": 0}

    def probe() -> None:
        calls["n"] += 1
        if calls["n"] >= 3:
            raise ConnectionRefusedError("refused")

    with drill.fault("kill"):
        pass
    seconds = drill.detect(probe, timeout=5)
    assert seconds is not None and seconds >= 0
    assert drill.record.findings == []
    t0 = drill.record.t0_mono
    assert t0 is not None
    assert drill.record.detected_mono == pytest.approx(t0 + seconds)
    assert drill.record.steps[-1].notes["probes"] == 3


def test_detect_before_fault_is_a_usage_error(live: MakeDrill) -> None:
    with pytest.raises(RuntimeError, match="before fault"):
        live().detect(lambda: None, timeout=0.01)


def test_a_hung_step_ends_at_its_timeout_as_step_timeout(live: MakeDrill) -> None:
    drill = live(rto_target=30.0)
    with drill.fault("kill"):
        pass
    finished = []  # the body's end is never reached: the timeout cut it off
    with pytest.raises(StepTimeout), drill.step("restore", Phase.EXECUTION, timeout=0.1):
        time.sleep(5)
        finished.append(True)
    assert not finished
    assert [f.code for f in drill.record.findings] == ["STEP_TIMEOUT"]
    assert drill.record.steps[-1].outcome == "timeout"


def test_a_hung_command_is_killed_at_the_step_timeout(live: MakeDrill) -> None:
    drill = live(rto_target=30.0)
    with drill.fault("kill"):
        pass
    with pytest.raises(StepTimeout), drill.step("restore", timeout=0.2) as s:
        s.run(["sleep", "10"])
    assert [f.code for f in drill.record.findings] == ["STEP_TIMEOUT"]
    [cmd] = drill.record.steps[-1].commands
    assert cmd.exit_status is not None and cmd.exit_status < 0  # killed by a signal


def test_the_drill_deadline_during_python_code_is_rto_exceeded(live: MakeDrill) -> None:
    drill = live(rto_target=0.2)
    with drill.fault("kill"):
        pass
    with pytest.raises(StepTimeout), drill.step("restore (slow)", Phase.EXECUTION):
        time.sleep(5)
    assert [f.code for f in drill.record.findings] == ["RTO_EXCEEDED"]
    assert drill.record.deadline_s == 0.2
    assert "restore (slow)" in drill.record.findings[0].message
    assert finalize(drill.record, error=StepTimeout("x")) is Verdict.FAIL


def test_the_drill_deadline_during_a_command_is_rto_exceeded(live: MakeDrill) -> None:
    """A slow pg_restore is the typical slow recovery: it must read RTO_EXCEEDED too.

    The drill deadline, not a step timeout, stopped the command (no step timeout given).
    """
    drill = live(rto_target=0.2)
    with drill.fault("kill"):
        pass
    with pytest.raises(StepTimeout), drill.step("pg_restore (slow)", Phase.EXECUTION) as s:
        s.run(["sleep", "5"])
    assert [f.code for f in drill.record.findings] == ["RTO_EXCEEDED"]


def test_the_drill_deadline_is_not_lost_in_code_that_catches_exception(live: MakeDrill) -> None:
    """Recovery code retries on ``except Exception`` (fixtures' wait_until does): the
    deadline must still end the drill with RTO_EXCEEDED, not be swallowed by a retry."""
    drill = live(rto_target=0.2)
    with drill.fault("kill"):
        pass
    retried_to_the_end = []
    with pytest.raises(BaseException), drill.step("start, retrying", Phase.EXECUTION):  # noqa: B017
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                time.sleep(0.05)
                raise ConnectionRefusedError("not ready yet")
            except Exception:
                continue
        retried_to_the_end.append(True)
        raise TimeoutError("gave up retrying")
    assert not retried_to_the_end, "the drill ran on past its deadline"
    assert "RTO_EXCEEDED" in [f.code for f in drill.record.findings]


def test_only_the_first_timeout_is_recorded(live: MakeDrill) -> None:
    drill = live(rto_target=30.0)
    with drill.fault("kill"):
        pass
    for _ in range(2):
        with pytest.raises(StepTimeout), drill.step("restore", timeout=0.05):
            time.sleep(2)
    assert [f.code for f in drill.record.findings] == ["STEP_TIMEOUT"]


def test_every_code_the_engine_emits_is_registered() -> None:
    """Codes are stable keys for reports and CI gates: none may escape the registry."""
    import re
    from pathlib import Path

    import drillbook

    emitted: set[str] = set()
    for path in Path(drillbook.__file__).parent.rglob("*.py"):  # every engine module
        source = path.read_text()
        emitted |= set(re.findall(r'Finding\(\s*"([A-Z_]+)"', source))
    assert {"FAULT_NOT_EFFECTIVE", "STEP_TIMEOUT", "RTO_EXCEEDED", "DATA_LOST"} <= emitted
    assert emitted <= set(FINDING_CODES)


# -- the rules give the findings of the evaluate() they replaced ----------------------------
# Expected lists captured from the nested-dict evaluate() of d0e9e32 (the same records
# through both: identical codes, messages, severities and order; a 3,000-example
# differential run on random records agreed as well).


def test_the_rules_give_every_finding_of_a_broken_drill_as_before() -> None:
    r = healthy(
        rpo=0.0,
        rpo_bound=5.0,
        rto=1.0,
        production_size=10**12,
        backups=[{"text": "pg_dump every 1h"}, {"text": "rebuild"}],
    )
    r.detected_mono = None
    r.steps = [s for s in r.steps if s.phase != Phase.EXECUTION.value]
    r.steps.append(Step("restore", Phase.EXECUTION.value, T0 + 0.2, T0 + 2.0, "ok"))
    r.checks.append(Check("orphans", False, "3 orphans", at_mono=T0 + 2.6))
    ws = writes(30)
    back = {w.seq: w.payload for w in ws if w.seq not in (5, 29, 30)}
    back[7] = "garbage"
    back[999] = "phantom"
    r.ledgers = {"pg": ledger_entry(ws, back)}
    r.triage = {"observed": "degraded", "expected": "total_loss", "evidence": []}
    r.validated_mono = None
    finalize(r, error=ValueError("could not read the dump\nsecond line"))
    pg = "ledger pg: "
    assert [(f.code, f.message, f.severity) for f in r.findings] == [
        ("DRILL_ERROR", "ValueError: could not read the dump", "fail"),
        ("DETECTION_MISSING", "no probe observed the outage after t0 (call drill.detect)", "fail"),
        ("INTEGRITY_FAILED", "check 'orphans' failed: 3 orphans", "fail"),
        (
            "RPO_BOUND_EXCEEDS_TARGET",
            "the declared backup (pg_dump every 1h; rebuild) can lose up to 5.000 s > RPO "
            "target 0.000 s",
            "fail",
        ),
        ("RPO_EXCEEDED", pg + "RPO 0.469 s > target 0.000 s (resolution 0.010 s)", "fail"),
        (
            "DATA_LOST",
            pg + "1 acknowledged writes missing before later surviving ones (holes after "
            "the recovery point)",
            "fail",
        ),
        ("DATA_LOST", pg + "3 acknowledged writes lost; the target is RPO 0", "fail"),
        ("DATA_CORRUPTED", pg + "1 writes read back with wrong content", "fail"),
        ("PHANTOM_WRITE", pg + "1 entries present that were never written", "fail"),
        (
            "TRIAGE_MISMATCH",
            "triage classified the incident as degraded, the injected fault is total_loss",
            "fail",
        ),
    ]


def test_the_rules_give_rto_projection_and_assertion_findings_as_before() -> None:
    r = healthy(rto=1.0, production_size=10**12, rto_clock="detection")
    r.steps[3].bytes_processed = 10**6
    finalize(r, error=AssertionError("rows differ\nfull diff"))
    assert [(f.code, f.message, f.severity) for f in r.findings] == [
        ("CHECK_FAILED", "assertion failed: rows differ", "fail"),
        ("RTO_EXCEEDED", "RTO 2.600 s (validated − detection) > target 1.000 s", "fail"),
        (
            "RTO_PROJECTED_EXCEEDED",
            "projection: restoring 1000.0 GB at the measured 0.6 MB/s takes 20d20h0.8s "
            "(1800000.8 s) > RTO target 1.000 s (a projection, not a measurement)",
            "warn",
        ),
    ]


def test_each_rule_reads_typed_records() -> None:
    """The rules see LedgerResult, TargetSnapshot and TriageOutcome, not the raw dicts."""
    from drillbook.ledger import LedgerResult
    from drillbook.record import TargetSnapshot
    from drillbook.verdict import RULES, Facts

    r = healthy()
    r.triage = {"observed": "total_loss", "expected": "total_loss", "evidence": []}
    facts = Facts.of(r, None)
    assert isinstance(facts.target, TargetSnapshot) and facts.target.backups == (
        "sync replication",
    )
    assert all(isinstance(led, LedgerResult) for led in facts.ledgers.values())
    assert [f for rule in RULES for f in rule(facts)] == []


def test_triage_of_any_decision_tree_is_judged() -> None:
    """The Redis tree records its own class names (procedures), not incidents."""
    r = healthy()
    r.triage = {"observed": "INVESTIGATE", "expected": "RESTORE_S3", "procedure": "x"}
    [f] = [f for f in evaluate(r) if f.code == "TRIAGE_MISMATCH"]
    assert f.message == (
        "triage classified the incident as INVESTIGATE, the injected fault is RESTORE_S3"
    )
    r.triage = {"observed": "RESTORE_S3", "expected": "RESTORE_S3"}
    assert evaluate(r) == []
