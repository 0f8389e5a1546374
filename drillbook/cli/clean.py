"""``drillbook clean``: remove what a ``kill -9``'d pytest left behind.

Servers recorded in run directories whose pytest is gone, the directories themselves,
and what each backend keeps outside them (the docker backend's containers), through
the backend registry (:mod:`drillbook.fixtures.backend`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from drillbook.cli.doctor import runs_base


@dataclass
class RunPlan:
    """What ``clean`` would do to one run directory, and why."""

    path: Path
    owner_pid: int | None
    owner_alive: bool
    live_procs: list[str]
    remove: bool
    why: str
    leftovers: list[str] = field(default_factory=list)  # containers ... (backends)


def plan_clean(procs: ModuleType, *, include_live: bool) -> list[RunPlan]:
    """Read every run.json the way ``reap_stale_runs`` does, without touching anything."""
    backend = importlib.import_module("drillbook.fixtures.backend")
    plans: list[RunPlan] = []
    base = runs_base(procs)
    if not base.is_dir():
        return plans
    for entry in sorted(base.glob("run-*")):
        try:
            meta = json.loads((entry / "run.json").read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            try:
                old = time.time() - entry.stat().st_mtime > 60
            except OSError:
                continue
            why = "no run.json, older than 60 s" if old else "no run.json yet: being created"
            plans.append(RunPlan(entry, None, False, [], old, why))
            continue
        owner = int(meta.get("owner_pid", 0))
        if owner == os.getpid():
            continue
        alive = procs.pid_alive(owner, meta.get("owner_start_time"))
        live = [
            f"{rec['label']} (pid {rec['pid']})"
            for rec in meta.get("procs", [])
            if procs.pid_alive(rec["pid"], rec["start_time"])
        ]
        why = f"owner pytest pid {owner} " + ("still running" if alive else "is gone")
        plan = RunPlan(entry, owner, alive, live, include_live or not alive, why)
        plan.leftovers = backend.clean_run_dir(entry, dry_run=True)
        plans.append(plan)
    return plans


def register(sub: Any) -> None:
    p = sub.add_parser(
        "clean",
        help="kill servers and remove run dirs left by a pytest that died (kill -9)",
        description="Runs of live pytest processes are kept unless --all is given.",
    )
    p.add_argument(
        "--all", action="store_true", help="also remove runs of pytest processes still running"
    )
    p.add_argument("--dry-run", action="store_true", help="list what would go, change nothing")
    p.set_defaults(func=cmd_clean)


def cmd_clean(args: argparse.Namespace) -> int:
    procs = importlib.import_module("drillbook.fixtures.procs")
    basedir = importlib.import_module("drillbook.fixtures.basedir")
    problem = basedir.base_dir_problem(create=False)
    if problem and runs_base(procs).exists():  # a missing folder is simply nothing to clean
        print(f"drillbook clean: {problem}", file=sys.stderr)
        return 1
    plans = plan_clean(procs, include_live=args.all)
    live_runs = [p for p in plans if p.owner_alive]
    if args.all and live_runs:
        print(
            f"warning: --all also removes {len(live_runs)} run(s) of pytest processes that are "
            "still running ("
            + ", ".join(f"pid {p.owner_pid}" for p in live_runs)
            + "): their drills will fail",
            file=sys.stderr,
        )
    base = runs_base(procs)
    if args.dry_run:
        for p in plans:
            print(f"{'would remove' if p.remove else 'would keep'}: {p.path} ({p.why})")
            for label in p.live_procs + p.leftovers:
                if label.startswith("left on "):  # what a backend can only name
                    print(f"  {label}")
                else:
                    print(f"  {'would kill' if p.remove else 'running'}: {label}")
        if not any(p.remove for p in plans):
            print(f"nothing to clean in {base}")
        return 0
    report = procs.reap_stale_runs(include_live=args.all)
    # What backends keep whose run directory is already gone (labelled containers).
    backend = importlib.import_module("drillbook.fixtures.backend")
    report.procs_killed += backend.clean_orphans(include_live=args.all)
    for label in report.procs_killed:
        print(label if label.startswith("left on ") else f"killed: {label}")
    for path in report.runs_removed:
        print(f"removed: {path}")
    for p in plans:
        if not p.remove:
            hint = "; --all removes it" if p.owner_alive else ""
            print(f"kept: {p.path} ({p.why}{hint})")
    if not report.procs_killed and not report.runs_removed:
        print(f"nothing to clean in {base}")
    return 0
