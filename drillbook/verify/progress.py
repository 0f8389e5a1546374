"""Progress lines for long work: a nightly job that prints nothing for 20 minutes looks
hung, and one that is hung must look it (pg_restore can spin on a damaged archive).

A download reports bytes and rate at most every ``every`` seconds; a restore, which
has no byte count of its own, prints a heartbeat with the elapsed time from a
background thread until it ends.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from drillbook.reports.fmt import fmt_bytes as human_bytes

__all__ = ["Progress", "human_bytes"]


class Progress:
    """Writes ``verify <label>: ...`` lines to *stream* (stderr); silent when disabled."""

    def __init__(
        self, stream: TextIO | None = None, *, enabled: bool = True, every: float = 10.0
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.every = every
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.stream.write(text.rstrip() + "\n")
            self.stream.flush()

    def bytes_counter(self, label: str, total: int | None) -> Callable[[int], None]:
        """A callback for chunk sizes; prints done/total and the rate now and then."""
        start = last = time.monotonic()
        done = 0

        def tick(n: int) -> None:
            nonlocal done, last
            done += n
            now = time.monotonic()
            if now - last < self.every:
                return
            last = now
            rate = done / max(now - start, 1e-9)
            of = f" of {human_bytes(total)}" if total else ""
            self.line(f"{label}: {human_bytes(done)}{of} ({human_bytes(rate)}/s)")

        return tick

    @contextlib.contextmanager
    def heartbeat(self, label: str) -> Iterator[None]:
        """``label: still running, 30 s`` every *every* seconds until the block ends."""
        if not self.enabled:
            yield
            return
        stop = threading.Event()
        start = time.monotonic()

        def beat() -> None:
            while not stop.wait(self.every):
                self.line(f"{label}: still running, {time.monotonic() - start:.0f} s")

        thread = threading.Thread(target=beat, name="drillbook-verify-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)
