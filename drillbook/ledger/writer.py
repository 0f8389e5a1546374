"""The background writer: numbered, acknowledged writes at a fixed cadence into a sink."""

from __future__ import annotations

import dataclasses
import math
import secrets
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, runtime_checkable

from drillbook.ledger.classify import classify
from drillbook.ledger.model import LedgerResult, LedgerWrite, WriteStatus, checksum_of, make_payload


@runtime_checkable
class LedgerSink(Protocol):
    """Where the ledger's writes go: one implementation per service, outside this module.

    Contract:
    - ``write`` returns only once the service acknowledged the write (the ack time is
      taken right after it returns) and raises on any failure; it is called from the
      writer's thread, one call at a time.
    - ``read_all`` is called after recovery from the caller's thread; the connection
      used for writing may have died with the server, so it should connect afresh. It
      returns every ledger record present, seq -> payload exactly as stored.
    """

    def prepare(self) -> None:
        """Create the table / key prefix / bucket the ledger writes into."""

    def write(self, seq: int, payload: str) -> None:
        """Write one record durably enough for the service's own ack; raise on failure."""

    def read_all(self) -> dict[int, str]:
        """Read back every ledger record present now."""

    def close(self) -> None:
        """Release connections; must not raise if the service is gone."""


def _position(sink: LedgerSink) -> int | None:
    """The sink's position of the write just acknowledged (``sink.position()``, optional:
    PostgreSQL's WAL insert LSN), None when it has none or cannot tell (the server died
    between the ack and the question: such a write is simply not claimed as captured)."""
    position = getattr(sink, "position", None)
    if position is None:
        return None
    try:
        value = position()
    except Exception:
        return None
    return None if value is None else int(value)


