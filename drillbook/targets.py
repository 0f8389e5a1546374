"""The team's recovery targets (``drills.toml``): services, RTO, RPO and backup methods.

A drill measures what happened; this module says what *should* happen. It turns the
targets file into typed values and computes, for each service, the RPO *bound*: the
worst-case data-loss window its declared backup mechanisms guarantee (see DESIGN.md,
"Definitions"). Drills run compressed schedules, so the bound, not only the observed
RPO, is what gets compared with a production target.

The loader is strict on purpose: a typo in a targets file silently weakens every
verdict built on it, so an unknown key, a missing key or a value it cannot read is an
error. Every error is one line, ``<file>: <key>: <what is wrong>; allowed: <...>``, so
it reads well in CI logs and can be grepped.

Pure logic: no service I/O, no pytest import.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

__all__ = [
    "BACKUP_FORMS",
    "RTO_CLOCKS",
    "SERVICE_KINDS",
    "BackupMethod",
    "ServiceTarget",
    "Settings",
    "Targets",
    "TargetsError",
    "check_command",
    "format_duration",
    "load_targets",
    "parse_backup",
    "parse_duration",
    "parse_size",
    "parse_targets",
]

SERVICE_KINDS: tuple[str, ...] = ("postgres", "redis", "s3")
RTO_CLOCKS: tuple[str, ...] = ("fault", "detection")

# Every backup method form the loader understands, with the method kind it yields.
_FORMS: tuple[tuple[str, str], ...] = (
    ("pg_dump every <dur>[, duration <dur>]", "pg_dump"),
    ("dump every <dur>[, duration <dur>]", "dump"),
    ("snapshot every <dur>[, duration <dur>]", "snapshot"),
    ("rdb every <dur>[, duration <dur>]", "rdb"),
    ("wal archive, archive_timeout <dur>[, latency <dur>]", "wal_archive"),
    ("pitr, archive_timeout <dur>[, latency <dur>]", "wal_archive"),
    ("aof everysec|always|no", "aof"),
    ("s3 versioning", "s3_versioning"),
    ("s3 replication[, lag <dur>]", "s3_replication"),
    ("sync replication", "sync_replication"),
    ("async replication, lag <dur>", "async_replication"),
    ("rebuild", "rebuild"),
)
#: Every backup method form the loader understands, as shown in error messages.
BACKUP_FORMS: tuple[str, ...] = tuple(form for form, _ in _FORMS)

_DURATION_ALLOWED = "a duration such as 0, 500ms, 90s, 1.5s, 15m, 1h30m, 1d, or a number of seconds"
_SIZE_ALLOWED = "a size such as 512MB, 40GB, 1.5TB, 8GiB (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"

# Redis with `appendfsync no` leaves flushing to the kernel; Linux writes dirty pages
# back once they are older than vm.dirty_expire_centisecs (default 3000 = 30 s), which is
# the figure Redis' own persistence docs quote for this mode.
AOF_NO_FLUSH_SECONDS = 30.0
# Default S3 replication lag: S3 Replication Time Control's SLA replicates 99.99 % of
# objects within 15 minutes. Without RTC there is no SLA; state `lag` explicitly then.
S3_REPLICATION_DEFAULT_LAG = 15 * 60.0
# `aof everysec` fsyncs once per second: about one second of acknowledged writes can be
# lost on an OS crash or power failure (DESIGN.md: "~1 s for AOF everysec").
AOF_EVERYSEC_BOUND = 1.0

_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_LINE_BREAKS = re.compile(r"[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


# --------------------------------------------------------------------------- errors


class TargetsError(ValueError):
    """The targets file (or one value in it) is invalid.

    ``str(err)`` is always exactly one line: ``<source>: <key>: <problem>; allowed: <...>``
    (source and key omitted when unknown), so a CI log shows the whole story.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = None,
        key: str | None = None,
        allowed: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.key = key
        self.allowed = allowed
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.problem
        if self.allowed:
            text = f"{text}; allowed: {self.allowed}"
        location = ": ".join(part for part in (self.source, self.key) if part)
        if location:
            text = f"{location}: {text}"
        return _LINE_BREAKS.sub(" ", text)

    def __str__(self) -> str:
        return self._render()

    def located(self, *, source: str | None = None, key: str | None = None) -> TargetsError:
        """The same error with its file and key filled in (where not already set)."""
        return TargetsError(
            self.problem,
            source=self.source or source,
            key=self.key or key,
            allowed=self.allowed,
        )


