"""``drillbook doctor``: can drills run here, and if not, what to install.

Every registered backend (:mod:`drillbook.fixtures.backend`) reports its own checks,
with the exact apt/pip package for each missing piece; this command renders them and
adds the disk. It exits 0 when the backend ``DRILLBOOK_BACKEND`` selects (the local one
by default) is usable.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from drillbook import __version__

OK, MISSING, WARN = "ok", "missing", "warn"
LOW_DISK_BYTES = 2 * 1024**3
DISK_TITLE = "disk"


@dataclass
class DoctorReport:
    checks: list[Any] = field(default_factory=list)  # fixtures.readiness.Check
    titles: dict[str, str] = field(default_factory=dict)  # section -> title
    usable: dict[str, bool] = field(default_factory=dict)  # backend -> usable
    summaries: dict[str, str] = field(default_factory=dict)
    selected: str = "local"

    @property
    def selected_usable(self) -> bool:
        return self.usable.get(self.selected, False)

    @property
    def local_usable(self) -> bool:
        return self.usable.get("local", False)


def runs_base(procs: ModuleType | None = None) -> Path:
    """Where run directories live (mirrors ``fixtures.procs.base_dir`` without creating it)."""
    env = procs.BASE_ENV if procs is not None else "DRILLBOOK_TMPDIR"
    return Path(os.environ.get(env) or os.path.join(tempfile.gettempdir(), "drillbook-runs"))


def _check_run_dirs(report: DoctorReport, add: Any) -> None:
    """The folder run directories go to: usable by every backend, and (as root) open to
    the user PostgreSQL runs as on the local backend."""
    basedir = importlib.import_module("drillbook.fixtures.basedir")
    runner = importlib.import_module("drillbook.fixtures.runner")
    problem = basedir.base_dir_problem(create=False)
    if problem:
        add.add("run directories", MISSING, problem)
        report.usable = dict.fromkeys(report.usable, False)
        return
    blocked = runner.unprivileged_preflight()
    if blocked:
        add.add("run directories", MISSING, blocked)
        if "local" in report.usable:
            report.usable["local"] = False
        return
    add.add("run directories", OK, str(basedir.base_path()))


def _check_disk(report: DoctorReport, readiness: ModuleType) -> None:
    base = runs_base()
    probe = base
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    add = readiness.Readiness(DISK_TITLE)
    try:
        free = shutil.disk_usage(probe).free
    except OSError as exc:
        add.add("free disk", WARN, f"{base}: {exc}")
    else:
        detail = f"{free / 1024**3:.1f} GB free in {base}"
        if free < LOW_DISK_BYTES:
            detail += " (under 2 GB: a 1 GB drill database needs more)"
            add.add(
                "free disk", WARN, detail, "free space or set DRILLBOOK_TMPDIR to a larger disk"
            )
        else:
            add.add("free disk", OK, detail)
    _check_run_dirs(report, add)
    report.checks += add.checks
    report.titles[DISK_TITLE] = DISK_TITLE


def doctor() -> DoctorReport:
    """Every backend's prerequisites; never raises for a missing piece."""
    backend = importlib.import_module("drillbook.fixtures.backend")
    options = importlib.import_module("drillbook.fixtures.options")
    readiness = importlib.import_module("drillbook.fixtures.readiness")
    report = DoctorReport(selected=os.environ.get("DRILLBOOK_BACKEND") or backend.DEFAULT)
    for name, spec in backend.backends().items():
        if spec.doctor is None:
            continue
        try:
            result = spec.doctor(options.from_environment(spec.options))
        except Exception as exc:  # doctor never fails on a probe
            result = readiness.Readiness(name)
            result.add(f"{name} backend", WARN, f"readiness check failed: {exc}")
        report.checks += result.checks
        report.titles[name] = spec.title
        report.usable[name] = result.usable
        report.summaries[name] = result.summary
    _check_disk(report, readiness)
    return report


def render_doctor(report: DoctorReport) -> str:
    width_item = max((len(c.item) for c in report.checks), default=10)
    width_status = max(len(f"[{s}]") for s in (OK, MISSING, WARN))
    lines = [f"drillbook {__version__} doctor"]
    for section, title in report.titles.items():
        checks = [c for c in report.checks if c.section == section]
        if not checks:
            continue
        lines += ["", title]
        for c in checks:
            line = f"  {f'[{c.status}]':<{width_status}} {c.item:<{width_item}}  {c.detail}"
            if c.hint and c.status != OK:
                line += f"  -> {c.hint}"
            lines.append(line.rstrip())
    lines.append("")
    for name, usable in report.usable.items():
        chosen = "  [selected]" if name == report.selected else ""
        if usable:
            summary = report.summaries.get(name)
            lines.append(f"{name} backend: usable ({summary or 'ready'}){chosen}")
        else:
            lines.append(
                f"{name} backend: NOT usable: install or set what is marked [missing] above "
                f"(drills on it would be NOT RUN){chosen}"
            )
    return "\n".join(lines)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "doctor",
        help="list each backend's prerequisites and what to install for what is missing",
        description="Exit 0 when the selected backend (DRILLBOOK_BACKEND, default local) "
        "is usable.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    report = doctor()
    if args.json:
        payload = {
            "version": __version__,
            "selected": report.selected,
            "selected_usable": report.selected_usable,
            "local_usable": report.local_usable,
            "backends": {
                name: {"usable": usable, "summary": report.summaries.get(name, "")}
                for name, usable in report.usable.items()
            },
            "checks": [asdict(c) for c in report.checks],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(render_doctor(report))
    return 0 if report.selected_usable else 1