def next_tick(tick: int, origin: float, now: float, cadence: float) -> int:
    """The tick to schedule after ``tick`` has been written, as of ``now``.

    Tick n is due at ``origin + n * cadence``. Normally that is ``tick + 1``. When the
    writer fell behind by several ticks (slow sink, GC pause), it returns the latest
    tick already due, so exactly one write goes out immediately and the cadence resumes
    from there: bursting to catch up would cluster writes and fake a finer resolution.
    """
    due_now = math.floor((now - origin) / cadence)
    return max(tick + 1, due_now)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class LedgerWriter:
    """Background writer making numbered writes at a fixed cadence into a :class:`LedgerSink`.

    Use as a context manager so the thread and the sink never outlive the drill::

        with LedgerWriter(sink, cadence=0.01) as ledger:
            t0 = ledger.mark_t0()          # fault injection starts now
            inject_fault(); recover()
            result = ledger.verify()

    Entering starts the writer; leaving stops it and closes the sink (the writer owns
    the sink). The thread is a daemon and every stop has a deadline: a sink that hangs
    forever marks the writer ``stuck`` instead of hanging the test run.

    ``clock`` must be a monotonic clock that advances in real time (``time.monotonic``,
    the drill timeline's clock): it stamps sends/acks and drives the schedule, while
    waiting uses real time.
    """

    def __init__(
        self,
        sink: LedgerSink,
        cadence: float = 0.010,
        name: str = "ledger",
        payload_size: int = 64,
        clock: Callable[[], float] = time.monotonic,
        *,
        token: str | None = None,
    ) -> None:
        if not (math.isfinite(cadence) and cadence > 0):
            raise ValueError(f"cadence must be a positive number of seconds, got {cadence}")
        if payload_size < 1:
            raise ValueError(f"payload_size must be >= 1, got {payload_size}")
        self.sink = sink
        self.cadence = float(cadence)
        self.name = name
        self.payload_size = payload_size
        #: Random per run, embedded in every payload (see :func:`make_payload`).
        self.token = token if token is not None else secrets.token_hex(6)
        self._clock = clock
        self._lock = threading.Lock()
        self._writes: list[LedgerWrite] = []
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop_at: float | None = None
        self._t0: float | None = None
        self._frozen = False
        self._stuck = False
        self._crash: str | None = None
        self._sink_closed = False
        #: Wall-clock (``time.time()``) and monotonic time the writer started, so the
        #: report can put monotonic ledger times on a calendar.
        self.started_wall: float | None = None
        self.started_mono: float | None = None
        #: What the last :meth:`verify` read back (seq -> payload), for the checks of
        #: what each backup method had captured (``drillbook.ledger.captured``).
        self.readback: dict[int, str] = {}

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Prepare the sink (errors surface here, in the caller) and start writing."""
        with self._lock:
            if self._thread is not None or self._frozen:
                raise RuntimeError(f"ledger writer {self.name!r} was already started (or stopped)")
        self.sink.prepare()
        self.started_wall = time.time()
        self.started_mono = self._clock()
        thread = threading.Thread(
            target=self._run, args=(self.started_mono,), name=f"drillbook-{self.name}", daemon=True
        )
        with self._lock:
            self._thread = thread
        thread.start()

    def mark_t0(self, t0_mono: float | None = None, stop: bool = True) -> float:
        """Record t0 (default: now) and return it.

        ``stop=True``: no write is issued after t0 (one already in flight finishes and
        keeps its real ack time) — measures what a restore brings back of a workload
        that stopped at the fault. ``stop=False``: keep writing through the outage, to
        see when writes fail and resume (post-t0 writes never affect the RPO).

        With ``t0_mono=None`` t0 is read under the writer's lock, so it is exactly
        ordered against write issue: prefer it. An explicit t0 in the past cannot un-send
        writes already started after it; they are simply classified as post-t0.
        """
        with self._lock:
            if self._t0 is not None:
                raise RuntimeError(
                    f"ledger writer {self.name!r}: t0 is already marked at {self._t0}"
                )
            t0 = self._clock() if t0_mono is None else float(t0_mono)
            self._t0 = t0
            if stop:
                self._stop_at = t0
        return t0

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread and freeze the ledger; True if the thread ended in time.

        Idempotent. A write still running after ``timeout`` stays INFLIGHT, the writer is
        marked ``stuck``, and nothing the thread does afterwards changes the ledger.
        """
        self._stop_event.set()
        with self._lock:
            if self._frozen:
                return not self._stuck
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._lock:
            self._frozen = True
            self._stuck = thread is not None and thread.is_alive()
            return not self._stuck

    def close(self) -> None:
        """Stop the writer and close the sink (once), even when the writer is stuck."""
        try:
            self.stop()
        finally:
            if not self._sink_closed:
                self._sink_closed = True
                self.sink.close()

    def __enter__(self) -> LedgerWriter:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- state ----------------------------------------------------------------------------

    @property
    def writes(self) -> list[LedgerWrite]:
        """A snapshot of the ledger (records are immutable; the list is a copy)."""
        with self._lock:
            return list(self._writes)

    @property
    def t0_mono(self) -> float | None:
        """The t0 given to :meth:`mark_t0`, used by :meth:`verify` when none is passed."""
        return self._t0

    @property
    def running(self) -> bool:
        """Still issuing writes (False once stopped at t0, by stop(), or after a crash)."""
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._frozen

    @property
    def stuck(self) -> bool:
        """The sink hung past ``stop()``'s timeout; the last write stays INFLIGHT."""
        return self._stuck

    @property
    def crash(self) -> str | None:
        """An unexpected error that ended the thread (a harness bug, not a sink failure)."""
        return self._crash

    def wait_for_acked(self, count: int, *, timeout: float = 30.0) -> None:
        """Block until *count* writes are acknowledged (a warm-up with a deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            acked = sum(1 for w in self.writes if w.status is WriteStatus.ACKED)
            if acked >= count:
                return
            if self.crash or time.monotonic() >= deadline:
                failed = [w.error for w in self.writes if w.error][-1:]
                raise TimeoutError(
                    f"ledger {self.name}: {acked}/{count} writes acknowledged after "
                    f"{timeout:.0f} s; last error: {failed[0] if failed else self.crash}"
                )
            time.sleep(self.cadence)

    # -- verification ---------------------------------------------------------------------

    def verify(self, t0_mono: float | None = None) -> LedgerResult:
        """Stop writing, read everything back and classify it.

        The writer is stopped first: reading a ledger that still moves would turn writes
        made during the read into phantoms or losses of the read itself.
        """
        t0 = self._t0 if t0_mono is None else t0_mono
        if t0 is None:
            raise RuntimeError(
                f"ledger writer {self.name!r}: no t0; call mark_t0() when the fault starts "
                "or pass t0_mono to verify()"
            )
        self.stop()
        snapshot = self.writes
        readback = self.sink.read_all()
        self.readback = readback
        return classify(snapshot, readback, t0, self.cadence)

    # -- thread ---------------------------------------------------------------------------

    def _run(self, origin: float) -> None:
        try:
            tick = 0
            while not self._stop_event.is_set():
                due = origin + tick * self.cadence
                now = self._clock()
                if now < due and self._stop_event.wait(due - now):
                    return
                record = self._issue()
                if record is None:
                    return
                try:
                    self.sink.write(record.seq, record.payload)
                except Exception as exc:
                    done = self._clock()
                    final = dataclasses.replace(
                        record, status=WriteStatus.FAILED, error=_describe(exc), done_mono=done
                    )
                else:
                    done = self._clock()
                    final = dataclasses.replace(
                        record,
                        status=WriteStatus.ACKED,
                        ack_mono=done,
                        done_mono=done,
                        position=_position(self.sink),
                    )
                with self._lock:
                    if self._frozen:
                        return  # stop() gave up on us: the ledger is final
                    self._writes[record.seq - 1] = final
                tick = next_tick(tick, origin, self._clock(), self.cadence)
        except BaseException as exc:  # never let a harness bug die silently in a thread
            self._crash = _describe(exc)

    def _issue(self) -> LedgerWrite | None:
        """Stamp and record the next write as INFLIGHT, or None when writing must end.

        Stamping and the t0 check happen under the lock that :meth:`mark_t0` takes, so
        "no write sent after t0" holds exactly.
        """
        with self._lock:
            if self._frozen or self._stop_event.is_set():
                return None
            sent = self._clock()
            if self._stop_at is not None and sent > self._stop_at:
                return None
            seq = len(self._writes) + 1
            payload = make_payload(self.token, seq, self.payload_size)
            record = LedgerWrite(
                seq=seq,
                payload=payload,
                checksum=checksum_of(payload),
                sent_mono=sent,
                ack_mono=None,
                status=WriteStatus.INFLIGHT,
            )
            self._writes.append(record)
            return record
