"""drills.toml loader: durations, sizes, backup-method bounds, strict validation, the CLI check."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillbook.targets import (
    BACKUP_FORMS,
    MAX_DURATION_SECONDS,
    BackupMethod,
    ServiceTarget,
    Targets,
    TargetsError,
    check_command,
    format_duration,
    load_targets,
    parse_backup,
    parse_duration,
    parse_size,
    parse_targets,
)
from tests.unit.tomlwriter import toml_dump

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "drills.toml"
SOURCE = "drills.toml"


def test_toml_writer_round_trips() -> None:
    import tomllib

    doc = {"a": 1, "b": [1.5, "x\ny"], "t": {"q k": True, "u": {"v": -2}}, "i": {"w": 1}}
    assert tomllib.loads(toml_dump(doc)) == doc


# --------------------------------------------------------------------------- helpers

AUTH: dict[str, Any] = {
    "kind": "postgres",
    "tier": "P0",
    "rto": "15m",
    "rpo": "5m",
    "backup": ["wal archive, archive_timeout 60s", "pg_dump every 24h"],
}


def doc_with(**services: dict[str, Any]) -> str:
    return toml_dump({"services": services})


def assert_one_line(message: str) -> None:
    assert message.splitlines() == [message], repr(message)
    assert message.strip() == message


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("0.0", 0.0),
        ("0s", 0.0),
        ("15m", 900.0),
        ("1h30m", 5400.0),
        ("90s", 90.0),
        ("500ms", 0.5),
        ("1d", 86400.0),
        ("2h", 7200.0),
        ("1.5s", 1.5),
        ("1h30m10s", 5410.0),
        ("1d2h3m4s5ms", 93784.005),
        (" 1h 30m ", 5400.0),
        (0, 0.0),
        (90, 90.0),
        (2.5, 2.5),
    ],
)
def test_parse_duration_accepts(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "-5m",
        "-0.5s",
        -1,
        -0.5,
        float("inf"),
        float("nan"),
        10**400,
        "5x",
        "15M",
        "15 minutes",
        "m",
        "1m1h",
        "30m1h",
        "1m1m",
        "90",
        "nan",
        "inf",
        ".5s",
        "1e3s",
        "+5s",
        "1h30",
        True,
        None,
        ["1m"],
        "9" * 400 + "d",
    ],
)
def test_parse_duration_rejects(text: Any) -> None:
    with pytest.raises(TargetsError) as info:
        parse_duration(text)
    assert_one_line(str(info.value))
    assert "allowed:" in str(info.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0"),
        (0.0, "0"),
        (0.12, "120ms"),
        (0.0005, "0.5ms"),
        (2.5, "2.5s"),
        (90, "1m30s"),
        (900, "15m"),
        (5400, "1h30m"),
        (86400, "1d"),
        (93784.005, "1d2h3m4.005s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_format_duration_rejects(bad: float) -> None:
    with pytest.raises(ValueError):
        format_duration(bad)


@given(
    st.floats(
        min_value=0, max_value=MAX_DURATION_SECONDS - 1, allow_nan=False, allow_infinity=False
    )
)
def test_duration_round_trip_float(seconds: float) -> None:
    assert math.isclose(parse_duration(format_duration(seconds)), seconds, abs_tol=1e-6)


@given(st.integers(min_value=0, max_value=int(MAX_DURATION_SECONDS)))
def test_duration_round_trip_whole_seconds_exact(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(
    st.lists(st.integers(min_value=0, max_value=999), min_size=5, max_size=5),
    st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_composed_duration(counts: list[int], present: list[bool]) -> None:
    units = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1), ("ms", 0.001)]
    chosen = [(c, u, f) for c, (u, f), p in zip(counts, units, present, strict=True) if p]
    if not chosen:
        return
    text = "".join(f"{c}{u}" for c, u, _ in chosen)
    seconds = sum(c * f for c, _, f in chosen)
    if seconds > MAX_DURATION_SECONDS:
        with pytest.raises(TargetsError, match="too long"):
            parse_duration(text)
    else:
        assert parse_duration(text) == pytest.approx(seconds)


@given(st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none()))
def test_parse_duration_only_raises_targets_error(value: Any) -> None:
    try:
        result = parse_duration(value)
    except TargetsError as err:
        assert_one_line(str(err))
    else:
        assert math.isfinite(result) and result >= 0


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("40GB", 40 * 10**9),
        ("1KB", 1000),
        ("1kb", 1000),
        ("512MB", 512 * 10**6),
        ("1TB", 10**12),
        ("1.5TB", 15 * 10**11),
        ("1KiB", 1024),
        ("8GiB", 8 * 2**30),
        ("1.5GiB", 1610612736),
        ("2TiB", 2 * 2**40),
        ("3MiB", 3 * 2**20),
        ("0B", 0),
        ("10 B", 10),
        (1024, 1024),
    ],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text", ["40", "-1GB", "1.5B", "40 gigs", "", "1PB", "GB", True, 1.5, -5, None]
)
def test_parse_size_rejects(text: Any) -> None:
    with pytest.raises(TargetsError) as info:
        parse_size(text)
    assert_one_line(str(info.value))


# --------------------------------------------------------------------------- backup methods


@pytest.mark.parametrize(
    ("text", "service_kind", "kind", "bound"),
    [
        ("pg_dump every 24h", "postgres", "pg_dump", 86400.0),
        ("pg_dump every 24h, duration 10m", "postgres", "pg_dump", 87000.0),
        ("dump every 15m", "postgres", "dump", 900.0),
        ("snapshot every 6h", "redis", "snapshot", 21600.0),
        ("snapshot every 6h, duration 2m", "postgres", "snapshot", 21720.0),
        ("wal archive, archive_timeout 60s", "postgres", "wal_archive", 60.0),
        ("wal archive, archive_timeout 60s, latency 5s", "postgres", "wal_archive", 65.0),
        ("WAL  Archive ,  Archive_Timeout 1m", "postgres", "wal_archive", 60.0),
        ("pitr, archive_timeout 5m", "postgres", "wal_archive", 300.0),
        ("pitr, latency 1s, archive_timeout 1s", "postgres", "wal_archive", 2.0),
        ("rdb every 1h", "redis", "rdb", 3600.0),
        ("rdb every 1h, duration 2m", "redis", "rdb", 3720.0),
        ("aof everysec", "redis", "aof", 1.0),
        ("aof always", "redis", "aof", 0.0),
        ("aof no", "redis", "aof", 30.0),
        ("s3 versioning", "s3", "s3_versioning", 0.0),
        ("s3 replication", "s3", "s3_replication", 900.0),
        ("s3 replication, lag 1m", "s3", "s3_replication", 60.0),
        ("sync replication", "postgres", "sync_replication", 0.0),
        ("async replication, lag 1s", "redis", "async_replication", 1.0),
        ("rebuild", "redis", "rebuild", None),
    ],
)
def test_backup_bounds(text: str, service_kind: str, kind: str, bound: float | None) -> None:
    method = parse_backup(text, service_kind)
    assert method.kind == kind
    assert method.text == text
    assert method.rpo_bound == (None if bound is None else pytest.approx(bound))
    assert method.basis
    json.dumps(method.to_dict())


@pytest.mark.parametrize(
    ("text", "service_kind", "needle"),
    [
        ("pitr", "postgres", "archive_timeout"),
        ("wal archive", "postgres", "archive_timeout"),
        ("wal archive, latency 5s", "postgres", "archive_timeout"),
        ("pg_dump", "postgres", "every"),
        ("pg_dump every", "postgres", "every"),
        ("pg_dump daily", "postgres", "every"),
        ("pg_dump every 0", "postgres", "greater than 0"),
        ("pg_dump every soon", "postgres", "interval"),
        ("pg_dump every 1h, duration", "postgres", "needs a value"),
        ("pg_dump every 1h, duration -1m", "postgres", "negative"),
        ("pg_dump every 1h, durations 1m", "postgres", "unknown parameter"),
        ("pg_dump every 1h, duration 1m, duration 2m", "postgres", "twice"),
        ("wal archive, archive_timeout 60s,", "postgres", "stray comma"),
        ("aof", "redis", "appendfsync"),
        ("aof sometimes", "redis", "appendfsync"),
        ("aof everysec, lag 1s", "redis", "unknown parameter"),
        ("s3 versioning, lag 1s", "s3", "unknown parameter"),
        ("async replication", "postgres", "lag"),
        ("tape every 1d", "postgres", "unknown backup method"),
        ("", "postgres", "empty"),
        ("aof everysec", "postgres", "applies to redis"),
        ("pg_dump every 1h", "redis", "applies to postgres"),
        ("s3 versioning", "postgres", "applies to s3"),
        ("rdb every 1h", "s3", "applies to redis"),
    ],
)
def test_backup_errors(text: str, service_kind: str, needle: str) -> None:
    with pytest.raises(TargetsError) as info:
        parse_backup(text, service_kind)
    message = str(info.value)
    assert_one_line(message)
    assert needle in message
    assert "allowed:" in message


def test_unknown_backup_lists_forms_for_the_service_kind() -> None:
    with pytest.raises(TargetsError) as info:
        parse_targets(doc_with(auth={**AUTH, "backup": "tape every 1d"}), SOURCE)
    message = str(info.value)
    assert message.startswith("drills.toml: services.auth.backup: unknown backup method")
    assert "pitr, archive_timeout <dur>" in message
    assert "aof" not in message  # only the forms that apply to postgres


def test_backup_forms_all_documented() -> None:
    assert len(BACKUP_FORMS) == 12


# --------------------------------------------------------------------------- services


def test_minimal_service() -> None:
    targets = parse_targets(doc_with(auth=AUTH), SOURCE)
    auth = targets.get("auth")
    assert isinstance(auth, ServiceTarget)
    assert (auth.name, auth.kind, auth.tier) == ("auth", "postgres", "P0")
    assert (auth.rto, auth.rpo, auth.rto_clock) == (900.0, 300.0, "fault")
    assert [m.kind for m in auth.backups] == ["wal_archive", "pg_dump"]
    assert auth.rpo_bound == 60.0  # best protection wins
    assert auth.bounding_method() == auth.backups[0]
    assert auth.bound_meets_target() is True
    assert auth.production_size is None and auth.description is None and auth.runbook is None
    assert targets.source == SOURCE
    assert targets.settings.default_rto_clock == "fault"


def test_optional_fields_and_numbers() -> None:
    svc = {
        **AUTH,
        "rto": 900,
        "rpo": 0.5,
        "backup": "pitr, archive_timeout 100ms",
        "production_size": "40GB",
        "description": "users",
        "runbook": "000_b9e419547e14e1e8.md",
        "rto_clock": "detection",
    }
    auth = parse_targets(doc_with(auth=svc), SOURCE).get("auth")
    assert (auth.rto, auth.rpo) == (900.0, 0.5)
    assert auth.rpo_bound == pytest.approx(0.1)
    assert auth.production_size == 40 * 10**9
    assert (auth.description, auth.runbook, auth.rto_clock) == (
        "users",
        "000_b9e419547e14e1e8.md",
        "detection",
    )


def test_rpo_zero_allowed_and_size_as_integer() -> None:
    svc = {**AUTH, "rpo": 0, "backup": "sync replication", "production_size": 1024}
    auth = parse_targets(doc_with(auth=svc), SOURCE).get("auth")
    assert auth.rpo == 0.0 and auth.rpo_bound == 0.0 and auth.bound_meets_target() is True
    assert auth.production_size == 1024


def test_default_rto_clock_setting_and_override() -> None:
    text = toml_dump(
        {
            "settings": {"default_rto_clock": "detection"},
            "services": {"a": AUTH, "b": {**AUTH, "rto_clock": "fault"}},
        }
    )
    targets = parse_targets(text, SOURCE)
    assert targets.settings.default_rto_clock == "detection"
    assert targets.get("a").rto_clock == "detection"
    assert targets.get("b").rto_clock == "fault"


def test_bound_exceeding_target() -> None:
    svc = {**AUTH, "rpo": "5m", "backup": "pg_dump every 24h, duration 10m"}
    auth = parse_targets(doc_with(auth=svc), SOURCE).get("auth")
    assert auth.rpo_bound == 87000.0
    assert auth.bound_meets_target() is False


def test_bound_equal_to_target_meets_it() -> None:
    svc = {**AUTH, "rpo": "1h", "kind": "redis", "backup": "rdb every 1h"}
    assert parse_targets(doc_with(s=svc), SOURCE).get("s").bound_meets_target() is True


def test_rebuild_only_has_no_bound() -> None:
    svc = {**AUTH, "kind": "redis", "rpo": "24h", "backup": "rebuild"}
    cache = parse_targets(doc_with(cache=svc), SOURCE).get("cache")
    assert cache.rpo_bound is None
    assert cache.bound_meets_target() is None
    assert cache.bounding_method() is None


def test_rebuild_with_other_methods_uses_their_bound() -> None:
    svc = {**AUTH, "kind": "redis", "rpo": "24h", "backup": ["rebuild", "rdb every 6h"]}
    cache = parse_targets(doc_with(cache=svc), SOURCE).get("cache")
    assert cache.rpo_bound == 21600.0
    assert cache.bound_meets_target() is True


def test_service_target_built_by_hand_derives_bound() -> None:
    method = parse_backup("aof everysec", "redis")
    svc = ServiceTarget(name="x", kind="redis", rto=60.0, rpo=1.0, backups=(method,))
    assert svc.rpo_bound == 1.0 and svc.bound_meets_target() is True


def test_get_unknown_service_lists_known() -> None:
    targets = parse_targets(doc_with(auth=AUTH, projects=AUTH), SOURCE)
    with pytest.raises(TargetsError) as info:
        targets.get("atuh")
    message = str(info.value)
    assert_one_line(message)
    assert message.startswith("drills.toml: ")
    assert "'atuh'" in message and "auth, projects" in message and "did you mean 'auth'" in message


def test_to_dict_is_plain_json() -> None:
    targets = parse_targets(doc_with(auth={**AUTH, "production_size": "1GiB"}), SOURCE)
    data = json.loads(json.dumps(targets.to_dict()))
    auth = data["services"]["auth"]
    assert auth["rpo_bound"] == 60.0
    assert auth["bound_meets_target"] is True
    assert auth["production_size"] == 2**30
    assert auth["backups"][0]["kind"] == "wal_archive"
    assert auth["backups"][0]["params"] == {"archive_timeout": 60.0, "latency": 0.0}
    assert data["digest"] == targets.digest
    assert data["settings"] == {"default_rto_clock": "fault"}
    assert isinstance(targets.settings.to_dict(), dict)
    assert isinstance(targets.get("auth").backups[0], BackupMethod)


def test_digest_of_text_and_file(tmp_path: Path) -> None:
    text = doc_with(auth=AUTH)
    assert parse_targets(text).digest == hashlib.sha256(text.encode()).hexdigest()
    path = tmp_path / "drills.toml"
    path.write_bytes(text.encode())
    targets = load_targets(path)
    assert targets.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert targets.source == str(path)
    assert load_targets(str(path)).services.keys() == {"auth"}


def test_iteration_and_len() -> None:
    targets = parse_targets(doc_with(b=AUTH, a=AUTH), SOURCE)
    assert [s.name for s in targets] == ["b", "a"]  # file order
    assert len(targets) == 2


# --------------------------------------------------------------------------- errors: one line


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["services"]["auth"].pop(key)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["services"]["auth"].__setitem__(key, value)


ERROR_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("unknown key", _set("rpo_target", "5m"), "services.auth.rpo_target", "did you mean 'rpo'"),
    ("missing kind", _drop("kind"), "services.auth.kind", "missing required key"),
    ("missing rto", _drop("rto"), "services.auth.rto", "missing required key"),
    ("missing rpo", _drop("rpo"), "services.auth.rpo", "missing required key"),
    ("missing backup", _drop("backup"), "services.auth.backup", "missing required key"),
    ("bad duration", _set("rto", "15 minutes"), "services.auth.rto", "cannot read duration"),
    ("negative number", _set("rpo", -5), "services.auth.rpo", "negative"),
    ("negative string", _set("rpo", "-5m"), "services.auth.rpo", "negative"),
    ("infinite", _set("rpo", float("inf")), "services.auth.rpo", "finite"),
    ("rto zero", _set("rto", "0"), "services.auth.rto", "RTO of 0"),
    ("bool duration", _set("rto", True), "services.auth.rto", "boolean"),
    ("wrong type tier", _set("tier", 1), "services.auth.tier", "expected a string"),
    ("wrong type desc", _set("description", ["a"]), "services.auth.description", "array"),
    ("unknown kind", _set("kind", "mysql"), "services.auth.kind", "'mysql'"),
    ("kind not str", _set("kind", 3), "services.auth.kind", "integer"),
    ("unknown clock", _set("rto_clock", "wall"), "services.auth.rto_clock", "'wall'"),
    ("backup int", _set("backup", 42), "services.auth.backup", "integer"),
    ("backup empty", _set("backup", []), "services.auth.backup", "at least one"),
    ("backup item", _set("backup", ["pitr, archive_timeout 1s", 5]), "services.auth.backup[1]", ""),
    ("backup unknown", _set("backup", "tape every 1d"), "services.auth.backup", "tape"),
    ("pitr bare", _set("backup", ["pitr"]), "services.auth.backup[0]", "archive_timeout"),
    ("bad size", _set("production_size", "40 gigs"), "services.auth.production_size", "size"),
    ("neg size", _set("production_size", -1), "services.auth.production_size", "negative"),
    ("key newline", _set("bad\nkey", 1), "services.auth.", "unknown key"),
    (
        "bad clock setting",
        lambda d: d.__setitem__("settings", {"default_rto_clock": "x"}),
        "settings.default_rto_clock",
        "'x'",
    ),
    (
        "unknown setting",
        lambda d: d.__setitem__("settings", {"colour": "x"}),
        "settings.colour",
        "unknown key",
    ),
    ("settings not table", lambda d: d.__setitem__("settings", 1), "settings", "expected a table"),
    ("unknown top", lambda d: d.__setitem__("servics", {}), "servics", "did you mean 'services'"),
    ("no services", lambda d: d.__setitem__("services", {}), "services", "no services"),
    ("missing services", lambda d: d.pop("services"), "services", "no services"),
    ("services not table", lambda d: d.__setitem__("services", 5), "services", "table"),
    ("service not table", lambda d: d["services"].__setitem__("auth", "x"), "services.auth", ""),
    (
        "bad name",
        lambda d: d["services"].__setitem__("a b", AUTH),
        "services.'a b'",
        "invalid service name",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "key", "needle"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_error_is_one_line_with_file_and_key(
    mutate: Callable[[dict[str, Any]], None], key: str, needle: str
) -> None:
    doc: dict[str, Any] = {"services": {"auth": copy.deepcopy(AUTH)}}
    mutate(doc)
    with pytest.raises(TargetsError) as info:
        parse_targets(toml_dump(doc), SOURCE)
    message = str(info.value)
    assert_one_line(message)
    assert message.startswith(f"{SOURCE}: {key}")
    assert needle in message
    assert "; allowed: " in message


def test_toml_syntax_error_has_line_number() -> None:
    text = '[services.auth]\nkind = "postgres"\nrto = 15m\n'
    with pytest.raises(TargetsError) as info:
        parse_targets(text, SOURCE)
    message = str(info.value)
    assert_one_line(message)
    assert message.startswith("drills.toml:3: invalid TOML: ")
    assert "line 3" in message


def test_toml_error_at_end_of_document_has_a_line() -> None:
    with pytest.raises(TargetsError) as info:
        parse_targets("[services.auth]\nkind = ", SOURCE)
    assert str(info.value).startswith("drills.toml:2: invalid TOML")


def test_toml_datetime_value_is_wrong_type() -> None:
    text = doc_with(auth=AUTH).replace('rto = "15m"', "rto = 1979-05-27T07:32:00Z")
    expected = r"services\.auth\.rto: expected a duration, got datetime"
    with pytest.raises(TargetsError, match=expected):
        parse_targets(text, SOURCE)


def test_deeply_nested_toml() -> None:
    with pytest.raises(TargetsError) as info:
        parse_targets("a = " + "[" * 5000, SOURCE)
    assert_one_line(str(info.value))


def test_load_missing_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(TargetsError, match="cannot read"):
        load_targets(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'[services.auth]\nkind = "\xff"\n')
    with pytest.raises(TargetsError) as info:
        load_targets(bad)
    assert_one_line(str(info.value))
    assert str(bad) in str(info.value) and "UTF-8" in str(info.value)


def test_error_attributes_and_pickle() -> None:
    import pickle

    err = TargetsError("bad", source="f.toml", key="services.a.rto", allowed="15m")
    assert str(err) == "f.toml: services.a.rto: bad; allowed: 15m"
    assert (err.problem, err.key, err.allowed) == ("bad", "services.a.rto", "15m")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)
    assert str(TargetsError("a\nb\u2028c")) == "a b c"


# --------------------------------------------------------------------------- fuzzing

SNIPPETS = [
    '[services.ok]\nkind = "postgres"\nrto = 60\nrpo = 1\nbackup = "pitr, archive_timeout 1s"',
    "[settings]",
    'default_rto_clock = "fault"',
    "[services.auth]",
    "[services.x.y]",
    "[[services]]",
    "[services]",
    'kind = "postgres"',
    'kind = "redis"',
    'rto = "15m"',
    "rto = 15",
    'rpo = "0"',
    "rpo = -1",
    'backup = ["wal archive, archive_timeout 60s"]',
    'backup = "aof everysec"',
    'backup = ["pitr"]',
    "backup = []",
    'tier = "P0"',
    'production_size = "40GB"',
    "rto = inf",
    "rto = nan",
    "rto = 1979-05-27",
    "x = {a = 1}",
    'services = "x"',
    "= broken",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=30)), max_size=15).map("\n".join)
)
def test_fuzz_text(text: str) -> None:
    check_parse(text)


def check_parse(text: str) -> Targets | None:
    try:
        targets = parse_targets(text, SOURCE)
    except TargetsError as err:
        message = str(err)
        assert_one_line(message)
        assert message.startswith(SOURCE)
        return None
    assert targets.services
    for svc in targets:
        bounds = [m.rpo_bound for m in svc.backups if m.rpo_bound is not None]
        assert svc.rpo_bound == (min(bounds) if bounds else None)
        assert svc.rto > 0 and svc.rpo >= 0
    json.dumps(targets.to_dict(), allow_nan=False)
    return targets


DURATIONS = st.sampled_from(["0", "15m", "1h30m", "90s", "500ms", "1d", 0, 60, 1.5])
JUNK = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(),
    st.booleans(),
    st.lists(st.one_of(st.text(max_size=8), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
BACKUPS_BY_KIND = {
    "postgres": [
        "wal archive, archive_timeout 60s",
        "pitr, archive_timeout 1s, latency 1s",
        "pg_dump every 24h, duration 10m",
        "sync replication",
        "rebuild",
    ],
    "redis": ["rdb every 1h", "aof everysec", "async replication, lag 1s", "rebuild"],
    "s3": ["s3 versioning", "s3 replication, lag 1m", "snapshot every 1d"],
}
BAD_BACKUPS = ["pitr", "bogus", "aof everysec", "s3 versioning", "pg_dump every 0"]
EXTRA_KEYS = st.dictionaries(st.sampled_from(["extra", "rpo_targt"]), JUNK, max_size=1)


def mostly(
    usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], odds: int = 5
) -> st.SearchStrategy[Any]:
    """``usual`` about odds/(odds+1) of the time (one_of would weigh them equally)."""
    return st.integers(0, odds).flatmap(lambda i: rare if i == 0 else usual)


def maybe_junk(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly valid, sometimes any TOML value."""
    return mostly(valid, JUNK)