def _show(value: object, limit: int = 60) -> str:
    """A value for an error message: repr (escapes line breaks), shortened."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """The choice the user most likely meant (``rpo`` for ``rpo_target``), if any."""
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return close[0]
    lowered = word.lower()
    prefixed = [c for c in choices if lowered.startswith(c) or c.startswith(lowered)]
    return max(prefixed, key=len) if prefixed and lowered else None


def _toml_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, time):
        return "time"
    return type(value).__name__


# --------------------------------------------------------------------------- durations

_DURATION_UNITS: dict[str, float] = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_UNIT_RANK = {unit: rank for rank, unit in enumerate(_DURATION_UNITS)}
# "ms" must be tried before "m".
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_ZERO = re.compile(r"0+(?:\.0+)?")


def _number_seconds(value: int | float) -> float:
    try:
        seconds = float(value)
    except OverflowError:
        raise TargetsError(f"{_show(value)} is too large", allowed=_DURATION_ALLOWED) from None
    if not math.isfinite(seconds):
        raise TargetsError(f"{_show(value)} is not a finite number", allowed=_DURATION_ALLOWED)
    if seconds < 0:
        raise TargetsError(f"negative duration {_show(value)}", allowed=_DURATION_ALLOWED)
    return seconds


def parse_duration(text: str | float) -> float:
    """Seconds in ``text``: ``0``, ``500ms``, ``90s``, ``1.5s``, ``15m``, ``1h30m10s``, ``1d``.

    Components go largest unit first, each unit at most once. A bare TOML number means
    seconds. A bare number *string* other than 0 is refused: "90" could mean seconds or
    minutes depending on who wrote it.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise TargetsError(
            f"expected a duration, got {_toml_type(text)} {_show(text)}", allowed=_DURATION_ALLOWED
        )
    if not isinstance(text, str):
        return _number_seconds(text)
    stripped = text.strip()
    if not stripped:
        raise TargetsError("empty duration", allowed=_DURATION_ALLOWED)
    if stripped.startswith("-"):
        raise TargetsError(f"negative duration {_show(text)}", allowed=_DURATION_ALLOWED)
    if _ZERO.fullmatch(stripped):
        return 0.0
    if re.fullmatch(r"\d+(?:\.\d+)?", stripped):
        raise TargetsError(
            f"duration {_show(text)} has no unit (write {stripped}s or {stripped}m)",
            allowed=_DURATION_ALLOWED,
        )
    total = 0.0
    pos = 0
    last_rank = -1
    while pos < len(stripped):
        match = _DURATION_PART.match(stripped, pos)
        if match is None:
            raise TargetsError(f"cannot read duration {_show(text)}", allowed=_DURATION_ALLOWED)
        number, unit = match.groups()
        rank = _UNIT_RANK[unit]
        if rank <= last_rank:
            raise TargetsError(
                f"duration {_show(text)}: units must appear once each, largest first (1h30m)",
                allowed=_DURATION_ALLOWED,
            )
        last_rank = rank
        total += float(number) * _DURATION_UNITS[unit]
        pos = match.end()
    if not math.isfinite(total):
        raise TargetsError(f"duration {_show(text)} is too large", allowed=_DURATION_ALLOWED)
    return total


