"""Where a team's drill project starts: the folder of its ``drills.toml``.

``pytest drills`` in a repository without a pytest ini file makes ``drills/`` the
rootdir, one level below the ``drills.toml`` next to it. The project root is therefore
the folder of the pytest ini file if there is one, else the nearest folder at or above
the rootdir (then the invocation directory) that holds a ``drills.toml``, else the
rootdir. Default targets, reports and history are found there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TARGETS_FILE = "drills.toml"


def find_upwards(start: Path, name: str = TARGETS_FILE) -> Path | None:
    """The nearest folder at or above *start* holding *name*."""
    for folder in (start, *start.parents):
        if (folder / name).is_file():
            return folder
    return None


def project_root(config: Any) -> Path:
    """The project root of a pytest run (see the module docstring)."""
    if getattr(config, "inipath", None):
        return Path(config.inipath).parent
    rootpath = Path(config.rootpath)
    found = find_upwards(rootpath) or find_upwards(Path(config.invocation_params.dir))
    return found or rootpath
