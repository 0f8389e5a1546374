"""A corrupt history line is named by its line number and skipped; the rest is counted.

Issue 12: ``drillbook report --quarter`` crashed on ``"started": "yesterday"`` and, in
pytest, the same row dropped the metrics counters from 8 services to 1. Hypothesis mixes
valid rows with every kind of corrupt line (bad JSON, wrong types, bad timestamps,
missing keys, garbage bytes, deep nesting, huge numbers, a torn last line) and checks
the reader keeps exactly the valid rows and names exactly the corrupt lines, and that
every consumer (summary, metrics, trends, the CLI) counts the valid rows and nothing else.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from drillbook.reports import metrics
from drillbook.reports.cli import main_report
from drillbook.reports.history import read_history
from drillbook.reports.periods import Period
from drillbook.reports.rows import is_self_check, row_problem
from drillbook.reports.summary import summarise
from drillbook.reports.summary_render import render_html, render_markdown
from drillbook.reports.trends import trend

from . import factories

SERVICES = [f"svc{i}" for i in range(8)]
EVERYTHING = Period("all time", "all", 0.0, 1e12)


def valid_row(
    drill: int, service: str, started: float, verdict: str, rto: float | None, **extra: Any
) -> dict[str, Any]:
    return {
        "schema": "drillbook.history/1",
        "run_id": f"run-{started:.0f}",
        "drill_id": f"drills/test_{drill}.py::test_it",
        "service": service,
        "started": started,
        "verdict": verdict,
        "rto_s": rto,
        "rto_target_s": 900.0,
        "rpo_s": None if rto is None else rto / 10,
        "rpo_target_s": 300.0,
        "rpo_bound_s": 60.0,
        "findings": [] if verdict == "PASS" else [{"code": "RTO_EXCEEDED", "message": "slow"}],
        **extra,
    }


valid_rows = st.builds(
    valid_row,
    drill=st.integers(0, 5),
    service=st.sampled_from(SERVICES),
    started=st.floats(1.6e9, 1.9e9),
    verdict=st.sampled_from(["PASS", "FAIL", "NOT RUN"]),
    rto=st.none() | st.floats(0, 1e4),
    expected_fail=st.none() | st.just(["DATA_LOST"]),
)

#: Values no reader can use, by the kind of key they are put in.
BAD_SECONDS = st.sampled_from(["5s", True, -1.0, 1e300, [], {}, "NaN"]) | st.text(max_size=5)
BAD_TIME: st.SearchStrategy[Any] = st.sampled_from(
    ["yesterday", "1700000000", None, True, 0, -5, 1e300, 1e15, []]
)
BAD_TEXT = st.sampled_from([1, 2.5, True, [], {"a": 1}])
CORRUPTIONS = [
    ("started", BAD_TIME),
    ("verdict", st.sampled_from(["ok", "pass", None, 1, "PASSED"])),
    ("drill_id", st.sampled_from([None, 1, "", [], {"id": "x"}])),
    ("schema", st.sampled_from([None, "other/1", 1, "drillbook.drills/1"])),
    ("rto_s", BAD_SECONDS),
    ("rpo_target_s", BAD_SECONDS),
    ("recorded_at", st.sampled_from(["now", -1, 1e300, True])),
    ("service", BAD_TEXT),
    ("run_id", BAD_TEXT),
    ("findings", st.sampled_from(["none", {"code": "X"}, [1], [{"code": 2}], [{}]])),
    ("expected_fail", st.sampled_from(["DATA_LOST", [1], {"codes": []}, True])),
]


@st.composite
def wrong_type(draw: st.DrawFn) -> bytes:
    row = draw(valid_rows)
    key, bad = draw(st.sampled_from(CORRUPTIONS))
    row[key] = draw(bad)
    return json.dumps(row).encode()  # NaN, 1e300 and friends as Python writes them


@st.composite
def missing_key(draw: st.DrawFn) -> bytes:
    row = draw(valid_rows)
    del row[draw(st.sampled_from(["schema", "drill_id", "started", "verdict"]))]
    return json.dumps(row).encode()


not_an_object = st.one_of(st.integers(), st.lists(st.integers()), st.text(), st.none()).map(
    lambda v: json.dumps(v).encode()
)
garbage = st.binary(min_size=1, max_size=60).map(lambda b: b.replace(b"\n", b"x"))
broken_json = st.sampled_from(
    [
        b'{"schema": "drillbook.history/1", "started": ',
        b"not json at all",
        b"{'single': 'quotes'}",
        b"[" * 50_000,  # deeper than the parser recurses
        b'{"schema": "drillbook.history/1", "started": 1' + b"0" * 5000 + b"}",  # 5,001 digits
        b"\xff\xfe{}",  # not UTF-8
        b"x" * 1_100_000,  # longer than any row
    ]
)
corrupt_lines = st.one_of(wrong_type(), missing_key(), not_an_object, garbage, broken_json).filter(
    lambda b: b.strip() != b""
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[bytes, list[dict[str, Any]], list[int], bool]:
    """File bytes, its valid rows in file order, the corrupt lines' numbers, torn tail."""
    kinds = draw(st.lists(st.booleans(), min_size=1, max_size=14))
    lines: list[bytes] = []
    rows: list[dict[str, Any]] = []
    bad: list[int] = []
    for i, is_valid in enumerate(kinds, start=1):
        if is_valid:
            row = draw(valid_rows)
            rows.append(row)
            lines.append(json.dumps(row).encode())
        else:
            lines.append(draw(corrupt_lines))
            bad.append(i)
    data = b"\n".join(lines) + b"\n"
    torn = draw(st.booleans())
    if torn:  # a writer died mid-line: a prefix of a row, no newline at the end
        text = json.dumps(draw(valid_rows)).encode()
        data += text[: draw(st.integers(1, len(text) - 1))]
        bad.append(len(lines) + 1)
    return data, rows, bad, torn


