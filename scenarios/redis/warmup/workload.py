"""The application's reads: zipfian popularity, paced at a rate, bounded in count and
time; each read's instant, latency and outcome kept."""

from __future__ import annotations

import bisect
import random
import threading
import time
from array import array
from dataclasses import KW_ONLY, dataclass, field

from drillbook.scenarios.redis.warmup.cache import ReadThroughCache
from drillbook.scenarios.redis.warmup.catalog import ERROR, Zipf


@dataclass(eq=False)
class ReadWorkload:
    """Reads with zipfian popularity through *cache*: paced, bounded in count and time.

    *rate* reads per second over *threads* threads, each paced at ``rate / threads``, so
    a slow read (the database behind a dead cache) does not stop the others: arrivals
    stay close to the rate, as an application's users keep coming whatever the latency.
    It ends after *max_ops* reads or *max_seconds*; *seed* makes the key sequence
    reproducible. Each read's start, latency and outcome is kept (:meth:`window`).
    """

    cache: ReadThroughCache
    zipf: Zipf
    _: KW_ONLY
    rate: float = 800.0
    threads: int = 4
    max_ops: int = 1_000_000
    max_seconds: float = 120.0
    seed: int = 1
    at: array[float] = field(default_factory=lambda: array("d"), init=False, repr=False)
    latency: array[float] = field(default_factory=lambda: array("d"), init=False, repr=False)
    outcome: array[int] = field(default_factory=lambda: array("b"), init=False, repr=False)
    errors: list[str] = field(default_factory=list, init=False)
    started_mono: float | None = field(default=None, init=False)
    end_reason: str | None = field(default=None, init=False)
    _ops: int = field(default=0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.threads < 1:
            raise ValueError("rate must be > 0 and threads >= 1")

    def start(self) -> ReadWorkload:
        self.started_mono = time.monotonic()
        for i in range(self.threads):
            t = threading.Thread(
                target=self._run, args=(i,), name=f"read workload {i}", daemon=True
            )
            self._threads.append(t)
            t.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self.cache.close()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _run(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        start = self.started_mono or time.monotonic()
        interval = self.threads / self.rate
        due = start + index * interval / self.threads
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                if self._ops >= self.max_ops:
                    self.end_reason = f"max_ops {self.max_ops} reached"
                    return
                if now - start >= self.max_seconds:
                    self.end_reason = f"max_seconds {self.max_seconds} reached"
                    return
            if now < due:
                self._stop.wait(due - now)
                continue
            due = max(due + interval, now - 0.25)  # catch up a little, never a storm
            pid = self.cache.catalog.id_of_rank(self.zipf.rank(rng))
            t = time.monotonic()
            try:
                _value, outcome = self.cache.get(pid)
            except Exception as exc:
                outcome = ERROR
                with self._lock:
                    if len(self.errors) < 20:
                        self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            done = time.monotonic()
            with self._lock:
                self.at.append(t)
                self.latency.append(done - t)
                self.outcome.append(outcome)
                self._ops += 1
        with self._lock:
            self.end_reason = self.end_reason or "stopped"

    def window(self, start: float, end: float) -> tuple[list[float], list[int]]:
        """(latencies, outcomes) of the reads started in [start, end)."""
        with self._lock:
            rows = sorted(zip(self.at, self.latency, self.outcome, strict=True))
        lo = bisect.bisect_left(rows, (start,))
        hi = bisect.bisect_left(rows, (end,))
        return [r[1] for r in rows[lo:hi]], [r[2] for r in rows[lo:hi]]