def service_of_kind(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    method = mostly(st.sampled_from(BACKUPS_BY_KIND[kind]), st.sampled_from(BAD_BACKUPS))
    return st.fixed_dictionaries(
        {
            "kind": maybe_junk(st.just(kind)),
            "rto": maybe_junk(st.sampled_from(["15m", "1h30m", "90s", "500ms", "1d", 60, 1.5])),
            "rpo": maybe_junk(DURATIONS),
            "backup": maybe_junk(st.one_of(method, st.lists(method, min_size=1, max_size=3))),
        },
        optional={
            "tier": maybe_junk(st.sampled_from(["P0", "Tier 1"])),
            "description": maybe_junk(st.text(max_size=20)),
            "rto_clock": maybe_junk(st.sampled_from(["fault", "detection"])),
            "production_size": maybe_junk(st.sampled_from(["40GB", "1KiB", 0, 10**6])),
            "runbook": maybe_junk(st.just("000_b9e419547e14e1e8.md")),
        },
    )


SERVICE = st.builds(
    lambda svc, extra: {**svc, **extra},
    st.sampled_from(sorted(BACKUPS_BY_KIND)).flatmap(service_of_kind),
    mostly(st.just({}), EXTRA_KEYS),
)
VALID_NAME = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
NAMES = mostly(VALID_NAME, st.text(max_size=6))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(NAMES, maybe_junk(SERVICE), max_size=4),
    st.one_of(
        st.none(),
        st.fixed_dictionaries({}, optional={"default_rto_clock": maybe_junk(st.just("fault"))}),
    ),
    mostly(st.just({}), st.dictionaries(st.sampled_from(["extra", "servics"]), JUNK, max_size=1)),
)
def test_fuzz_documents(
    services: dict[str, Any], settings_table: dict[str, Any] | None, extra: dict[str, Any]
) -> None:
    doc: dict[str, Any] = {"services": services, **extra}
    if settings_table is not None:
        doc["settings"] = settings_table
    check_parse(toml_dump(doc))


