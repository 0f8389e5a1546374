"""The RPO ledger end to end against real servers: exact counts and an exact RPO.

For PostgreSQL (rows), Redis (keys) and S3 (objects): a ledger writes for ~0.3 s, t0 is
marked (the writer stops), then the test does to the real store exactly what a restore to
an earlier point (or a bad one) would do, and the read-back must say precisely that:

- tail: every write after seq k deleted -> lost == acked-before-t0 - k, recovery point k,
  RPO == t0 - ack time of write k (float equality with the ledger's own numbers), no hole;
- hole: one write in the middle deleted -> holes == 1;
- corrupt: one payload changed -> corrupted == 1;
- phantom: one record the ledger never wrote -> phantom == 1.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from drillbook.drill import Drill
from drillbook.ledger import (
    LedgerResult,
    LedgerSink,
    LedgerWrite,
    LedgerWriter,
    WriteClass,
    WriteStatus,
)
from drillbook.record import DrillRecord, Phase
from drillbook.verdict import finalize

RUN_FOR = 0.3  # seconds of writes before t0
CADENCE = 0.01
PHANTOM_SEQ = 999_999


@dataclass
class Store:
    """One service's ledger sink and the raw operations a test performs behind its back."""

    make_sink: Callable[[], LedgerSink]
    delete: Callable[[LedgerSink, list[int]], None]
    overwrite: Callable[[LedgerSink, int, str], None]


def _pg_store(pg: Any) -> Store:
    from drillbook.scenarios.postgres.ledger import PostgresLedgerSink

    def make() -> LedgerSink:
        return PostgresLedgerSink(pg, table=f"ledger_{secrets.token_hex(3)}")

    def delete(sink: Any, seqs: list[int]) -> None:
        pg.execute(f"DELETE FROM {sink.table} WHERE seq = ANY(%s)", (seqs,))

    def overwrite(sink: Any, seq: int, payload: str) -> None:
        pg.execute(
            f"INSERT INTO {sink.table} (seq, payload) VALUES (%s, %s) "
            "ON CONFLICT (seq) DO UPDATE SET payload = EXCLUDED.payload",
            (seq, payload),
        )

    return Store(make, delete, overwrite)


def _redis_store(redis_db: Any) -> Store:
    from drillbook.scenarios.redis.ledger import RedisLedgerSink

    def make() -> LedgerSink:
        return RedisLedgerSink(redis_db, prefix=f"ledger:{secrets.token_hex(3)}:")

    def delete(sink: Any, seqs: list[int]) -> None:
        with redis_db.client() as c:
            assert c.delete(*[f"{sink.prefix}{s}" for s in seqs]) == len(seqs)

    def overwrite(sink: Any, seq: int, payload: str) -> None:
        with redis_db.client() as c:
            c.set(f"{sink.prefix}{seq}", payload)

    return Store(make, delete, overwrite)


def _s3_store(s3: Any) -> Store:
    from drillbook.scenarios.s3.ledger import S3LedgerSink

    def make() -> LedgerSink:
        return S3LedgerSink(s3, f"ledger-{secrets.token_hex(3)}")

    def delete(sink: Any, seqs: list[int]) -> None:
        c = s3.client()
        for s in seqs:
            c.delete_object(Bucket=sink.bucket, Key=sink.key(s))

    def overwrite(sink: Any, seq: int, payload: str) -> None:
        s3.client().put_object(Bucket=sink.bucket, Key=sink.key(seq), Body=payload.encode())

    return Store(make, delete, overwrite)


