"""The one hook point for validated sub-tables of a service: ``[services.NAME.<key>]``.

The loader is strict: a key it does not know is an error naming the file and the key.
A feature that needs more per-service configuration (real-backup verification's
``[services.NAME.source]``, a runbook name mapping) does not edit the loader; it
registers a parser for its sub-table::

    # drillbook/verify/targets.py (say)
    from drillbook.targets import TableReader, ServiceContext, register_subtable

    def parse_source(reader: TableReader, value: object, ctx: ServiceContext) -> Source:
        table = reader.table(value, ctx.key)              # a table, or a located error
        reader.check_keys(table, ("bucket", "prefix"), ctx.key)   # strict, with hints
        return Source(bucket=reader.string(table["bucket"], f"{ctx.key}.bucket"), ...)

    register_subtable("source", parse_source, help="a [services.<name>.source] table",
                      kinds=("postgres",))

and adds its module to :data:`PROVIDERS`, so every reader of a targets file (the pytest
plugin, ``drillbook check``, a test calling :func:`~drillbook.targets.load_targets`)
knows the key: the providers are imported before the first file is read. The parser
gets a :class:`~drillbook.targets.loader.TableReader` (the loader's own validators:
``table``, ``check_keys``, ``string``, ``choice``, ``duration``, ``size``, ``error``,
each raising a one-line error located at ``file: key``) and a :class:`ServiceContext`
(the service's name, kind and the key path of the sub-table). What it returns lands in
``ServiceTarget.subtables[key]`` (its ``to_dict()``, when it has one, in the record).
A sub-table registered for some service kinds is an error on the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drillbook.targets.loader import TableReader

#: Modules that register sub-tables when imported (``"drillbook.verify.targets"``).
PROVIDERS: tuple[str, ...] = ("drillbook.verify.targets",)


@dataclass(frozen=True)
class ServiceContext:
    """What a sub-table parser knows about the service it belongs to."""

    name: str
    kind: str
    key: str  # the sub-table's key path, "services.auth.source", for errors


SubTableParser = Callable[["TableReader", object, ServiceContext], Any]


@dataclass(frozen=True)
class SubTable:
    key: str
    parse: SubTableParser
    help: str  # shown as "allowed: ..." when the sub-table is misplaced
    kinds: tuple[str, ...] | None = None  # the service kinds it applies to; None: all


_registry: dict[str, SubTable] = {}
_providers_loaded = False


def register_subtable(
    key: str, parse: SubTableParser, *, help: str, kinds: tuple[str, ...] | None = None
) -> None:
    """Make ``[services.NAME.<key>]`` a known sub-table, validated by *parse*.

    Registering a key twice with another parser is a programming error (two features
    claiming one name); registering the same parser again is a no-op (re-imports).
    """
    existing = _registry.get(key)
    if existing is not None and existing.parse is not parse:
        raise ValueError(f"services sub-table {key!r} is already registered")
    _registry[key] = SubTable(key, parse, help, kinds)


def unregister_subtable(key: str) -> None:
    """Forget a sub-table (tests register their own and clean up)."""
    _registry.pop(key, None)


def registered() -> dict[str, SubTable]:
    """Every known sub-table, the providers' included, by key."""
    global _providers_loaded
    if not _providers_loaded:
        _providers_loaded = True
        for module in PROVIDERS:
            importlib.import_module(module)
    return dict(_registry)
