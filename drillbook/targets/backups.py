"""Backup methods: what ``backup = [...]`` may say, and the RPO bound each one guarantees.

The grammar is a table, :data:`METHODS`: one row per form a user writes (the form shown
in errors, the method kind it yields, the service kinds it applies to, the words that
select it) and one small parser per method that reads its parameters and computes the
bound (DESIGN.md, "Definitions": snapshot interval plus duration, archive_timeout plus
latency, ~1 s for AOF everysec, 0 for synchronous replication). Adding a method is one
parser and one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drillbook.targets.errors import TargetsError, show, toml_type
from drillbook.targets.units import DURATION_ALLOWED, format_duration, parse_duration

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

_AOF_MODES: dict[str, tuple[float, str]] = {
    "everysec": (AOF_EVERYSEC_BOUND, "aof everysec: fsync once per second"),
    "always": (0.0, "aof always: fsync before every reply"),
    "no": (
        AOF_NO_FLUSH_SECONDS,
        "aof no: the OS flushes dirty pages after about 30s (vm.dirty_expire_centisecs)",
    ),
}


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


@dataclass(frozen=True)
class Declared:
    """One backup string taken apart: ``"<head words>, <name value>, ..."``."""

    text: str
    head: tuple[str, ...]  # lower-cased words before the first comma
    raw_params: tuple[str, ...]

    def fail(self, problem: str, allowed: str) -> TargetsError:
        return TargetsError(f"backup {show(self.text)}: {problem}", allowed=allowed)

    def params(self, allowed: tuple[str, ...]) -> dict[str, float]:
        """``name value`` pairs after the head; every value is a duration."""
        head = " ".join(self.head)
        params: dict[str, float] = {}
        for part in self.raw_params:
            words = part.split(None, 1)
            if not words:
                raise self.fail("empty parameter (stray comma?)", allowed_forms(None))
            name = words[0].lower()
            if name not in allowed:
                raise self.fail(
                    f"unknown parameter {show(words[0])} for {head!r}",
                    ", ".join(f"{p} <dur>" for p in allowed) or "no parameters",
                )
            if name in params:
                raise self.fail(f"parameter {name!r} given twice", allowed_forms(None))
            if len(words) < 2:
                raise self.fail(f"parameter {name!r} needs a value", DURATION_ALLOWED)
            params[name] = self.duration(name, words[1])
        return params

    def duration(self, name: str, text: str) -> float:
        try:
            return parse_duration(text)
        except TargetsError as err:
            raise self.fail(f"{name}: {err.problem}", err.allowed or DURATION_ALLOWED) from None


Parser = Callable[["Method", Declared], BackupMethod]


@dataclass(frozen=True)
class Method:
    """One row of the grammar: a form, the method kind it yields, where it applies."""

    form: str  # as shown in errors
    kind: str
    applies_to: tuple[str, ...] | None  # service kinds; None: any
    select: str  # the head ("wal archive") that picks it, or its first word with `prefix`
    parse: Parser
    #: ``select`` is the first word only; the parser reads the rest ("aof everysec").
    prefix: bool = False

    def method(self, d: Declared, bound: float | None, basis: str, **params: Any) -> BackupMethod:
        return BackupMethod(
            kind=self.kind, text=d.text, params=params, rpo_bound=bound, basis=basis
        )


def _interval(m: Method, d: Declared) -> BackupMethod:
    if len(d.head) != 3 or d.head[1] != "every":
        raise d.fail(f"write '{m.select} every <interval>[, duration <dur>]'", allowed_forms(None))
    interval = d.duration("interval", d.head[2])
    if interval <= 0:
        raise d.fail("the interval must be greater than 0", DURATION_ALLOWED)
    duration = d.params(("duration",)).get("duration", 0.0)
    basis = f"interval {format_duration(interval)} + duration {format_duration(duration)}"
    return m.method(d, interval + duration, basis, interval=interval, duration=duration)


def _wal_archive(m: Method, d: Declared) -> BackupMethod:
    params = d.params(("archive_timeout", "latency"))
    if "archive_timeout" not in params:
        raise d.fail(
            f"{m.select!r} needs archive_timeout, the longest a WAL segment waits before it "
            "is archived (it bounds the data loss)",
            f"{m.select}, archive_timeout <dur>[, latency <dur>]",
        )
    timeout, latency = params["archive_timeout"], params.get("latency", 0.0)
    basis = f"archive_timeout {format_duration(timeout)} + latency {format_duration(latency)}"
    return m.method(d, timeout + latency, basis, archive_timeout=timeout, latency=latency)


def _aof(m: Method, d: Declared) -> BackupMethod:
    if len(d.head) != 2 or d.head[1] not in _AOF_MODES:
        raise d.fail("aof needs an appendfsync mode", "aof everysec | aof always | aof no")
    d.params(())
    bound, basis = _AOF_MODES[d.head[1]]
    return m.method(d, bound, basis, mode=d.head[1])


def _fixed(bound: float | None, basis: str) -> Parser:
    """A method with no parameter and a fixed bound (versioning, sync replication)."""

    def parse(m: Method, d: Declared) -> BackupMethod:
        d.params(())
        return m.method(d, bound, basis)

    return parse


def _s3_replication(m: Method, d: Declared) -> BackupMethod:
    params = d.params(("lag",))
    lag = params.get("lag", S3_REPLICATION_DEFAULT_LAG)
    basis = f"replication lag {format_duration(lag)}"
    if "lag" not in params:
        basis += " (default: the S3 Replication Time Control SLA)"
    return m.method(d, lag, basis, lag=lag)


def _async_replication(m: Method, d: Declared) -> BackupMethod:
    params = d.params(("lag",))
    if "lag" not in params:
        raise d.fail(
            "asynchronous replication guarantees no bound by itself; state the lag you alert on",
            "async replication, lag <dur>",
        )
    lag = params["lag"]
    return m.method(d, lag, f"replication lag {format_duration(lag)}", lag=lag)


_PG, _REDIS, _S3 = ("postgres",), ("redis",), ("s3",)
#: The grammar, in the order errors list the forms.
METHODS: tuple[Method, ...] = (
    Method(
        "pg_dump every <dur>[, duration <dur>]", "pg_dump", _PG, "pg_dump", _interval, prefix=True
    ),
    Method("dump every <dur>[, duration <dur>]", "dump", None, "dump", _interval, prefix=True),
    Method(
        "snapshot every <dur>[, duration <dur>]",
        "snapshot",
        None,
        "snapshot",
        _interval,
        prefix=True,
    ),
    Method("rdb every <dur>[, duration <dur>]", "rdb", _REDIS, "rdb", _interval, prefix=True),
    Method(
        "wal archive, archive_timeout <dur>[, latency <dur>]",
        "wal_archive",
        _PG,
        "wal archive",
        _wal_archive,
    ),
    Method(
        "pitr, archive_timeout <dur>[, latency <dur>]", "wal_archive", _PG, "pitr", _wal_archive
    ),
    Method("aof everysec|always|no", "aof", _REDIS, "aof", _aof, prefix=True),
    Method(
        "s3 versioning",
        "s3_versioning",
        _S3,
        "s3 versioning",
        _fixed(0.0, "s3 versioning: an overwrite or delete keeps the previous version"),
    ),
    Method("s3 replication[, lag <dur>]", "s3_replication", _S3, "s3 replication", _s3_replication),
    Method(
        "sync replication",
        "sync_replication",
        None,
        "sync replication",
        _fixed(0.0, "synchronous replication: a commit is acknowledged once the standby has it"),
    ),
    Method(
        "async replication, lag <dur>",
        "async_replication",
        None,
        "async replication",
        _async_replication,
    ),
    Method(
        "rebuild",
        "rebuild",
        None,
        "rebuild",
        _fixed(None, "rebuilt from its source: RPO not applicable"),
    ),
)
#: Every backup method form the loader understands, as shown in error messages.
BACKUP_FORMS: tuple[str, ...] = tuple(m.form for m in METHODS)
_BY_HEAD: dict[str, Method] = {m.select: m for m in METHODS if not m.prefix}
_BY_FIRST_WORD: dict[str, Method] = {m.select: m for m in METHODS if m.prefix}


def allowed_forms(service_kind: str | None) -> str:
    """The backup forms that apply to a service kind (all of them when unknown)."""
    return " | ".join(
        m.form
        for m in METHODS
        if service_kind is None or m.applies_to is None or service_kind in m.applies_to
    )


def _declared(text: str, service_kind: str | None) -> Declared:
    if not text.isascii():
        raise TargetsError(
            f"backup {show(text)} has non-ASCII characters (digits must be 0-9)",
            allowed=allowed_forms(service_kind),
        )
    parts = [part.strip() for part in text.split(",")]
    return Declared(text, tuple(parts[0].lower().split()), tuple(parts[1:]))


def parse_backup(text: str, service_kind: str | None = None) -> BackupMethod:
    """Read one backup method (``"wal archive, archive_timeout 60s"``) and compute its bound.

    ``service_kind``, when given, rejects methods that cannot apply (``aof`` on PostgreSQL).
    """
    if not isinstance(text, str):
        raise TargetsError(
            f"expected a string, got {toml_type(text)} {show(text)}", allowed=allowed_forms(None)
        )
    d = _declared(text, service_kind)
    if not d.head:
        raise TargetsError(f"empty backup method {show(text)}", allowed=allowed_forms(None))
    row = _BY_HEAD.get(" ".join(d.head)) or _BY_FIRST_WORD.get(d.head[0])
    if row is None:
        raise TargetsError(
            f"unknown backup method {show(text)}", allowed=allowed_forms(service_kind)
        )
    method = row.parse(row, d)
    if (
        service_kind is not None
        and row.applies_to is not None
        and service_kind not in row.applies_to
    ):
        raise TargetsError(
            f"backup {show(text)} applies to {'/'.join(row.applies_to)}, not to {service_kind}",
            allowed=allowed_forms(service_kind),
        )
    return method
