"""Replication lag as the primary reports it, sampled up to the fault.

``pg_stat_replication`` on the primary gives, per standby, the time between flushing WAL
locally and the standby's report that it wrote, flushed and replayed it (``write_lag``,
``flush_lag``, ``replay_lag``) and the bytes not yet replayed. A sampler thread polls it
through the warm-up; :meth:`LagSampler.at` is the last sample before t0: the lag at the
instant the region was lost, which the runbooks' alert ("replication lag > 60 % of
RPO") is evaluated on. Streaming through the fault proxy makes this lag real (30 ms each
way), and a latency injected on the link makes it large.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

QUERY = (
    "SELECT EXTRACT(epoch FROM write_lag)::float8, EXTRACT(epoch FROM flush_lag)::float8,"
    " EXTRACT(epoch FROM replay_lag)::float8,"
    " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint, sync_state"
    " FROM pg_stat_replication WHERE application_name = %s"
)


@dataclass(frozen=True)
class LagSample:
    at_mono: float
    write_lag_s: float | None
    flush_lag_s: float | None
    replay_lag_s: float | None
    bytes_behind: int | None
    sync_state: str | None


class LagSampler:
    """Polls the primary every *interval* seconds for the standby *application_name*."""

    def __init__(self, primary: Any, application_name: str, *, interval: float = 0.1) -> None:
        self.primary = primary
        self.application_name = application_name
        self.interval = interval
        self.samples: list[LagSample] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drillbook-lag", daemon=True)

    def start(self) -> LagSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        conn = None
        deadline = time.monotonic() + 600  # bounded: a sampler never outlives a drill
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = self.primary.connect(timeout=2)
                row = conn.execute(QUERY, (self.application_name,)).fetchone()
                if row is not None:
                    self.samples.append(LagSample(time.monotonic(), *row))
            except Exception:
                self.errors += 1
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
            self._stop.wait(self.interval)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def at(self, t0: float) -> LagSample | None:
        """The last sample taken before *t0* that has a replay lag."""
        before = [s for s in self.samples if s.at_mono <= t0 and s.replay_lag_s is not None]
        return before[-1] if before else None

    def summary(self, t0: float, *, keep: int = 60) -> dict[str, Any]:
        at = self.at(t0)
        lags = [s.replay_lag_s for s in self.samples if s.replay_lag_s is not None]
        series = [(round(s.at_mono - t0, 3), s.replay_lag_s) for s in self.samples]
        return {
            "source": "pg_stat_replication on the primary (replay_lag)",
            "lag_at_t0_s": at.replay_lag_s if at else None,
            "at_t0": asdict(at) if at else None,
            "samples": len(self.samples),
            "max_replay_lag_s": max(lags) if lags else None,
            "series": series[-keep:],
            "errors": self.errors,
        }


def wait_lag(sampler: LagSampler, at_least_s: float, *, timeout: float = 30.0) -> float:
    """Block until the sampled replay lag reaches *at_least_s* (an injected latency took
    hold); returns it."""
    deadline = time.monotonic() + timeout
    while True:
        recent = [s.replay_lag_s for s in sampler.samples[-3:] if s.replay_lag_s is not None]
        if recent and min(recent) >= at_least_s:
            return min(recent)
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"replication lag still {recent} s after {timeout:.0f} s, wanted {at_least_s} s"
            )
        time.sleep(sampler.interval)
