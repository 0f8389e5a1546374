"""What the body of a drill step runs through, so that every command is recorded.

:class:`StepContext` runs a command, SQL or an API call and records it in its step:
the text as run (secrets redacted), start and end on the monotonic clock, exit status
and an output tail. A command still running when the step's or the drill's deadline
passes is killed with its whole process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from drillbook import trace
from drillbook.errors import StepTimeout
from drillbook.record import Command, Step
from drillbook.redact import redact

if TYPE_CHECKING:
    from drillbook.drill import Drill

OUTPUT_TAIL = 4000
DEADLINE_MARGIN = 1.0  # a command's wait outlasts the deadline's SIGALRM by this much
COLLECT_TIMEOUT = 10.0  # how long a killed command's output and status are waited for


def tail(text: str | bytes | None, limit: int = OUTPUT_TAIL) -> str:
    """The last *limit* characters of an output, redacted."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return redact(text[-limit:])


def redact_value(value: Any) -> Any:
    """Notes and check values are free-form: a secret there must not reach the record."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def recorder(step: Step) -> trace.Recorder:
    """Where the operations a handle traces (kill, start, restart) go: *step*'s commands."""

    def record(kind: str, text: str, start: float, end: float, status: int, out: str) -> None:
        step.commands.append(
            Command(
                kind=kind,
                text=redact(text),
                start_mono=start,
                end_mono=end,
                exit_status=status,
                output_tail=tail(out),
            )
        )

    return record


def min_opt(*values: float | None) -> float | None:
    """The smallest of the given limits (at least 1 ms), None when none is given."""
    present = [v for v in values if v is not None]
    return max(0.001, min(present)) if present else None


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
        limit, binding = self._limit(timeout, cmd.text)
        kwargs: dict[str, Any] = {}
        if user is not None:
            kwargs.update(user=user, group=group, extra_groups=[])
        with contextlib.ExitStack() as stack:
            out_file = stack.enter_context(open(stdout_path, "wb")) if stdout_path else None
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=out_file if out_file else subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
                **kwargs,
            )
            out, err = self._communicate(proc, cmd, input, limit, binding)
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, cmd.text, out, err)
        return subprocess.CompletedProcess(argv, proc.returncode, out or b"", err or b"")

    def _limit(self, timeout: float | None, text: str) -> tuple[float | None, str]:
        """The time the command may take, and the reason that limit gives when it ends it.

        Which limit ends the command decides the finding (STEP_TIMEOUT vs RTO_EXCEEDED).
        """
        deadlines = self.drill.deadlines
        nearest = deadlines.nearest()
        if nearest and (timeout is None or nearest[0] < timeout):
            # The deadline's own SIGALRM ends the command (the watchdog is its clock); a
            # wait timed out at the same instant would race it, and the StepTimeout could
            # land while the killed command is being collected, leaving it unrecorded.
            margin = DEADLINE_MARGIN if deadlines.enabled else 0.0
            return min_opt(timeout, max(nearest[0], 0.0) + margin), nearest[1]
        return timeout, f"command timed out after {timeout} s: {text}"

    @staticmethod
    def _communicate(
        proc: subprocess.Popen[bytes],
        cmd: Command,
        input: bytes | None,
        limit: float | None,
        binding: str,
    ) -> tuple[bytes | None, bytes | None]:
        try:
            out, err = proc.communicate(input=input, timeout=limit)
        except (subprocess.TimeoutExpired, StepTimeout) as exc:
            k_out, k_err, late = _collect_killed(proc)
            _finish(cmd, proc.returncode, (k_out or b"") + (k_err or b""))
            if isinstance(exc, StepTimeout):
                raise
            # The deadline's own StepTimeout, when it came meanwhile: its reason is exact.
            raise late or StepTimeout(binding) from exc
        _finish(cmd, proc.returncode, (out or b"") + (err or b""))
        return out, err

    def sql(self, conn: Any, query: str, params: Any = None) -> list[Any]:
        """Execute SQL on a psycopg connection, recorded; rows if the statement returns any."""
        cmd = Command(kind="sql", text=redact(" ".join(query.split())), start_mono=time.monotonic())
        self.step.commands.append(cmd)
        try:
            cur = conn.execute(query, params)
            rows = cur.fetchall() if cur.description else []
        except Exception as exc:
            _finish(cmd, 1, str(exc))
            raise
        _finish(cmd, 0, repr(rows[:5]))
        return rows

    def call(self, description: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run an API call (boto3, redis-py ...) recorded under *description*."""
        cmd = Command(kind="api", text=redact(description), start_mono=time.monotonic())
        self.step.commands.append(cmd)
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            _finish(cmd, 1, f"{type(exc).__name__}: {exc}")
            raise
        _finish(cmd, 0, repr(result)[:500])
        return result

    @contextlib.contextmanager
    def fixed(self) -> Iterator[None]:
        """Mark the block's time as not growing with the data (a server's start, a
        promotion): an RTO projection scales the rest of the step by its bytes and holds
        this part as measured."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.step.fixed_seconds = (self.step.fixed_seconds or 0.0) + time.monotonic() - start

    def processed(self, nbytes: int) -> None:
        """Bytes this step moved (a restore's input size), so throughput is known."""
        self.step.bytes_processed = (self.step.bytes_processed or 0) + int(nbytes)

    def note(self, key: str, value: Any) -> None:
        self.step.notes[key] = redact_value(value)


def _collect_killed(
    proc: subprocess.Popen[bytes],
) -> tuple[bytes | None, bytes | None, StepTimeout | None]:
    """SIGKILL *proc*'s group and collect its output and status; a StepTimeout that
    arrives meanwhile (the deadline's SIGALRM) does not cut that short: it is returned."""
    late: StepTimeout | None = None
    for _ in range(2):  # a deadline raises once: a second StepTimeout is another deadline
        try:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            # Bounded: a grandchild in another session may hold the pipes open for good.
            out, err = proc.communicate(timeout=COLLECT_TIMEOUT)
            return out, err, late
        except StepTimeout as exc:
            late = exc
        except subprocess.TimeoutExpired:
            break
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=COLLECT_TIMEOUT)
    return None, None, late


def _finish(cmd: Command, status: int | None, output: str | bytes) -> None:
    cmd.end_mono = time.monotonic()
    cmd.exit_status = status
    cmd.output_tail = tail(output)
