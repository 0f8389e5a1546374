"""What the PostgreSQL checks return and compare with: results, and the snapshot of the
data taken before the fault (JSON-able, so it can be kept beside a backup)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# The drill's RPO ledger keeps being written during a drill and is verified on its own
# (drill.verify_ledger); snapshots and comparisons leave it out by default.
DEFAULT_EXCLUDE: tuple[str, ...] = ("drill_ledger",)
DEFAULT_DIGEST_ROW_LIMIT = 1_000_000

# Content digest methods (a snapshot records the one it used; the comparison recomputes
# with the same). Both hash each row's text form (every column, TOAST included) and are
# independent of the rows' physical order, so a table restored elsewhere compares equal.
# - hash-sum-v1 (the default): count and two sums of hashtextextended(row text, seed 0/1),
#   exact numeric sums: one pass, no sort, parallel-safe (PostgreSQL 11+).
# - md5-sorted: md5 of the rows' md5s in sorted order (snapshots before issue 14).
DIGEST_HASH_SUM = "hash-sum-v1"
DIGEST_MD5_SORTED = "md5-sorted"
DIGEST_METHODS = (DIGEST_HASH_SUM, DIGEST_MD5_SORTED)

# Check names (stable: reports and tests key on them).
ORPHANS = "orphaned rows"
DUPLICATES = "duplicate keys"
FOREIGN_KEYS = "foreign keys present and validated"
SEQUENCES = "sequences ahead of max(column)"
AMCHECK = "amcheck B-tree indexes"
AMCHECK_HEAP = "amcheck heap tables"
FULL_READ = "full read of every table"
ROW_COUNTS = "row counts vs snapshot"
CONTENT = "table contents vs snapshot"

ExpectCounts = Literal["equal", "at_least"]


@dataclass
class CheckResult:
    """One check's outcome. ``ran`` False: the check could not run (never a pass)."""

    name: str
    passed: bool
    detail: str = ""
    expected: Any = None
    actual: Any = None
    ran: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def not_run(name: str, why: str, **values: Any) -> CheckResult:
    """A check that could not run: failed, ``ran`` False, its detail saying why."""
    return CheckResult(name, False, f"NOT RUN: {why}", ran=False, **values)


@dataclass
class TableRead:
    """One pass over every column of every row of a table (:func:`.storage.read_table`):
    its exact rows and content digest by *method*, or the server's error. Shared by the
    full read, the row counts and the content comparison, so the data is read once."""

    rows: int = 0
    digest: str = ""
    method: str = DIGEST_HASH_SUM
    error: str | None = None


Reads = dict[str, TableRead]  # "schema.table" -> its pass


@dataclass
class TableState:
    schema: str
    name: str
    rows: int
    digest: str | None = None  # None: above the snapshot's digest_row_limit

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class ForeignKey:
    schema: str
    table: str
    name: str
    columns: list[str]
    ref_schema: str
    ref_table: str
    ref_columns: list[str]
    definition: str
    validated: bool
    enforced: bool = True  # its RI triggers are enabled
    match_full: bool = False

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.table}.{self.name}"

    def describe(self) -> str:
        return (
            f"{self.schema}.{self.table}({', '.join(self.columns)}) -> "
            f"{self.ref_schema}.{self.ref_table}({', '.join(self.ref_columns)})"
        )


@dataclass
class UniqueKey:
    """A primary key, unique constraint or unique index (by its index)."""

    schema: str
    table: str
    name: str  # the index name (= the constraint name for PK/UNIQUE constraints)
    kind: str  # "primary key" | "unique constraint" | "unique index"
    expressions: list[str]  # key columns or expressions, as pg_get_indexdef prints them
    definition: str
    predicate: str | None = None  # partial index WHERE
    nulls_not_distinct: bool = False
    enforced: bool = True  # the index is unique and valid

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.table}.{self.name}"


@dataclass
class SequenceState:
    schema: str
    name: str
    table_schema: str
    table: str
    column: str
    last_value: int
    is_called: bool
    increment: int
    column_max: int | None  # max (min for a descending sequence) of the owning column

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class Snapshot:
    """The state a restore is compared with, taken before the fault. JSON-able."""

    database: str
    taken_at: float  # wall-clock epoch seconds
    server_version: str
    tables: dict[str, TableState] = field(default_factory=dict)  # "schema.table" -> state
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    unique_keys: list[UniqueKey] = field(default_factory=list)
    sequences: list[SequenceState] = field(default_factory=list)
    digest_row_limit: int = DEFAULT_DIGEST_ROW_LIMIT
    excluded: list[str] = field(default_factory=list)
    digest_method: str = DIGEST_HASH_SUM

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        data = dict(data)
        data.setdefault("digest_method", DIGEST_MD5_SORTED)  # a snapshot from before issue 14
        data["tables"] = {k: TableState(**v) for k, v in data.get("tables", {}).items()}
        data["foreign_keys"] = [ForeignKey(**v) for v in data.get("foreign_keys", [])]
        data["unique_keys"] = [UniqueKey(**v) for v in data.get("unique_keys", [])]
        data["sequences"] = [SequenceState(**v) for v in data.get("sequences", [])]
        return cls(**data)