VALID_SERVICE = st.fixed_dictionaries(
    {
        "kind": st.just("postgres"),
        "rto": st.integers(min_value=1, max_value=10**7),
        "rpo": st.integers(min_value=0, max_value=10**7),
        "backup": st.lists(
            st.sampled_from(
                ["wal archive, archive_timeout 60s", "pg_dump every 24h", "sync replication"]
            ),
            min_size=1,
            max_size=3,
        ),
    },
    optional={"tier": st.text(max_size=10), "rto_clock": st.sampled_from(["fault", "detection"])},
)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,10}", fullmatch=True),
        VALID_SERVICE,
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
)
def test_valid_documents_always_load(services: dict[str, Any], as_text: bool) -> None:
    if as_text:  # durations written the way people write them
        services = {
            name: {**svc, "rto": format_duration(svc["rto"]), "rpo": format_duration(svc["rpo"])}
            for name, svc in services.items()
        }
    targets = check_parse(toml_dump({"services": services}))
    assert targets is not None
    assert list(targets.services) == list(services)
    for name, svc in services.items():
        got = targets.get(name)
        assert got.rto == parse_duration(svc["rto"])
        assert got.rpo == parse_duration(svc["rpo"])
        expected = {
            "wal archive, archive_timeout 60s": 60.0,
            "pg_dump every 24h": 86400.0,
            "sync replication": 0.0,
        }
        assert got.rpo_bound == min(expected[b] for b in svc["backup"])


