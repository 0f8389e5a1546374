"""Pure logic of verification: headers, stderr classification, reference, drift, outputs."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from drillbook.record import Finding
from drillbook.verify import classify, drift, formats, metrics, reference, report
from drillbook.verify.model import BackupInfo, VerifyResult
from drillbook.verify.source import parse_source

# -- headers of real dumps -----------------------------------------------------------------


@pytest.mark.parametrize("major", [15, 18])
def test_archive_header_of_real_dumps(dumps: dict[int, dict[str, Path]], major: int) -> None:
    head = formats.parse_archive_header(dumps[major]["custom"].read_bytes()[:4096])
    assert head.format == "custom"
    assert head.dbname == "app"
    assert head.major == major
    assert head.server_version.startswith(f"{major}.")
    assert head.created is not None and abs(time.time() - head.created) < 3 * 3600
    toc = formats.parse_archive_header((dumps[major]["directory"] / "toc.dat").read_bytes())
    assert toc.format == "tar-or-directory" and toc.major == major


@pytest.mark.parametrize("major", [15, 18])
def test_plain_head_and_trailer_of_real_dumps(
    dumps: dict[int, dict[str, Path]], major: int
) -> None:
    data = dumps[major]["plain"].read_bytes()
    head = formats.parse_plain_head(data[:65536])
    assert head.major == major and not head.cluster
    assert formats.plain_trailer_ok(data[-4096:])
    cut = data[: data.rindex(b"-- PostgreSQL database dump complete")]
    assert not formats.plain_trailer_ok(cut[-4096:])
    assert formats.sniff(data[:4096]) == "plain"
    assert formats.sniff(dumps[major]["custom"].read_bytes()[:16]) == "pgdmp"
    assert formats.sniff(dumps[major]["plain.gz"].read_bytes()[:16]) == "gzip"
    assert formats.sniff(dumps[major]["tar"].read_bytes()[:1024]) == "tar"


def test_archive_header_refuses_garbage() -> None:
    with pytest.raises(formats.FormatError):
        formats.parse_archive_header(b"PGDMP\x01")
    with pytest.raises(formats.FormatError):
        formats.parse_archive_header(b"not a dump at all")
    assert formats.sniff(b"") == "empty"
    assert formats.sniff(b"\x00\x01binary") == "unknown"
    assert formats.major_of("9.6.24") == 9 and formats.major_of("18.1 (Debian)") == 18


def test_rdb_header_with_aux_fields() -> None:
    def s(text: str) -> bytes:
        return bytes([len(text)]) + text.encode()

    ctime = 1_717_200_000
    raw = b"REDIS0011" + b"\xfa" + s("redis-ver") + s("7.2.4")
    raw += b"\xfa" + s("ctime") + b"\xc2" + struct.pack("<i", ctime) + b"\xfe\x00"
    head = formats.parse_rdb_header(raw)
    assert head.version == 11
    assert head.aux["redis-ver"] == "7.2.4"
    assert head.created == ctime
    with pytest.raises(formats.FormatError):
        formats.parse_rdb_header(b"REDIX0011")


def test_backup_label() -> None:
    label = formats.parse_backup_label(
        "START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\n"
        "START TIME: 2024-06-01 02:00:13 UTC\nLABEL: nightly\n"
    )
    assert label["label"] == "nightly"
    assert label["start_epoch"] == 1717207213.0


# -- stderr classification (lines as pg_restore and psql printed them here) ----------------

CASES = [
    ("pg_restore: error: could not read from input file: end of file\n", 1, {"BACKUP_CORRUPT"}),
    (
        "pg_restore:pg_restore: error: could not find block ID 2627 in archive -- possibly "
        "corrupt archive\n error: could not read from input file: end of file\n",
        1,
        {"BACKUP_CORRUPT"},
    ),
    (
        'pg_restore: error: could not close data file "/x/3400.dat": Success\n'
        "pg_restore: error: a worker process died unexpectedly\n",
        1,
        {"BACKUP_CORRUPT"},
    ),
    (
        'pg_restore: error: could not execute query: ERROR:  role "app_owner" does not exist\n'
        "Command was: ALTER TABLE public.users OWNER TO app_owner;\n"
        "pg_restore: warning: errors ignored on restore: 3\n",
        1,
        {"ROLE_MISSING"},
    ),
    (
        'psql:/d/app.sql:20: ERROR:  extension "postgis" is not available\n'
        'DETAIL:  Could not open extension control file "/usr/share/postgresql/15/extension/'
        'postgis.control": No such file or directory.\n',
        0,
        {"EXTENSION_MISSING"},
    ),
    ('psql:/d/app.sql:9: ERROR:  relation "public.t" already exists\n', 0, {"RESTORE_FAILED"}),
    ("", 1, {"RESTORE_FAILED"}),
    ('pg_restore: error: schema "public" already exists\n', 1, set()),
    ("", 0, set()),
]


@pytest.mark.parametrize(("stderr", "status", "codes"), CASES)
def test_classify_restore(stderr: str, status: int, codes: set[str]) -> None:
    out = classify.classify_restore(stderr, status, "pg_restore")
    assert {f.code for f in out.findings} == codes


def test_classify_names_the_roles_and_tool_too_old() -> None:
    out = classify.classify_restore(
        'ERROR:  role "a" does not exist\nERROR:  role "b" does not exist\n', 1, "pg_restore"
    )
    assert "a, b" in out.findings[0].message
    old = classify.classify_restore(
        "pg_restore: error: unsupported version (1.16) in file header\n", 1, "pg_restore"
    )
    assert old.tool_too_old and not old.findings
    start = classify.classify_start("LOG: x\nPANIC:  could not locate a valid checkpoint record\n")
    assert start.code == "SERVER_START_FAILED" and "checkpoint" in start.message


# -- reference and drift --------------------------------------------------------------------


def test_reference_round_trip_and_diff() -> None:
    lines = reference.reference_lines([("table", "public.t", ""), ("column", "public.t.a", "int")])
    text = reference.render_reference(lines, {"service": "app"})
    assert text.startswith("#") and reference.parse_reference(text) == lines
    diff = reference.diff_reference(lines, [*lines[1:], "table public.u"])
    assert diff.missing == ["column public.t.a int"] and diff.extra == ["table public.u"]
    assert "1 missing" in diff.summary() and not diff.ok
    assert reference.diff_reference(lines, reversed(lines)).ok


def test_volume_drift_and_trend() -> None:
    lost = drift.volume_drift({"a": 100, "b": 100, "c": 10, "d": 0}, {"a": 95, "b": 80}, 0.1)
    assert [d.table for d in lost] == ["b", "c"]
    assert "20 %" in lost[0].sentence() and "none now" in lost[1].sentence()
    rows = [
        {
            "drill_id": "verify:app",
            "verdict": "PASS",
            "started": 1.0,
            "verify": {"restore_s": 10.0},
        },
        {"drill_id": "verify:app", "verdict": "FAIL", "started": 2.0, "verify": {"restore_s": 1.0}},
        {"drill_id": "verify:other", "verdict": "PASS", "started": 3.0},
    ]
    good = drift.last_good(rows, "app")
    assert good is not None and good["started"] == 1.0
    assert drift.duration_trend(good, 11.9) == (
        "restore 19 % slower than the last good run (1970-01-01, 10.0 s)"
    )
    assert "faster" in str(drift.duration_trend(good, 5.0))
    assert drift.duration_trend(None, 5.0) is None


# -- verdict, report data, metrics ---------------------------------------------------------


def _result(outcome_findings: list[Finding], ran: bool = True) -> VerifyResult:
    r = VerifyResult("app", "postgres", "/b", started=time.time(), restore_ran=ran, validated=ran)
    r.backup = BackupInfo("/b/app.dump", format="custom", size=2_000_000, major=15)
    r.restore_s, r.download_s, r.validate_s, r.backup_age_s = 2.0, 0.5, 1.0, 3600.0
    r.counts = {"public.t": 10}
    r.findings = outcome_findings
    r.decide()
    return r


def test_verdicts() -> None:
    assert _result([]).outcome == "PASS"
    assert _result([Finding("BACKUP_CORRUPT", "x")]).outcome == "FAIL"
    assert _result([Finding("INVENTORY_MISMATCH", "x", "warn")]).outcome == "PASS"
    nothing = _result([], ran=False)
    assert nothing.outcome == "NOT VERIFIED" and nothing.not_verified_code == "VERIFY_ERROR"
    nv = _result([])
    nv.not_verified("NO_SERVER", "no 99")
    assert nv.decide() == "NOT VERIFIED"
    assert report.overall([]) == "NOT VERIFIED"
    assert report.overall([_result([]), nv]) == "NOT VERIFIED"
    assert report.overall([_result([Finding("X", "y")]), nv]) == "FAIL"


def test_section_data_html_and_metrics() -> None:
    good, bad = _result([]), _result([Finding("BACKUP_CORRUPT", "<script>x</script>")])
    bad.service = "other"
    data = report.section_data([good, bad])
    assert data["overall"] == "FAIL" and data["counts"] == {"PASS": 1, "FAIL": 1, "NOT VERIFIED": 0}
    assert data["services"][0]["throughput_bytes_per_s"] == 1_000_000
    back = VerifyResult.from_dict({k: v for k, v in data["services"][0].items() if k != "headline"})
    assert back.service == "app" and back.backup is not None and back.backup.major == 15
    page = report.render_page([good, bad])
    assert "<script>x" not in page and "&lt;script&gt;" in page
    assert "http" not in page.replace("http-equiv", "")  # no external resource
    rows = [{"drill_id": "verify:app", "verdict": "PASS", "started": 5.0}]
    text = metrics.render([good], rows)
    assert 'backup_age_seconds{check="verify",service="app"} 3600.0' in text
    assert 'restore_duration_seconds{check="verify",service="app"} 2.0' in text
    assert 'backup_restore_test_total{check="verify",service="app"} 1.0' in text
    assert 'backup_restore_test_success_total{check="verify",service="app"} 1.0' in text
    assert 'last_restore_test_timestamp_seconds{check="verify",service="app"} 5.0' in text


def test_source_display_never_shows_credentials() -> None:
    spec = parse_source({"url": "s3://bucket-a/x/"}, "k")
    assert spec.to_dict()["location"] == "s3://bucket-a/x/"
