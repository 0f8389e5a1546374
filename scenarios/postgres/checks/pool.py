"""A small, bounded pool of connections running independent checks side by side.

Validation is mostly waiting on the server reading pages and computing; a single
connection uses one backend, i.e. one core. The checks of :func:`~.check_all` are
independent read-only queries (each in its own transaction), so a few connections run
them at once: the table passes on one, duplicates and amcheck on another. Every
connection the pool opens is closed when it returns, also on an error or Ctrl-C (the
running statements are cancelled first, so no thread outlives the call).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

MAX_WORKERS = 8  # a pool is "a few connections", never one per table

Job = Callable[[Any], Any]  # gets a connection (psycopg or SqlRecorder), returns a result


def raw(conn: Any) -> Any:
    """The psycopg connection behind *conn* (a SqlRecorder wraps one)."""
    return getattr(conn, "conn", conn)


def run_jobs(
    conn: Any, jobs: Sequence[Job], connect: Callable[[], Any] | None, workers: int
) -> list[Any]:
    """Each job's result (or the exception it raised), in *jobs* order.

    *conn* runs jobs in the calling thread; up to *workers* - 1 more connections from
    *connect* run the others in threads, taking the next job in order as they finish (put
    the longest first). A connection that cannot be opened only means fewer workers.
    """
    results: list[Any] = [None] * len(jobs)
    order = iter(range(len(jobs)))
    lock = threading.Lock()

    def work(c: Any) -> None:
        while True:
            with lock:
                i = next(order, None)
            if i is None:
                return
            try:
                results[i] = jobs[i](c)
            except Exception as exc:  # the caller turns it into a NOT RUN result
                results[i] = exc

    extra: list[Any] = []
    threads: list[threading.Thread] = []
    try:
        for _ in range(min(workers, MAX_WORKERS, len(jobs)) - 1 if connect else 0):
            try:
                extra.append(connect())  # type: ignore[misc]
            except Exception:
                break
        threads = [threading.Thread(target=work, args=(c,), daemon=True) for c in extra]
        for t in threads:
            t.start()
        work(conn)
        for t in threads:
            while t.is_alive():  # short joins: Ctrl-C still reaches this thread
                t.join(0.2)
    except BaseException:
        for c in extra:  # stop the other statements, so no thread outlives the call
            with contextlib.suppress(Exception):
                raw(c).cancel_safe(timeout=5.0)
        for t in threads:
            t.join(timeout=10.0)  # a cancelled statement ends within milliseconds
        raise
    finally:
        for c in extra:
            with contextlib.suppress(Exception):
                raw(c).close()
    return results
