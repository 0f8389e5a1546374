"""Run a section of a Markdown runbook as the drill's recovery: ``drill.runbook(...)``.

Every step of the section (the same steps ``drillbook runbook check`` lists: one parser)
becomes a recorded drill step, in the execution phase or, for a step whose title says it
verifies, the validation phase. Its fenced blocks run in order: ``bash``/``sh``/``shell``
with ``bash -euo pipefail``, ``sql`` through ``psql -v ON_ERROR_STOP=1``, in a work
directory (``$RUNBOOK_WORKDIR``), with the environment bound to the drill's servers and
the service-control shims first on PATH (:mod:`.workspace`). Each block runs in its own
shell: a variable set in one block is not seen by the next (write a file if it must be).

Findings, each naming the step:

- ``COMMAND_NOT_FOUND``: a tool this host lacks, an external URL, a unit name the drill
  does not have, or bash's exit 127; checked before the block runs, nothing is skipped;
- ``RUNBOOK_STEP_FAILED``: a non-zero exit, with the end of its output;
- ``MANUAL_STEP``: a step with no command, or a command drills.toml marks ``manual``:
  a person's step, never a pass;
- ``STEP_OVER_BUDGET``: the step took longer than its budget (a window "(5-10 minutes)"
  must end 10 minutes into the section, a duration "(25 min)" is the step's own);
- ``RUNBOOK_BUDGET_EXCEEDS_RTO`` (warning): the budgets add up past the service's RTO.

A failed step stops the runbook (:class:`RunbookFailed`), as it would stop a responder.
Conditional steps ("(if needed, ...)") run unless the drill skips them with a reason.
"""

from __future__ import annotations

import contextvars
import os
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillbook.drill import Drill, StepContext
from drillbook.errors import DrillFailure
from drillbook.record import Finding, Phase
from drillbook.redact import redact
from drillbook.runbook.check import block_issues
from drillbook.runbook.mapping import RunbookMapping, apply_commands, map_paths
from drillbook.runbook.model import (
    Block,
    Node,
    RunbookError,
    Step,
    phase_of,
    section_budget,
    steps_of,
)
from drillbook.runbook.parser import load
from drillbook.scenarios.runbook.selection import check_choices, check_skips, skipped
from drillbook.scenarios.runbook.workspace import Workspace, open_workspace

UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


class RunbookFailed(DrillFailure):
    """A runbook step failed: the code (RUNBOOK_STEP_FAILED, COMMAND_NOT_FOUND) and why.

    Like a StepTimeout, the drill FAILs with this code alone (already recorded with the
    step's output), never with a DRILL_ERROR on top.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}", code=code)


@dataclass
class StepResult:
    name: str
    line: int
    phase: str
    outcome: str  # ok | failed | manual | skipped | not run
    seconds: float | None = None
    budget_s: float | None = None
    over_budget: bool = False
    exits: list[int] = field(default_factory=list)


@dataclass
class RunbookResult:
    path: str
    section: str | None
    budget_s: float
    rto_s: float | None
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.outcome in ("ok", "skipped") and not s.over_budget for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "section": self.section,
            "budget_s": self.budget_s,
            "rto_s": self.rto_s,
            "steps": [s.__dict__ for s in self.steps],
        }


def pytest_context() -> tuple[Path, Any]:
    """(project root, loaded targets) of the pytest run, or (cwd, drills.toml there)."""
    from drillbook.plugin import current_project

    found = current_project()
    if found is not None:
        return found
    from drillbook.targets import load_targets

    here = Path.cwd()
    return here, load_targets(here / "drills.toml") if (here / "drills.toml").exists() else None


@dataclass
class Prepared:
    """A block as it runs here: names mapped, manual commands taken out."""

    text: str
    mapped: list[str] = field(default_factory=list)
    manual: list[str] = field(default_factory=list)


def prepare(block: Block, mapping: RunbookMapping, values: Mapping[str, str]) -> Prepared:
    """Apply drills.toml's command and path mappings to a block (the record keeps both)."""
    text, mapped, manual = block.text, list[str](), list[str]()
    if block.runner == "bash":
        text, mapped, manual = apply_commands(block.text, mapping)
    text, applied = map_paths(text, mapping.paths, dict(values))
    return Prepared(
        text=text if text.endswith("\n") else text + "\n", mapped=mapped + applied, manual=manual
    )


