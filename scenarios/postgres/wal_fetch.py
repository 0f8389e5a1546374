"""WAL for a PITR, fetched ahead of replay by one thread: no process per segment.

The way pgBackRest's asynchronous archive-get works: one long-lived fetcher (here a
thread of the drill process, :class:`WalPrefetcher`) lists the archive and downloads the
segments a replay will ask for, in order, into a spool directory, at most *depth*
segments ahead of what the server has taken. Each one is checked against the archive's
catalog (the SHA-256 recorded at push, and the object's own metadata) before it is
spooled. The server's ``restore_command`` is a small shell script (:data:`FETCH_SH`)
that only moves ``spool/%f`` into place:

- ``spool/%f`` present: moved to ``%p``, exit 0 (the usual case: prefetched);
- ``spool/%f.missing`` present (not in the archive, or refused: corrupt): exit 1, so
  recovery ends there as it does at the end of the archive;
- neither: it asks (``spool/%f.want``) and waits, with a deadline; the fetcher answers
  requests first (history files for ``recovery_target_timeline = latest``, a segment on
  a new timeline), then moves its queue there;
- the fetcher failed, was stopped, or did not answer in time: exit 127, which makes
  PostgreSQL stop recovery with an error instead of promoting on a partial replay.

The fetcher is started before the base backup is unpacked (segments arrive while it
is) and stopped by its owner in a ``finally`` (:func:`prefetching`), also on failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillbook.fixtures.runner import OsUser
from drillbook.scenarios.postgres import wal

__all__ = ["FETCH_SH", "FetchStats", "Spool", "WalPrefetcher", "make_spool", "prefetching"]

DEPTH = 12  # segments spooled ahead of replay (pgBackRest's archive-get-queue-max: 128 MB)
POLL = 0.005  # seconds between looks at the spool for requests
KEEP_TAKEN = 2  # segments kept (hard links) after the server took them
WAIT = 120  # seconds the restore command waits for an answer before failing recovery
FAILED = "FETCHER_FAILED"  # a marker file: the fetcher is gone, recovery must not go on

FETCH_SH = r"""#!/bin/sh
# drillbook restore_command: take %f from the spool the WAL prefetcher fills.
# Usage: wal-fetch.sh SPOOL DEADLINE_S %f %p
spool=$1; deadline=$2; f=$3; p=$4
n=0; limit=$((deadline * 100)); asked=""
while :; do
  if [ -f "$spool/$f" ]; then
    ln -f "$spool/$f" "$spool/$f.taken" 2>/dev/null  # kept: the end of recovery rereads it
    mv -f "$spool/$f" "$p" && exit 0
  fi
  if [ -f "$spool/$f.missing" ]; then exit 1; fi
  if [ -f "$spool/FETCHER_FAILED" ]; then
    echo "drillbook wal fetch $f: $(cat "$spool/FETCHER_FAILED")" >&2; exit 127
  fi
  if [ -z "$asked" ]; then : > "$spool/$f.want"; asked=1; fi
  n=$((n + 1))
  if [ "$n" -gt "$limit" ]; then
    echo "drillbook wal fetch $f: no answer from the prefetcher within $deadline s" >&2
    exit 127
  fi
  sleep 0.01
done
"""


@dataclass
class FetchStats:
    """What the fetcher did, for the step's record (and the benchmark)."""

    fetched: list[str] = field(default_factory=list)  # in download order
    requested: list[str] = field(default_factory=list)  # asked for before it was spooled
    reread: list[str] = field(default_factory=list)  # asked again after it was taken
    missing: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # name -> why (checksum)
    seconds: float = 0.0  # inside downloads
    bytes: int = 0
    max_ahead: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        n = len(self.fetched)
        return {
            "segments_fetched": n,
            "asked_before_spooled": len(self.requested),
            "asked": self.requested[:10],
            "asked_again": self.reread[:10],
            "missing": self.missing[:20],
            "refused": self.refused,
            "seconds_per_segment": round(self.seconds / n, 4) if n else None,
            "bytes": self.bytes,
            "max_ahead": self.max_ahead,
            "error": self.error,
        }