def format_duration(seconds: float) -> str:
    """Human form that :func:`parse_duration` reads back: ``0``, ``120ms``, ``2.5s``, ``1h30m``.

    Rounded to the microsecond.
    """
    if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"cannot format duration {seconds!r}: need a finite number >= 0")
    micros = round(seconds * 1_000_000)
    if micros == 0:
        return "0"
    whole, frac = divmod(micros, 1_000_000)
    if whole == 0:
        ms, us = divmod(frac, 1000)
        return f"{ms}ms" if us == 0 else f"{ms}.{us:03d}".rstrip("0") + "ms"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    if frac:
        parts.append(f"{whole}.{frac:06d}".rstrip("0") + "s")
    elif whole:
        parts.append(f"{whole}s")
    return "".join(parts)


# --------------------------------------------------------------------------- sizes

_SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-z]+)")


def parse_size(text: str | int) -> int:
    """Bytes in ``text``: KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB powers of 1024.

    A bare TOML integer means bytes.
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise TargetsError(
            f"expected a size, got {_toml_type(text)} {_show(text)}", allowed=_SIZE_ALLOWED
        )
    if isinstance(text, int):
        if text < 0:
            raise TargetsError(f"negative size {text}", allowed=_SIZE_ALLOWED)
        return text
    stripped = text.strip()
    if stripped.startswith("-"):
        raise TargetsError(f"negative size {_show(text)}", allowed=_SIZE_ALLOWED)
    match = _SIZE.fullmatch(stripped)
    if match is None or match.group(2).lower() not in _SIZE_UNITS:
        raise TargetsError(f"cannot read size {_show(text)}", allowed=_SIZE_ALLOWED)
    number, unit = match.groups()
    try:
        value = Decimal(number) * _SIZE_UNITS[unit.lower()]
    except InvalidOperation:  # pragma: no cover - the regex only admits plain decimals
        raise TargetsError(f"cannot read size {_show(text)}", allowed=_SIZE_ALLOWED) from None
    if value != value.to_integral_value():
        raise TargetsError(
            f"size {_show(text)} is not a whole number of bytes", allowed=_SIZE_ALLOWED
        )
    return int(value)


# --------------------------------------------------------------------------- backup methods


@dataclass(frozen=True)
class BackupMethod:
    """One declared backup mechanism and the RPO bound it guarantees.

    ``params`` holds the effective parameters in seconds (defaults included, so a report
    shows what was assumed) plus ``mode`` for AOF. ``rpo_bound`` is None for ``rebuild``:
    the data is regenerated from its source, so an RPO does not apply.
    """

    kind: str
    text: str
    params: dict[str, float | str] = field(default_factory=dict, hash=False)
    rpo_bound: float | None = None
    basis: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "text": self.text,
            "params": dict(self.params),
            "rpo_bound": self.rpo_bound,
            "basis": self.basis,
        }


_INTERVAL_KINDS = ("pg_dump", "dump", "snapshot", "rdb")
# Which service kinds each method applies to (None: any).
_METHOD_SERVICE_KINDS: dict[str, tuple[str, ...] | None] = {
    "pg_dump": ("postgres",),
    "wal_archive": ("postgres",),
    "rdb": ("redis",),
    "aof": ("redis",),
    "s3_versioning": ("s3",),
    "s3_replication": ("s3",),
    "dump": None,
    "snapshot": None,
    "sync_replication": None,
    "async_replication": None,
    "rebuild": None,
}
_AOF_MODES: dict[str, tuple[float, str]] = {
    "everysec": (AOF_EVERYSEC_BOUND, "aof everysec: fsync once per second"),
    "always": (0.0, "aof always: fsync before every reply"),
    "no": (
        AOF_NO_FLUSH_SECONDS,
        "aof no: the OS flushes dirty pages after about 30s (vm.dirty_expire_centisecs)",
    ),
}


def _allowed_forms(service_kind: str | None) -> str:
    """The backup forms that apply to a service kind (all of them when unknown)."""
    forms = [
        form
        for form, kind in _FORMS
        if service_kind is None
        or _METHOD_SERVICE_KINDS[kind] is None
        or service_kind in (_METHOD_SERVICE_KINDS[kind] or ())
    ]
    return " | ".join(forms)


def _backup_error(problem: str, service_kind: str | None = None) -> TargetsError:
    return TargetsError(problem, allowed=_allowed_forms(service_kind))


def _method_params(
    text: str, raw: list[str], allowed: tuple[str, ...], head: str
) -> dict[str, float]:
    """``name value`` pairs after the head; every value is a duration."""
    params: dict[str, float] = {}
    for part in raw:
        words = part.split(None, 1)
        if not words:
            raise _backup_error(f"backup {_show(text)}: empty parameter (stray comma?)")
        name = words[0].lower()
        if name not in allowed:
            raise TargetsError(
                f"backup {_show(text)}: unknown parameter {_show(words[0])} for {head!r}",
                allowed=", ".join(f"{p} <dur>" for p in allowed) or "no parameters",
            )
        if name in params:
            raise _backup_error(f"backup {_show(text)}: parameter {name!r} given twice")
        if len(words) < 2:
            raise TargetsError(
                f"backup {_show(text)}: parameter {name!r} needs a value", allowed=_DURATION_ALLOWED
            )
        try:
            params[name] = parse_duration(words[1])
        except TargetsError as err:
            raise TargetsError(
                f"backup {_show(text)}: {name}: {err.problem}", allowed=err.allowed
            ) from None
    return params


def parse_backup(text: str, service_kind: str | None = None) -> BackupMethod:
    """Read one backup method (``"wal archive, archive_timeout 60s"``) and compute its bound.

    ``service_kind``, when given, rejects methods that cannot apply (``aof`` on PostgreSQL).
    """
    if not isinstance(text, str):
        raise _backup_error(f"expected a string, got {_toml_type(text)} {_show(text)}")
    parts = [part.strip() for part in text.split(",")]
    head_words = parts[0].lower().split()
    raw_params = parts[1:]
    if not head_words:
        raise _backup_error(f"empty backup method {_show(text)}")
    head = " ".join(head_words)
    first = head_words[0]
    method: BackupMethod

    if first in _INTERVAL_KINDS:
        if len(head_words) != 3 or head_words[1] != "every":
            raise _backup_error(
                f"backup {_show(text)}: write '{first} every <interval>[, duration <dur>]'"
            )
        try:
            interval = parse_duration(head_words[2])
        except TargetsError as err:
            raise TargetsError(
                f"backup {_show(text)}: interval: {err.problem}", allowed=err.allowed
            ) from None
        if interval <= 0:
            raise TargetsError(
                f"backup {_show(text)}: the interval must be greater than 0",
                allowed=_DURATION_ALLOWED,
            )
        params = _method_params(text, raw_params, ("duration",), first)
        duration = params.get("duration", 0.0)
        method = BackupMethod(
            kind=first,
            text=text,
            params={"interval": interval, "duration": duration},
            rpo_bound=interval + duration,
            basis=f"interval {format_duration(interval)} + duration {format_duration(duration)}",
        )
    elif head in ("wal archive", "pitr"):
        params = _method_params(text, raw_params, ("archive_timeout", "latency"), head)
        if "archive_timeout" not in params:
            raise TargetsError(
                f"backup {_show(text)}: {head!r} needs archive_timeout, the longest a WAL "
                "segment waits before it is archived (it bounds the data loss)",
                allowed=f"{head}, archive_timeout <dur>[, latency <dur>]",
            )
        timeout = params["archive_timeout"]
        latency = params.get("latency", 0.0)
        method = BackupMethod(
            kind="wal_archive",
            text=text,
            params={"archive_timeout": timeout, "latency": latency},
            rpo_bound=timeout + latency,
            basis=(
                f"archive_timeout {format_duration(timeout)} + latency {format_duration(latency)}"
            ),
        )
    elif first == "aof":
        if len(head_words) != 2 or head_words[1] not in _AOF_MODES:
            raise TargetsError(
                f"backup {_show(text)}: aof needs an appendfsync mode",
                allowed="aof everysec | aof always | aof no",
            )
        _method_params(text, raw_params, (), head)
        bound, basis = _AOF_MODES[head_words[1]]
        method = BackupMethod(
            kind="aof", text=text, params={"mode": head_words[1]}, rpo_bound=bound, basis=basis
        )
    elif head == "s3 versioning":
        _method_params(text, raw_params, (), head)
        method = BackupMethod(
            kind="s3_versioning",
            text=text,
            rpo_bound=0.0,
            basis="s3 versioning: an overwrite or delete keeps the previous version",
        )
    elif head == "s3 replication":
        params = _method_params(text, raw_params, ("lag",), head)
        lag = params.get("lag", S3_REPLICATION_DEFAULT_LAG)
        basis = f"replication lag {format_duration(lag)}"
        if "lag" not in params:
            basis += " (default: the S3 Replication Time Control SLA)"
        method = BackupMethod(
            kind="s3_replication", text=text, params={"lag": lag}, rpo_bound=lag, basis=basis
        )
    elif head == "sync replication":
        _method_params(text, raw_params, (), head)
        method = BackupMethod(
            kind="sync_replication",
            text=text,
            rpo_bound=0.0,
            basis="synchronous replication: a commit is acknowledged once the standby has it",
        )
    elif head == "async replication":
        params = _method_params(text, raw_params, ("lag",), head)
        if "lag" not in params:
            raise TargetsError(
                f"backup {_show(text)}: asynchronous replication guarantees no bound by "
                "itself; state the lag you alert on",
                allowed="async replication, lag <dur>",
            )
        method = BackupMethod(
            kind="async_replication",
            text=text,
            params={"lag": params["lag"]},
            rpo_bound=params["lag"],
            basis=f"replication lag {format_duration(params['lag'])}",
        )
    elif head == "rebuild":
        _method_params(text, raw_params, (), head)
        method = BackupMethod(
            kind="rebuild",
            text=text,
            rpo_bound=None,
            basis="rebuilt from its source: RPO not applicable",
        )
    else:
        raise _backup_error(f"unknown backup method {_show(text)}", service_kind)

    applies_to = _METHOD_SERVICE_KINDS[method.kind]
    if service_kind is not None and applies_to is not None and service_kind not in applies_to:
        raise _backup_error(
            f"backup {_show(text)} applies to {'/'.join(applies_to)}, not to {service_kind}",
            service_kind,
        )
    return method


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Settings:
    """The optional ``[settings]`` table."""

    default_rto_clock: str = "fault"

    def to_dict(self) -> dict[str, Any]:
        return {"default_rto_clock": self.default_rto_clock}


@dataclass(frozen=True, kw_only=True)
class ServiceTarget:
    """One service's targets. Durations are in seconds, sizes in bytes.

    ``rto_clock`` is resolved (the service's own value or ``settings.default_rto_clock``):
    ``fault`` measures RTO from t0, ``detection`` from the first failed probe.
    ``rpo_bound`` is the best (smallest) bound among the backup methods; None when every
    method is ``rebuild``.
    """

    name: str
    kind: str
    tier: str | None = None
    rto: float
    rpo: float
    rto_clock: str = "fault"
    backups: tuple[BackupMethod, ...] = ()
    rpo_bound: float | None = None
    production_size: int | None = None
    description: str | None = None
    runbook: str | None = None

    def __post_init__(self) -> None:
        # Built by hand (tests, other tools) without a bound: derive it from the methods.
        if self.rpo_bound is None:
            bounds = [m.rpo_bound for m in self.backups if m.rpo_bound is not None]
            if bounds:
                object.__setattr__(self, "rpo_bound", min(bounds))

    def bound_meets_target(self) -> bool | None:
        """Whether the declared mechanisms can meet the RPO target; None if not applicable."""
        if self.rpo_bound is None:
            return None
        return self.rpo_bound <= self.rpo + 1e-9

    def bounding_method(self) -> BackupMethod | None:
        """The backup method whose bound is the service's bound."""
        bounded = [m for m in self.backups if m.rpo_bound is not None]
        return min(bounded, key=lambda m: m.rpo_bound or 0.0) if bounded else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "tier": self.tier,
            "rto": self.rto,
            "rpo": self.rpo,
            "rto_clock": self.rto_clock,
            "backups": [m.to_dict() for m in self.backups],
            "rpo_bound": self.rpo_bound,
            "bound_meets_target": self.bound_meets_target(),
            "production_size": self.production_size,
            "description": self.description,
            "runbook": self.runbook,
        }


