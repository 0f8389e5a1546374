"""The team's recovery targets (``drills.toml``): services, RTO, RPO and backup methods.

A drill measures what happened; this package says what *should* happen. It turns the
targets file into typed values and computes, for each service, the RPO *bound*: the
worst-case data-loss window its declared backup mechanisms guarantee (see DESIGN.md,
"Definitions"). Drills run compressed schedules, so the bound, not only the observed
RPO, is what gets compared with a production target.

- :mod:`~drillbook.targets.units`: durations and sizes (ASCII digits, bounded ranges);
- :mod:`~drillbook.targets.backups`: the backup-method grammar, a table of parsers;
- :mod:`~drillbook.targets.model`: ``ServiceTarget``, ``Targets``, ``Settings``;
- :mod:`~drillbook.targets.guard`: what is refused before the TOML parser runs (file
  size, nesting depth, huge numbers);
- :mod:`~drillbook.targets.loader`: the strict reader (one-line errors, file and key);
- :mod:`~drillbook.targets.subtables`: the hook for ``[services.NAME.<sub-table>]``;
- :mod:`~drillbook.targets.check`: ``drillbook check``.

Pure logic: no service I/O, no pytest import.
"""

from __future__ import annotations

from drillbook.targets.backups import (
    AOF_EVERYSEC_BOUND,
    AOF_NO_FLUSH_SECONDS,
    BACKUP_FORMS,
    S3_REPLICATION_DEFAULT_LAG,
    BackupMethod,
    parse_backup,
)
from drillbook.targets.check import check_command
from drillbook.targets.errors import TargetsError
from drillbook.targets.guard import MAX_DEPTH, MAX_FILE_BYTES, MAX_NUMBER_DIGITS
from drillbook.targets.loader import TableReader, load_targets, parse_targets
from drillbook.targets.model import RTO_CLOCKS, SERVICE_KINDS, ServiceTarget, Settings, Targets
from drillbook.targets.subtables import ServiceContext, register_subtable, unregister_subtable
from drillbook.targets.units import (
    MAX_DURATION_SECONDS,
    MAX_SIZE_BYTES,
    format_duration,
    parse_duration,
    parse_size,
)

__all__ = [
    "AOF_EVERYSEC_BOUND",
    "AOF_NO_FLUSH_SECONDS",
    "BACKUP_FORMS",
    "MAX_DEPTH",
    "MAX_DURATION_SECONDS",
    "MAX_FILE_BYTES",
    "MAX_NUMBER_DIGITS",
    "MAX_SIZE_BYTES",
    "RTO_CLOCKS",
    "S3_REPLICATION_DEFAULT_LAG",
    "SERVICE_KINDS",
    "BackupMethod",
    "ServiceContext",
    "ServiceTarget",
    "Settings",
    "TableReader",
    "Targets",
    "TargetsError",
    "check_command",
    "format_duration",
    "load_targets",
    "parse_backup",
    "parse_duration",
    "parse_size",
    "parse_targets",
    "register_subtable",
    "unregister_subtable",
]
