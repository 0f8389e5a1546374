"""``[services.NAME.source]``: registered with the targets loader (drillbook.targets).

Every reader of drills.toml (pytest, ``drillbook check``, ``drillbook verify``) validates
the source table the same way, behind the loader's own guards (file size, nesting,
number lengths); the parsed :class:`~drillbook.verify.source.SourceSpec` lands in
``ServiceTarget.subtables["source"]``.
"""

from __future__ import annotations

from typing import Any

from drillbook.targets import TargetsError
from drillbook.targets.subtables import ServiceContext, register_subtable
from drillbook.verify.source import SourceSpec, parse_source


def _parse(reader: Any, value: object, ctx: ServiceContext) -> SourceSpec:
    try:
        return parse_source(value, ctx.key, ctx.kind)
    except TargetsError as err:
        raise err.located(source=reader.source) from None


register_subtable(
    "source",
    _parse,
    help="a [services.<name>.source] table: url = 's3://bucket/prefix/' or path = '...'",
)
