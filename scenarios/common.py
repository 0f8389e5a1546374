"""Small pieces every service's scenarios share: the declared backup methods of a service,
wiping a data directory, scratch directories owned by the run, one-line error texts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from drillbook.fixtures import procs

__all__ = [
    "WipedDirectory",
    "declared_backup",
    "first_line",
    "scratch_dir",
    "source_of",
    "summary_of",
    "wipe_directory",
]


def declared_backup(target: Mapping[str, Any] | None, kind: str) -> dict[str, Any] | None:
    """The parameters of the service's declared backup method *kind*, or None.

    *target* is ``drill.record.target`` (the service's ``[services.<name>]`` table of
    drills.toml, parsed); *kind* a backup-method kind such as ``"wal_archive"`` or
    ``"rdb"``. A drill built on it runs the schedule the team declared, not one it made up.
    """
    for method in (target or {}).get("backups", []):
        if method.get("kind") == kind:
            return dict(method.get("params", {}))
    return None


def source_of(handle: Any, *parts: str) -> str:
    """What a ledger sink writes to, or a protection protects, as one string:
    ``postgres://127.0.0.1:5432/auth``, ``redis://127.0.0.1:6379/0``,
    ``s3://127.0.0.1:9000/media-assets``. A protection's source covers every sink whose
    source starts with it (a cluster's WAL archive covers each of its databases).

    *handle* is a service handle (``kind``, ``host``, ``port``) or a boto3 client (its
    endpoint URL); *parts* are appended (a database, a bucket).
    """
    endpoint = getattr(getattr(handle, "meta", None), "endpoint_url", None)
    if endpoint is not None:
        base = f"s3://{urlsplit(endpoint).netloc}"
    else:
        base = f"{handle.kind}://{handle.host}:{handle.port}"
    return "/".join([base, *(str(p) for p in parts)])


@dataclass
class WipedDirectory:
    """What :func:`wipe_directory` removed: the record of a lost volume."""

    data_dir: str
    files_removed: int
    bytes_removed: int
    removed: list[str] = field(default_factory=list)  # paths relative to data_dir


def wipe_directory(data_dir: Path | str, *, names: bool = True) -> WipedDirectory:
    """Remove everything inside *data_dir* and say what it was (file count, bytes, names).

    The directory itself stays: it is the mount point of the lost volume, and a restore
    puts a backup back into it. The caller stops or kills the server first. *names*
    False leaves the list of removed paths empty (a PostgreSQL cluster has thousands).
    """
    root = Path(data_dir)
    files = nbytes = 0
    removed: list[str] = []
    for dirpath, _dirs, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            files += 1
            if names:
                removed.append(os.path.relpath(path, root))
            with contextlib.suppress(OSError):
                nbytes += os.lstat(path).st_size
    for entry in list(root.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return WipedDirectory(str(root), files, nbytes, sorted(removed))


def scratch_dir(name: str) -> Path:
    """A fresh directory in the run's temporary tree, removed with the run (also on
    failure and Ctrl-C): where a backup is staged before upload or after download."""
    return procs.current_run().mkdir(name)


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (or its type): what a check's detail quotes."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def summary_of(obj: Any, *, limit: int = 10, **extra: Any) -> dict[str, Any]:
    """A dataclass's fields for the drill record: each list as its length (``n_<name>``)
    and its first *limit* items, a Counter as a dict, sets left out (digests: many, and
    the checks use them); *extra* entries added."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, set | frozenset):
            continue
        if isinstance(value, list):
            out[f"n_{f.name}"] = len(value)
            value = value[:limit]
        elif isinstance(value, Counter):
            value = dict(value)
        out[f.name] = value
    return {**out, **extra}
