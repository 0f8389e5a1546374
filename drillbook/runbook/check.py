"""``drillbook runbook check``: what a drill of this runbook would run, before it runs.

For a section (or the whole file): every step with its budget, phase, commands, the
environment variables and tools they use, which tools this host lacks, the commands
drills.toml maps, the steps a person would have to do, and the total budget against each
service's RTO. Pure: the caller passes ``which`` (tool lookup) and the targets.

Findings (exit 2): RUNBOOK_BUDGET_EXCEEDS_RTO, GROUP_BUDGET_EXCEEDED, COMMAND_NOT_FOUND
(a tool this host lacks, or an external URL, that drills.toml does not map) and
MANUAL_STEP (a step with no command, or a command mapped ``manual``): each of them makes
a drill of the section fail or stop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from drillbook.runbook.mapping import RunbookMapping, apply_commands
from drillbook.runbook.model import (
    Block,
    Runbook,
    Step,
    cumulative_budget,
    groups_of,
    phase_of,
    section_budget,
    steps_of,
)
from drillbook.runbook.shell import analyse

#: Tools a drill provides itself on PATH (shims onto the drill's handles, a bundled S3
#: client where the host has no ``aws``).
SHIMMED = frozenset({"systemctl", "service", "docker", "docker-compose", "pg_ctl", "redis-cli"})
BUNDLED = frozenset({"aws"})
#: Variables the drill binds (see drillbook.scenarios.runbook.binding).
BOUND_ENV = frozenset(
    """DATABASE_URL PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGDATA REDIS_URL REDIS_HOST
    REDIS_PORT REDISCLI_AUTH REDIS_DATA_DIR AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID
    AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION BACKUP_BUCKET RUNBOOK_WORKDIR HOME PATH""".split()  # noqa: SIM905
)


@dataclass
class BlockIssues:
    """What stops one block from running here."""

    missing: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    manual: list[str] = field(default_factory=list)
    mapped: list[str] = field(default_factory=list)


def block_issues(
    block: Block, mapping: RunbookMapping, which: Callable[[str], str | None]
) -> BlockIssues:
    """Missing tools, external URLs and manual commands of *block*, after the mapping."""
    issues = BlockIssues()
    if block.runner != "bash":
        if block.runner == "sql" and which("psql") is None:
            issues.missing.append("psql")
        return issues
    text, issues.mapped, issues.manual = apply_commands(block.text, mapping)
    facts = analyse(text)
    issues.external = facts.external_urls
    for tool in facts.tools:
        if tool in SHIMMED or (tool in BUNDLED and which(tool) is None):
            continue
        if which(tool) is None:
            issues.missing.append(tool)
    return issues


def _fmt(seconds: float) -> str:
    """``45 s``, ``25 min``, ``1 h``, ``1 h 5 min``."""
    if seconds < 60:
        return f"{seconds:g} s"
    minutes = round(seconds / 60, 1)
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours:g} h {rest:g} min"
    return f"{hours:g} h" if hours else f"{minutes:g} min"


def _budget_text(step: Step) -> str:
    b = step.node.budget
    cond = f", {step.node.condition}" if step.node.conditional else ""
    if b is None:
        return f"no budget{cond}"
    if b.is_window:
        return f"window {_fmt(b.low or 0)}-{_fmt(b.seconds)}{cond}"
    return f"{_fmt(b.seconds)}{cond}"


@dataclass
class CheckReport:
    lines: list[str] = field(default_factory=list)
    findings: list[tuple[str, str]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    budget_s: float = 0.0

    @property
    def code(self) -> int:
        return 2 if self.findings else 0

    def text(self) -> str:
        out = list(self.lines)
        if self.findings:
            out.append(f"findings ({len(self.findings)}):")
            out += [f"  {code}: {message}" for code, message in self.findings]
        else:
            out.append("no findings: a drill can run every step of this section here")
        return "\n".join(out)


def _step_lines(step: Step, report: CheckReport, mapping: RunbookMapping, which: Callable) -> None:
    node = step.node
    where = f"{_budget_text(step)}; {phase_of(step)}; line {node.line}"
    report.lines.append(f"  {step.name}  [{where}]")
    runnable = node.runnable_blocks
    if not runnable:
        report.findings.append(
            ("MANUAL_STEP", f"{step.name!r} (line {node.line}) has no command: a person does it")
        )
    if node.alternatives:
        report.lines.append(
            "    alternatives (a drill runs the one it chooses): " + "; ".join(node.alternatives)
        )
    for block in node.blocks:
        if not block.runner:
            report.lines.append(f"    {block.lang or 'text'} block, line {block.line}: not run")
            continue
        facts = analyse(block.text) if block.runner == "bash" else None
        tools = ", ".join(facts.tools) if facts else "psql"
        env = ", ".join(facts.env_vars) if facts and facts.env_vars else "-"
        label = f" ({block.label})" if block.label else ""
        report.lines.append(
            f"    {block.runner} block, line {block.line}{label}: tools {tools}; env {env}"
        )
        issues = block_issues(block, mapping, which)
        for text in issues.mapped:
            report.lines.append(f"      mapped: {text}")
        where = f"{step.name!r}, block at line {block.line}"
        for tool in issues.missing:
            report.findings.append(("COMMAND_NOT_FOUND", f"{where}: {tool} is not on this host"))
        for url in issues.external:
            report.findings.append(
                ("COMMAND_NOT_FOUND", f"{where}: external URL {url} (drills reach 127.0.0.1 only)")
            )
        for text in issues.manual:
            report.findings.append(("MANUAL_STEP", f"{where}: {text}"))
    for item in node.checklist:
        report.lines.append(f"    [{'x' if item.checked else ' '}] {item.text}")


def check_runbook(
    runbook: Runbook,
    *,
    section: str | None,
    services: list[tuple[str, float]],
    mapping: RunbookMapping,
    which: Callable[[str], str | None],
) -> CheckReport:
    """The report for *section* of *runbook* (the whole file when None).

    *services*: (name, RTO seconds) of the drills.toml services this section is held to.
    """
    node = runbook.section(section)
    report = CheckReport(steps=steps_of(node))
    title = node.title if node is not runbook.root else "(whole file)"
    report.lines.append(f"{runbook.path}: {runbook.title!r}, sha256 {runbook.sha256[:12]}")
    report.lines.append(f"section {title!r}: {len(report.steps)} steps")
    for step in report.steps:
        _step_lines(step, report, mapping, which)
    total, unbudgeted = section_budget(node)
    report.budget_s = total
    conditional = sum(1 for s in report.steps if s.node.conditional)
    extra = f"; {unbudgeted} steps without a budget" if unbudgeted else ""
    extra += f"; {conditional} conditional (counted)" if conditional else ""
    report.lines.append(f"total budget: {_fmt(total)}{extra}")
    for group in groups_of(node):
        inner, _ = cumulative_budget(group.children)
        if group.budget and inner > group.budget.seconds + 1e-9:
            report.findings.append(
                (
                    "GROUP_BUDGET_EXCEEDED",
                    f"the steps of {group.label!r} budget {_fmt(inner)} > its own "
                    f"{_fmt(group.budget.seconds)} (line {group.line})",
                )
            )
    _env_and_tools(report, which)
    if not services:
        report.lines.append("RTO: no service in drills.toml names this runbook (use --service)")
    for name, rto in services:
        verdict = "over" if total > rto + 1e-9 else "within"
        report.lines.append(f"service {name}: RTO {_fmt(rto)}; budget {_fmt(total)} is {verdict}")
        if total > rto + 1e-9:
            report.findings.append(
                (
                    "RUNBOOK_BUDGET_EXCEEDS_RTO",
                    f"the steps budget {_fmt(total)} > service {name}'s RTO {_fmt(rto)}",
                )
            )
    return report


def _env_and_tools(report: CheckReport, which: Callable[[str], str | None]) -> None:
    env: list[str] = []
    tools: list[str] = []
    for step in report.steps:
        for block in step.node.runnable_blocks:
            if block.runner == "sql":
                tools += [t for t in ("psql",) if t not in tools]
                continue
            facts = analyse(block.text)
            env += [v for v in facts.env_vars if v not in env]
            tools += [t for t in facts.tools if t not in tools]
    bound = [v + (" (bound by the drill)" if v in BOUND_ENV else "") for v in env]
    report.lines.append("environment: " + (", ".join(bound) or "-"))
    shown = []
    for tool in tools:
        if tool in SHIMMED:
            shown.append(f"{tool} (drill shim)")
        elif which(tool) is None:
            shown.append(f"{tool} (bundled client)" if tool in BUNDLED else f"{tool} (MISSING)")
        else:
            shown.append(tool)
    report.lines.append("tools: " + (", ".join(shown) or "-"))
