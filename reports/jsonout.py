"""``drills.json``: the full records of a run, machine-readable, in a versioned envelope.

The envelope's ``schema`` names the format (``drillbook.drills/<major>``); a consumer
checks it before reading, and a breaking change bumps the major. Each entry of
``drills`` holds the headline (verdict, finding codes, summary numbers, wall times, the
HTML anchor) and, under ``record``, the full record exactly as
:meth:`DrillRecord.to_dict` writes it (with the engine's own ``schema_version``), so
``DrillRecord.from_dict(entry["record"])`` gives the record back.

``verdict`` (per drill and ``overall``) is the outcome as counted: a must-fail drill
that failed as expected is a PASS there, ``drill_verdict`` keeps what the drill itself
ended as (FAIL), ``expected_fail`` lists the codes it had to fail with and ``outcome``
says how it went ("failed as expected: DATA_LOST").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drillbook.record import DrillRecord
from drillbook.reports.gaps import Gap
from drillbook.reports.model import RunInfo, anchor, counts, outcome_fields, overall

SCHEMA = "drillbook.drills/1"
SCHEMA_VERSION = 1


def drill_entry(rec: DrillRecord) -> dict[str, Any]:
    return {
        "drill_id": rec.drill_id,
        "service": rec.service,
        **outcome_fields(rec),
        "findings": sorted({f.code for f in rec.findings}),
        "summary": rec.summary(),
        "report_anchor": anchor(rec.drill_id),
        "started_at": rec.iso(rec.origin_mono),
        "t0_at": rec.iso(rec.t0_mono),
        "validated_at": rec.iso(rec.validated_mono),
        # Exactly DrillRecord.to_dict(): DrillRecord.from_dict() reads it back.
        "record": rec.to_dict(),
    }


def build_document(
    records: Sequence[DrillRecord], run: RunInfo, gaps: Sequence[Gap] = ()
) -> dict[str, Any]:
    """The JSON document of a run (records already scrubbed of secrets by the caller)."""
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "run": run.to_dict(),
        "overall": overall(records),
        "counts": {**counts(records), "total": len(records)},
        "gaps": [g.to_dict() for g in gaps],
        "drills": [drill_entry(rec) for rec in records],
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False, default=str, allow_nan=False) + "\n"


def load_document(path: Path) -> dict[str, Any]:
    """Read a drills.json back, refusing a schema this version cannot read."""
    data = json.loads(path.read_text(encoding="utf-8"))
    schema = str(data.get("schema", ""))
    if not schema.startswith("drillbook.drills/"):
        raise ValueError(f"{path}: not a drillbook drills.json (schema {schema!r})")
    if schema != SCHEMA:
        raise ValueError(f"{path}: schema {schema!r}; this drillbook reads {SCHEMA!r}")
    return data
