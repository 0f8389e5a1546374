"""Reading ``drills.toml``: bytes -> guarded text -> TOML -> validated :class:`Targets`.

Strict on purpose: a typo in a targets file silently weakens every verdict built on it,
so an unknown key, a missing key or a value it cannot read is an error, located at
``<file>: <key>`` (or ``<file>:<line>`` for what the TOML parser or the pre-parse guard
refuses) and one line long. Sub-tables of a service come from the registry in
:mod:`drillbook.targets.subtables`.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any

from drillbook.targets import guard
from drillbook.targets.backups import BACKUP_FORMS, BackupMethod, parse_backup
from drillbook.targets.errors import TargetsError, cut, key_path, show, suggest, toml_type
from drillbook.targets.model import RTO_CLOCKS, SERVICE_KINDS, ServiceTarget, Settings, Targets
from drillbook.targets.subtables import ServiceContext, registered
from drillbook.targets.units import DURATION_ALLOWED, parse_duration, parse_size

_TOP_KEYS = ("settings", "services", "runbooks")
_SETTINGS_KEYS = ("default_rto_clock",)
#: The keys of a [services.<name>] table (besides registered sub-tables).
SERVICE_KEYS = (
    "kind",
    "tier",
    "description",
    "rto",
    "rpo",
    "rto_clock",
    "backup",
    "production_size",
    "runbook",
)
_REQUIRED_SERVICE_KEYS = ("kind", "rto", "rpo", "backup")
_BACKUP_HELP = "a backup method string or an array of them: " + " | ".join(BACKUP_FORMS)
_SERVICE_KEY_HELP = {
    "kind": " | ".join(SERVICE_KINDS),
    "rto": DURATION_ALLOWED,
    "rpo": DURATION_ALLOWED,
    "backup": _BACKUP_HELP,
}
_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_NO_SERVICES = "one [services.<name>] table per service"
_TOML_POSITION = re.compile(r"\(at line ([0-9]+), column ([0-9]+)\)")


class TableReader:
    """Validators for decoded TOML values; each problem becomes a located TargetsError.

    The loader's own, and what a registered sub-table parser receives.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, problem: str, allowed: str | None = None) -> TargetsError:
        return TargetsError(problem, source=self.source, key=key, allowed=allowed)

    def table(self, value: object, key: str, allowed: str = "a table") -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {toml_type(value)}", allowed)
        return value

    def check_keys(self, table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in allowed:
                hint = suggest(key, allowed)
                problem = "unknown key" + (f" (did you mean {hint!r}?)" if hint else "")
                path = key_path(*where.split("."), key) if where else key_path(key)
                raise self.error(path, problem, ", ".join(allowed))

    def string(self, value: object, key: str, allowed: str = "a string") -> str:
        if not isinstance(value, str):
            raise self.error(
                key, f"expected a string, got {toml_type(value)} {show(value)}", allowed
            )
        return value

    def choice(self, value: object, key: str, choices: tuple[str, ...]) -> str:
        text = self.string(value, key, " | ".join(choices))
        if text not in choices:
            raise self.error(key, f"unknown value {show(text)}", " | ".join(choices))
        return text

    def duration(self, value: object, key: str) -> float:
        try:
            return parse_duration(value)
        except TargetsError as err:
            raise err.located(source=self.source, key=key) from None

    def size(self, value: object, key: str) -> int:
        try:
            return parse_size(value)
        except TargetsError as err:
            raise err.located(source=self.source, key=key) from None


class _Document(TableReader):
    """The whole file: top level, ``[settings]``, each ``[services.<name>]``."""

    def document(self, doc: dict[str, Any], digest: str) -> Targets:
        self.check_keys(doc, _TOP_KEYS, "")
        settings = self.settings(doc.get("settings", {}))
        if "services" not in doc:
            raise self.error("services", "no services defined", _NO_SERVICES)
        table = self.table(doc["services"], "services", "[services.<name>] tables")
        if not table:
            raise self.error("services", "no services defined", _NO_SERVICES)
        services = {name: self.service(name, value, settings) for name, value in table.items()}
        return Targets(services, self.source, digest, settings, self.runbooks(doc))

    def runbooks(self, doc: dict[str, Any]) -> Any:
        """The [runbooks] name mapping (drillbook.runbook.mapping documents its keys)."""
        from drillbook.runbook.mapping import MappingError, parse_mapping

        try:
            return parse_mapping(doc.get("runbooks", {}))
        except MappingError as err:
            raise self.error(err.key, err.problem, err.allowed) from None

    def settings(self, value: object) -> Settings:
        table = self.table(value, "settings", "a [settings] table")
        self.check_keys(table, _SETTINGS_KEYS, "settings")
        clock = "fault"
        if "default_rto_clock" in table:
            clock = self.choice(
                table["default_rto_clock"], "settings.default_rto_clock", RTO_CLOCKS
            )
        return Settings(default_rto_clock=clock)

    def service(self, name: str, value: object, settings: Settings) -> ServiceTarget:
        where = key_path("services", name)
        if not _SERVICE_NAME.fullmatch(name):
            raise self.error(
                where,
                "invalid service name",
                "letters, digits, '_' and '-', starting with a letter or digit",
            )
        table = self.table(value, where, f"a [services.{name}] table")
        subtables = registered()
        self.check_keys(table, (*SERVICE_KEYS, *subtables), f"services.{name}")
        for key in _REQUIRED_SERVICE_KEYS:
            if key not in table:
                raise self.error(f"{where}.{key}", "missing required key", _SERVICE_KEY_HELP[key])
        kind = self.choice(table["kind"], f"{where}.kind", SERVICE_KINDS)
        rto = self.duration(table["rto"], f"{where}.rto")
        if rto <= 0:
            raise self.error(
                f"{where}.rto",
                "an RTO of 0 can never be met; state how long the service may be down",
                DURATION_ALLOWED,
            )
        rpo = self.duration(table["rpo"], f"{where}.rpo")
        rto_clock = self.rto_clock(table, where, settings)
        backups = self.backups(table["backup"], f"{where}.backup", kind)
        size = table.get("production_size")
        size_bytes = None if size is None else self.size(size, f"{where}.production_size")
        text = {
            key: self.string(table[key], f"{where}.{key}") if key in table else None
            for key in ("tier", "description", "runbook")
        }
        return ServiceTarget(
            name=name,
            kind=kind,
            tier=text["tier"],
            rto=rto,
            rpo=rpo,
            rto_clock=rto_clock,
            backups=backups,
            production_size=size_bytes,
            description=text["description"],
            runbook=text["runbook"],
            subtables=self.subtables(table, ServiceContext(name, kind, where)),
        )

    def rto_clock(self, table: dict[str, Any], where: str, settings: Settings) -> str:
        if "rto_clock" not in table:
            return settings.default_rto_clock
        return self.choice(table["rto_clock"], f"{where}.rto_clock", RTO_CLOCKS)

    def subtables(self, table: dict[str, Any], ctx: ServiceContext) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, sub in registered().items():
            if key not in table:
                continue
            here = ServiceContext(ctx.name, ctx.kind, f"{ctx.key}.{key_path(key)}")
            if sub.kinds is not None and ctx.kind not in sub.kinds:
                raise self.error(
                    here.key, f"does not apply to a {ctx.kind} service", "/".join(sub.kinds)
                )
            out[key] = sub.parse(self, table[key], here)
        return out

    def backups(self, value: object, key: str, kind: str) -> tuple[BackupMethod, ...]:
        items: list[tuple[str, object]]
        if isinstance(value, str):
            items = [(key, value)]
        elif isinstance(value, list):
            if not value:
                raise self.error(key, "at least one backup method is required", _BACKUP_HELP)
            items = [(f"{key}[{i}]", item) for i, item in enumerate(value)]
        else:
            raise self.error(
                key,
                f"expected a string or an array, got {toml_type(value)} {show(value)}",
                _BACKUP_HELP,
            )
        methods: list[BackupMethod] = []
        for item_key, item in items:
            text = self.string(item, item_key, _BACKUP_HELP)
            try:
                methods.append(parse_backup(text, kind))
            except TargetsError as err:
                raise err.located(source=self.source, key=item_key) from None
        return tuple(methods)


def _decode_toml(text: str, source: str) -> dict[str, Any]:
    guard.check_text(text, source)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        position = _TOML_POSITION.search(message)
        # "at end of document" carries no position: the last line is where it ended.
        line = position.group(1) if position else str(text.rstrip().count("\n") + 1)
        raise TargetsError(
            f"invalid TOML: {cut(message, 200)}", source=f"{source}:{line}"
        ) from None
    except RecursionError:
        raise TargetsError("invalid TOML: nested too deeply", source=source) from None
    except ValueError as err:  # what the guard missed (an int past Python's digit limit)
        raise TargetsError(f"invalid TOML: {cut(str(err), 200)}", source=source) from None


def parse_targets(text: str, source: str = "<string>") -> Targets:
    """Targets from TOML text; ``source`` names it in errors (normally the file path)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return _Document(source).document(_decode_toml(text, source), digest)


def load_targets(path: str | Path) -> Targets:
    """Targets from a file; ``digest`` is the sha256 of its bytes, for the drill record."""
    source = str(path)
    data = _read(Path(path), source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise TargetsError(
            f"not UTF-8 text (byte {err.start}): TOML files must be UTF-8",
            source=f"{source}:{line}",
        ) from None
    return _Document(source).document(_decode_toml(text, source), hashlib.sha256(data).hexdigest())


def _read(path: Path, source: str) -> bytes:
    """The file's bytes, refusing directories and files larger than a targets file.

    Never more than the limit is read: a 10 GB file (or ``/dev/zero``) costs nothing.
    """
    try:
        if path.is_dir():
            raise TargetsError("is a directory, not a targets file", source=source)
        with path.open("rb") as f:
            data = f.read(guard.MAX_FILE_BYTES + 1)
            size = max(len(data), path.stat().st_size)
    except OSError as err:
        raise TargetsError(
            f"cannot read the targets file: {err.strerror or err}", source=source
        ) from None
    guard.check_size(size, source)
    return data
