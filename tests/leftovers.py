"""Live processes by command line: a step's child that outlived its deadline is found here."""

from __future__ import annotations

import re
from pathlib import Path

from drillbook.fixtures import procs


def running(pattern: str) -> list[int]:
    """PIDs of live processes whose command line matches the regex *pattern*."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        pid = int(cmdline.parent.name)
        if re.search(pattern, text) and procs.pid_alive(pid):
            found.append(pid)
    return found


def kill(pattern: str) -> None:
    """SIGKILL every live process matching *pattern* (a test's own sleeps, on failure)."""
    for pid in running(pattern):
        procs.kill_group(pid, pid, None, timeout=5)
