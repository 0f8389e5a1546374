"""Service targets from a Markdown tier table, the shape the runbooks use.

``| Service | RPO | RTO | Notes |`` (or ``Data Asset`` / ``Component``, with an optional
``Tier`` and ``Backup Method`` column): one service per row. Unknown columns are ignored;
a row whose RPO or RTO cannot be read, whose kind (postgres | redis | s3) or backup
method the row does not say, is reported by its line and kept aside, never guessed into
a target. Only the kind and backup method are inferred from words in the row (``RDS
PITR``, ``hourly RDB snapshot``, ``S3 versioning``); the inference is written next to the
service so the team can check it.

Tables are found with a real Markdown parser (markdown-it-py), not line regexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt

NAME_COLUMNS = ("service", "data asset", "asset", "component", "system", "database", "name")
# Largest table file read: a tier table is a few KB; anything near this is not one.
MAX_TABLE_BYTES = 2 * 1024 * 1024

_UNITS = {
    "ms": 0.001,
    "millisecond": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "w": 604800.0,
    "week": 604800.0,
}
_DURATION = re.compile(
    r"^\s*(?:<=|<|≤|under|up to|max(?:imum)?)?\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\b", re.I
)
_TIER = re.compile(r"\b(tier\s*[0-9]+|p[0-9])\b", re.I)
_MARKUP = re.compile(r"[*`]")

# Words of a row that name what kind of store it is (name first, then notes/backup).
_KIND_WORDS: dict[str, tuple[str, ...]] = {
    "redis": ("redis", "valkey", "cache", "session"),
    "s3": ("s3", "bucket", "object storage", "media", "file storage", "blob", "minio"),
    "postgres": ("postgres", "database", "rds", "pitr", "sql", "neon", " db", "pg_dump"),
}


@dataclass(frozen=True)
class TierRow:
    """One service read from a table row; ``kind``/``backups`` are None when unknown."""

    line: int  # 1-based line of the row in the file
    name: str
    key: str
    rpo: float
    rto: float
    tier: str | None
    notes: str
    kind: str | None
    backups: tuple[str, ...]
    evidence: str  # the words the kind and backups were read from

    @property
    def complete(self) -> bool:
        return self.kind is not None and bool(self.backups)


@dataclass(frozen=True)
class TableProblem:
    line: int
    message: str


@dataclass
class TierTables:
    rows: list[TierRow] = field(default_factory=list)
    problems: list[TableProblem] = field(default_factory=list)


def parse_duration_words(text: str) -> float | None:
    """``"15 minutes"``, ``"1 hour"``, ``"0 (stateless)"``, ``"< 15 min"``: seconds, or None."""
    m = _DURATION.match(_MARKUP.sub("", text))
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2).lower()
    if not unit:
        return value if value == 0 else None  # a bare number other than 0 has no unit
    if unit not in _UNITS and unit.endswith("s"):
        unit = unit[:-1]  # minutes, hours, days, secs, hrs
    factor = _UNITS.get(unit)
    return value * factor if factor is not None else None


def service_key(name: str) -> str:
    """A drills.toml service name from a table cell (``"`lomash_auth` database"``)."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", _MARKUP.sub("", name).lower()).strip("-_")
    return slug[:60].strip("-_")


def infer_kind(name: str, backup: str) -> tuple[str | None, str]:
    """The kind the row's name says, else its backup method; None (and why) when neither
    names exactly one. Free notes never decide it ("cache rebuild acceptable" on an
    application's row says nothing about what the application stores)."""
    for text in (f" {name.lower()} ", f" {backup.lower()} "):
        found = [kind for kind, words in _KIND_WORDS.items() if any(w in text for w in words)]
        if len(found) == 1:
            return found[0], ""
        if len(found) > 1:
            return None, f"kind ambiguous ({', '.join(found)})"
    return None, "kind not stated (postgres | redis | s3)"


def infer_backups(kind: str, text: str) -> tuple[str, ...]:
    """drills.toml backup methods the row's words name for *kind*; () when none."""
    t = text.lower()
    out: list[str] = []
    every = "24h" if "daily" in t else "1h" if "hourly" in t else "7d" if "weekly" in t else None
    if kind == "postgres":
        if "pitr" in t or "continuous" in t or "wal" in t:
            out.append("wal archive, archive_timeout 60s")
        if ("sync" in t and "async" not in t) or "multi-az" in t:
            out.append("sync replication")
        if every and ("backup" in t or "dump" in t or "snapshot" in t):
            out.append(f"pg_dump every {every}")
    elif kind == "redis":
        if "rdb" in t or "snapshot" in t:
            out.append(f"rdb every {every or '1h'}" if every else "rdb every 1h")
        if "aof" in t or "append-only" in t:
            out.append("aof everysec")
        if "rebuil" in t and not out:
            out.append("rebuild")
    elif kind == "s3":
        if "versioning" in t:
            out.append("s3 versioning")
        if "replication" in t:
            out.append("s3 replication")
    return tuple(out)


