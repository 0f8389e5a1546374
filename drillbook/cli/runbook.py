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


def _services(targets: Any, file: Path, wanted: str | None) -> list[tuple[str, float]]:
    """(name, RTO) of the services this runbook is held to."""
    if targets is None:
        return []
    if wanted:
        svc = targets.get(wanted)
        return [(svc.name, svc.rto)]
    base = Path(targets.source).resolve().parent
    out = []
    for svc in targets:
        if svc.runbook and (base / svc.runbook.split("#", 1)[0]).resolve() == file.resolve():
            out.append((svc.name, svc.rto))
    return out


def cmd_check(args: argparse.Namespace) -> int:
    from drillbook.runbook.check import check_runbook
    from drillbook.runbook.mapping import RunbookMapping
    from drillbook.runbook.model import RunbookError
    from drillbook.runbook.parser import describe, load
    from drillbook.targets import TargetsError, load_targets

    targets = None
    if args.targets or Path("drills.toml").exists():
        try:
            targets = load_targets(args.targets or "drills.toml")
        except TargetsError as err:
            print(err)
            return 1
    try:
        runbook = load(args.file)
        report = check_runbook(
            runbook,
            section=args.section,
            services=_services(targets, Path(args.file), args.service),
            mapping=(targets.runbooks if targets else None) or RunbookMapping(),
            which=shutil.which,
        )
    except (RunbookError, TargetsError) as err:
        print(err)
        return 1
    if args.json:
        data = describe(runbook)
        data["findings"] = [{"code": c, "message": m} for c, m in report.findings]
        data["steps"] = [s.name for s in report.steps]
        data["budget_s"] = report.budget_s
        print(json.dumps(data, indent=2))
    else:
        print(report.text())
    return report.code


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