# --------------------------------------------------------------------------- the shipped file

EXPECTED = {
    # name: (kind, tier, rto, rpo, bound, method kinds)
    "auth": ("postgres", "P0", 900.0, 300.0, 60.0, ["wal_archive"]),
    "projects": ("postgres", "P1", 1800.0, 900.0, 60.0, ["pg_dump", "wal_archive"]),
    "cache": ("redis", "P2", 3600.0, 86400.0, 1.0, ["rdb", "aof"]),
    "sessions": ("redis", "Tier 1", 300.0, 3600.0, 1.0, ["rdb", "aof"]),
    "media": ("s3", None, 600.0, 0.0, 0.0, ["s3_versioning", "s3_replication"]),
    "orders": ("postgres", "Tier 1", 1200.0, 0.0, 0.0, ["sync_replication"]),
    "affiliate": ("postgres", "P1", 3600.0, 86400.0, 1.0, ["pg_dump", "async_replication"]),
    "smoke": ("postgres", "smoke", 300.0, 60.0, 1.0, ["wal_archive"]),
    "region-db": ("postgres", "P1", 3600.0, 1.0, 0.5, ["async_replication"]),
}


def test_shipped_targets_load_with_expected_bounds() -> None:
    targets = load_targets(SHIPPED)
    assert list(targets.services) == list(EXPECTED)
    assert targets.settings.default_rto_clock == "fault"
    for name, (kind, tier, rto, rpo, bound, kinds) in EXPECTED.items():
        svc = targets.get(name)
        assert (svc.kind, svc.tier, svc.rto, svc.rpo) == (kind, tier, rto, rpo), name
        assert svc.rpo_bound == bound, name
        assert [m.kind for m in svc.backups] == kinds, name
        assert svc.bound_meets_target() is True, name
        assert svc.rto_clock == "fault"