class _Run:
    """One section's run: the drill, the workspace, the findings, the results."""

    def __init__(
        self, drill: Drill, ws: Workspace, mapping: RunbookMapping, choices: dict[int, str]
    ) -> None:
        self.drill = drill
        self.ws = ws
        self.mapping = mapping
        self.choices = choices  # step line -> the alternative it runs
        self.start = time.monotonic()

    def finding(self, code: str, message: str, severity: str = "fail") -> None:
        self.drill.record.findings.append(Finding(code, message, severity))

    def step(self, step: Step, result: StepResult) -> None:
        with self.drill.step(step.name, Phase(result.phase)) as s:
            self.ws.server.context = contextvars.copy_context()
            try:
                self._body(s, step, result)
            finally:
                self.ws.server.context = None
        st = s.step
        result.seconds = st.duration
        if result.outcome == "manual":
            st.outcome = "manual"
        elif result.outcome == "running":
            result.outcome = st.outcome
        self._budget(step, result, st.end_mono or time.monotonic())

    def _body(self, s: StepContext, step: Step, result: StepResult) -> None:
        node = step.node
        s.note("runbook_line", node.line)
        if node.budget:
            s.note("budget", node.budget.to_dict())
        if node.prose:
            s.note("prose", node.prose)
        if node.checklist:
            s.note("checklist", [{"text": c.text, "checked": c.checked} for c in node.checklist])
        choice = self.choices.get(node.line)
        if choice is not None:
            s.note("chosen", choice)
        runnable = node.chosen_blocks(choice)
        if not runnable:
            result.outcome = "manual"
            self.finding("MANUAL_STEP", f"step {step.name!r} (line {node.line}) has no command")
            return
        blocks: list[dict[str, Any]] = []
        s.note("blocks", blocks)
        for block in runnable:
            entry: dict[str, Any] = {"line": block.line, "lang": block.lang, "text": block.text}
            blocks.append(entry)
            self._block(s, step, block, entry, result)
        s.note("blocks", blocks)
        if result.outcome == "manual":
            return
        result.outcome = "running"

    def _block(
        self, s: StepContext, step: Step, block: Block, entry: dict[str, Any], result: StepResult
    ) -> None:
        prepared = prepare(block, self.mapping, self.ws.binding.values)
        entry.update(ran=prepared.text, mapped=prepared.mapped, manual=prepared.manual)
        where = f"step {step.name!r}, {block.lang} block at line {block.line}"
        issues = block_issues(
            Block(block.lang, prepared.text, block.line), RunbookMapping(), self.ws.which
        )
        problems = [f"{t} is not installed here" for t in issues.missing] + [
            f"external URL {u} (a drill reaches 127.0.0.1 only)" for u in issues.external
        ]
        if problems:
            self.finding("COMMAND_NOT_FOUND", f"{where}: " + "; ".join(problems))
            raise RunbookFailed("COMMAND_NOT_FOUND", f"{where}: {'; '.join(problems)}")
        if prepared.manual:
            result.outcome = "manual"
            self.finding("MANUAL_STEP", f"{where}: " + "; ".join(prepared.manual))
        status, tail = self._exec(s, block, prepared.text)
        entry["exit"] = status
        result.exits.append(status)
        if self.ws.server.controller.not_run is not None:
            raise self.ws.server.controller.not_run
        if status == 0:
            return
        last = " | ".join(line for line in tail.strip().splitlines()[-3:])
        code = "COMMAND_NOT_FOUND" if status == 127 else "RUNBOOK_STEP_FAILED"
        message = f"{where} exited {status}: {last or '(no output)'}"
        self.finding(code, message)
        raise RunbookFailed(code, message)

    def _exec(self, s: StepContext, block: Block, text: str) -> tuple[int, str]:
        index = len(s.step.commands)
        if block.runner == "sql":
            argv = ["psql", "-X", "-v", "ON_ERROR_STOP=1", "--echo-errors", "-f", "-"]
            res = s.run(
                argv, env=self.ws.env, cwd=self.ws.workdir, input=text.encode(), check=False
            )
            shown = f"psql -X -v ON_ERROR_STOP=1 -f - <<'SQL'\n{text}SQL"
        else:
            # The user's own AWS profile must not reach the drill's S3 (commands inherit
            # the drill process's environment under the bound one).
            script = f"unset {' '.join(UNSET)}\n{text}"
            argv = ["bash", "--noprofile", "--norc", "-euo", "pipefail", "-c", script, "runbook"]
            res = s.run(argv, env=self.ws.env, cwd=self.ws.workdir, check=False)
            shown = f"bash -euo pipefail -c {shlex.quote(text)}"
        s.step.commands[index].text = redact(shown)
        out = (res.stdout or b"") + (res.stderr or b"")
        return res.returncode, redact(out.decode("utf-8", "replace"))

    def _budget(self, step: Step, result: StepResult, end: float) -> None:
        budget = step.node.budget
        if budget is None or result.seconds is None:
            return
        result.budget_s = budget.seconds
        taken = end - self.start if budget.is_window else result.seconds
        if taken <= budget.seconds:
            return
        result.over_budget = True
        how = (
            f"ended {taken:.1f} s into the section, after its window ({budget.text})"
            if budget.is_window
            else f"took {taken:.1f} s, over its budget ({budget.text})"
        )
        self.finding("STEP_OVER_BUDGET", f"step {step.name!r} (line {step.node.line}) {how}")


