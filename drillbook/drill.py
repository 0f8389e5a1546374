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
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from drillbook import trace
from drillbook.errors import DrillNotRun, StepTimeout
from drillbook.ledger import LedgerSink, LedgerWriter
from drillbook.record import Check, Command, DrillRecord, Finding, Phase, Step
from drillbook.redact import redact

OUTPUT_TAIL = 4000


def _tail(text: str | bytes | None, limit: int = OUTPUT_TAIL) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return redact(text[-limit:])


class _Deadline:
    """SIGALRM-based deadline for Python code in the main thread (a hung step).

    Subprocesses get their own timeout on top (they are killed, not just abandoned).
    """

    def __init__(self) -> None:
        self.stack: list[tuple[float, str]] = []  # (absolute monotonic deadline, reason)
        self.enabled = threading.current_thread() is threading.main_thread() and hasattr(
            signal, "setitimer"
        )
        self._old: Any = None

    def push(self, at: float, reason: str) -> None:
        self.stack.append((at, reason))
        self._arm()

    def pop(self) -> None:
        if self.stack:
            self.stack.pop()
        self._arm()

    def remaining(self) -> float | None:
        if not self.stack:
            return None
        return min(at for at, _ in self.stack) - time.monotonic()

    def nearest(self) -> tuple[float, str] | None:
        """(seconds left, reason) of the deadline that ends first."""
        if not self.stack:
            return None
        at, reason = min(self.stack)
        return at - time.monotonic(), reason

    def _handler(self, signum: int, frame: Any) -> None:
        now = time.monotonic()
        due = [(at, why) for at, why in self.stack if at <= now + 0.001]
        if due:
            raise StepTimeout(min(due)[1])
        self._arm()

    def _arm(self) -> None:
        if not self.enabled:
            return
        if not self.stack:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if self._old is not None:
                signal.signal(signal.SIGALRM, self._old)
                self._old = None
            return
        if self._old is None:
            self._old = signal.signal(signal.SIGALRM, self._handler)
        left = max(0.001, min(at for at, _ in self.stack) - time.monotonic())
        signal.setitimer(signal.ITIMER_REAL, left)

    def clear(self) -> None:
        self.stack.clear()
        self._arm()