@pytest.fixture(params=["postgres", "redis", "s3"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "postgres":
        return _pg_store(request.getfixturevalue("pg"))
    if request.param == "redis":
        return _redis_store(request.getfixturevalue("redis_db"))
    return _s3_store(request.getfixturevalue("s3"))


@dataclass
class Run:
    writer: LedgerWriter
    t0: float
    acked: list[LedgerWrite]  # acknowledged before t0, in seq order

    @property
    def n(self) -> int:
        return len(self.acked)


def write_then_t0(store: Store, min_acked: int = 12) -> Run:
    """Let the ledger write for RUN_FOR seconds (and at least *min_acked* acks), mark t0."""
    writer = LedgerWriter(store.make_sink(), cadence=CADENCE, name="real")
    writer.start()
    start = time.monotonic()
    while True:
        acked = sum(1 for w in writer.writes if w.status is WriteStatus.ACKED)
        elapsed = time.monotonic() - start
        if (elapsed >= RUN_FOR and acked >= min_acked) or elapsed > 30 or writer.crash:
            break
        time.sleep(CADENCE)
    t0 = writer.mark_t0()
    assert writer.stop(), "the ledger writer did not stop"
    writes = writer.writes
    assert not [w for w in writes if w.status is WriteStatus.FAILED], "a healthy store failed"
    acked_before = [w for w in writes if w.ack_mono is not None and w.ack_mono < t0]
    assert len(acked_before) >= min_acked, f"only {len(acked_before)} writes acknowledged"
    # One writer thread, one write at a time: the acknowledged writes are seqs 1..n.
    assert [w.seq for w in acked_before] == list(range(1, len(acked_before) + 1))
    return Run(writer, t0, acked_before)


def verify(run: Run) -> LedgerResult:
    try:
        return run.writer.verify()
    finally:
        run.writer.close()


def _assert_consistent(result: LedgerResult, run: Run) -> None:
    assert result.t0_mono == run.t0
    assert result.acked_before_t0 == run.n
    assert result.writes_total == len(run.writer.writes)
    # The achieved resolution: the cadence, or the longest gap between writes sent
    # before t0 when the real server was slower than the cadence.
    sent = sorted(w.sent_mono for w in run.writer.writes if w.sent_mono <= run.t0)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert result.resolution_seconds == max([CADENCE, *gaps])
    back = LedgerResult.from_dict(result.to_dict())
    assert back == result


def test_restore_to_an_earlier_point_loses_exactly_the_tail(store: Store) -> None:
    run = write_then_t0(store)
    k = run.n // 2
    later = [w.seq for w in run.writer.writes if w.seq > k]
    store.delete(run.writer.sink, later)
    result = verify(run)
    _assert_consistent(result, run)
    assert result.lost == run.n - k
    assert result.lost_seqs == list(range(k + 1, run.n + 1))
    assert result.recovery_point_seq == k
    write_k = run.acked[k - 1]
    assert result.recovery_point_ack_mono == write_k.ack_mono
    assert write_k.ack_mono is not None
    assert result.rpo_seconds == run.t0 - write_k.ack_mono  # exact, not approx
    assert not result.rpo_is_lower_bound
    assert result.holes == 0
    assert result.counts[WriteClass.SURVIVED] == k
    assert result.counts[WriteClass.CORRUPTED] == result.counts[WriteClass.PHANTOM] == 0


def test_nothing_lost_gives_the_last_acknowledged_write_as_recovery_point(store: Store) -> None:
    run = write_then_t0(store)
    result = verify(run)
    _assert_consistent(result, run)
    assert result.lost == 0
    assert result.recovery_point_seq == run.n
    assert result.rpo_seconds == run.t0 - (run.acked[-1].ack_mono or 0.0)
    assert result.rpo_seconds is not None and result.rpo_seconds >= 0
    assert not result.has_integrity_findings


def test_a_write_deleted_in_the_middle_is_a_hole(store: Store) -> None:
    run = write_then_t0(store)
    m = run.n // 2
    store.delete(run.writer.sink, [m])
    result = verify(run)
    _assert_consistent(result, run)
    assert result.holes == 1
    assert result.lost == 1
    assert result.lost_seqs == [m]
    assert result.recovery_point_seq == m - 1
    assert result.rpo_seconds == run.t0 - (run.acked[m - 2].ack_mono or 0.0)
    assert result.has_integrity_findings


def test_a_changed_payload_is_corrupted(store: Store) -> None:
    run = write_then_t0(store)
    m = run.n // 2
    store.overwrite(run.writer.sink, m, "tampered by the test")
    result = verify(run)
    _assert_consistent(result, run)
    assert result.counts[WriteClass.CORRUPTED] == 1
    assert result.corrupted_seqs == [m]
    assert result.lost == 0
    assert result.holes == 0
    assert result.recovery_point_seq == m - 1  # a corrupted write ends the intact prefix
    assert result.has_integrity_findings


def test_a_record_never_written_is_a_phantom(store: Store) -> None:
    run = write_then_t0(store)
    store.overwrite(run.writer.sink, PHANTOM_SEQ, "never written by the ledger")
    result = verify(run)
    _assert_consistent(result, run)
    assert result.counts[WriteClass.PHANTOM] == 1
    assert result.phantom_seqs == [PHANTOM_SEQ]
    assert result.lost == 0
    assert result.recovery_point_seq == run.n
    assert result.has_integrity_findings


def test_a_drill_ledger_on_postgres_reports_the_loss_as_rpo_exceeded_and_data_lost(
    pg: Any,
) -> None:
    """The same tail loss through the Drill API: numbers in the record, findings from them."""
    from drillbook.scenarios.postgres.ledger import PostgresLedgerSink

    record = DrillRecord(
        "ledger-real", "ledger-real", target={"rto": 60.0, "rpo": 0.0, "rto_clock": "fault"}
    )
    drill = Drill(record, rto_target=60.0)
    try:
        ledger = drill.ledger(PostgresLedgerSink(pg), name="postgres", cadence=CADENCE)
        drill.wait_for_writes(ledger, 12)
        k = 5
        with (
            drill.fault("restore to an earlier point: rows after seq 5 gone") as f,
            pg.connect() as c,
        ):
            f.sql(c, "DELETE FROM drill_ledger WHERE seq > %s", (k,))

        def probe() -> None:
            if pg.execute("SELECT count(*) FROM drill_ledger")[0][0] <= k:
                raise LookupError("ledger rows missing")

        assert drill.detect(probe, timeout=5) is not None
        with drill.step("nothing to restore", Phase.EXECUTION):
            pass
        result = drill.verify_ledger(ledger)
        drill.check(
            f"rows up to seq {k} read back",
            result.recovery_point_seq == k,
            f"recovery point seq {result.recovery_point_seq}",
        )
    finally:
        drill.close()
    t0 = record.t0_mono
    assert t0 is not None
    acked_before = [w for w in ledger.writes if w.ack_mono is not None and w.ack_mono < t0]
    entry = record.ledgers["postgres"]
    assert entry["counts"]["lost"] == len(acked_before) - k == result.lost
    assert entry["recovery_point_seq"] == k
    assert entry["rpo_seconds"] == t0 - (acked_before[k - 1].ack_mono or 0.0)
    assert record.observed_rpo() == entry["rpo_seconds"]
    finalize(record)
    found = {f.code for f in record.findings}
    assert record.verdict == "FAIL"
    assert {"RPO_EXCEEDED", "DATA_LOST"} <= found
