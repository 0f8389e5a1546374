"""The hit rate as ``redis-cli INFO stats`` shows it (keyspace_hits / keyspace_misses),
sampled at a fixed interval, over a sliding window that never spans two server processes."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

import redis as redis_lib

from drillbook.fixtures.redis import RedisHandle


@dataclass(frozen=True)
class StatsSample:
    """One ``INFO stats`` sample: keyspace hits and misses of one server process."""

    mono: float
    run_id: str
    hits: int
    misses: int


class HitRateMonitor:
    """``INFO stats`` every *interval*; hit rate over a sliding *window* of seconds.

    A window counts once it spans *min_span* seconds of one server process and holds
    *min_lookups* lookups: the first reads after a restart do not decide alone.
    """

    def __init__(
        self,
        handle: RedisHandle,
        *,
        interval: float = 0.1,
        window: float = 1.0,
        min_lookups: int = 100,
        min_span: float | None = None,
    ) -> None:
        self.handle = handle
        self.interval = interval
        self.window = window
        self.min_lookups = min_lookups
        # A window just after a restart holds few samples: it must cover at least this
        # much of the new process's life (default half the window) to count.
        self.min_span = window / 2 if min_span is None else min_span
        self.samples: list[StatsSample] = []
        self.gaps: list[float] = []  # monos of failed samples (server down)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> HitRateMonitor:
        self._thread = threading.Thread(target=self._run, name="hit-rate monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        client: redis_lib.Redis | None = None
        due = time.monotonic()
        while not self._stop.is_set():
            try:
                if client is None:
                    client = self.handle.client(timeout=0.5)
                stats = client.info("stats")
                run_id = str(client.info("server").get("run_id", ""))
                sample = StatsSample(
                    time.monotonic(),
                    run_id,
                    int(stats["keyspace_hits"]),
                    int(stats["keyspace_misses"]),
                )
                with self._lock:
                    self.samples.append(sample)
            except Exception:
                with self._lock:
                    self.gaps.append(time.monotonic())
                if client is not None:
                    with contextlib.suppress(Exception):
                        client.close()
                client = None
            due += self.interval
            self._stop.wait(max(0.0, due - time.monotonic()))
        if client is not None:
            client.close()

    def _snapshot(self) -> list[StatsSample]:
        with self._lock:
            return list(self.samples)

    @staticmethod
    def _rate(a: StatsSample, b: StatsSample, min_lookups: int) -> float | None:
        hits = b.hits - a.hits
        lookups = hits + (b.misses - a.misses)
        if lookups < max(1, min_lookups):
            return None
        return hits / lookups

    def timeline(self) -> list[tuple[float, float]]:
        """(mono, hit rate over the window ending there) for every sample with enough reads."""
        samples = self._snapshot()
        out: list[tuple[float, float]] = []
        j = 0
        for i, cur in enumerate(samples):
            while j < i and (
                samples[j].run_id != cur.run_id or samples[j].mono < cur.mono - self.window - 1e-9
            ):
                j += 1
            if j == i or cur.mono - samples[j].mono < self.min_span - 1e-9:
                continue
            rate = self._rate(samples[j], cur, self.min_lookups)
            if rate is not None:
                out.append((cur.mono, rate))
        return out

    def rate_between(self, start: float, end: float) -> float | None:
        """Hit rate of all lookups between two instants (one server process)."""
        samples = [s for s in self._snapshot() if start <= s.mono <= end]
        if len(samples) < 2:
            return None
        last = samples[-1]
        first = next(s for s in samples if s.run_id == last.run_id)
        return self._rate(first, last, 1)

    def first_at_or_above(self, threshold: float, after: float) -> tuple[float, float] | None:
        for mono, rate in self.timeline():
            if mono >= after and rate >= threshold:
                return mono, rate
        return None

    def wait_for(
        self, threshold: float, *, after: float, deadline: float
    ) -> tuple[float, float] | None:
        """Block until the windowed hit rate is >= *threshold* (after *after*), or None
        once the monotonic *deadline* passes."""
        while True:
            hit = self.first_at_or_above(threshold, after)
            if hit is not None:
                return hit
            if time.monotonic() >= deadline:
                return None
            time.sleep(self.interval / 2)