class StepContext:
    """Handed to the body of a step: run commands through it so they are recorded."""

    def __init__(self, drill: Drill, step: Step) -> None:
        self.drill = drill
        self.step = step

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        input: bytes | None = None,
        timeout: float | None = None,
        check: bool = True,
        user: int | None = None,
        group: int | None = None,
        stdout_path: str | os.PathLike[str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a command, recorded (argv redacted) with exit status and output tail.

        It is killed (its whole process group) when the step or drill deadline passes.
        """
        argv = [str(a) for a in argv]
        cmd = Command(kind="argv", text=redact(" ".join(argv)), start_mono=time.monotonic())
        self.step.commands.append(cmd)
        nearest = self.drill.deadlines.nearest()
        limit = _min_opt(timeout, nearest[0] if nearest else None)
        # Which limit ends the command decides the finding (STEP_TIMEOUT vs RTO_EXCEEDED).
        binding = (
            nearest[1]
            if nearest and (timeout is None or nearest[0] < timeout)
            else f"command timed out after {timeout} s: {cmd.text}"
        )
        full_env = {**os.environ, **(env or {})}
        kwargs: dict[str, Any] = {}
        if user is not None:
            kwargs.update(user=user, group=group, extra_groups=[])
        out_file = open(stdout_path, "wb") if stdout_path else None  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=out_file if out_file else subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
                **kwargs,
            )
            try:
                out, err = proc.communicate(input=input, timeout=limit)
            except (subprocess.TimeoutExpired, StepTimeout) as exc:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
                cmd.end_mono = time.monotonic()
                cmd.exit_status = proc.returncode
                cmd.output_tail = _tail((out or b"") + (err or b""))
                if isinstance(exc, StepTimeout):
                    raise
                raise StepTimeout(binding) from exc
        finally:
            if out_file:
                out_file.close()
        cmd.end_mono = time.monotonic()
        cmd.exit_status = proc.returncode
        cmd.output_tail = _tail((out or b"") + (err or b""))
        result = subprocess.CompletedProcess(argv, proc.returncode, out or b"", err or b"")
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, cmd.text, out, err)
        return result

    def sql(self, conn: Any, query: str, params: Any = None) -> list[Any]:
        """Execute SQL on a psycopg connection, recorded; rows if the statement returns any."""
        cmd = Command(kind="sql", text=redact(" ".join(query.split())), start_mono=time.monotonic())
        self.step.commands.append(cmd)
        try:
            cur = conn.execute(query, params)
            rows = cur.fetchall() if cur.description else []
        except Exception as exc:
            cmd.end_mono = time.monotonic()
            cmd.exit_status = 1
            cmd.output_tail = _tail(str(exc))
            raise
        cmd.end_mono = time.monotonic()
        cmd.exit_status = 0
        cmd.output_tail = _tail(repr(rows[:5]))
        return rows

    def call(self, description: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run an API call (boto3, redis-py ...) recorded under *description*."""
        cmd = Command(kind="api", text=redact(description), start_mono=time.monotonic())
        self.step.commands.append(cmd)
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            cmd.end_mono = time.monotonic()
            cmd.exit_status = 1
            cmd.output_tail = _tail(f"{type(exc).__name__}: {exc}")
            raise
        cmd.end_mono = time.monotonic()
        cmd.exit_status = 0
        cmd.output_tail = _tail(repr(result)[:500])
        return result

    def processed(self, nbytes: int) -> None:
        """Bytes this step moved (a restore's input size), so throughput is known."""
        self.step.bytes_processed = (self.step.bytes_processed or 0) + int(nbytes)

    def note(self, key: str, value: Any) -> None:
        self.step.notes[key] = _redact_value(value)


def _redact_value(value: Any) -> Any:
    """Notes and check values are free-form: a secret there must not reach the record."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def _min_opt(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return max(0.001, min(present)) if present else None


class Drill:
    """The live side of a :class:`DrillRecord`."""

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
        self.deadlines = _Deadline()
        self.ledgers: dict[str, LedgerWriter] = {}
        self._stop_at_t0: dict[str, bool] = {}
        self._timed_out: str | None = None

    # -- t0 -----------------------------------------------------------------------
    @contextlib.contextmanager
    def fault(self, description: str) -> Iterator[StepContext]:
        """Inject the fault; t0 is the instant this block starts."""
        if self.record.t0_mono is not None:
            raise RuntimeError("a drill has one t0: fault() was already called")
        t0 = time.monotonic()
        self.record.t0_mono = t0
        self.record.fault = description
        for name, writer in self.ledgers.items():
            writer.mark_t0(t0, stop=self._stop_at_t0[name])
        limit = _min_opt(self.deadline, self.rto_target)
        if limit is not None:
            self.record.deadline_s = limit
            self.deadlines.push(
                t0 + limit,
                f"drill deadline: {limit:.1f} s after t0 passed (RTO target "
                f"{self.rto_target if self.rto_target is not None else 'n/a'} s)",
            )
        with self.step(description, Phase.FAULT, _start=t0) as ctx:
            yield ctx

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
        step = Step(name=name, phase=phase_value, start_mono=_start or time.monotonic())
        self.record.steps.append(step)
        if timeout is not None:
            self.deadlines.push(step.start_mono + timeout, f"step {name!r}: {timeout:.1f} s passed")

        def record(kind: str, text: str, start: float, end: float, status: int, out: str) -> None:
            step.commands.append(
                Command(
                    kind=kind,
                    text=redact(text),
                    start_mono=start,
                    end_mono=end,
                    exit_status=status,
                    output_tail=_tail(out),
                )
            )

        try:
            with trace.recording(record):
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
        deadline = time.monotonic() + timeout
        probes = 0
        try:
            while True:
                probes += 1
                try:
                    probe()
                except StepTimeout:
                    raise
                except Exception as exc:
                    now = time.monotonic()
                    self.record.detected_mono = now
                    step.outcome = "ok"
                    step.notes.update(
                        probes=probes, failure=_tail(f"{type(exc).__name__}: {exc}", 500)
                    )
                    return now - self.record.t0_mono
                if time.monotonic() >= deadline:
                    step.outcome = "failed"
                    step.error = f"probe never failed in {timeout:.1f} s ({probes} probes)"
                    self.record.findings.append(
                        Finding(
                            "FAULT_NOT_EFFECTIVE",
                            f"the injected fault ({self.record.fault}) broke nothing: "
                            f"{probes} probes over {timeout:.1f} s all succeeded",
                        )
                    )
                    return None
                time.sleep(self.probe_interval)
        finally:
            step.end_mono = time.monotonic()

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
            deadline = time.monotonic() + timeout
            last: Exception | None = None
            probes = 0
            while True:
                probes += 1
                try:
                    probe()
                except StepTimeout:
                    raise
                except Exception as exc:
                    last = exc
                else:
                    now = time.monotonic()
                    if self.record.first_healthy_mono is None:
                        self.record.first_healthy_mono = now
                    ctx.note("probes", probes)
                    t0 = self.record.t0_mono
                    return now - (t0 if t0 is not None else ctx.step.start_mono)
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"{name} still failing after {timeout:.1f} s ({probes} probes): {last}"
                    )
                time.sleep(self.probe_interval)

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
                expected=_redact_value(expected),
                actual=_redact_value(actual),
                at_mono=time.monotonic(),
            )
        )
        return bool(passed)

    def validated(self) -> None:
        """Mark validation complete: the RTO clock stops here (if every check passed)."""
        self.record.validated_mono = time.monotonic()

    # -- ledger ---------------------------------------------------------------------------
    def ledger(
        self,
        sink: LedgerSink,
        *,
        name: str = "ledger",
        cadence: float = 0.010,
        stop_at_t0: bool = True,
        start: bool = True,
    ) -> LedgerWriter:
        """Start a background writer of numbered, acknowledged writes (the RPO ledger)."""
        if name in self.ledgers:
            raise ValueError(f"a ledger named {name!r} already exists in this drill")
        writer = LedgerWriter(sink, cadence=cadence, name=name)
        self._stop_at_t0[name] = stop_at_t0
        self.ledgers[name] = writer
        if start:
            writer.start()
        return writer

    def wait_for_writes(self, writer: LedgerWriter, count: int, *, timeout: float = 30.0) -> None:
        """Block until *writer* has *count* acknowledged writes (a warm-up with a deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            acked = sum(1 for w in writer.writes if w.status == "acked")
            if acked >= count:
                return
            if writer.crash or time.monotonic() >= deadline:
                failed = [w.error for w in writer.writes if w.error][-1:]
                raise TimeoutError(
                    f"ledger {writer.name}: {acked}/{count} writes acknowledged after "
                    f"{timeout:.0f} s; last error: {failed[0] if failed else writer.crash}"
                )
            time.sleep(writer.cadence)

    def verify_ledger(
        self, writer: LedgerWriter, *, read_from: Any = None, name: str | None = None
    ) -> Any:
        """Read every write back and classify it; the result goes into the record.

        *read_from*: the handle the recovery produced (a restored server, a promoted
        standby, the replica bucket) when it is not the one the ledger wrote to.
        """
        if self.record.t0_mono is None:
            raise RuntimeError("verify_ledger() before fault(): no t0 to measure RPO from")
        if read_from is not None:
            if not hasattr(writer.sink, "read_handle"):
                raise TypeError(f"ledger sink {type(writer.sink).__name__} cannot read elsewhere")
            writer.sink.read_handle = read_from
        key = name or next((k for k, w in self.ledgers.items() if w is writer), "ledger")
        with self.step(f"ledger read-back: {key}", Phase.VALIDATION) as ctx:
            writer.stop()
            result = writer.verify(self.record.t0_mono)
            ctx.note("writes", result.writes_total)
        self.record.ledgers[key] = result.to_dict()
        return result

    def stop_ledgers(self) -> None:
        """Stop every writer and close its sink; runs on every exit path of the drill."""
        for writer in self.ledgers.values():
            with contextlib.suppress(Exception):
                writer.close()

    def runbook(self, path: str | os.PathLike[str], **options: Any) -> Any:
        """Run a Markdown runbook (``section=``, ``service=``, ``handles=`` ...) as this
        drill's recovery: each step recorded and timed against its budget."""
        from drillbook.scenarios.runbook.executor import run_runbook

        return run_runbook(self, path, **options)

    # -- misc -----------------------------------------------------------------------------
    def note(self, key: str, value: Any) -> None:
        self.record.notes[key] = _redact_value(value)

    def not_run(self, reason: str, code: str = "NOT_RUN") -> None:
        raise DrillNotRun(reason, code=code)

    def close(self) -> None:
        self.deadlines.clear()
        self.stop_ledgers()
        self.record.finished_mono = time.monotonic()