def _service_rto(drill: Drill, targets: Any, service: str | None) -> float | None:
    if service and service != drill.record.service and targets is not None:
        return float(targets.get(service).rto)
    rto = (drill.record.target or {}).get("rto")
    return float(rto) if rto is not None else None


def run_runbook(
    drill: Drill,
    path: str | os.PathLike[str],
    *,
    section: str | None = None,
    service: str | None = None,
    handles: Mapping[str, Any] | None = None,
    bucket: str | None = None,
    env: Mapping[str, str] | None = None,
    skip: Mapping[str, str] | None = None,
    choose: Mapping[str, str] | None = None,
    mapping: RunbookMapping | None = None,
) -> RunbookResult:
    """Run *section* of the runbook at *path* (relative to the rootdir) as recorded steps.

    *handles*: role -> handle the commands are bound to (``{"postgres": pg, "s3": s3}``);
    *bucket*: ``$BACKUP_BUCKET``; *env*: more variables (the incident time ...); *skip*:
    conditional step -> why it is skipped; *choose*: step -> the alternative it runs
    (``{"2. Restore": "Option B"}``; a step offering "**Option A**" / "**Option B**" blocks
    runs one, and must be told which). Raises :class:`RunbookFailed` at the first
    failed step, after recording its finding.
    """
    root, targets = pytest_context()
    file = Path(path) if Path(path).is_absolute() else root / path
    runbook = load(file)
    node = runbook.section(section)
    steps = steps_of(node)
    if not steps:
        raise RunbookError(f"section {section!r} has no steps", path=str(file))
    skip = dict(skip or {})
    check_skips(steps, skip)
    choices = check_choices(steps, dict(choose or {}))
    mapping = mapping or (targets.runbooks if targets is not None else None) or RunbookMapping()
    budget, _ = section_budget(node)
    rto = _service_rto(drill, targets, service)
    shown = os.path.relpath(file, root) if file.is_relative_to(root) else str(file)
    result = RunbookResult(shown, section, budget, rto)
    _record(drill, result, runbook.sha256, service)
    if rto is not None and budget > rto:
        drill.record.findings.append(
            Finding(
                "RUNBOOK_BUDGET_EXCEEDS_RTO",
                f"{shown} {section or ''}: the steps budget {budget:.0f} s > RTO {rto:.0f} s",
                "warn",
            )
        )
    ws = open_workspace(handles or {}, mapping, bucket=bucket, extra_env=env)
    try:
        _run_steps(_Run(drill, ws, mapping, choices), steps, skip, result)
    finally:
        ws.close()
        _groups(drill, node, result)
    return result


def _run_steps(
    run: _Run, steps: list[Step], skip: Mapping[str, str], result: RunbookResult
) -> None:
    pending = [StepResult(s.name, s.node.line, phase_of(s), "not run") for s in steps]
    result.steps = pending
    run.drill.note("runbook_aws", run.ws.aws)
    for step, step_result in zip(steps, pending, strict=True):
        reason = skipped(step, skip)
        if reason:
            step_result.outcome = f"skipped: {reason}"
            continue
        step_result.outcome = "running"
        try:
            run.step(step, step_result)
        except BaseException:
            step_result.outcome = "failed"
            raise


def _groups(drill: Drill, section: Node, result: RunbookResult) -> None:
    """A group with a budget of its own ("3. Recovery Execution (45 minutes)") held to it."""
    by_line = {s.line: s for s in result.steps}
    for group in (n for n in section.walk() if n is not section and n.children and n.budget):
        inner = [by_line[n.line] for n in group.walk() if n.line in by_line]
        spent = sum(s.seconds or 0.0 for s in inner)
        if group.budget and spent > group.budget.seconds:
            drill.record.findings.append(
                Finding(
                    "STEP_OVER_BUDGET",
                    f"{group.label!r} (line {group.line}) took {spent:.1f} s, over its "
                    f"budget ({group.budget.text})",
                )
            )


def _record(drill: Drill, result: RunbookResult, sha256: str, service: str | None) -> None:
    runs = drill.record.notes.setdefault("runbook", [])
    runs.append({"sha256": sha256, "service": service, "result": result})


def runbook_variant(path: str | os.PathLike[str], old: str, new: str, dest: Path) -> Path:
    """A copy of the runbook at *path* (relative to the rootdir) with *old* replaced by
    *new* once, written into the directory *dest*: the broken procedure of a must-fail
    drill. Raises when *old* is not in the runbook (the runbook changed: so must the drill).
    """
    root, _ = pytest_context()
    source = Path(path) if Path(path).is_absolute() else root / path
    text = source.read_text()
    if old not in text:
        raise ValueError(f"{source}: {old!r} is not in the runbook any more: update the drill")
    out = Path(dest) / f"{source.stem}-variant{source.suffix}"
    out.write_text(text.replace(old, new, 1))
    return out
