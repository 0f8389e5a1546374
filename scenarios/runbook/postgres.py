"""What a PostgreSQL runbook needs from the drill besides the connection variables.

The runbook writes ``restore_command = '$WAL_FETCH %f %p'`` into the restored data
directory, the way a team's runbook names its archive tool (``wal-g wal-fetch``,
``pgbackrest archive-get``). In a drill that tool is the WAL archive the stack set up;
:func:`wal_fetch_script` wraps its ``restore_command`` into one executable the server
user can run, so the runbook's line stays a plain ``'$WAL_FETCH %f %p'``.
"""

from __future__ import annotations

from pathlib import Path

from drillbook.fixtures import procs


def wal_fetch_script(restore_command: str) -> Path:
    """An executable ``wal-fetch SEGMENT PATH`` running *restore_command* (%f, %p)."""
    if "%f" not in restore_command or "%p" not in restore_command:
        raise ValueError(f"restore_command needs %f and %p: {restore_command!r}")
    script = procs.current_run().mkdir("wal-fetch") / "wal-fetch"
    body = restore_command.replace("%f", '"$1"').replace("%p", '"$2"')
    script.write_text(f"#!/bin/sh\n# the drill's WAL archive, as $WAL_FETCH\nexec {body}\n")
    script.chmod(0o755)  # the server user runs it; it holds no secret (the config does)
    return script