def _cells(tokens: list, i: int) -> tuple[list[str], int]:
    """The inline contents of the row starting at token *i*, and the index after it."""
    cells: list[str] = []
    while tokens[i].type != "tr_close":
        if tokens[i].type == "inline":
            cells.append(tokens[i].content.strip())
        i += 1
    return cells, i + 1


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [_MARKUP.sub("", h).strip().lower() for h in header]
    for name in names:
        for idx, h in enumerate(lowered):
            if h == name or h.startswith(name):
                return idx
    return None


def _heading_tier(tokens: list, i: int) -> str | None:
    """The tier named by the nearest heading before token *i* (``### Tier 1 — Critical``)."""
    for j in range(i - 1, -1, -1):
        if tokens[j].type == "heading_open":
            m = _TIER.search(tokens[j + 1].content)
            return m.group(1) if m else None
    return None


def read_tier_tables(text: str) -> TierTables:
    """Every row of every tier table in *text* (a table with a name column and RPO/RTO)."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    out = TierTables()
    seen: dict[str, int] = {}
    i = 0
    while i < len(tokens):
        if tokens[i].type != "table_open":
            i += 1
            continue
        tier = _heading_tier(tokens, i)
        i = _read_table(tokens, i, tier, out, seen)
    return out


def _read_table(tokens: list, i: int, tier: str | None, out: TierTables, seen: dict) -> int:
    header: list[str] | None = None
    cols: dict[str, int | None] = {}
    while tokens[i].type != "table_close":
        if tokens[i].type != "tr_open":
            i += 1
            continue
        line = (tokens[i].map[0] + 1) if tokens[i].map else 0
        cells, i = _cells(tokens, i)
        if header is None:
            header = cells
            cols = {
                "name": _column(header, NAME_COLUMNS),
                "rpo": _column(header, ("rpo",)),
                "rto": _column(header, ("rto",)),
                "tier": _column(header, ("tier", "priority")),
                "backup": _column(header, ("backup",)),
            }
            if cols["name"] is None or (cols["rpo"] is None and cols["rto"] is None):
                return _skip_table(tokens, i)
            if cols["rpo"] is None or cols["rto"] is None:
                missing = "RTO" if cols["rto"] is None else "RPO"
                out.problems.append(TableProblem(line, f"table has no {missing} column: skipped"))
                return _skip_table(tokens, i)
            continue
        _read_row(cells, cols, line, tier, out, seen)
    return i + 1


def _skip_table(tokens: list, i: int) -> int:
    while tokens[i].type != "table_close":
        i += 1
    return i + 1


def _cell(cells: list[str], idx: int | None) -> str:
    return cells[idx] if idx is not None and idx < len(cells) else ""


def _read_row(
    cells: list[str], cols: dict, line: int, tier: str | None, out: TierTables, seen: dict
) -> None:
    name = _MARKUP.sub("", _cell(cells, cols["name"])).strip()
    key = service_key(name)
    if not key:
        out.problems.append(TableProblem(line, f"no service name in {cells!r:.80}"))
        return
    values: dict[str, float] = {}
    for what in ("rpo", "rto"):
        raw = _cell(cells, cols[what])
        seconds = parse_duration_words(raw)
        if seconds is None:
            out.problems.append(
                TableProblem(line, f"{name}: {what.upper()} {raw!r:.40} unreadable")
            )
            return
        values[what] = seconds
    if values["rto"] <= 0:
        out.problems.append(TableProblem(line, f"{name}: an RTO of 0 can never be met"))
        return
    if key in seen:
        out.problems.append(TableProblem(line, f"{name}: duplicate of the row at line {seen[key]}"))
        return
    seen[key] = line
    backup_text = _cell(cells, cols["backup"])
    structural = {cols[k] for k in ("name", "rpo", "rto", "tier")}
    context = " ".join(c for idx, c in enumerate(cells) if idx not in structural)
    kind, why = infer_kind(name, backup_text)
    backups = infer_backups(kind, backup_text or context) if kind else ()
    row_tier = _MARKUP.sub("", _cell(cells, cols["tier"])).strip() or tier
    row = TierRow(line, name, key, values["rpo"], values["rto"], row_tier, context, kind, backups,
                  evidence=backup_text or context)  # fmt: skip
    out.rows.append(row)
    if kind is None:
        out.problems.append(TableProblem(line, f"{name}: {why}; set kind and backup by hand"))
    elif not backups:
        out.problems.append(TableProblem(line, f"{name}: backup method not stated; set backup"))