@dataclass(frozen=True)
class Targets:
    """A loaded targets file: services by name, where it came from, and its sha256."""

    services: dict[str, ServiceTarget] = field(hash=False)
    source: str
    digest: str
    settings: Settings = field(default_factory=Settings)

    def get(self, service: str) -> ServiceTarget:
        """The named service, or a TargetsError listing the known ones."""
        try:
            return self.services[service]
        except KeyError:
            hint = _suggest(service, list(self.services))
            problem = f"unknown service {_show(service)}"
            if hint:
                problem += f" (did you mean {hint!r}?)"
            raise TargetsError(
                problem, source=self.source, allowed=", ".join(self.services)
            ) from None

    def __iter__(self) -> Iterator[ServiceTarget]:
        return iter(self.services.values())

    def __len__(self) -> int:
        return len(self.services)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "digest": self.digest,
            "settings": self.settings.to_dict(),
            "services": {name: svc.to_dict() for name, svc in self.services.items()},
        }


_TOP_KEYS = ("settings", "services")
_SETTINGS_KEYS = ("default_rto_clock",)
_SERVICE_KEYS = (
    "kind",
    "tier",
    "description",
    "rto",
    "rpo",
    "rto_clock",
    "backup",
    "production_size",
    "runbook",
    "source",  # drillbook verify: where the real backups are (drillbook.verify.source)
)
_REQUIRED_SERVICE_KEYS = ("kind", "rto", "rpo", "backup")
_SERVICE_KEY_HELP = {
    "kind": " | ".join(SERVICE_KINDS),
    "rto": _DURATION_ALLOWED,
    "rpo": _DURATION_ALLOWED,
    "backup": "a backup method string or an array of them: " + " | ".join(BACKUP_FORMS),
}


