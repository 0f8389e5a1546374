"""pg_basebackup tar archives (``-Ft``) with their WAL: restored, replayed and started.

A base backup is restored the way a runbook does it: ``base.tar`` into an empty data
directory, ``pg_wal.tar`` into its ``pg_wal`` (``-X stream``; with ``-X fetch`` the WAL is
inside ``base.tar``), checked against its ``backup_manifest`` with ``pg_verifybackup``
when there is one, then started: PostgreSQL replays the WAL from the backup's checkpoint
to a consistent state, or says why it cannot ("could not locate required checkpoint
record": SERVER_START_FAILED).

The sandbox must not act on anything outside itself, so the backup's configuration is
set aside (kept as ``*.from-backup``): no ``archive_command`` into the team's archive, no
``primary_conninfo`` to production (``standby.signal`` is removed), the sandbox's own
port, socket and pg_hba.conf. The cluster's bootstrap superuser (whatever its name) is
found in single-user mode, which also runs the replay, and given the sandbox's password.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillbook.scenarios.verify.pgdump import DumpCorrupt, check_tar
from drillbook.verify import formats
from drillbook.verify.model import NotVerified

ASIDE = ("postgresql.conf", "postgresql.auto.conf", "pg_hba.conf", "pg_ident.conf")
SIGNALS = ("standby.signal", "recovery.signal", "postmaster.pid", "postmaster.opts")
_PRELOAD = re.compile(r"^\s*shared_preload_libraries\s*=\s*'([^']*)'", re.M)


@dataclass
class BaseBackup:
    base: Path
    wal: Path | None = None
    manifest: Path | None = None
    major: int | None = None
    created: float | None = None
    label: dict[str, Any] = field(default_factory=dict)


def parts(path: Path) -> BaseBackup:
    """base.tar[.gz], pg_wal.tar[.gz] and backup_manifest of a base backup at *path*."""
    if path.is_file():
        return BaseBackup(base=path)
    names = {p.name: p for p in path.iterdir() if p.is_file()}
    base = names.get("base.tar") or names.get("base.tar.gz")
    if base is None:
        raise DumpCorrupt(f"{path}: no base.tar in the base backup folder")
    wal = names.get("pg_wal.tar") or names.get("pg_wal.tar.gz")
    others = [n for n in names if n.endswith((".tar", ".tar.gz")) and names[n] not in (base, wal)]
    if others:
        raise NotVerified(
            "FORMAT_UNSUPPORTED",
            f"{path}: tablespace archives ({', '.join(sorted(others))}) are not supported",
        )
    return BaseBackup(base=base, wal=wal, manifest=names.get("backup_manifest"))


def _extract(ctx: Any, tar_path: Path, dest: Path) -> None:
    """GNU tar (it refuses absolute and ``..`` member names); a damaged archive is
    BACKUP_CORRUPT with tar's own words."""
    if not tar_path.name.endswith(".gz"):
        check_tar(tar_path)
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    res = ctx.run(["tar", "-xf", str(tar_path), "-C", str(dest)], check=False, timeout=3600)
    if res.returncode != 0:
        lines = (res.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise DumpCorrupt(f"{tar_path.name} is damaged: {lines[0] if lines else 'tar failed'}")


def extract(ctx: Any, bb: BaseBackup, dest: Path) -> BaseBackup:
    """Unpack into *dest*; the major (PG_VERSION) and start time (backup_label) with it."""
    _extract(ctx, bb.base, dest)
    if bb.wal is not None:
        _extract(ctx, bb.wal, dest / "pg_wal")
    try:
        bb.major = formats.major_of((dest / "PG_VERSION").read_text())
    except (OSError, formats.FormatError):
        raise DumpCorrupt(f"{bb.base.name}: no PG_VERSION: not a base backup") from None
    label = dest / "backup_label"
    if label.is_file():
        bb.label = formats.parse_backup_label(label.read_text(errors="replace"))
        start = bb.label.get("start_epoch")
        bb.created = float(start) if isinstance(start, float) else None
    return bb


def verify_manifest(ctx: Any, tool: str, bb: BaseBackup, data_dir: Path) -> str | None:
    """pg_verifybackup against backup_manifest; the first problem, or None when whole."""
    if bb.manifest is None:
        return None
    res = ctx.run([tool, "-n", "-m", str(bb.manifest), str(data_dir)], check=False, timeout=3600)
    if res.returncode == 0:
        return None
    text = (res.stderr or b"").decode("utf-8", "replace").strip().splitlines()
    return text[0] if text else f"pg_verifybackup exited {res.returncode}"


def isolate(data_dir: Path) -> dict[str, str]:
    """Set the backup's configuration aside; the sandbox's own takes its place."""
    notes: dict[str, str] = {}
    original = ""
    for name in ASIDE:
        path = data_dir / name
        if path.exists():
            if name == "postgresql.conf":
                original = path.read_text(errors="replace")
            path.rename(data_dir / f"{name}.from-backup")
            notes[name] = "set aside (*.from-backup)"
    for name in SIGNALS:
        if (data_dir / name).exists():
            (data_dir / name).unlink()
            notes[name] = "removed"
    lines = [
        "# drillbook verify: the backup's own configuration is kept as *.from-backup",
        "archive_mode = off",
    ]
    if m := _PRELOAD.search(original):
        lines.append(f"shared_preload_libraries = '{m.group(1)}'")
    lines.append("include_if_exists = 'drillbook.conf'")
    (data_dir / "postgresql.conf").write_text("\n".join(lines) + "\n")
    (data_dir / "pg_hba.conf").write_text(
        "local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n"
    )
    (data_dir / "pg_ident.conf").write_text("")
    return notes


def move_into(extracted: Path, handle: Any) -> None:
    """Put the unpacked cluster where the sandbox server expects its data directory."""
    target = Path(handle.data_dir)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(extracted, target)
    handle.adopt_data_dir()


def replay_and_claim(ctx: Any, handle: Any) -> tuple[bool, str, str]:
    """Single-user mode: replays the WAL to consistency, names the bootstrap superuser
    and gives it the sandbox password. (ok, superuser, server output)."""
    user = getattr(handle, "os_user", None)
    sql = (
        "SELECT rolname FROM pg_authid WHERE oid = 10\n"
        "DO $$ BEGIN EXECUTE format('ALTER ROLE %I PASSWORD %L', "
        f"(SELECT rolname FROM pg_authid WHERE oid = 10), '{handle.password}'); END $$\n"
    )
    argv = [handle.tool("postgres"), "--single", "-D", str(handle.data_dir), "template1"]
    res = ctx.run(
        argv,
        input=sql.encode(),
        env={"LC_ALL": "C", "HOME": "/tmp"},
        cwd=str(handle.data_dir),
        user=user.uid if user is not None and user.is_other else None,
        group=user.gid if user is not None and user.is_other else None,
        check=False,
        timeout=3600,
    )
    out = (res.stdout or b"").decode("utf-8", "replace")
    log = (res.stderr or b"").decode("utf-8", "replace")
    m = re.search(r'rolname = "([^"]+)"', out)
    return res.returncode == 0 and m is not None, m.group(1) if m else "", log