def _counters(text: str) -> dict[str, float]:
    return {
        s.labels["service"]: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "backup_restore_test_total"
    }


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(histories())
def test_reader_keeps_valid_rows_and_names_every_corrupt_line(
    history: tuple[bytes, list[dict[str, Any]], list[int], bool],
) -> None:
    data, rows, bad, torn = history
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        path.write_bytes(data)
        got = read_history(path)
    assert [p.line for p in got.problems] == bad
    if torn:
        assert "torn" in got.problems[-1].reason
    assert got.rows == sorted(rows, key=lambda r: r["started"])
    assert all(row_problem(r) is None for r in got.rows)
    # Every consumer reads the kept rows without an error and counts them all.
    s = summarise(got.rows, EVERYTHING, "h.jsonl", [str(p) for p in got.problems])
    counted = [r for r in rows if not is_self_check(r)]
    assert s.total.attempts == len(counted) and s.self_checks == len(rows) - len(counted)
    assert len(s.skipped) == len(bad)
    render_markdown(s)
    render_html(s)
    want = Counter(r["service"] for r in counted)
    assert _counters(metrics.render([], got.rows)) == {k: float(v) for k, v in want.items()}
    trend(got.rows, factories.not_run())


def test_yesterday_keeps_all_eight_services(tmp_path: Path) -> None:
    """The issue's reproduction: one bad timestamp among the rows of 8 services."""
    path = tmp_path / "history.jsonl"
    rows = [valid_row(i, svc, 1.7e9 + i, "PASS", 1.0) for i, svc in enumerate(SERVICES)]
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, json.dumps({**rows[0], "started": "yesterday"}))
    path.write_text("\n".join(lines) + "\n")
    got = read_history(path)
    assert [str(p) for p in got.problems] == [
        "line 4: started: expected a Unix time in seconds, got 'yesterday'"
    ]
    assert _counters(metrics.render([], got.rows)) == dict.fromkeys(SERVICES, 1.0)


HEAD = '{"schema": "drillbook.history/1", "drill_id": "a", "verdict": "PASS"'


@pytest.mark.parametrize(
    "line",
    [
        HEAD + ', "started": "yesterday"}',
        HEAD + "}",
        HEAD + ', "started": NaN}',
        HEAD + ', "started": 1.7e9, "rto_s": "fast"}',
        HEAD + ', "started": 1.7e9, "findings": [{"code": null}]}',
        '{"schema": "drillbook.history/1", "drill_id": ',
    ],
)
def test_report_cli_names_the_line_and_counts_the_rest(
    line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "history.jsonl"
    good = [valid_row(i, "svc0", 1.7e9 + i * 86400, "PASS", 2.0) for i in range(3)]
    text = [json.dumps(good[0]), line, json.dumps(good[1]), json.dumps(good[2])]
    path.write_text("\n".join(text) + "\n")
    code = main_report(["--history", str(path), "--days", "36500"])
    out, err = capsys.readouterr()
    assert code == 0
    (problem,) = [e for e in err.splitlines() if "skipped" in e]
    assert f"{path}: line 2: " in problem
    assert "Drills Conducted: 3 (3 ran, 0 not run)" in out
    assert "1 unreadable history line skipped, not counted:\n\n- line 2: " in out