def _key_path(*parts: str) -> str:
    """``services.auth.rto``; a part that is not a bare TOML key is quoted."""
    out = []
    for part in parts:
        if re.fullmatch(r"[A-Za-z0-9_-]+(?:\[\d+\])?", part):
            out.append(part)
        else:
            out.append(_show(part, 40))
    return ".".join(out)


class _Reader:
    """Validates the decoded TOML document, turning problems into located TargetsErrors."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, problem: str, allowed: str | None = None) -> TargetsError:
        return TargetsError(problem, source=self.source, key=key, allowed=allowed)

    def check_keys(self, table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in allowed:
                hint = _suggest(key, allowed)
                problem = "unknown key"
                if hint:
                    problem += f" (did you mean {hint!r}?)"
                path = _key_path(*where.split("."), key) if where else _key_path(key)
                raise self.error(path, problem, ", ".join(allowed))

    def string(self, value: object, key: str, allowed: str = "a string") -> str:
        if not isinstance(value, str):
            raise self.error(
                key, f"expected a string, got {_toml_type(value)} {_show(value)}", allowed
            )
        return value

    def choice(self, value: object, key: str, choices: tuple[str, ...]) -> str:
        text = self.string(value, key, " | ".join(choices))
        if text not in choices:
            raise self.error(key, f"unknown value {_show(text)}", " | ".join(choices))
        return text

    def duration(self, value: object, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(
                key,
                f"expected a duration, got {_toml_type(value)} {_show(value)}",
                _DURATION_ALLOWED,
            )
        try:
            return parse_duration(value)
        except TargetsError as err:
            raise err.located(source=self.source, key=key) from None

    def document(self, doc: dict[str, Any], digest: str) -> Targets:
        self.check_keys(doc, _TOP_KEYS, "")
        settings = self.settings(doc.get("settings", {}))
        if "services" not in doc:
            raise self.error(
                "services", "no services defined", "one [services.<name>] table per service"
            )
        services_table = doc["services"]
        if not isinstance(services_table, dict):
            raise self.error(
                "services",
                f"expected a table, got {_toml_type(services_table)}",
                "[services.<name>] tables",
            )
        if not services_table:
            raise self.error(
                "services", "no services defined", "one [services.<name>] table per service"
            )
        services: dict[str, ServiceTarget] = {}
        for name, table in services_table.items():
            services[name] = self.service(name, table, settings)
        return Targets(services=services, source=self.source, digest=digest, settings=settings)

    def settings(self, table: object) -> Settings:
        if not isinstance(table, dict):
            raise self.error(
                "settings", f"expected a table, got {_toml_type(table)}", "a [settings] table"
            )
        self.check_keys(table, _SETTINGS_KEYS, "settings")
        clock = "fault"
        if "default_rto_clock" in table:
            clock = self.choice(
                table["default_rto_clock"], "settings.default_rto_clock", RTO_CLOCKS
            )
        return Settings(default_rto_clock=clock)

    def service(self, name: str, table: object, settings: Settings) -> ServiceTarget:
        where = _key_path("services", name)
        if not _SERVICE_NAME.fullmatch(name):
            raise self.error(
                where,
                "invalid service name",
                "letters, digits, '_' and '-', starting with a letter or digit",
            )
        if not isinstance(table, dict):
            raise self.error(
                where, f"expected a table, got {_toml_type(table)}", f"a [services.{name}] table"
            )
        self.check_keys(table, _SERVICE_KEYS, f"services.{name}")
        for key in _REQUIRED_SERVICE_KEYS:
            if key not in table:
                raise self.error(f"{where}.{key}", "missing required key", _SERVICE_KEY_HELP[key])

        kind = self.choice(table["kind"], f"{where}.kind", SERVICE_KINDS)
        rto = self.duration(table["rto"], f"{where}.rto")
        if rto <= 0:
            raise self.error(
                f"{where}.rto",
                "an RTO of 0 can never be met; state how long the service may be down",
                _DURATION_ALLOWED,
            )
        rpo = self.duration(table["rpo"], f"{where}.rpo")
        rto_clock = settings.default_rto_clock
        if "rto_clock" in table:
            rto_clock = self.choice(table["rto_clock"], f"{where}.rto_clock", RTO_CLOCKS)
        backups = self.backups(table["backup"], f"{where}.backup", kind)
        if "source" in table:
            _check_source(table["source"], f"{where}.source", kind, self.source)
        bounds = [m.rpo_bound for m in backups if m.rpo_bound is not None]

        size: int | None = None
        if "production_size" in table:
            try:
                size = parse_size(table["production_size"])
            except TargetsError as err:
                raise err.located(source=self.source, key=f"{where}.production_size") from None
        optional: dict[str, str | None] = {}
        for key in ("tier", "description", "runbook"):
            optional[key] = self.string(table[key], f"{where}.{key}") if key in table else None

        return ServiceTarget(
            name=name,
            kind=kind,
            tier=optional["tier"],
            rto=rto,
            rpo=rpo,
            rto_clock=rto_clock,
            backups=backups,
            rpo_bound=min(bounds) if bounds else None,
            production_size=size,
            description=optional["description"],
            runbook=optional["runbook"],
        )

    def backups(self, value: object, key: str, kind: str) -> tuple[BackupMethod, ...]:
        allowed = _SERVICE_KEY_HELP["backup"]
        items: list[tuple[str, object]]
        if isinstance(value, str):
            items = [(key, value)]
        elif isinstance(value, list):
            if not value:
                raise self.error(key, "at least one backup method is required", allowed)
            items = [(f"{key}[{i}]", item) for i, item in enumerate(value)]
        else:
            raise self.error(
                key,
                f"expected a string or an array, got {_toml_type(value)} {_show(value)}",
                allowed,
            )
        methods: list[BackupMethod] = []
        for item_key, item in items:
            if not isinstance(item, str):
                raise self.error(
                    item_key, f"expected a string, got {_toml_type(item)} {_show(item)}", allowed
                )
            try:
                methods.append(parse_backup(item, kind))
            except TargetsError as err:
                raise err.located(source=self.source, key=item_key) from None
        return tuple(methods)


def _check_source(value: object, key: str, kind: str, source: str) -> None:
    """Validate ``[services.NAME.source]`` (drillbook verify); the grammar lives there."""
    from drillbook.verify.source import parse_source

    try:
        parse_source(value, key, kind)
    except TargetsError as err:
        raise err.located(source=source) from None


_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def parse_targets(text: str, source: str = "<string>") -> Targets:
    """Targets from TOML text; ``source`` names it in errors (normally the file path)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return _parse(text, source, digest)


