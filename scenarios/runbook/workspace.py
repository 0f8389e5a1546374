"""Where a runbook runs: a work directory, the shims on PATH and the control socket.

Created in the drill's run directory for one ``drill.runbook(...)`` call and removed
when it returns (on failure and Ctrl-C too: the caller closes it in ``finally``). The
shims are small ``sh`` scripts generated here that exec :mod:`.shim` (or the bundled S3
client :mod:`.s3cli` when the host has no ``aws``) with this interpreter.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillbook.fixtures import procs
from drillbook.runbook.mapping import RunbookMapping
from drillbook.scenarios.runbook.binding import Binding, bind
from drillbook.scenarios.runbook.control import Controller, ControlServer

SHIM = Path(__file__).with_name("shim.py")
S3CLI = Path(__file__).with_name("s3cli.py")
SHIMMED = ("systemctl", "service", "docker", "docker-compose", "pg_ctl", "redis-cli")
#: ``DRILLBOOK_RUNBOOK_AWS=bundled`` uses the bundled S3 client even where ``aws`` exists.
AWS_ENV = "DRILLBOOK_RUNBOOK_AWS"
_SOCKET_MAX = 100  # AF_UNIX paths are limited to 107 bytes


@dataclass
class Workspace:
    root: Path
    workdir: Path
    bin: Path
    binding: Binding
    server: ControlServer
    aws: str  # "system <path>" | "bundled"
    env: dict[str, str] = field(default_factory=dict)
    _extra_dirs: list[Path] = field(default_factory=list)

    def which(self, tool: str) -> str | None:
        """A tool as the runbook's commands find it (shims first)."""
        return shutil.which(tool, path=self.env["PATH"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.server.close()
        with contextlib.suppress(Exception):
            self.server.controller.sync_configs()
        for path in [self.root, *self._extra_dirs]:
            shutil.rmtree(path, ignore_errors=True)


def _script(path: Path, argv: list[str]) -> None:
    path.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in argv) + ' "$@"\n')
    path.chmod(0o755)


def open_workspace(
    handles: Mapping[str, Any],
    mapping: RunbookMapping,
    *,
    bucket: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Workspace:
    """Work dir, shims and control server for one runbook run, bound to *handles*."""
    root = procs.current_run().mkdir("runbook")
    extra: list[Path] = []
    try:
        workdir = root / "work"
        workdir.mkdir()
        bindir = root / "bin"
        bindir.mkdir()
        sock = root / "control.sock"
        if len(str(sock)) > _SOCKET_MAX:
            short = Path(tempfile.mkdtemp(prefix="drillbook-rb-"))
            extra.append(short)
            sock = short / "control.sock"
        binding = bind(handles, workdir=workdir, bucket=bucket, extra=extra_env)
        server = ControlServer(sock, Controller(binding, mapping)).start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        for path in extra:
            shutil.rmtree(path, ignore_errors=True)
        raise
    host_path = os.environ.get("PATH", os.defpath)
    for tool in SHIMMED:
        _script(bindir / tool, [sys.executable, str(SHIM), tool])
    system_aws = shutil.which("aws", path=host_path)
    if system_aws and os.environ.get(AWS_ENV, "").lower() != "bundled":
        aws = f"system {system_aws}"
    else:
        _script(bindir / "aws", [sys.executable, str(S3CLI)])
        aws = "bundled"
    env = {
        **os.environ,
        **binding.env,
        "PATH": f"{bindir}{os.pathsep}{host_path}",
        "DRILLBOOK_RUNBOOK_SOCKET": str(sock),
        "DRILLBOOK_RUNBOOK_PATH": host_path,
    }
    return Workspace(root, workdir, bindir, binding, server, aws, env, extra)
