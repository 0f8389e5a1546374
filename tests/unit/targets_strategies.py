"""Hypothesis strategies for drills.toml: valid files with the values they must load as,
and invalid files with the key their error must name.

Valid files use every documented key (kind, tier, description, rto, rpo, rto_clock,
backup, production_size, runbook; settings.default_rto_clock) in every documented form,
written as tables or as dotted keys, padded with comments up to the size limit; each RPO
is at least its bound, so ``drillbook check`` must exit 0. Invalid files take a valid one
and break exactly one thing: a documented key with a wrong type, a huge, negative, NaN or
infinite number, unicode digits, an unknown or missing key, deep nesting, a duplicate,
binary garbage, a file over the size limit.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from drillbook.targets import (
    MAX_DEPTH,
    MAX_DURATION_SECONDS,
    MAX_FILE_BYTES,
    MAX_NUMBER_DIGITS,
    MAX_SIZE_BYTES,
    format_duration,
)
from drillbook.targets.loader import SERVICE_KEYS
from tests.unit.tomlwriter import toml_dump, toml_key, toml_value

MAX_S = int(MAX_DURATION_SECONDS)


@dataclass
class Expected:
    """What one valid service must load as."""

    kind: str
    rto: float
    rpo: float
    bound: float | None
    size: int | None = None
    text: dict[str, str | None] = field(default_factory=dict)  # tier, description, runbook
    rto_clock: str | None = None  # None: the file's default


@dataclass
class Case:
    """One generated file: its content, and what reading it must give."""

    content: str | bytes
    services: dict[str, Expected] | None = None  # valid: every service's values
    needle: str | None = None  # invalid: text the one-line error must contain
    kind: str = "valid"  # the mutation, for failure messages and statistics

    @property
    def valid(self) -> bool:
        return self.services is not None


# -- valid values ---------------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,12}", fullmatch=True)


def duration_values(minimum: int) -> st.SearchStrategy[tuple[Any, float]]:
    """(TOML value, seconds): integers, floats, "1h30m"-style and "250ms" strings."""
    whole = st.integers(min_value=minimum, max_value=MAX_S)
    return st.one_of(
        whole.map(lambda n: (n, float(n))),
        whole.map(lambda n: (float(n), float(n))),
        whole.map(lambda n: (format_duration(n), float(n))),
        whole.map(lambda n: (f" {format_duration(n)} ", float(n))),
        st.integers(max(minimum, 1), 999).map(lambda n: (f"{n}ms", n / 1000)),
    )


def interval(limit: int = MAX_S // 2) -> st.SearchStrategy[int]:
    return st.integers(min_value=1, max_value=limit)


def _fd(n: int) -> str:
    return format_duration(n)


COMMON_METHODS: list[st.SearchStrategy[tuple[str, float | None]]] = [
    interval().map(lambda i: (f"dump every {_fd(i)}", float(i))),
    st.tuples(interval(), interval()).map(
        lambda p: (f"snapshot every {_fd(p[0])}, duration {_fd(p[1])}", float(p[0] + p[1]))
    ),
    st.just(("sync replication", 0.0)),
    st.just(("Sync  Replication", 0.0)),
    interval().map(lambda lag: (f"async replication, lag {_fd(lag)}", float(lag))),
    st.just(("rebuild", None)),
]
METHODS: dict[str, list[st.SearchStrategy[tuple[str, float | None]]]] = {
    "postgres": [
        interval().map(lambda i: (f"pg_dump every {_fd(i)}", float(i))),
        st.tuples(interval(), interval()).map(
            lambda p: (f"pg_dump every {_fd(p[0])}, duration {_fd(p[1])}", float(p[0] + p[1]))
        ),
        interval().map(lambda t: (f"wal archive, archive_timeout {_fd(t)}", float(t))),
        st.tuples(interval(), interval()).map(
            lambda p: (f"PITR, latency {_fd(p[1])}, archive_timeout {_fd(p[0])}", float(sum(p)))
        ),
    ],
    "redis": [
        interval().map(lambda i: (f"rdb every {_fd(i)}", float(i))),
        st.sampled_from([("aof everysec", 1.0), ("aof always", 0.0), ("AOF no", 30.0)]),
    ],
    "s3": [
        st.just(("s3 versioning", 0.0)),
        st.just(("s3 replication", 900.0)),
        interval().map(lambda lag: (f"s3 replication, lag {_fd(lag)}", float(lag))),
    ],
}
SIZE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KiB": 2**10}
sizes = st.one_of(
    st.integers(0, MAX_SIZE_BYTES).map(lambda n: (n, n)),
    st.tuples(st.integers(0, 10**6), st.sampled_from(sorted(SIZE_UNITS))).map(
        lambda p: (f"{p[0]}{p[1]}", p[0] * SIZE_UNITS[p[1]])
    ),
)


@st.composite
def valid_service(draw: st.DrawFn) -> tuple[dict[str, Any], Expected]:
    kind = draw(st.sampled_from(sorted(METHODS)))
    methods = draw(st.lists(st.one_of(*METHODS[kind], *COMMON_METHODS), min_size=1, max_size=3))
    bounds = [b for _, b in methods if b is not None]
    bound = min(bounds) if bounds else None
    rto_value, rto = draw(duration_values(1))
    # The RPO meets the bound (check exits 0): whole seconds at or above it.
    floor = 0 if bound is None else math.ceil(bound)
    rpo_s = draw(st.integers(min_value=floor, max_value=max(floor, MAX_S)))
    rpo_value = draw(st.sampled_from([rpo_s, float(rpo_s), format_duration(rpo_s)]))
    table: dict[str, Any] = {"kind": kind, "rto": rto_value, "rpo": rpo_value}
    table["backup"] = (
        methods[0][0] if len(methods) == 1 and draw(st.booleans()) else [m for m, _ in methods]
    )
    expected = Expected(kind=kind, rto=rto, rpo=float(rpo_s), bound=bound)
    for key in ("tier", "description", "runbook"):
        if draw(st.booleans()):
            table[key] = expected.text[key] = draw(texts)
    if draw(st.booleans()):
        table["rto_clock"] = expected.rto_clock = draw(st.sampled_from(["fault", "detection"]))
    if draw(st.booleans()):
        table["production_size"], expected.size = draw(sizes)
    order = draw(st.permutations(list(table)))
    return {key: table[key] for key in order}, expected


@st.composite
def valid_document(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Expected]]:
    services = draw(st.dictionaries(names, valid_service(), min_size=1, max_size=4))
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["settings"] = draw(
            st.fixed_dictionaries(
                {}, optional={"default_rto_clock": st.sampled_from(["fault", "detection"])}
            )
        )
    doc["services"] = {name: table for name, (table, _) in services.items()}
    return doc, {name: exp for name, (_, exp) in services.items()}


def dotted_dump(doc: dict[str, Any]) -> str:
    """The same document as top-level dotted keys: ``services.auth.rto = "15m"``."""
    lines = []
    for section, table in doc.items():
        for key, value in table.items():
            if section == "services":
                for sub, item in value.items():
                    lines.append(f"services.{toml_key(key)}.{toml_key(sub)} = {toml_value(item)}")
            else:
                lines.append(f"{section}.{toml_key(key)} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


@st.composite
def valid_cases(draw: st.DrawFn) -> Case:
    doc, expected = draw(valid_document())
    text = draw(st.sampled_from([toml_dump, dotted_dump]))(doc)
    padding = draw(st.sampled_from(["", "comments", "to the limit"]))
    if padding == "comments":
        text = "# drills.toml [x.y.z] 1.2.3 " + "9" * 200 + "\n\n" + text + "\n# end # [[ ]]\n"
    elif padding == "to the limit":
        room = MAX_FILE_BYTES - len(text.encode()) - 1
        text += "#" * room + "\n" if room > 0 else ""
    default = doc.get("settings", {}).get("default_rto_clock", "fault")
    for exp in expected.values():
        exp.rto_clock = exp.rto_clock or default
    return Case(text, services=expected)


# -- one thing broken --------------------------------------------------------------------------

A_DATE = datetime.date(1979, 5, 27)
WRONG_TYPES: dict[str, list[Any]] = {
    "string": [1, 1.5, True, ["x"], {"a": 1}, A_DATE],
    "duration": [True, ["15m"], {"m": 15}, A_DATE, datetime.time(7, 32)],
    "backup": [42, 1.5, True, {"a": "b"}, [], [5], ["sync replication", 1]],
    "size": [1.5, True, ["1GB"], {"gb": 1}, A_DATE],
}
KEY_TYPE = {
    "kind": "string",
    "tier": "string",
    "description": "string",
    "runbook": "string",
    "rto_clock": "string",
    "rto": "duration",
    "rpo": "duration",
    "backup": "backup",
    "production_size": "size",
}
BAD_NUMBERS: dict[str, st.SearchStrategy[Any]] = {
    "rto": st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=MAX_S + 1, max_value=10**MAX_NUMBER_DIGITS - 1),
        st.sampled_from([math.nan, math.inf, -math.inf, 1e303, -1e303, 0.0, -0.5]),
        st.floats(min_value=MAX_DURATION_SECONDS * 1.001, allow_infinity=True),
    ),
    "rpo": st.one_of(
        st.integers(max_value=-1),
        st.integers(min_value=MAX_S + 1, max_value=10**MAX_NUMBER_DIGITS - 1),
        st.sampled_from([math.nan, math.inf, -math.inf, 1e303, -0.5]),
        st.floats(max_value=-1e-9, allow_infinity=True),
    ),
    "production_size": st.one_of(
        st.integers(max_value=-1, min_value=-(10**50)),
        st.integers(min_value=MAX_SIZE_BYTES + 1, max_value=10**MAX_NUMBER_DIGITS - 1),
    ),
}
UNICODE_DIGITS = ["١٥m", "１５m", "۳h", "१०s", "15m\u0663", "𝟙𝟝m", "١٥"]
BAD_DURATION_TEXT = st.one_of(
    st.sampled_from([*UNICODE_DIGITS, "90", "5x", "15 minutes", "-5m", "1m1h", "m", "1e3s"]),
    st.integers(MAX_S + 1, 10**40).map(lambda n: f"{n}s"),
    st.integers(367, 10**6).map(lambda n: f"{n}d"),
    st.integers(400, 6000).map(lambda n: "9" * n + "s"),
    st.text(max_size=20).map(lambda t: f"{t}?"),
)
BAD_SIZE_TEXT = st.one_of(
    st.sampled_from(["١GB", "４0GB", "1PB", "40 gigs", "-1GB", "1.5B", "GB", "40"]),
    st.integers(41, 6000).map(lambda n: "9" * n + "GB"),
    st.integers(10**7, 10**12).map(lambda n: f"{n}TB"),
)
BAD_BACKUPS: dict[str, st.SearchStrategy[str]] = {
    "postgres": st.sampled_from(
        ["aof everysec", "rdb every 1h", "s3 versioning", "pitr", "wal archive", "tape every 1d"]
    ),
    "redis": st.sampled_from(["pg_dump every 1h", "wal archive, archive_timeout 1s", "aof"]),
    "s3": st.sampled_from(["aof always", "pitr, archive_timeout 1s", "async replication"]),
}
ANY_BAD_BACKUP = st.one_of(
    st.sampled_from(["", "dump every 0", "dump every １h", "rebuild now", "dump every 1h,"]),
    st.integers(367, 10**6).map(lambda n: f"dump every {n}d"),
    st.integers(367, 10**6).map(lambda n: f"sync replication, lag {n}d"),
)


def _service_of(doc: dict[str, Any], draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(list(doc["services"])))
    return name, doc["services"][name]


def _dump(doc: dict[str, Any]) -> str:
    return toml_dump(doc)


@st.composite
def wrong_type(draw: st.DrawFn, doc: dict[str, Any]) -> Case:
    name, svc = _service_of(doc, draw)
    key = draw(st.sampled_from(SERVICE_KEYS))
    svc[key] = draw(st.sampled_from(WRONG_TYPES[KEY_TYPE[key]]))
    if key in ("kind", "rto_clock"):
        svc[key] = draw(
            st.one_of(st.just(svc[key]), st.sampled_from(["mysql", "wall", "", "Fault"]))
        )
    return Case(_dump(doc), needle=f"services.{toml_path(name)}.{key}", kind="wrong type")


@st.composite
def bad_value(draw: st.DrawFn, doc: dict[str, Any]) -> Case:
    """Huge, negative, NaN, infinite numbers; unreadable, unicode-digit, too long text."""
    name, svc = _service_of(doc, draw)
    key = draw(st.sampled_from(["rto", "rpo", "production_size", "backup"]))
    if key == "backup":
        kind = svc["kind"]
        svc[key] = draw(st.one_of(BAD_BACKUPS[kind], ANY_BAD_BACKUP))
    elif draw(st.booleans()):
        svc[key] = draw(BAD_NUMBERS[key])
    else:
        svc[key] = draw(BAD_SIZE_TEXT if key == "production_size" else BAD_DURATION_TEXT)
    needle = f"services.{toml_path(name)}.{key}"
    if isinstance(svc[key], int) and len(str(abs(svc[key]))) > MAX_NUMBER_DIGITS:
        needle = "digits"
    return Case(_dump(doc), needle=needle, kind=f"bad {key}")


@st.composite
def unknown_or_missing_key(draw: st.DrawFn, doc: dict[str, Any]) -> Case:
    _name, svc = _service_of(doc, draw)
    where = draw(st.sampled_from(["service", "top", "settings", "missing"]))
    if where == "missing":
        key = draw(st.sampled_from(["kind", "rto", "rpo", "backup"]))
        del svc[key]
        return Case(_dump(doc), needle="missing required key", kind="missing key")
    key = draw(
        st.one_of(
            texts.map(lambda t: "x_" + t),
            st.sampled_from(["rpo_target", "Kind", "backups", "services2", "colour"]),
            st.integers(1, 200_000).map(lambda n: "k" * n),  # up to a 200 KB key
        )
    )
    target = {"service": svc, "top": doc, "settings": doc.setdefault("settings", {})}[where]
    target[key] = draw(st.sampled_from([1, "x", [1], {"a": 1}]))
    return Case(_dump(doc), needle="unknown key", kind=f"unknown {where} key")


@st.composite
def structural(draw: st.DrawFn, doc: dict[str, Any]) -> Case:
    """Deep nesting, duplicates, huge numbers anywhere, binary garbage, huge files."""
    text = _dump(doc)
    what = draw(
        st.sampled_from(
            [
                "dotted",
                "arrays",
                "inline",
                "header",
                "duplicate key",
                "duplicate table",
                "digits",
                "garbage",
                "control",
                "large",
            ]
        )
    )
    depth = draw(st.integers(MAX_DEPTH + 1, 30_000 if what == "dotted" else 3_000))
    nested = "nested more than"
    if what == "dotted":
        return Case(text + "x" + ".a" * depth + " = 1\n", needle=nested, kind=what)
    if what == "arrays":
        return Case(
            text + "x = " + "[" * depth + "1" + "]" * depth + "\n", needle=nested, kind=what
        )
    if what == "inline":
        return Case(
            text + "x = " + "{a = " * depth + "1" + "}" * depth + "\n", needle=nested, kind=what
        )
    if what == "header":
        return Case(
            text + "[" + ".".join(["t"] * min(depth, 5000)) + "]\n", needle=nested, kind=what
        )
    name, svc = _service_of(doc, draw)
    if what == "duplicate key":
        key = draw(st.sampled_from(list(svc)))
        dup = f"[services.{toml_key(name)}]\n{toml_key(key)} = {toml_value(svc[key])}\n"
        return Case(
            text.replace(f"[services.{toml_key(name)}]\n", dup, 1), needle="invalid TOML", kind=what
        )
    if what == "duplicate table":
        return Case(text + f"\n[services.{toml_key(name)}]\n", needle="invalid TOML", kind=what)
    if what == "digits":
        n = draw(st.integers(MAX_NUMBER_DIGITS + 1, 6000))
        return Case(text + "x = " + "9" * n + "\n", needle=f"a number of {n} digits", kind=what)
    if what == "garbage":
        junk = draw(st.binary(min_size=1, max_size=2000))
        at = draw(st.integers(0, len(text)))
        raw = text.encode()
        return Case(raw[:at] + b"\xff" + junk + raw[at:], needle="not UTF-8", kind=what)
    if what == "control":
        char = draw(st.sampled_from(["\x00", "\x01", "\x7f", "\x1b"]))
        return Case(text + f"x = 1{char}\n", needle="invalid TOML", kind=what)
    extra = draw(st.integers(1, 3 * MAX_FILE_BYTES))
    big = text + "#" * (MAX_FILE_BYTES - len(text.encode()) + extra) + "\n"
    return Case(big, needle="more than a targets file needs", kind=what)


def toml_path(name: str) -> str:
    """A service name as the loader's error names it (bare names stay bare)."""
    return name


@st.composite
def invalid_cases(draw: st.DrawFn) -> Case:
    doc, _ = draw(valid_document())
    mutation = draw(st.sampled_from([wrong_type, bad_value, unknown_or_missing_key, structural]))
    return draw(mutation(doc))


def cases() -> st.SearchStrategy[Case]:
    """Valid and invalid files, about one in three valid."""
    return st.one_of(valid_cases(), invalid_cases(), invalid_cases())
