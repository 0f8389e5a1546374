"""Repairing an AOF: ``redis-check-aof --fix`` after a torn or damaged record, and AOF
surgery after an accidental FLUSHALL. The broken AOF is copied aside first (evidence),
and each says exactly which commands it removed, so a drill can compare with the ledger."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from drillbook.drill import StepContext
from drillbook.fixtures.base import Capability, ServiceError
from drillbook.fixtures.redis import RedisHandle
from drillbook.scenarios.common import scratch_dir
from drillbook.scenarios.redis.aof import (
    AofLayout,
    iter_keys,
    offline_aof_layout,
    resp_commands,
    scan_damaged,
)
from drillbook.scenarios.redis.recovery.start import shutdown_nosave
from drillbook.scenarios.redis.server import RedisTool, check_rdb, redis_tool


@dataclass
class AofRepair:
    """What ``redis-check-aof --fix`` found and removed."""

    tool: str
    tool_origin: str
    target: str
    diagnosis_exit: int
    diagnosis: str
    fixed: bool
    method: str  # manifest | file (fallback) | none (nothing to fix)
    file: str | None = None
    size_before: int = 0
    size_after: int = 0
    commands_cut: int = 0  # commands in the bytes the repair removed (damaged ones included)
    writes_cut: int = 0  # of those, data commands (unreadable records counted as writes)
    damaged_records: int = 0  # torn or unreadable records among them (keys unknown)
    keys_cut: list[str] = field(default_factory=list)
    evidence: str | None = None  # copy of the AOF before the repair
    notes: list[str] = field(default_factory=list)

    @property
    def bytes_cut(self) -> int:
        return self.size_before - self.size_after

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes_cut": self.bytes_cut}


def _tail(res_out: bytes, res_err: bytes, lines: int = 8) -> str:
    text = (res_out + res_err).decode("utf-8", "replace")
    return "\n".join(text.strip().splitlines()[-lines:])


def _base_misread(output: str, layout: AofLayout) -> bool:
    """Valkey 9's checker reads a ``VALKEY080`` RDB base as RESP and calls it broken."""
    base = layout.base
    return (
        base is not None
        and base.format == "rdb"
        and "format error" in output
        and base.path.name in output
        and "RESP format" in output
    )


def _keep_evidence(step: StepContext, layout: AofLayout, name: str) -> Path:
    """``cp -a`` every AOF file into a directory of the run before anything changes."""
    evidence = scratch_dir(name)
    for path in layout.paths:
        step.run(["cp", "-a", str(path), str(evidence / path.name)])
    return evidence


def _fix(
    step: StepContext, handle: RedisHandle, tool: RedisTool, layout: AofLayout, repair: AofRepair
) -> str:
    """``redis-check-aof --fix`` on the manifest (or the single file); the output tail."""
    assert layout.check_target is not None
    fix = step.run([tool.path, "--fix", str(layout.check_target)], input=b"y\n", check=False)
    text = _tail(fix.stdout, fix.stderr, 40)
    repair.method = "manifest" if layout.kind == "multipart" else "file"
    if fix.returncode != 0 and layout.kind == "multipart" and _base_misread(text, layout):
        # Check the base with the RDB checker instead, fix the last INCR file directly.
        repair.notes.append(
            "the checker misread the RDB base as RESP (Valkey 9 check-aof: VALKEY magic); "
            "checked the base with check-rdb and fixed the last INCR file directly"
        )
        base, last = layout.base, layout.last_incr
        assert base is not None and last is not None
        rdb = check_rdb(step, handle, base.path)
        if not rdb.ok:
            raise ServiceError(f"the AOF base {base.path.name} is a corrupt RDB: {rdb.tail}")
        fix = step.run([tool.path, "--fix", str(last.path)], input=b"y\n", check=False)
        text = _tail(fix.stdout, fix.stderr, 40)
        repair.method = "file (last INCR)"
    if fix.returncode != 0:
        raise ServiceError(f"redis-check-aof --fix failed (exit {fix.returncode}): {text}")
    return text


def _account_cut(repair: AofRepair, layout: AofLayout, sizes: dict[Path, int]) -> None:
    """What the repair removed, read back from the copy kept before it."""
    assert repair.evidence is not None
    for path, size in sizes.items():
        new_size = path.stat().st_size if path.exists() else 0
        if new_size >= size:
            continue
        with open(Path(repair.evidence) / path.relative_to(layout.data_dir), "rb") as kept:
            kept.seek(new_size)
            cut = scan_damaged(kept.read(), offset=new_size)
        repair.fixed = True
        repair.file = str(path)
        repair.size_before = size
        repair.size_after = new_size
        repair.damaged_records = cut.damaged
        repair.commands_cut = len(cut.commands) + cut.damaged
        repair.writes_cut = len(cut.writes) + cut.damaged
        repair.keys_cut = list(iter_keys(cut.writes))[:1000]