def test_shipped_individual_method_bounds() -> None:
    targets = load_targets(SHIPPED)
    bounds = {name: [m.rpo_bound for m in svc.backups] for name, svc in targets.services.items()}
    assert bounds == {
        "auth": [60.0],
        "projects": [900.0, 60.0],
        "cache": [21600.0, 1.0],
        "sessions": [3600.0, 1.0],
        "media": [0.0, 900.0],
        "orders": [0.0],
        "affiliate": [86400.0, 1.0],
        "smoke": [1.0],
        "region-db": [0.5],
    }


def test_shipped_runbook_references_exist() -> None:
    """Every ``runbook =`` names a file of this repository (``FILE#section``)."""
    named = [svc.runbook for svc in load_targets(SHIPPED) if svc.runbook is not None]
    assert named
    for runbook in named:
        assert (ROOT / runbook.split("#")[0]).is_file(), runbook


# --------------------------------------------------------------------------- check_command


def test_check_shipped() -> None:
    code, out = check_command(SHIPPED)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith(f"{SHIPPED}: 9 services, sha256 ")
    header = "service kind tier RTO RPO RTO clock RPO bound bound meets RPO"
    assert " ".join(lines[1].split()) == header
    rows = {line.split()[0]: line for line in lines[2:-1]}
    assert set(rows) == set(EXPECTED)
    assert rows["auth"].split() == ["auth", "postgres", "P0", "15m", "5m", "fault", "1m", "yes"]
    assert rows["media"].split()[2] == "-"
    assert "NO" not in out


def test_check_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "drills.toml"
    path.write_text(doc_with(auth={**AUTH, "rto": "soon"}))
    code, out = check_command(path)
    assert code == 1
    assert_one_line(out)
    assert out.startswith(f"{path}: services.auth.rto: ")
    code, out = check_command(tmp_path / "missing.toml")
    assert code == 1 and "cannot read" in out


def test_check_bound_exceeds_target(tmp_path: Path) -> None:
    path = tmp_path / "drills.toml"
    slow = {**AUTH, "rpo": "5m", "backup": "pg_dump every 24h"}
    cache = {**AUTH, "kind": "redis", "rpo": "1h", "backup": "rebuild"}
    path.write_text(doc_with(auth=AUTH, slow=slow, cache=cache))
    code, out = check_command(path)
    assert code == 2
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:-1]}
    assert rows["slow"][-1] == "NO" and rows["slow"][-2] == "1d"
    assert rows["auth"][-1] == "yes"
    assert rows["cache"][-2:] == ["n.a.", "n.a."]
    last = out.splitlines()[-1]
    assert last.startswith("RPO bound exceeds target: slow (bound 1d > RPO 5m)")
    assert "auth" not in last and "cache" not in last
