"""drills.toml against hostile input (issue 12): every bad file is one short line, never a
traceback, a hang or gigabytes of memory; the limits never refuse a real file.

Each reproduction of the issue is a case here: a 4,301-digit integer, ``rto = 1e303``,
``rto = "200000d"``, a 5,000-digit ``production_size``, non-ASCII digits, deep dotted
keys, a 10 MB unknown key. Plus the hook for sub-tables of a service.
"""

from __future__ import annotations

import resource
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drillbook.targets import (
    MAX_DEPTH,
    MAX_DURATION_SECONDS,
    MAX_FILE_BYTES,
    MAX_NUMBER_DIGITS,
    MAX_SIZE_BYTES,
    ServiceContext,
    TableReader,
    TargetsError,
    format_duration,
    load_targets,
    parse_duration,
    parse_size,
    parse_targets,
    register_subtable,
    unregister_subtable,
)
from tests.unit.tomlwriter import toml_dump

SOURCE = "drills.toml"
BASE = '[services.a]\nkind = "postgres"\nrto = "15m"\nrpo = "5m"\nbackup = "sync replication"\n'


def error_of(text: str) -> str:
    with pytest.raises(TargetsError) as info:
        parse_targets(text, SOURCE)
    message = str(info.value)
    assert message.splitlines() == [message], repr(message)
    assert len(message) < 600, message  # the longest lists every backup form
    assert message.startswith(SOURCE)
    return message


def with_rto(value: str) -> str:
    return BASE.replace('rto = "15m"', f"rto = {value}")


# -- the reproductions of issue 12 -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (with_rto("9" * 4301), f"{SOURCE}:3: a number of 4301 digits"),
        (BASE + "production_size = " + "9" * 5000 + "\n", ":6: a number of 5000 digits"),
        (with_rto("1_" * 200 + "1"), "a number of 201 digits"),
        (with_rto("1e303"), "services.a.rto: duration 1e+303 is too long"),
        (with_rto('"200000d"'), "services.a.rto: duration '200000d' is too long"),
        (with_rto(str(10**50)), "is too long"),
        (BASE + 'production_size = "' + "9" * 5000 + 'GB"\n', "production_size: size"),
        (BASE + f"production_size = {10**18 + 1}\n", "production_size: size"),
        (with_rto('"١٥m"'), "non-ASCII characters (digits must be 0-9)"),
        (with_rto('"１５m"'), "non-ASCII characters"),
        (BASE.replace("sync replication", "pg_dump every １h"), "non-ASCII"),
        (BASE + 'production_size = "４0GB"\n', "non-ASCII"),
        (with_rto("nan"), "not a finite number"),
        (with_rto("-inf"), "not a finite number"),
        (with_rto("-1"), "negative duration"),
    ],
    ids=lambda v: v if len(v) < 30 else None,
)
def test_each_reproduction_is_one_line_naming_the_key(text: str, needle: str) -> None:
    assert needle in error_of(text)


def test_an_oversized_unknown_key_is_not_echoed(tmp_path: Path) -> None:
    """The issue's 10 MB key: refused by size before it is parsed; a 200 KB one (under
    the size limit) is named in 40 characters."""
    path = tmp_path / "drills.toml"
    path.write_text(BASE + "k" * (10 * 1024 * 1024) + " = 1\n")
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    assert str(info.value) == (
        f"{path}: the targets file is {path.stat().st_size} bytes, more than a targets file "
        f"needs; allowed: at most {MAX_FILE_BYTES // 1024} KiB"
    )
    message = error_of(BASE + "k" * 200_000 + " = 1\n")
    assert "unknown key" in message and "k" * 41 not in message