def _parse(text: str, source: str, digest: str) -> Targets:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        position = _TOML_POSITION.search(message)
        # "at end of document" carries no position: the last line is where it ended.
        line = position.group(1) if position else str(text.rstrip().count("\n") + 1)
        where = f"{source}:{line}"
        raise TargetsError(f"invalid TOML: {message}", source=where) from None
    except RecursionError:
        raise TargetsError("invalid TOML: nested too deeply", source=source) from None
    return _Reader(source).document(doc, digest)


def load_targets(path: str | Path) -> Targets:
    """Targets from a file; ``digest`` is the sha256 of its bytes, for the drill record."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise TargetsError(
            f"cannot read the targets file: {err.strerror or err}", source=source
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TargetsError(
            f"not UTF-8 text (byte {err.start}): TOML files must be UTF-8", source=source
        ) from None
    return _parse(text, source, hashlib.sha256(data).hexdigest())


# --------------------------------------------------------------------------- CLI helper


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def check_command(path: str | Path) -> tuple[int, str]:
    """``drillbook check``: validate a targets file and show what each service is held to.

    Exit codes: 0 valid and every RPO bound meets its target (or does not apply);
    1 the file is invalid (the one-line error is the output); 2 valid, but the declared
    backup methods of some service cannot meet its RPO target, so CI can gate on it.
    """
    try:
        targets = load_targets(path)
    except TargetsError as err:
        return 1, str(err)
    rows = [["service", "kind", "tier", "RTO", "RPO", "RTO clock", "RPO bound", "bound meets RPO"]]
    missed: list[str] = []
    for svc in targets:
        meets = svc.bound_meets_target()
        rows.append(
            [
                svc.name,
                svc.kind,
                svc.tier or "-",
                format_duration(svc.rto),
                format_duration(svc.rpo),
                svc.rto_clock,
                "n.a." if svc.rpo_bound is None else format_duration(svc.rpo_bound),
                {True: "yes", False: "NO", None: "n.a."}[meets],
            ]
        )
        if meets is False and svc.rpo_bound is not None:
            missed.append(
                f"{svc.name} (bound {format_duration(svc.rpo_bound)}"
                f" > RPO {format_duration(svc.rpo)})"
            )
    lines = [f"{targets.source}: {len(targets)} services, sha256 {targets.digest[:12]}"]
    lines += _table(rows)
    if missed:
        lines.append(
            "RPO bound exceeds target: "
            + ", ".join(missed)
            + ": the declared backup methods cannot meet these RPO targets"
        )
        return 2, "\n".join(lines)
    lines.append("every RPO bound meets its target (n.a.: data rebuilt from source)")
    return 0, "\n".join(lines)
