"""PostgreSQL faults: real damage, the way incidents cause it.

Each fault is a plain function that does the damage and returns a small dataclass saying
exactly what it did (rows touched, the file and offsets overwritten, the constraint
dropped), for the drill record (``f.note(...)``) and for the checks that must find it. A
drill calls them inside ``with drill.fault(...)``, which marks t0. The procedures named
are those of runbooks/database-recovery.md.

- :func:`total_loss`: SIGKILL and the data directory wiped (procedure B).
- :func:`physical_corruption`: bytes in a table's data pages overwritten on disk, so
  reads fail with "invalid page in block" (data checksums) (procedure A).
- :func:`bad_update`, :func:`orphan_children`, :func:`duplicate_keys`: logical corruption
  (procedure A).
- :func:`drop_tables`, :func:`delete_without_where`: partial loss (procedure C).

Damage to the backups themselves (a truncated dump, a lost WAL segment in S3) is
:func:`drillbook.scenarios.s3.faults.truncate_object` / ``delete_object``.
"""

from __future__ import annotations

from drillbook.scenarios.postgres.faults.logical import (
    RowsChanged,
    TablesDropped,
    bad_update,
    delete_without_where,
    drop_tables,
    duplicate_keys,
    orphan_children,
)
from drillbook.scenarios.postgres.faults.physical import (
    PageDamage,
    PhysicalCorruption,
    TotalLoss,
    physical_corruption,
    total_loss,
)

__all__ = [
    "PageDamage",
    "PhysicalCorruption",
    "RowsChanged",
    "TablesDropped",
    "TotalLoss",
    "bad_update",
    "delete_without_where",
    "drop_tables",
    "duplicate_keys",
    "orphan_children",
    "physical_corruption",
    "total_loss",
]