def test_deep_dotted_keys_are_refused_before_parsing_in_little_memory() -> None:
    """The issue's 60 KB file of deep dotted keys took 3.5 GB in tomllib; the guard
    refuses it from the text alone."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    message = error_of(BASE + "x" + ".a" * 30_000 + " = 1\n")
    assert f"{SOURCE}:6: nested more than {MAX_DEPTH} levels deep" in message
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 50_000  # tomllib alone would need ~3.5 GB here


@pytest.mark.parametrize(
    "text",
    [
        BASE + "[" + ".".join(["t"] * (MAX_DEPTH + 1)) + "]\n",
        BASE + "[[" + ".".join(["t"] * (MAX_DEPTH + 1)) + "]]\n",
        BASE + "x = " + "[" * 5000 + "\n",
        BASE + "x = " + "{a = " * 40 + "1" + "}" * 40 + "\n",
        BASE + "x = [" + "{a.b.c.d.e.f = [" * 4 + "1" + "]}" * 4 + "]\n",
        "[" + ".".join(["t"] * 10) + "]\n" + ".".join(["k"] * 7) + " = 1\n",
    ],
    ids=["header", "array-of-tables", "arrays", "inline-tables", "mixed", "header-plus-key"],
)
def test_any_nesting_past_the_limit_is_refused(text: str) -> None:
    assert f"nested more than {MAX_DEPTH} levels deep" in error_of(text)


def test_the_guard_counts_what_tomllib_nests() -> None:
    """At exactly the limit the file is read (and then judged by the loader)."""
    key = ".".join(["k"] * (MAX_DEPTH - 2))
    text = BASE + f"[x]\n{key} = [1]\n"  # x + 14 parts + an array = 16
    tomllib.loads(text)
    assert "unknown key" in error_of(text)


@pytest.mark.parametrize(
    "extra",
    [
        # Dots, brackets, braces, quotes and digits inside strings and comments are text.
        'description = "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r [[[[[[[[[[[[[[[[[[ {{{{{{{{{{"',
        "description = '" + "[" * 40 + "'",
        'description = """\n' + "[" * 40 + "\n" + "9" * 500 + '\n"""',
        "description = '''\n" + ".".join("a" * 40) + "\n'''",
        'description = "quote \\" then [[[[[[[[[[[[[[[[[[[["',
        'description = """ends with quotes"""""',
        "# " + "[" * 100 + " " + "9" * 500,
        'tier = "' + "9" * 500 + '"',
        '"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q" = 1',
    ],
)
def test_strings_and_comments_never_trip_the_guard(extra: str) -> None:
    text = BASE + extra + "\n"
    tomllib.loads(text)  # valid TOML
    try:
        parse_targets(text, SOURCE)
    except TargetsError as err:
        assert "unknown key" in str(err), err  # only the quoted key is wrong
        assert "nested" not in str(err) and "digits" not in str(err)


def test_the_guard_reports_the_line_after_multi_line_strings() -> None:
    text = BASE + 'description = """\nline\nline\n"""\nx = ' + "9" * 200 + "\n"
    assert error_of(text).startswith(f"{SOURCE}:10: a number of 200 digits")


def test_limits_leave_room_for_real_values() -> None:
    text = BASE.replace('rpo = "5m"', 'rpo = "366d"') + f"production_size = {MAX_SIZE_BYTES}\n"
    svc = parse_targets(text, SOURCE).get("a")
    assert svc.rpo == MAX_DURATION_SECONDS and svc.production_size == MAX_SIZE_BYTES
    assert parse_size("1000000TB") == MAX_SIZE_BYTES
    assert parse_duration(int(MAX_DURATION_SECONDS)) == MAX_DURATION_SECONDS
    assert len(str(MAX_SIZE_BYTES)) < MAX_NUMBER_DIGITS


def test_a_file_at_the_size_limit_loads(tmp_path: Path) -> None:
    path = tmp_path / "drills.toml"
    padding = "# " + "x" * 98 + "\n"
    text = BASE + padding * ((MAX_FILE_BYTES - len(BASE)) // len(padding))
    path.write_text(text)
    assert len(text) <= MAX_FILE_BYTES
    assert load_targets(path).get("a").rto == 900.0
    path.write_text(text + "#" * (MAX_FILE_BYTES - len(text) + 1))
    with pytest.raises(TargetsError, match="more than a targets file needs"):
        load_targets(path)
    with pytest.raises(TargetsError, match="more than a targets file needs"):
        parse_targets(path.read_text(), SOURCE)


@pytest.mark.parametrize("name", ["a directory", "/dev/zero"])
def test_what_is_not_a_file_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path if name == "a directory" else Path(name)
    if not path.exists():
        pytest.skip(f"{path} does not exist here")
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "directory" in str(info.value) or "more than a targets file needs" in str(info.value)


def test_format_duration_formats_every_finite_value() -> None:
    """A measured time is not bounded like a target: 1e303 s formats, never overflows."""
    assert format_duration(1e303).startswith("1157407407407407")  # days, then the rest
    assert format_duration(MAX_DURATION_SECONDS) == "366d"


def test_binary_garbage_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "drills.toml"
    path.write_bytes(BASE.encode() + b"x = 1\n\xff\xfe\x00")
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    assert str(info.value).startswith(f"{path}:7: not UTF-8 text")


def test_a_nul_byte_is_a_toml_error() -> None:
    assert "invalid TOML" in error_of(BASE + "x = 1\x00\n")


# -- the sub-table hook --------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    bucket: str
    every: float

    def to_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "every": self.every}


def parse_source(reader: TableReader, value: object, ctx: ServiceContext) -> Source:
    table = reader.table(value, ctx.key)
    reader.check_keys(table, ("bucket", "every"), ctx.key)
    if "bucket" not in table:
        raise reader.error(f"{ctx.key}.bucket", "missing required key", "a bucket name")
    return Source(
        bucket=reader.string(table["bucket"], f"{ctx.key}.bucket"),
        every=reader.duration(table.get("every", "1d"), f"{ctx.key}.every"),
    )


@pytest.fixture
def source_subtable() -> Iterator[None]:
    register_subtable("archive", parse_source, help="a source table", kinds=("postgres",))
    try:
        yield
    finally:
        unregister_subtable("archive")


def test_without_a_provider_a_sub_table_is_an_unknown_key() -> None:
    message = error_of(BASE + '[services.a.archive]\nbucket = "b"\n')
    assert message.startswith(f"{SOURCE}: services.a.archive: unknown key")


def test_a_registered_sub_table_is_parsed_into_the_service(source_subtable: None) -> None:
    targets = parse_targets(BASE + '[services.a.archive]\nbucket = "b"\nevery = "6h"\n', SOURCE)
    svc = targets.get("a")
    assert svc.subtables["archive"] == Source("b", 21600.0)
    assert svc.to_dict()["subtables"] == {"archive": {"bucket": "b", "every": 21600.0}}


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        (
            'bucket = "b"\nbukcet = 1',
            "services.a.archive.bukcet: unknown key (did you mean 'bucket'?)",
        ),
        ("every = 1", "services.a.archive.bucket: missing required key"),
        (
            'bucket = "b"\nevery = "200000d"',
            "services.a.archive.every: duration '200000d' is too long",
        ),
        ("bucket = 3", "services.a.archive.bucket: expected a string, got integer 3"),
    ],
)
def test_a_sub_table_is_as_strict_as_the_loader(
    source_subtable: None, table: str, needle: str
) -> None:
    assert needle in error_of(BASE + f"[services.a.archive]\n{table}\n")


def test_a_sub_table_for_other_kinds_is_refused(source_subtable: None) -> None:
    text = toml_dump(
        {
            "services": {
                "c": {
                    "kind": "redis",
                    "rto": "1m",
                    "rpo": "1m",
                    "backup": "aof everysec",
                    "archive": {"bucket": "b"},
                }
            }
        }
    )
    assert "services.c.archive: does not apply to a redis service" in error_of(text)


def test_a_sub_table_name_is_claimed_once(source_subtable: None) -> None:
    register_subtable("archive", parse_source, help="again")  # the same parser: a no-op
    with pytest.raises(ValueError, match="already registered"):
        register_subtable("archive", lambda r, v, c: v, help="another feature")


def test_check_prints_a_tier_with_control_characters_on_its_row(tmp_path: Path) -> None:
    """Found by the fuzz: a tier "\\x1e" (record separator) split the table row."""
    from drillbook.targets import check_command

    path = tmp_path / "drills.toml"
    path.write_text(BASE + 'tier = "P0\\u001e\\u2028x"\n')
    code, out = check_command(path)
    assert code == 0
    rows = out.splitlines()
    assert len(rows) == 4 and "P0\\x1e\\u2028x" in rows[2]
