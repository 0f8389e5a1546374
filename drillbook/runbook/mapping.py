"""How a runbook's names map onto a drill's servers: the ``[runbooks]`` table of drills.toml.

A runbook names production things: ``systemctl start redis``, ``/var/lib/redis``,
``/backup/latest/``, ``curl https://api.example.com/health``. In a drill those are the
drill's own servers, directories and checks. The table has three sub-tables::

    [runbooks.services]       # a unit/container name -> the drill's handle role
    redis = "redis"           #   systemctl/service/docker compose/pg_ctl NAME
    auth-db = "postgres"      #   roles: postgres, redis, s3 (or a role the drill binds)

    [runbooks.paths]          # a path the runbook names -> the drill's path
    "/var/lib/redis" = "{redis.data_dir}"        # placeholders: {workdir},
    "/backup/latest" = "{workdir}/backup/latest" # {ROLE.data_dir}, {ROLE.config}

    [runbooks.commands]       # a command that cannot run here (prefix of the line)
    "curl https://api.example.com/health" = { run = "pg_isready", reason = "no app here" }
    "pm2 restart auth-service" = { manual = "the application servers are not drilled" }

``run`` replaces the command line (recorded as mapped, with the reason); ``manual`` makes
the step a manual one, which is never a pass. Built-in defaults (:data:`DEFAULT_SERVICES`,
:data:`DEFAULT_PATHS`) cover the usual unit names and data directories; the table adds
to and overrides them.

:func:`parse_mapping` takes the plain (TOML-decoded) dict, so whatever reads drills.toml
can hand it over; errors are :class:`MappingError` with the key, like the targets
loader's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from drillbook.runbook.shell import logical_lines, strip_comment

KEYS = ("services", "paths", "commands")
ROLES = ("postgres", "redis", "s3")
DEFAULT_SERVICES: dict[str, str] = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "postgresql.service": "postgres",
    "db": "postgres",
    "redis": "redis",
    "redis-server": "redis",
    "redis.service": "redis",
    "valkey": "redis",
    "valkey-server": "redis",
    "minio": "s3",
    "s3": "s3",
}
DEFAULT_PATHS: dict[str, str] = {
    "/var/lib/redis": "{redis.data_dir}",
    "/etc/redis/redis.conf": "{redis.config}",
    "/var/lib/postgresql/data": "{postgres.data_dir}",
    "/backup": "{workdir}/backup",
    "/backups": "{workdir}/backup",
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PLACEHOLDER_OK = re.compile(r"workdir|[A-Za-z][A-Za-z0-9_-]*\.(?:data_dir|config)")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]*")


class MappingError(ValueError):
    """One bad entry of the ``[runbooks]`` table: its key, the problem, what is allowed."""

    def __init__(self, key: str, problem: str, allowed: str | None = None) -> None:
        self.key = key
        self.problem = problem
        self.allowed = allowed
        text = f"{key}: {problem}" + (f"; allowed: {allowed}" if allowed else "")
        super().__init__(text)


@dataclass(frozen=True)
class CommandMap:
    """What to do with a runbook command that cannot run here."""

    pattern: str  # the command's start, whitespace-normalised
    run: str | None = None
    manual: str | None = None  # the reason a person must do it
    reason: str | None = None

    def matches(self, line: str) -> bool:
        text = " ".join(line.split())
        return text == self.pattern or text.startswith(self.pattern + " ")


@dataclass(frozen=True)
class RunbookMapping:
    services: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SERVICES))
    paths: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PATHS))
    commands: tuple[CommandMap, ...] = ()

    def role(self, name: str) -> str | None:
        """The drill role a service-control name stands for (``redis`` -> ``redis``)."""
        return self.services.get(name) or self.services.get(name.removesuffix(".service"))

    def command_for(self, line: str) -> CommandMap | None:
        """The longest mapped pattern the command line starts with."""
        hits = [c for c in self.commands if c.matches(line)]
        return max(hits, key=lambda c: len(c.pattern)) if hits else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "services": dict(self.services),
            "paths": dict(self.paths),
            "commands": [c.__dict__ for c in self.commands],
        }


def _table(value: object, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MappingError(key, f"expected a table, got {type(value).__name__}")
    return value


def _string(value: object, key: str, allowed: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MappingError(key, f"expected a non-empty string, got {value!r}", allowed)
    return value


def _services(table: dict[str, Any], key: str) -> dict[str, str]:
    out = dict(DEFAULT_SERVICES)
    for name, role in table.items():
        where = f'{key}."{name}"'
        if not _NAME.fullmatch(name):
            raise MappingError(where, "not a unit or container name", "letters, digits, _.@-")
        text = _string(role, where, "a role: " + " | ".join(ROLES) + " (or one the drill binds)")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", text):
            raise MappingError(where, f"invalid role {text!r}", " | ".join(ROLES))
        out[name] = text
    return out


def _paths(table: dict[str, Any], key: str) -> dict[str, str]:
    out = dict(DEFAULT_PATHS)
    for path, target in table.items():
        where = f'{key}."{path}"'
        if not path.startswith("/") or path != "/" + path.strip("/"):
            raise MappingError(where, "a runbook path is absolute, without a trailing /")
        text = _string(target, where, "a path with {workdir} or {ROLE.data_dir}/{ROLE.config}")
        for placeholder in _PLACEHOLDER.findall(text):
            if not _PLACEHOLDER_OK.fullmatch(placeholder):
                raise MappingError(
                    where,
                    f"unknown placeholder {{{placeholder}}}",
                    "{workdir}, {ROLE.data_dir}, {ROLE.config}",
                )
        out[path] = text
    return out


def _commands(table: dict[str, Any], key: str) -> tuple[CommandMap, ...]:
    out: list[CommandMap] = []
    allowed = '{ run = "...", reason = "..." } or { manual = "why a person must do it" }'
    for pattern, entry in table.items():
        where = f'{key}."{pattern}"'
        spec = _table(entry, where)
        unknown = sorted(set(spec) - {"run", "manual", "reason"})
        if unknown:
            raise MappingError(where, f"unknown key {unknown[0]!r}", "run, reason, manual")
        if ("run" in spec) == ("manual" in spec):
            raise MappingError(where, "give exactly one of run or manual", allowed)
        norm = " ".join(pattern.split())
        if not norm:
            raise MappingError(where, "empty command pattern", allowed)
        out.append(
            CommandMap(
                pattern=norm,
                run=_string(spec["run"], f"{where}.run", allowed) if "run" in spec else None,
                manual=_string(spec["manual"], f"{where}.manual", allowed)
                if "manual" in spec
                else None,
                reason=_string(spec["reason"], f"{where}.reason", allowed)
                if "reason" in spec
                else None,
            )
        )
    return tuple(out)


def parse_mapping(table: object, *, key: str = "runbooks") -> RunbookMapping:
    """A RunbookMapping from the decoded ``[runbooks]`` table (a plain dict)."""
    doc = _table(table, key)
    for name in doc:
        if name not in KEYS:
            raise MappingError(f"{key}.{name}", "unknown key", ", ".join(KEYS))
    return RunbookMapping(
        services=_services(_table(doc.get("services", {}), f"{key}.services"), f"{key}.services"),
        paths=_paths(_table(doc.get("paths", {}), f"{key}.paths"), f"{key}.paths"),
        commands=_commands(_table(doc.get("commands", {}), f"{key}.commands"), f"{key}.commands"),
    )


def map_paths(text: str, paths: dict[str, str], values: dict[str, str]) -> tuple[str, list[str]]:
    """*text* with every mapped path prefix replaced (placeholders filled from *values*).

    A path matches at a path boundary only: ``/var/lib/redis/dump.rdb`` maps,
    ``/var/lib/redis-old`` does not. Returns the text and the mappings applied.
    A placeholder without a value (a role the drill did not bind) leaves the path alone.
    """
    applied: list[str] = []
    for src in sorted(paths, key=len, reverse=True):
        target = paths[src]
        try:
            dest = _PLACEHOLDER.sub(lambda m: values[m.group(1)], target)
        except KeyError:
            continue
        pattern = re.compile(rf"(?<![\w./-]){re.escape(src)}(?![\w.-])")
        text, count = pattern.subn(dest.replace("\\", "\\\\"), text)
        if count:
            applied.append(f"{src} -> {dest}")
    return text, applied


def apply_commands(text: str, mapping: RunbookMapping) -> tuple[str, list[str], list[str]]:
    """*text* (a shell block) with mapped commands replaced and manual ones taken out.

    Returns the text that runs, the mappings applied (``cmd -> replacement (why)``) and
    the manual commands (``cmd (manual: why)``), in block order.
    """
    lines = text.splitlines()
    mapped: list[str] = []
    manual: list[str] = []
    for logical in reversed(logical_lines(text)):
        code = strip_comment(logical.text).strip()
        entry = mapping.command_for(code) if code else None
        if entry is None:
            continue
        code = " ".join(code.split())
        if entry.manual:
            manual.insert(0, f"{code} (manual: {entry.manual})")
            quoted = "'" + code.replace("'", "'\\''") + "'"
            replacement = f": manual step, not run by the drill: {quoted}"
        else:
            why = f" ({entry.reason})" if entry.reason else ""
            mapped.insert(0, f"{code} -> {entry.run}{why}")
            replacement = str(entry.run)
        lines[logical.offset : logical.offset + logical.span] = [replacement]
    return "\n".join(lines) + "\n", mapped, manual