class WalPrefetcher:
    """One thread that spools the archive's segments from *first* on, *depth* ahead.

    *archive*: the :class:`~.backup.WalArchive`; *spool*: a directory the server user
    may write (the restore command moves files out of it); *timeline*, *first_segno*:
    where replay starts (the base backup's start). *owner*: (uid, gid) spooled files
    are given to (the server user), None to leave them as they are.
    """

    def __init__(
        self,
        archive: Any,
        spool: Path,
        *,
        timeline: int,
        first_segno: int,
        depth: int = DEPTH,
        owner: tuple[int, int] | None = None,
    ) -> None:
        self.archive = archive
        self.spool = spool
        self.depth = depth
        self.owner = owner
        self.stats = FetchStats()
        self._timeline = timeline
        self._next = first_segno
        self._names: set[str] = set()
        self._catalog: dict[str, str] = {}
        self._spooled: set[str] = set()  # fetched and not (known to be) taken yet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-prefetch", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> WalPrefetcher:
        self._relist()
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread (it finishes the download in progress) and tell any waiting
        restore command so; the spool's owner removes the directory."""
        self._stop.set()
        self._thread.join(timeout)
        with contextlib.suppress(OSError):
            (self.spool / FAILED).write_text("the WAL prefetcher was stopped\n")

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not (self._answer_requests() or self._prefetch_one()):
                    self._stop.wait(POLL)
        except Exception as exc:  # the restore command must not wait for a dead thread
            self.stats.error = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(OSError):
                (self.spool / FAILED).write_text(f"the WAL prefetcher failed: {exc}\n")

    # -- the archive ----------------------------------------------------------------------
    def _relist(self) -> None:
        self._names = set(self.archive.segments())
        self._catalog = {e.name: e.sha256 for e in self.archive.catalog()}  # last push wins

    def _queue(self) -> list[str]:
        """The archived segments of the current timeline from the next one on, in order."""
        out = []
        for name in self._names:
            seg = wal.segment_of(name, self.archive.segment_size)
            if seg is not None and seg[0] == self._timeline and seg[1] >= self._next:
                out.append((seg[1], name))
        return [name for _, name in sorted(out)]

    # -- requests from the restore command --------------------------------------------------
    def _answer_requests(self) -> bool:
        names = [e.name for e in os.scandir(self.spool)]
        wants = [n[: -len(".want")] for n in names if n.endswith(".want")]
        taken = sorted(n for n in names if n.endswith(".taken"))
        for old in taken[:-KEEP_TAKEN]:  # the last ones only: a reread asks for those
            with contextlib.suppress(FileNotFoundError):
                (self.spool / old).unlink()
        for name in wants:
            again = self.spool / f"{name}.taken"
            if not (self.spool / name).exists() and again.exists():
                self.stats.reread.append(name)
                os.replace(again, self.spool / name)  # taken before, asked again: no GET
            elif not (self.spool / name).exists():
                if name not in self._names:
                    self._relist()  # a primary still archiving, or a timeline switch
                if name not in self._names:
                    self._mark_missing(name)
                else:
                    self.stats.requested.append(name)
                    self._fetch(name)
                self._follow(name)
            with contextlib.suppress(FileNotFoundError):
                (self.spool / f"{name}.want").unlink()
        return bool(wants)

    def _follow(self, name: str) -> None:
        """A request for a segment moves the queue to just after it (and its timeline)."""
        seg = wal.segment_of(name, self.archive.segment_size)
        if seg is not None:
            self._timeline, self._next = seg[0], seg[1] + 1

    # -- prefetching -----------------------------------------------------------------------
    def _prefetch_one(self) -> bool:
        """Download the next queued segment unless *depth* are spooled already."""
        self._spooled = {n for n in self._spooled if (self.spool / n).exists()}
        if len(self._spooled) >= self.depth:
            return False
        queue = self._queue()
        if not queue:
            return False
        name = queue[0]
        seg = wal.segment_of(name, self.archive.segment_size)
        assert seg is not None
        self._next = seg[1] + 1
        self._fetch(name)
        return True

    def _fetch(self, name: str) -> None:
        started = time.monotonic()
        store = self.archive.store
        try:
            obj = store.client.get_object(Bucket=store.bucket, Key=self.archive.prefix + name)
        except store.client.exceptions.NoSuchKey:  # listed, then gone
            self._mark_missing(name)
            return
        body = obj["Body"].read()
        self.stats.seconds += time.monotonic() - started
        why = self._refusal(name, body, obj.get("Metadata") or {})
        if why:
            self.stats.refused[name] = why
            self._mark_missing(name)
            return
        tmp = self.spool / f".{name}.tmp"
        tmp.write_bytes(body)
        if self.owner is not None:
            os.chown(tmp, *self.owner)
        tmp.replace(self.spool / name)
        self.stats.fetched.append(name)
        self.stats.bytes += len(body)
        self._spooled.add(name)
        self.stats.max_ahead = max(self.stats.max_ahead, len(self._spooled))

    def _refusal(self, name: str, body: bytes, metadata: dict[str, str]) -> str | None:
        """Why *body* must not be replayed (its checksum), or None."""
        actual = hashlib.sha256(body).hexdigest()
        if name not in self._catalog:
            self._relist()
        recorded = self._catalog.get(name)
        if recorded and actual != recorded:
            return (
                f"sha256 {actual[:12]} is not the {recorded[:12]} the catalog recorded at "
                "push: refused"
            )
        expected = metadata.get("sha256")
        if expected and actual != expected:
            return f"sha256 {actual[:12]} is not the {expected[:12]} of its metadata: refused"
        return None

    def _mark_missing(self, name: str) -> None:
        self.stats.missing.append(name)
        (self.spool / f"{name}.missing").touch()


