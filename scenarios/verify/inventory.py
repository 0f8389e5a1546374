"""An S3 bucket (or prefix) against its manifest: object count, bytes, newest object.

For object storage the "restore test" is that what the manifest says was backed up is
there, at its size: every key of the manifest present with the recorded size, and the
newest object recent enough for the RPO. The manifest is JSON (``{"objects": [{"key":
..., "size": ...}]}``, a list of such objects, or JSON lines) or CSV with a header row
naming ``key`` and ``size`` columns (an S3 Inventory report exported with headers).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from drillbook.scenarios.verify.reader import Entry

MAX_MANIFEST = 256 << 20
SHOW = 5


class ManifestError(ValueError):
    """The manifest cannot be read as JSON or CSV with key and size."""


def _from_json(data: Any) -> dict[str, int]:
    items = data.get("objects") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ManifestError('expected {"objects": [{"key": ..., "size": ...}]} or a list')
    out: dict[str, int] = {}
    for item in items:
        if not isinstance(item, dict) or "key" not in item or "size" not in item:
            raise ManifestError(f"manifest entry without key and size: {str(item)[:80]}")
        out[str(item["key"])] = int(item["size"])
    return out


def parse_manifest(raw: bytes) -> dict[str, int]:
    """key -> size from a JSON, JSON-lines or CSV manifest."""
    text = raw.decode("utf-8-sig", "replace").strip()
    if not text:
        raise ManifestError("the manifest is empty")
    if text[0] in "[{":
        try:
            return _from_json(json.loads(text))
        except json.JSONDecodeError:
            try:
                return _from_json([json.loads(line) for line in text.splitlines() if line.strip()])
            except json.JSONDecodeError as exc:
                raise ManifestError(f"not JSON: {exc}") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or not {"key", "size"} <= {k.strip().lower() for k in rows[0]}:
        raise ManifestError("CSV manifest needs a header row with key and size columns")
    out = {}
    for row in rows:
        norm = {k.strip().lower(): v for k, v in row.items()}
        out[norm["key"]] = int(norm["size"])
    return out


@dataclass
class Comparison:
    objects: int = 0
    bytes: int = 0
    newest: float | None = None
    expected_objects: int = 0
    expected_bytes: int = 0
    missing: list[str] = field(default_factory=list)
    wrong_size: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.wrong_size

    def problems(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing ({', '.join(self.missing[:SHOW])})")
        if self.wrong_size:
            parts.append(
                f"{len(self.wrong_size)} with another size ({', '.join(self.wrong_size[:SHOW])})"
            )
        return "; ".join(parts)


def compare(listing: list[Entry], manifest: dict[str, int]) -> Comparison:
    have = {e.name: e for e in listing}
    out = Comparison(
        objects=len(listing),
        bytes=sum(e.size for e in listing),
        newest=max((e.modified for e in listing), default=None),
        expected_objects=len(manifest),
        expected_bytes=sum(manifest.values()),
    )
    for key, size in sorted(manifest.items()):
        if key not in have:
            out.missing.append(key)
        elif have[key].size != size:
            out.wrong_size.append(f"{key}: {have[key].size} bytes, manifest {size}")
    out.extra = sorted(k for k in have if k not in manifest)
    return out
