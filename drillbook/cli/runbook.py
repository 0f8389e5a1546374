"""``drillbook runbook check FILE [--section TITLE]``: a runbook's steps before a drill.

Prints the steps, budgets, commands, the environment variables and tools they use (and
which this host lacks), and the total budget against the RTO of each service in
drills.toml whose ``runbook =`` names the file (or ``--service``). Exit 0 when a drill
could run every step within the RTO, 2 with findings, 1 when the runbook (or the
targets file) cannot be read, with the line.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any


def _plan(
    targets: Any, runbook: Any, file: Path, section: str | None, wanted: str | None
) -> list[tuple[str | None, list[tuple[str, float]]]]:
    """(section, [(service, RTO)]) pairs to check.

    A service's ``runbook = "FILE#anchor"`` holds the anchored section to its RTO; one
    without an anchor, the whole file (or ``--section``). ``--service`` names one.
    """
    if targets is None:
        return [(section, [])]
    if wanted:
        svc = targets.get(wanted)
        anchor = svc.runbook.partition("#")[2] if svc.runbook else ""
        return [(section or anchor or None, [(svc.name, svc.rto)])]
    base = Path(targets.source).resolve().parent
    plan: dict[str | None, list[tuple[str, float]]] = {}
    chosen = runbook.section(section) if section else None
    for svc in targets:
        path, _, anchor = (svc.runbook or "").partition("#")
        if not path or (base / path).resolve() != file.resolve():
            continue
        if chosen is not None and anchor and runbook.section(anchor) is not chosen:
            continue
        plan.setdefault(section or anchor or None, []).append((svc.name, svc.rto))
    return list(plan.items()) or [(section, [])]


def cmd_check(args: argparse.Namespace) -> int:
    from drillbook.runbook.check import check_runbook
    from drillbook.runbook.mapping import RunbookMapping
    from drillbook.runbook.model import RunbookError
    from drillbook.runbook.parser import describe, load
    from drillbook.targets import TargetsError, load_targets

    targets = None
    try:
        if args.targets or Path("drills.toml").exists():
            targets = load_targets(args.targets or "drills.toml")
        runbook = load(args.file)
        mapping = (targets.runbooks if targets else None) or RunbookMapping()
        reports = [
            check_runbook(
                runbook, section=section, services=services, mapping=mapping, which=shutil.which
            )
            for section, services in _plan(
                targets, runbook, Path(args.file), args.section, args.service
            )
        ]
    except (RunbookError, TargetsError) as err:
        print(err)
        return 1
    if args.json:
        data = describe(runbook)
        data["checks"] = [
            {
                "steps": [s.name for s in r.steps],
                "budget_s": r.budget_s,
                "findings": [{"code": c, "message": m} for c, m in r.findings],
            }
            for r in reports
        ]
        print(json.dumps(data, indent=2))
    else:
        print("\n\n".join(r.text() for r in reports))
    return max(r.code for r in reports)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "runbook",
        help="read a Markdown runbook the way a drill runs it",
        description="Runbook as code: the steps a drill would run, their budgets and tools.",
    )
    rsub = p.add_subparsers(dest="runbook_command", metavar="ACTION", required=True)
    c = rsub.add_parser(
        "check",
        help="steps, budgets, commands, tools; total budget vs the service's RTO",
        description="Exit 0 a drill can run it within the RTO, 2 findings, 1 unreadable.",
    )
    c.add_argument("file", help="the runbook (Markdown)")
    c.add_argument("--section", help="a heading or step title (or its #anchor)")
    c.add_argument("--service", help="the drills.toml service to compare budgets with")
    c.add_argument("--targets", help="targets file (default: drills.toml here, if present)")
    c.add_argument("--json", action="store_true", help="the parsed runbook as JSON")
    c.set_defaults(func=cmd_check)