@dataclass(frozen=True)
class Spool:
    """Where prefetched segments wait (*path*, the server user's), and the script the
    server's ``restore_command`` runs (*script*, not writable by the server)."""

    path: Path
    script: Path
    owner: tuple[int, int] | None  # (uid, gid) spooled files are given to

    def restore_command(self, deadline: int = WAIT) -> str:
        """The cheap ``restore_command``: a shell moving ``spool/%f`` into place, waiting
        at most *deadline* seconds for the fetcher's answer."""
        script, spool = shlex.quote(str(self.script)), shlex.quote(str(self.path))
        return f"/bin/sh {script} {spool} {int(deadline)} %f %p"


def make_spool(parent: Path, user: OsUser) -> Spool:
    """A spool in *parent* (a run-dir scratch directory): the script beside it."""
    script = parent / "wal-fetch.sh"
    script.write_text(FETCH_SH)
    script.chmod(0o755)
    path = parent / "spool"
    user.own_dir(path)
    os.chmod(parent, 0o755)  # the server user reaches the script and the spool
    return Spool(path, script, (user.uid, user.gid) if user.is_other else None)


@contextlib.contextmanager
def prefetching(
    archive: Any, spool: Spool, *, timeline: int, first_segno: int, depth: int = DEPTH
) -> Iterator[WalPrefetcher]:
    """A started :class:`WalPrefetcher` on *spool*, stopped when the block ends, however
    it ends (a failed restore, a server that did not start, Ctrl-C)."""
    fetcher = WalPrefetcher(
        archive,
        spool.path,
        timeline=timeline,
        first_segno=first_segno,
        depth=depth,
        owner=spool.owner,
    ).start()
    try:
        yield fetcher
    finally:
        fetcher.stop()
