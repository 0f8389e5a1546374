"""pytest: restore a service's real backup as a step of a drill (``verified_backup``).

A nightly ``pytest drills`` can then prove last night's real backup and break and
recover it in the sandbox, in one drill::

    @pytest.mark.drill(service="affiliate", scenario="last night's dump, then total loss")
    def test_real_backup(drill, verified_backup):
        restored = verified_backup()          # the service's [source], restored + checked
        with drill.fault("SIGKILL and wipe the restored server"):
            restored.handle.kill()
        ...

The restore and its checks are SETUP steps of the drill (before t0, like any backup a
drill starts from); what the verification found goes into the drill's findings, so a
damaged backup fails the drill with BACKUP_CORRUPT, and its full result into
``record.notes["verify"]``. A verification that could not run (no source, unreadable,
no server of the backup's major) makes the drill NOT RUN (code NOT_VERIFIED). When the
restore produced nothing usable, the fixture stops the drill there (the exception names
the finding). The restored server is removed at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drillbook.errors import DrillNotRun
from drillbook.verify.model import VerifyResult

#: Findings after which the restored server is not worth breaking.
BLOCKING = {
    "BACKUP_MISSING",
    "BACKUP_EMPTY",
    "BACKUP_CORRUPT",
    "RESTORE_FAILED",
    "SERVER_START_FAILED",
    "RESTORE_EMPTY",
}


class BackupNotRestored(Exception):
    """The service's real backup did not restore; the drill cannot go on."""


@dataclass
class Restored:
    """The restored sandbox server, the database the dump went into, the result."""

    handle: Any
    dbname: str | None
    result: VerifyResult


def _history(config: pytest.Config) -> list[dict[str, Any]]:
    from drillbook.project import project_root
    from drillbook.reports.history import read_history
    from drillbook.verify.outputs import HISTORY_FILE

    return read_history(project_root(config) / HISTORY_FILE).rows


def _restore(
    request: pytest.FixtureRequest, drill: Any, service: str, cleanups: list[Any]
) -> Restored:
    from drillbook.fixtures import procs
    from drillbook.plugin import TARGETS_KEY
    from drillbook.record import Phase
    from drillbook.scenarios.verify import run, sandbox

    targets = request.config.stash.get(TARGETS_KEY, None)
    if targets is None:
        raise DrillNotRun(
            "verified_backup needs drills.toml (no targets file found)", code="NOT_VERIFIED"
        )
    box = sandbox.FreshSandbox()
    cleanups.append(box.close)
    with procs.owned_dir(procs.current_run(), f"verify-{service}") as workdir:
        ctx = run.Context(
            drill=drill,
            service=service,
            target=targets.get(service),
            spec=targets.get(service).subtables.get("source"),
            base_dir=Path(targets.source).resolve().parent,
            workdir=workdir,
            sandbox=box,
            history=_history(request.config),
            restore_phase=Phase.SETUP,
            validate_phase=Phase.SETUP,
        )
        out = run.verify(ctx)
    result = out.result
    drill.record.notes["verify"] = result.to_dict()
    drill.record.findings.extend(result.findings)
    if result.not_verified_reason:
        raise DrillNotRun(
            f"[{result.not_verified_code}] {result.not_verified_reason}", code="NOT_VERIFIED"
        )
    blocking = [f for f in result.findings if f.code in BLOCKING and f.severity == "fail"]
    if blocking or out.handle is None:
        first = blocking[0] if blocking else None
        raise BackupNotRestored(
            f"{service}'s newest backup did not restore: "
            + (f"{first.code}: {first.message}" if first else "no restored server")
        )
    return Restored(out.handle, out.dbname, result)


@pytest.fixture
def verified_backup(
    request: pytest.FixtureRequest, drill: Any
) -> Iterator[Callable[..., Restored]]:
    """``verified_backup(service=None)``: restore the service's newest real backup
    (default: the drill's own service) into a sandbox server and check it."""
    cleanups: list[Any] = []

    def restore(service: str | None = None) -> Restored:
        name = service or drill.record.service
        if not name:
            raise TypeError("verified_backup(): name a service, or mark the drill with one")
        return _restore(request, drill, name, cleanups)

    try:
        yield restore
    finally:
        for close in reversed(cleanups):
            close()
