"""What a drill calls: mark t0, run named steps in phases, probe, check, keep a ledger.

A drill reads like its runbook::

    with drill.fault("SIGKILL the primary and wipe its data dir"):
        pg.kill(); shutil.rmtree(pg.data_dir)
    drill.detect(pg.probe)                        # t0 -> first failed probe
    with drill.decision("total loss -> restore base backup + WAL"):
        ...
    with drill.step("copy base backup", Phase.EXECUTION) as s:
        s.run(["cp", "-a", src, dst])
    drill.wait_healthy(pg.probe)
    drill.check("orphaned scenes", n == 0, detail=f"{n} orphans")
    drill.verify_ledger(ledger)

Each step records its commands (secrets redacted), start and end on the monotonic clock,
outcome, exit status and output tail. The record is plain data (:mod:`drillbook.record`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from drillbook import capture, probes, trace
from drillbook.deadline import Deadlines
from drillbook.drill_ledgers import Ledgers
from drillbook.errors import DrillNotRun, StepTimeout
from drillbook.record import Check, DrillRecord, Finding, Phase, Step
from drillbook.redact import redact
from drillbook.steps import OUTPUT_TAIL, StepContext, min_opt, recorder, redact_value, tail
from drillbook.watchdog import Watchdog

__all__ = ["Drill", "StepContext"]


class Drill(Ledgers):
    """The live side of a :class:`DrillRecord` (ledgers and protections: :class:`Ledgers`)."""

    def __init__(
        self,
        record: DrillRecord,
        *,
        rto_target: float | None = None,
        deadline: float | None = None,
        probe_interval: float = 0.02,
    ) -> None:
        self.record = record
        self.rto_target = rto_target
        # After t0 the drill may run at most this long: the RTO target unless a tighter
        # deadline is given. A hung recovery then ends as RTO_EXCEEDED, not as a hang.
        self.deadline = deadline
        self.probe_interval = probe_interval
        self.deadlines = Deadlines()
        # Taken now, before the drill starts anything: what the watchdog must never kill.
        self.watchdog = Watchdog(self.deadlines)
        self._init_ledgers()
        self._timed_out: str | None = None

    # -- t0 -----------------------------------------------------------------------
    @contextlib.contextmanager
    def fault(self, description: str) -> Iterator[StepContext]:
        """Inject the fault; t0 is the instant this block starts, and the injection's end
        (the block's) is where detection starts.

        Just before t0 every registered protection is sampled (:meth:`protect`); a fault
        function that destroys one says so (``drillbook.capture.destroyed``).
        """
        if self.record.t0_mono is not None:
            raise RuntimeError("a drill has one t0: fault() was already called")
        self.sample_captures()
        t0 = time.monotonic()
        self.record.t0_mono = t0
        self.record.fault = description
        for name, writer in self.ledgers.items():
            writer.mark_t0(t0, stop=self._stop_at_t0[name])
        limit = min_opt(self.deadline, self.rto_target)
        if limit is not None:
            self.record.deadline_s = limit
            self.watchdog.start()
            self.deadlines.push(
                t0 + limit,
                f"drill deadline: {limit:.1f} s after t0 passed (RTO target "
                f"{self.rto_target if self.rto_target is not None else 'n/a'} s)",
            )
        try:
            with (
                capture.injecting(self.points),
                self.step(description, Phase.FAULT, _start=t0) as ctx,
            ):
                yield ctx
        finally:
            self.record.injected_mono = time.monotonic()
            self.save_points()

    # -- steps --------------------------------------------------------------------
    @contextlib.contextmanager
    def step(
        self,
        name: str,
        phase: Phase | str = Phase.EXECUTION,
        *,
        timeout: float | None = None,
        _start: float | None = None,
    ) -> Iterator[StepContext]:
        phase_value = phase.value if isinstance(phase, Phase) else Phase(phase).value
        passed = self.deadlines.passed()
        if passed is not None:  # the drill's deadline fired: nothing more may start
            raise StepTimeout(passed)
        step = Step(name=name, phase=phase_value, start_mono=_start or time.monotonic())
        self.record.steps.append(step)
        if timeout is not None:
            self.watchdog.start()
            self.deadlines.push(step.start_mono + timeout, f"step {name!r}: {timeout:.1f} s passed")
        try:
            with trace.recording(recorder(step)):
                yield StepContext(self, step)
        except StepTimeout as exc:
            step.outcome = "timeout"
            step.error = redact(str(exc))
            self._on_timeout(str(exc), step)
            raise
        except BaseException as exc:
            step.outcome = "failed"
            step.error = redact(f"{type(exc).__name__}: {exc}")[:OUTPUT_TAIL]
            raise
        else:
            step.outcome = "ok"
        finally:
            step.end_mono = time.monotonic()
            if timeout is not None:
                self.deadlines.pop()

    @contextlib.contextmanager
    def backup(
        self, name: str, *, method: str, of: Any, timeout: float | None = None
    ) -> Iterator[StepContext]:
        """A backup the drill takes its own way (a SETUP step named *name*): once it
        succeeded it protects the ledger *of* (a ledger writer, or a source string such
        as ``postgres://127.0.0.1:5432/app``), holding every write acknowledged before the
        step began, as a dump, a snapshot or a copy of a stopped server does. A recovery
        that loses one of them is CAPTURED_WRITE_LOST, whatever the RPO target.

        *method*: its kind as drills.toml declares the service's backup (``pg_dump``,
        ``rdb``, ``basebackup`` ...); an undeclared one is recorded, not judged. One taken
        after t0 (the runbook's "dump what is left first") is an EXECUTION step that
        protects nothing the fault broke.
        """
        sink = getattr(of, "sink", of)  # a ledger writer, or its sink
        source = of if isinstance(of, str) else getattr(sink, "source", None)
        if not source:
            raise ValueError(f"drill.backup({name!r}): 'of' names no ledger source: {of!r}")
        after_t0 = self.record.t0_mono is not None
        phase = Phase.EXECUTION if after_t0 else Phase.SETUP
        with self.step(name, phase, timeout=timeout) as step_ctx:
            started = step_ctx.step.start_mono
            if after_t0:
                step_ctx.step.notes["protects"] = "nothing: taken after t0"
            yield step_ctx
        if after_t0:
            return
        point = capture.CapturePoint(
            method,
            name,
            source,
            f"every write acknowledged before {name!r} began",
            acked_before_mono=started,
        )
        self.protect(capture.Capture(method, name, source, lambda: point, kinds=(method,)))

    def _on_timeout(self, message: str, step: Step) -> None:
        if self._timed_out:
            return
        self._timed_out = message
        if message.startswith("drill deadline"):
            self.record.findings.append(
                Finding(
                    "RTO_EXCEEDED",
                    f"recovery still running when the {message}; stopped during step {step.name!r}",
                )
            )
        else:
            self.record.findings.append(
                Finding("STEP_TIMEOUT", f"{message}; the drill was stopped there")
            )

    @contextlib.contextmanager
    def decision(self, procedure: str, *, timeout: float | None = None) -> Iterator[StepContext]:
        """The decision phase: its end is the instant the procedure is chosen."""
        with self.step(f"decide: {procedure}", Phase.DECISION, timeout=timeout) as ctx:
            yield ctx
        self.record.procedure = procedure
        self.record.decided_mono = time.monotonic()

    def decide(self, procedure: str, *, why: str | None = None) -> None:
        """A decision with no code to run: the procedure is chosen now (ends the decision
        phase), *why* is kept as its evidence."""
        with self.decision(procedure) as ctx:
            if why:
                ctx.note("why", why)

    def triage(self, probes: Any, *, expected: Any = None) -> Any:
        """Run the decision tree (:mod:`drillbook.triage`) in the decision phase.

        The chosen procedure is recorded; a class other than *expected* fails the drill
        (TRIAGE_MISMATCH).
        """
        from drillbook.triage import classify

        result = classify(probes, expected)
        with self.decision(result.procedure) as ctx:
            ctx.note("evidence", result.evidence)
        self.record.triage = result.to_dict()
        return result

    # -- probes -------------------------------------------------------------------
    def detect(
        self, probe: Callable[[], Any], *, timeout: float = 30.0, name: str = "probe"
    ) -> float | None:
        """Poll *probe* from t0 until it fails: the end of the detection phase.

        Returns seconds from t0 to the first failed probe, or None when the probe never
        failed within *timeout*: the fault was not effective (FAULT_NOT_EFFECTIVE).
        """
        if self.record.t0_mono is None:
            raise RuntimeError("detect() before fault(): t0 is not marked")
        step = Step(
            name=f"detect: {name} fails", phase=Phase.DETECTION.value, start_mono=time.monotonic()
        )
        self.record.steps.append(step)
        try:
            polled = probes.until_failure(probe, timeout=timeout, interval=self.probe_interval)
        finally:
            step.end_mono = time.monotonic()
        error = polled.error
        if error is None:
            step.outcome = "failed"
            step.error = f"probe never failed in {timeout:.1f} s ({polled.probes} probes)"
            self.record.findings.append(
                Finding(
                    "FAULT_NOT_EFFECTIVE",
                    f"the injected fault ({self.record.fault}) broke nothing: "
                    f"{polled.probes} probes over {timeout:.1f} s all succeeded",
                )
            )
            return None
        self.record.detected_mono = polled.at_mono
        step.outcome = "ok"
        step.notes.update(
            probes=polled.probes, failure=tail(f"{type(error).__name__}: {error}", 500)
        )
        return polled.at_mono - self.record.t0_mono

    def observe_detection(self, detail: str) -> None:
        """Record detection found by other means (an integrity probe of the drill's own)."""
        if self.record.t0_mono is None:
            raise RuntimeError("observe_detection() before fault()")
        now = time.monotonic()
        self.record.detected_mono = now
        self.record.steps.append(
            Step(
                name=f"detect: {detail}",
                phase=Phase.DETECTION.value,
                start_mono=now,
                end_mono=now,
                outcome="ok",
            )
        )

    def wait_healthy(
        self, probe: Callable[[], Any], *, timeout: float = 60.0, name: str = "probe"
    ) -> float:
        """Poll until *probe* succeeds: the first healthy probe after t0."""
        with self.step(f"wait healthy: {name}", Phase.EXECUTION) as ctx:
            polled = probes.until_healthy(
                probe, timeout=timeout, interval=self.probe_interval, name=name
            )
            if self.record.first_healthy_mono is None:
                self.record.first_healthy_mono = polled.at_mono
            ctx.note("probes", polled.probes)
            t0 = self.record.t0_mono
            return polled.at_mono - (t0 if t0 is not None else ctx.step.start_mono)

    def executed(self) -> None:
        """Mark the recovery procedure finished (otherwise: end of the last execution step)."""
        self.record.executed_mono = time.monotonic()

    # -- validation -------------------------------------------------------------------
    def check(
        self,
        name: str,
        passed: bool,
        detail: str = "",
        *,
        expected: Any = None,
        actual: Any = None,
    ) -> bool:
        """Record an integrity/data check. A failed check fails the drill (INTEGRITY_FAILED)."""
        self.record.checks.append(
            Check(
                name=name,
                passed=bool(passed),
                detail=redact(detail),
                expected=redact_value(expected),
                actual=redact_value(actual),
                at_mono=time.monotonic(),
            )
        )
        return bool(passed)

    def validated(self) -> None:
        """Mark validation complete: the RTO clock stops here (if every check passed)."""
        self.record.validated_mono = time.monotonic()

    def runbook(self, path: str | os.PathLike[str], **options: Any) -> Any:
        """Run a Markdown runbook (``section=``, ``service=``, ``handles=`` ...) as this
        drill's recovery: each step recorded and timed against its budget."""
        from drillbook.scenarios.runbook.executor import run_runbook

        return run_runbook(self, path, **options)

    # -- misc -----------------------------------------------------------------------------
    def note(self, key: str, value: Any) -> None:
        self.record.notes[key] = redact_value(value)

    def finding(self, code: str, message: str, *, severity: str = "fail") -> Finding:
        """Record a finding the drill's own code established (a gap in the WAL archive, a
        backup refused on its checksum): a stable code and the decisive line."""
        finding = Finding(code, redact(message)[:OUTPUT_TAIL], severity)
        if finding not in self.record.findings:
            self.record.findings.append(finding)
        return finding

    def not_run(self, reason: str, code: str = "NOT_RUN") -> None:
        raise DrillNotRun(reason, code=code)

    def close(self) -> None:
        self.deadlines.clear()
        self.watchdog.close()
        self.stop_ledgers()
        self.record.finished_mono = time.monotonic()
