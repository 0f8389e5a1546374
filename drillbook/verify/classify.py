"""A restore tool's stderr and exit status, turned into findings that say what broke.

One classifier for ``drillbook verify`` and the drills alike (a drill's ``pg_restore``,
a restored data directory that does not start, a PITR that stops short).

pg_restore goes on past errors and exits 1 with "errors ignored on restore: N"; psql
goes on and exits 0 whatever failed. Neither tells a damaged archive from a missing
role from a server without PostGIS, and a CI log that ends in "exit 1" helps nobody.
So every line is matched against what PostgreSQL actually prints (pg_restore's
pg_backup_*.c, the server's error texts); the first matching line of each kind is the
decisive line quoted in the finding. Parallel workers interleave their stderr
("pg_restore:pg_restore: error:"), so lines are matched by substring, not by prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from drillbook.record import Finding

# Damage in the archive itself (pg_backup_custom.c, _tar.c, _directory.c, compress_*.c).
CORRUPT = (
    "could not read from input file",
    "unexpected end of file",
    "could not find block ID",
    "possibly corrupt archive",
    "could not uncompress data",
    "could not close data file",
    "corrupt tar header",
    "did not find magic string in file header",
    "does not appear to be a valid archive",
    "input file is too short",
    "invalid compression code",
    "unrecognized data block type",
    "could not find header for file",
    "file offset in dump file is too large",
    "could not open input file",
    "invalid input syntax",
    "missing data for column",
    "extra data after last expected column",
    "unterminated CSV quoted field",
    "end-of-copy marker corrupt",
    "invalid byte sequence for encoding",
)
ROLE = re.compile(r'role "([^"]+)" does not exist')
EXTENSION = (
    re.compile(r'extension "([^"]+)" is not available'),
    re.compile(r'could not open extension control file "[^"]*/([^"/]+)\.control"'),
    re.compile(r'could not access file "\$libdir/([^"]+)"'),
    re.compile(r'extension "([^"]+)" does not exist'),
)
# The restore cannot run with these tools at all: not the backup's fault.
TOOL_TOO_OLD = (
    "unsupported version",
    "invalid command \\restrict",
    "invalid command \\unrestrict",
)
# Noise a restore into a fresh database always prints.
BENIGN = (
    'schema "public" already exists',
    "errors ignored on restore",
    "a worker process died unexpectedly",
    "terminated by user",
)
ERROR = re.compile(r"\b(?:error|ERROR|FATAL|PANIC):\s")


@dataclass
class Classified:
    """Findings of one restore run, plus what made the verdict."""

    findings: list[Finding] = field(default_factory=list)
    tool_too_old: str | None = None
    errors: int = 0
    ignored: list[str] = field(default_factory=list)


def _short(line: str, limit: int = 300) -> str:
    line = " ".join(line.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _first(lines: list[str], needles: tuple[str, ...]) -> str | None:
    return next((ln for ln in lines if any(n in ln for n in needles)), None)


def _names(lines: list[str], patterns: tuple[re.Pattern[str], ...]) -> list[str]:
    out: list[str] = []
    for line in lines:
        for pat in patterns:
            if (m := pat.search(line)) and m.group(1) not in out:
                out.append(m.group(1))
    return out


def classify_restore(stderr: str, exit_status: int, tool: str) -> Classified:
    """Findings for one restore: BACKUP_CORRUPT, ROLE_MISSING, EXTENSION_MISSING,
    RESTORE_FAILED (any other error, or a non-zero exit with no error line)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    out = Classified()
    if line := _first(lines, TOOL_TOO_OLD):
        out.tool_too_old = _short(line)
        return out
    errors = [ln for ln in lines if ERROR.search(ln)]
    out.ignored = [_short(ln) for ln in errors if any(b in ln for b in BENIGN)]
    real = [ln for ln in errors if not any(b in ln for b in BENIGN)]
    out.errors = len(real)
    if line := _first(lines, CORRUPT):
        out.findings.append(
            Finding("BACKUP_CORRUPT", f"{tool} could not read the backup: {_short(line)}")
        )
    roles = _names(real, (ROLE,))
    if roles:
        out.findings.append(
            Finding(
                "ROLE_MISSING",
                f"the backup's objects belong to roles the restore target lacks: "
                f"{', '.join(roles)} (restore the roles first: pg_dumpall --roles-only, "
                "or list them in source.roles; no_owner = true skips ownership)",
            )
        )
    extensions = _names(real, EXTENSION)
    if extensions:
        out.findings.append(
            Finding(
                "EXTENSION_MISSING",
                f"the restore target lacks extensions the backup uses: {', '.join(extensions)}"
                " (install them on the server you restore into)",
            )
        )
    explained = {"BACKUP_CORRUPT", "ROLE_MISSING", "EXTENSION_MISSING"}
    others = [ln for ln in real if not ROLE.search(ln) and not any(p.search(ln) for p in EXTENSION)]
    codes = {f.code for f in out.findings}
    if others and not codes & {"BACKUP_CORRUPT"}:
        out.findings.append(
            Finding(
                "RESTORE_FAILED",
                f"{tool}: {len(others)} error(s), first: {_short(others[0])}",
            )
        )
    elif exit_status != 0 and not codes & explained and not out.ignored:
        tail = _short(lines[-1]) if lines else "no output"
        out.findings.append(Finding("RESTORE_FAILED", f"{tool} exited {exit_status}: {tail}"))
    return out


# Why a data directory did not start, most decisive first.
START_FAILED = (
    "could not locate required checkpoint record",
    "could not locate a valid checkpoint record",
    "invalid checkpoint record",
    "requested WAL segment",
    "could not find redo location",
    "invalid data in file",
    "incorrect checksum in control file",
    "database files are incompatible with server",
    "is not a valid data directory",
    "PANIC:",
    "FATAL:",
)
# A PITR that cannot reach its target: PostgreSQL exits (13+) instead of promoting.
TARGET_UNREACHED = (
    "recovery ended before configured recovery target was reached",
    "requested recovery stop point is before consistent recovery point",
)
# What a server prints while clients poll it during start-up: never the reason.
START_NOISE = (
    "the database system is not accepting connections",
    "the database system is starting up",
    "Hot standby mode is disabled",
    "the database system is shutting down",
)


def _decisive(lines: list[str], needles: tuple[str, ...]) -> str | None:
    """The first line of the most decisive needle (their order), noise left out."""
    meaningful = [ln for ln in lines if not any(n in ln for n in START_NOISE)]
    for needle in needles:
        if line := _first(meaningful, (needle,)):
            return line
    return None


def classify_start(log: str) -> Finding:
    """Why a restored data directory did not start (SERVER_START_FAILED)."""
    lines = [ln for ln in log.splitlines() if ln.strip()]
    decisive = _decisive(lines, START_FAILED)
    text = _short(decisive or (lines[-1] if lines else "no log output"))
    return Finding("SERVER_START_FAILED", f"the restored data directory did not start: {text}")


LOG_PREFIX = re.compile(r"^.*?\b(?=(?:LOG|FATAL|PANIC|ERROR|WARNING):)")


def target_unreached(log: str) -> str | None:
    """The line saying a PITR ended before its recovery target (without the log line's
    time and pid prefix), or None."""
    line = _decisive([ln for ln in log.splitlines() if ln.strip()], TARGET_UNREACHED)
    return None if line is None else _short(LOG_PREFIX.sub("", line, count=1))