def repair_aof(step: StepContext, handle: RedisHandle) -> AofRepair:
    """``redis-check-aof --fix`` on a stopped server's AOF, the broken AOF kept first.

    *step*: the drill step the copy, the diagnosis and the fix are recorded in (note
    ``repair``); *handle*: the stopped server (needs its data dir). The checker
    truncates the last file at its first bad record; everything from there on is gone.
    Which commands that was is read from the bytes it removed (the copy kept before the
    repair): :attr:`AofRepair.writes_cut` and ``keys_cut`` are what a drill compares
    with its ledger.
    """
    handle.require(Capability.DATA_DIR)
    layout = offline_aof_layout(handle)
    target = layout.check_target
    if target is None:
        raise FileNotFoundError(f"no AOF in {handle.data_dir}: nothing for redis-check-aof")
    tool = redis_tool(handle, "check-aof")
    evidence = _keep_evidence(step, layout, "aof-before-fix")
    sizes = {f.path: f.size for f in layout.files if f.path.exists()}
    diag = step.run([tool.path, str(target)], check=False)
    diag_text = _tail(diag.stdout, diag.stderr, 40)
    repair = AofRepair(
        tool=tool.path,
        tool_origin=tool.origin,
        target=str(target),
        diagnosis_exit=diag.returncode,
        diagnosis="\n".join(diag_text.splitlines()[-8:]),
        fixed=False,
        method="none",
        evidence=str(evidence),
    )
    if diag.returncode == 0 and not _base_misread(diag_text, layout):
        repair.notes.append("redis-check-aof found nothing to fix")
    else:
        fix_text = _fix(step, handle, tool, layout, repair)
        _account_cut(repair, layout, sizes)
        repair.notes.append("\n".join(fix_text.splitlines()[-3:]))
    step.note("repair", repair.to_dict())
    return repair


@dataclass
class AofSurgery:
    """What :func:`remove_flushall` cut out of which INCR file, and the copy kept first."""

    file: str
    removed: list[str]  # the commands cut out, with their byte ranges
    size_before: int
    size_after: int
    kept_after: int  # commands after the FLUSHALL that stay (writes made after the flush)
    evidence: str


def _cut_flushes(step: StepContext, path: Path, evidence: Path) -> AofSurgery | None:
    """Cut every FLUSHALL/FLUSHDB record out of one RESP file; None when it has none."""
    data = path.read_bytes()
    parsed = resp_commands(data)
    flushes = [c for c in parsed.commands if c.name in ("FLUSHALL", "FLUSHDB")]
    if not flushes:
        return None
    kept_after = sum(1 for c in parsed.commands if c.start >= flushes[-1].end and c.is_write)
    out = bytearray()
    pos = 0
    for c in flushes:
        out += data[pos : c.start]
        pos = c.end
    out += data[pos:]
    tmp = path.with_name(path.name + ".surgery")
    tmp.write_bytes(bytes(out))
    step.call(f"cut {len(flushes)} FLUSH record(s) out of {path.name}", os.replace, tmp, path)
    removed = [f"{c.name} at bytes {c.start}-{c.end}" for c in flushes]
    return AofSurgery(str(path), removed, len(data), len(out), kept_after, str(evidence))


def remove_flushall(step: StepContext, handle: RedisHandle) -> AofSurgery:
    """Cut every FLUSHALL/FLUSHDB out of the AOF's INCR files of a stopped server.

    *step*: the drill step the shutdown, the evidence copy and the cut are recorded in
    (note ``surgery``); *handle*: the server (needs its data dir). Possible only while
    the FLUSHALL is still a record in an INCR file: an AOF rewrite after it
    (``BGREWRITEAOF``, auto-rewrite) folds the empty dataset into a new BASE, and then
    only a snapshot can help (FileNotFoundError). Writes made after the flush are kept.
    """
    handle.require(Capability.DATA_DIR)
    shutdown_nosave(step, handle)
    layout = offline_aof_layout(handle)
    files = layout.incrs if layout.kind == "multipart" else list(layout.files)
    evidence = _keep_evidence(step, layout, "aof-before-surgery")
    for f in reversed(files):
        surgery = _cut_flushes(step, f.path, evidence) if f.format == "resp" else None
        if surgery is not None:
            step.note("surgery", asdict(surgery))
            return surgery
    raise FileNotFoundError(
        "no FLUSHALL record in any INCR file of the AOF (rewritten since?): restore a "
        "snapshot instead"
    )
