"""Findings that say what broke, and deadlines that always fire (pure logic, real processes).

- WAL positions and segments, and the replay range of a base backup: a segment missing
  from the archive (or only in the catalog kept at push) is a gap;
- the shared restore classifier picks the decisive line of a start-up log, not the
  probes' noise; a PITR that cannot reach its target is told from a broken data dir;
- a DrillFailure gives its own code, never DRILL_ERROR (a failed runbook step too);
- a step blocked in ``os.system`` past its deadline is stopped by the watchdog, its
  child killed; a step started after the drill's deadline fired is stopped at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from drillbook.drill import Drill
from drillbook.errors import DrillFailure, StepTimeout
from drillbook.record import DrillRecord, Phase
from drillbook.scenarios.postgres import wal
from drillbook.scenarios.postgres.pitr import PitrTargetUnreached, ServerStartFailed, start_failure
from drillbook.scenarios.runbook import RunbookFailed
from drillbook.verdict import evaluate
from drillbook.verify.classify import classify_start, target_unreached
from tests import leftovers

MB16 = 16 * 1024 * 1024


def test_lsns_and_segments() -> None:
    assert wal.parse_lsn("0/6008298") == 0x6008298
    assert wal.parse_lsn("1/0") == 1 << 32
    assert wal.format_lsn(0x16008298) == "0/16008298" and wal.format_lsn(1 << 32) == "1/0"
    assert wal.segment_of("000000010000000000000005") == (1, 5)
    assert wal.segment_of("000000020000000100000003") == (2, 256 + 3)
    assert wal.segment_name(2, 259) == "000000020000000100000003"
    assert wal.segment_of("00000001000000000000000A", 1024**3) == (1, 10)
    assert wal.segment_of("000000010000000000000004.00000028.backup") is None
    assert wal.segment_of("00000002.history") is None


def entries(*segnos: int) -> list[wal.CatalogEntry]:
    return [wal.CatalogEntry(wal.segment_name(1, n), "ab" * 32, MB16, 1e9 + n) for n in segnos]


def test_the_replay_range_finds_a_segment_missing_from_the_archive() -> None:
    names = [wal.segment_name(1, n) for n in (3, 4, 6)] + ["000000010000000000000004.backup"]
    span = wal.archive_range(4 * MB16 + 0x28, 1, names, entries(4, 5, 6))
    assert (span.first, span.last, span.missing) == (4, 6, [5])
    assert span.end_lsn() == 7 * MB16
    assert span.contiguous_end(span.present) == 5 * MB16  # replay stops at the gap
    assert span.contiguous_end(set(span.catalogued)) == 7 * MB16  # what was archived
    gap = span.describe_gap()
    assert "000000010000000000000005" in gap and "acknowledged 1 of them at push" in gap
    # Only the catalog knows the newest segment: its absence from S3 is a gap as well.
    assert wal.archive_range(4 * MB16, 1, names[:2], entries(4, 5)).missing == [5]
    # Another timeline's segments are not this base backup's.
    assert wal.archive_range(4 * MB16, 2, names, []).last is None


def test_the_catalog_kept_at_push_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "catalog.txt"
    assert wal.read_catalog(path) == []
    path.write_text(f"{wal.segment_name(1, 4)} {'0' * 64} 16777216 1700000000.5\nbroken line\n")
    [entry] = wal.read_catalog(path)
    assert (entry.name, entry.size, entry.at) == (wal.segment_name(1, 4), MB16, 1700000000.5)


NOISE = "2026-01-01 UTC [9] FATAL:  the database system is not accepting connections\n" * 3


def test_the_decisive_start_line_is_not_the_probes_noise() -> None:
    log = NOISE + "2026-01-01 UTC [7] PANIC:  could not locate required checkpoint record\n"
    finding = classify_start(log)
    assert finding.code == "SERVER_START_FAILED"
    assert "could not locate required checkpoint record" in finding.message
    assert target_unreached(log) is None


LOG_BEYOND = NOISE + (
    "2026-01-01 UTC [5] LOG:  redo done at 0/6008298 system usage: CPU: user: 0.00 s\n"
    "2026-01-01 UTC [5] LOG:  last completed transaction was at log time "
    "2026-01-01 10:00:01.5+00\n"
    "2026-01-01 UTC [5] FATAL:  recovery ended before configured recovery target was reached\n"
)


def test_a_pitr_that_cannot_reach_its_target_says_where_replay_ended() -> None:
    assert target_unreached(LOG_BEYOND) == (
        "FATAL: recovery ended before configured recovery target was reached"
    )
    span = wal.archive_range(4 * MB16, 1, [wal.segment_name(1, n) for n in (4, 5)], [])
    failure = start_failure(LOG_BEYOND, "2026-01-01 11:00:00+00:00", span)
    assert isinstance(failure, PitrTargetUnreached) and failure.code == "PITR_TARGET_UNREACHED"
    assert "replay reached 0/6008298" in failure.message
    assert "the archive's end at 0/6000000 (segment 000000010000000000000005)" in failure.message
    other = start_failure(NOISE + "FATAL:  invalid checkpoint record\n", "end", None)
    assert isinstance(other, ServerStartFailed) and "invalid checkpoint record" in other.message


def judged(error: BaseException, recorded: Sequence[str] = ()) -> list[str]:
    record = DrillRecord("d", "d")
    record.t0_mono = 1.0
    from drillbook.record import Finding

    record.findings = [Finding(code, "recorded while it ran") for code in recorded]
    return [f.code for f in evaluate(record, error=error)]


def test_a_known_failure_gives_its_own_code_never_drill_error() -> None:
    codes = judged(DrillFailure("sha256 mismatch", code="BACKUP_CORRUPT"))
    assert "BACKUP_CORRUPT" in codes and "DRILL_ERROR" not in codes
    # A failed runbook step records its finding with the output; the raise adds nothing.
    codes = judged(RunbookFailed("RUNBOOK_STEP_FAILED", "exit 1"), ["RUNBOOK_STEP_FAILED"])
    assert codes.count("RUNBOOK_STEP_FAILED") == 1 and "DRILL_ERROR" not in codes
    assert "DRILL_ERROR" in judged(KeyError("a typo"))


@pytest.fixture
def drill() -> Iterator[Drill]:
    live = Drill(DrillRecord("d", "d"), rto_target=30.0, probe_interval=0.005)
    yield live
    live.close()


def test_a_step_blocked_in_os_system_is_stopped_and_its_child_killed(drill: Drill) -> None:
    with drill.fault("kill"):
        pass
    try:
        with pytest.raises(StepTimeout), drill.step("restore", Phase.EXECUTION, timeout=0.3):
            os.system("sleep 86409")
    finally:
        leftovers.kill("sleep 86409")  # never leave one behind, even when this fails
    assert [f.code for f in drill.record.findings] == ["STEP_TIMEOUT"]
    assert drill.watchdog.killed, "the watchdog killed nothing"
    assert leftovers.running("sleep 86409") == []


def test_nothing_starts_after_the_drill_deadline_fired(drill: Drill) -> None:
    drill.rto_target = 0.1
    with drill.fault("kill"):
        pass
    with pytest.raises(StepTimeout), drill.step("restore", Phase.EXECUTION):
        time.sleep(5)
    with pytest.raises(StepTimeout, match="drill deadline"), drill.step("one more"):
        pytest.fail("a step started after the drill's deadline")
    assert [f.code for f in drill.record.findings] == ["RTO_EXCEEDED"]
