"""Safe file writes: a reader never sees half a file, a failed write damages nothing.

A report, ``latest.html``, ``drills.json`` and the metrics textfile are replaced whole:
written to a temp file in the same folder, fsynced, then renamed over the old one. A
full disk or a kill mid-write leaves the previous file exactly as it was (and no temp
file behind).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path


def ensure_folder(folder: Path) -> Path:
    """Create *folder* (and its parents); a clear error when a part of it is a file."""
    for part in (folder, *folder.parents):
        if part.exists() and not part.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "is a file, not a folder", str(part))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def atomic_write_text(path: Path, text: str) -> Path:
    """Write *text* to a temp file in *path*'s folder, fsync it, then rename it over *path*."""
    ensure_folder(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path
