"""The pure logic of the external backend's guard: which statements, S3 calls and Redis
commands it reads as changes, and to what (the real servers: tests/integration)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from drillbook.errors import DrillNotRun
from drillbook.fixtures.external import pgtool
from drillbook.fixtures.external.ownership import Ownership, Refused
from drillbook.fixtures.external.pgguard import DatabaseChange, PgGuard, database_changes
from drillbook.fixtures.external.redisguard import RedisGuard
from drillbook.fixtures.external.s3guard import S3Guard, _undeletable


def test_database_statements_are_read_with_postgres_name_rules() -> None:
    text = """
        -- DROP DATABASE commented_out
        CREATE DATABASE Orders TEMPLATE drill_template_x;
        drop database if exists "Mixed""Case" with (force);
        ALTER DATABASE a RENAME TO b; /* ALTER DATABASE hidden */
        COMMENT ON DATABASE c IS 'x'
    """
    assert list(database_changes(text)) == [
        DatabaseChange("CREATE", "orders"),
        DatabaseChange("DROP", 'Mixed"Case'),
        DatabaseChange("ALTER", "a", "b"),
        DatabaseChange("COMMENT", "c"),
    ]
    assert list(database_changes("SELECT 'DROP DATABASE x' AS text")) == []


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER SYSTEM SET work_mem = '1MB'",
        "create role intruder",
        "DROP USER someone",
        "ALTER TABLESPACE t OWNER TO x",
        "DROP OWNED BY someone",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
        "select pg_switch_wal()",
        "SELECT 1; SELECT pg_reload_conf()",
    ],
)
def test_cluster_wide_statements_are_refused(statement: str) -> None:
    guard = PgGuard(Ownership(tag="t").target("postgres", "db:5432", allowed=False))
    with pytest.raises(Refused) as info:
        guard.check(statement)
    assert "changes the whole server" in info.value.reason
    assert info.value.code == "BACKEND_UNSUPPORTED" and isinstance(info.value, DrillNotRun)
    allowed = PgGuard(Ownership(tag="t").target("postgres", "db:5432", allowed=True))
    assert allowed.check(statement) == []  # an allow-listed host may


def test_plain_statements_pass_and_foreign_databases_are_read_only() -> None:
    target = Ownership(tag="t").target("postgres", "db:5432", allowed=False)
    guard = PgGuard(target)
    for ok in ("SELECT * FROM pg_database", "INSERT INTO t VALUES (1)", "VACUUM t"):
        assert guard.check(ok) == []
    target.add("drill_t_1")
    assert not guard.read_only("drill_t_1") and guard.read_only("postgres")
    opts = guard.connect_options({"dbname": "postgres", "options": "-c x=1"})
    assert opts["options"] == "-c x=1 -c default_transaction_read_only=on"
    assert "options" not in guard.connect_options({"dbname": "drill_t_1"})


@pytest.mark.parametrize(
    ("op", "params", "undeletable"),
    [
        ("PutObject", {"ObjectLockMode": "COMPLIANCE"}, True),
        ("PutObject", {"ObjectLockMode": "GOVERNANCE"}, False),
        ("CopyObject", {"ObjectLockLegalHoldStatus": "ON"}, True),
        ("PutObjectRetention", {"Retention": {"Mode": "COMPLIANCE"}}, True),
        ("PutObjectRetention", {"Retention": {"Mode": "GOVERNANCE"}}, False),
        ("PutObjectLegalHold", {"LegalHold": {"Status": "OFF"}}, False),
        (
            "PutObjectLockConfiguration",
            {"ObjectLockConfiguration": {"Rule": {"DefaultRetention": {"Mode": "COMPLIANCE"}}}},
            True,
        ),
        ("PutObjectLockConfiguration", {"ObjectLockConfiguration": {}}, False),
    ],
)
def test_s3_calls_that_make_undeletable_versions(
    op: str, params: dict[str, Any], undeletable: bool
) -> None:
    assert (_undeletable(op, params) is not None) is undeletable


def test_s3_reads_pass_and_writes_to_unknown_buckets_are_refused() -> None:
    target = Ownership(tag="t").target("s3", "s3:9000", allowed=False)
    guard = S3Guard(target, raw=lambda: None)
    guard.exists = lambda bucket: True  # type: ignore[method-assign]
    model = SimpleNamespace
    for read in ("GetObject", "HeadObject", "ListObjectVersions", "SelectObjectContent"):
        guard.before({"Bucket": "theirs"}, model(name=read), {})
    with pytest.raises(Refused) as info:
        guard.before({"Bucket": "theirs", "Key": "k"}, model(name="PutObject"), {})
    assert "PutObject on bucket theirs" in info.value.reason
    with pytest.raises(Refused):
        guard.before({"Bucket": "theirs"}, model(name="CreateBucket"), {})
    target.add("mine")
    guard.before({"Bucket": "mine", "Key": "k"}, model(name="DeleteObject"), {})
    context: dict[str, Any] = {}
    guard.before({"Bucket": "mine"}, model(name="DeleteBucket"), context)
    guard.after(SimpleNamespace(status_code=204), model(name="DeleteBucket"), context)
    assert not target.owns("mine")
    assert target.refusal_count() == 2


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("FLUSHALL",), "FLUSHALL"),
        (("FLUSHALL", "ASYNC"), "FLUSHALL"),
        (("CONFIG SET", "appendonly", "yes"), "CONFIG SET"),
        (("config", "set", "save", ""), "CONFIG SET"),
        (("SELECT", 0), "SELECT 0"),
        (("SWAPDB", 0, 3), "SWAPDB"),
        (("MOVE", "k", 1), "MOVE"),
        (("COPY", "a", "b", "DB", 1), "COPY ... DB"),
        (("SHUTDOWN", "NOSAVE"), "SHUTDOWN"),
        (("BGSAVE",), "BGSAVE"),
        (("CLIENT KILL", "ID", 7), "CLIENT KILL"),
        (("SCRIPT", "FLUSH"), "SCRIPT FLUSH"),
        (("FUNCTION", "DELETE", "lib"), "FUNCTION DELETE"),
        (("ACL", "DELUSER", "someone"), "ACL DELUSER"),
        (("FLUSHDB",), "FLUSHDB"),  # the database held foreign keys at first use
    ],
)
def test_redis_commands_refused_without_the_allowlist(args: tuple[Any, ...], what: str) -> None:
    target = Ownership(tag="t").target("redis", "cache:6379/3", allowed=False)
    guard = RedisGuard(target, 3, raw=lambda: None)  # type: ignore[arg-type, return-value]
    with pytest.raises(Refused) as info:
        guard.check(args)
    assert f": {what}: " in info.value.reason
    assert "list cache:6379 in --drill-allow-destructive" in info.value.reason


@pytest.mark.parametrize(
    ("tool", "args", "dbname", "address"),
    [
        ("psql", ["-X", "-c", "select 1", "app"], "app", "db:5432"),
        ("psql", ["-d", "app", "-h", "other", "-p", "6543"], "app", "other:6543"),
        ("psql", ["-dapp", "-hother"], "app", "other:5432"),
        ("psql", ["--dbname=postgresql://u@h2:7000/app2"], "app2", "h2:7000"),
        ("psql", ["--dbname", "host=h3 port=7001 dbname=app3"], "app3", "h3:7001"),
        (
            "pg_restore",
            ["-j", "2", "--no-owner", "-d", "drill_t_1", "/x.dump"],
            "drill_t_1",
            "db:5432",
        ),
        ("pg_restore", ["/x.dump"], "maint", "db:5432"),  # no -d: PGDATABASE
        ("dropdb", ["victim"], "victim", "db:5432"),
    ],
)
def test_client_tools_connection_is_read_like_libpq(
    tool: str, args: list[str], dbname: str, address: str
) -> None:
    env = {"PGHOST": "db", "PGPORT": "5432", "PGDATABASE": "maint"}
    conn = pgtool.connection(tool, args, env)
    assert (conn["dbname"], f"{conn['host']}:{conn['port']}") == (dbname, address)


def test_client_tools_read_only_unless_the_runs_or_allow_listed() -> None:
    env = {"PGHOST": "db", "PGPORT": "5432", "PGDATABASE": "maint", "PGOPTIONS": "-c a=b"}
    record = {"resources": [{"kind": "postgres", "address": "db:5432", "name": "mine"}]}
    out, _ = pgtool.decide("psql", ["-d", "maint"], env, record)
    assert out is not None and out["PGOPTIONS"] == "-c a=b " + pgtool.READ_ONLY
    out, _ = pgtool.decide("psql", ["-d", "mine"], env, record)
    assert out is not None and out["PGOPTIONS"] == "-c a=b"
    out, refusal = pgtool.decide("dropdb", ["maint"], env, record)
    assert out is None and "dropdb maint" in refusal
    out, _ = pgtool.decide("dropdb", ["maint"], env, {**record, "allowed": ["db:5432"]})
    assert out is not None and out["PGOPTIONS"] == "-c a=b"
