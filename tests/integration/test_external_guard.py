"""Each rule of the external backend's guard, both directions, on real servers that hold
someone else's data (:mod:`.foreign_data`): what the run created may change, anything
else is refused as NOT RUN naming the operation, and the foreign data stays identical."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis as redis_lib
from botocore.exceptions import ClientError

from drillbook import cli
from drillbook.errors import DrillNotRun
from drillbook.fixtures.backend import backends
from drillbook.fixtures.external import ExternalBackend
from drillbook.fixtures.external.ownership import RECORD_NAME, TAG_KEY, leftovers
from drillbook.scenarios.postgres import schema
from drillbook.scenarios.runbook import binding
from drillbook.scenarios.s3 import client as scenario_client
from tests.integration import foreign_data as fd
from tests.integration.foreign_data import Servers, servers

__all__ = ["servers"]  # the module fixture


def external(servers: Servers, *, allow: str = "") -> ExternalBackend:
    """The external backend from its options, as ``--drill-backend=external`` builds it."""
    env = servers.env(allow)
    values = {opt.name: "" for opt in backends()["external"].options}
    values["drill_external_postgres"] = env["DRILLBOOK_EXTERNAL_POSTGRES"]
    values["drill_external_redis"] = env["DRILLBOOK_EXTERNAL_REDIS"]
    values["drill_external_s3"] = (
        f"s3://{servers.s3.access_key}:$FOREIGN_S3_SECRET@127.0.0.1:{servers.s3.port}"
    )
    values["drill_allow_destructive"] = allow
    backend = backends()["external"].create(values)
    assert isinstance(backend, ExternalBackend)
    return backend


@pytest.fixture
def ext(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> Iterator[ExternalBackend]:
    monkeypatch.setenv("FOREIGN_PG_PW", servers.postgres.password)
    monkeypatch.setenv("FOREIGN_REDIS_PW", servers.redis.password)
    monkeypatch.setenv("FOREIGN_S3_SECRET", servers.s3.secret_key)
    before = servers.dump()
    backend = external(servers)
    try:
        yield backend
    finally:
        backend.close()
    # Whatever a test did through the backend, the foreign data is as it was.
    after = servers.dump()
    for kind in before:
        assert fd.differences(before[kind], after[kind]) == [], kind


def refused(action: Callable[[], Any], *words: str) -> str:
    with pytest.raises(DrillNotRun) as info:
        action()
    reason = info.value.reason
    assert info.value.code == "BACKEND_UNSUPPORTED", reason
    assert reason.startswith("refused on the external "), reason
    assert "--drill-allow-destructive" in reason and "\n" not in reason, reason
    for word in words:
        assert word in reason, reason
    return reason


# -- S3 -------------------------------------------------------------------------------------


def assert_foreign_read_only(c: Any) -> None:
    body = c.get_object(Bucket="foreign-prod", Key="site/index.html")["Body"].read()
    assert body == b"<html>theirs</html>"
    assert c.list_object_versions(Bucket="foreign-prod")["Versions"]
    refused(lambda: c.put_object(Bucket="foreign-prod", Key="x", Body=b"1"), "PutObject")
    refused(
        lambda: c.delete_object(Bucket="foreign-plain", Key="site/index.html"),
        "DeleteObject on bucket foreign-plain",
    )
    refused(
        lambda: c.put_bucket_versioning(
            Bucket="foreign-plain", VersioningConfiguration={"Status": "Enabled"}
        ),
        "PutBucketVersioning",
    )
    refused(lambda: c.delete_bucket(Bucket="foreign-prod"), "DeleteBucket")
    refused(
        lambda: c.delete_objects(
            Bucket="foreign-prod",
            Delete={"Objects": [{"Key": "site/index.html"}]},
            BypassGovernanceRetention=True,
        ),
        "DeleteObjects",
    )
    refused(lambda: c.create_bucket(Bucket="foreign-prod"), "CreateBucket")
    with pytest.raises(DrillNotRun):  # s3transfer's uploads go through the same client
        c.upload_fileobj(_Body(b"x" * 10), "foreign-plain", "uploaded")


def test_s3_foreign_buckets_are_read_only(ext: ExternalBackend) -> None:
    h = ext.s3("s3-session")
    try:
        assert_foreign_read_only(h.client())
        assert_foreign_read_only(scenario_client.client(h))  # the scenarios' helper too
    finally:
        h.close()


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int = -1) -> bytes:
        out, self.data = (self.data, b"") if n < 0 else (self.data[:n], self.data[n:])
        return out


def test_s3_own_buckets_are_recorded_tagged_and_removed(
    ext: ExternalBackend, servers: Servers
) -> None:
    h = ext.s3("s3-session")
    c = h.client()
    c.create_bucket(Bucket="drill-own", ObjectLockEnabledForBucket=True)
    assert h.record.names() == ["drill-own"]
    tags = servers.s3.client().get_bucket_tagging(Bucket="drill-own")["TagSet"]
    assert {"Key": TAG_KEY, "Value": h.record.tag} in tags
    record = json.loads((Path(ext.ownership.record_dir or ".") / RECORD_NAME).read_text())
    assert record["resources"] == [
        {"kind": "s3", "address": f"127.0.0.1:{servers.s3.port}", "name": "drill-own"}
    ]
    assert "drill-own" in leftovers(Path(ext.ownership.record_dir or "."))[0]
    c.put_bucket_versioning(Bucket="drill-own", VersioningConfiguration={"Status": "Enabled"})
    c.put_object_lock_configuration(  # GOVERNANCE: teardown can still bypass it
        Bucket="drill-own",
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    c.put_object(Bucket="drill-own", Key="a", Body=b"1", Metadata={"k": "v"})
    compliance = {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
    }
    refused(
        lambda: c.put_object_lock_configuration(
            Bucket="drill-own", ObjectLockConfiguration=compliance
        ),
        "COMPLIANCE retention",
    )
    refused(
        lambda: c.put_object(Bucket="drill-own", Key="b", Body=b"2", ObjectLockMode="COMPLIANCE"),
        "COMPLIANCE",
    )
    refused(
        lambda: c.put_object_legal_hold(Bucket="drill-own", Key="a", LegalHold={"Status": "ON"}),
        "legal hold",
    )
    h.reset()
    assert h.record.names() == []
    with pytest.raises(ClientError):
        servers.s3.client().head_bucket(Bucket="drill-own")
    # Refusals are remembered, so a fixture can re-raise one drill code swallowed.
    assert len(h.refusals_since(0)) == 3
    h.close()


def test_s3_allow_listed_host_may_reuse_a_bucket_and_teardown_removes_it(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOREIGN_S3_SECRET", servers.s3.secret_key)
    direct = servers.s3.client()
    direct.create_bucket(Bucket="theirs-but-allowed")
    backend = external(servers, allow=f"127.0.0.1:{servers.s3.port}")
    h = backend.s3("s3-session")
    try:
        c = h.client()
        try:  # reused: the host is listed, so the guard lets the request through
            c.create_bucket(Bucket="theirs-but-allowed")
        except ClientError as exc:  # SeaweedFS and AWS outside us-east-1 say so; moto: 200
            assert exc.response["Error"]["Code"] == "BucketAlreadyOwnedByYou", exc
        c.put_object(Bucket="theirs-but-allowed", Key="x", Body=b"drill")
        assert h.record.names() == ["theirs-but-allowed"]
    finally:
        h.close()
        backend.close()
    names = [b["Name"] for b in direct.list_buckets()["Buckets"]]
    assert "theirs-but-allowed" not in names and "foreign-prod" in names


# -- Redis ----------------------------------------------------------------------------------


def test_redis_commands_beyond_the_runs_database_are_refused(ext: ExternalBackend) -> None:
    h = ext.redis("redis-session")
    try:
        c = h.client()
        refused(c.flushall, "FLUSHALL")
        refused(lambda: c.swapdb(0, 3), "SWAPDB")
        refused(lambda: c.execute_command("SELECT", 0), "SELECT 0", "database 3 only")
        refused(lambda: c.config_set("appendonly", "yes"), "CONFIG SET")
        refused(c.bgsave, "BGSAVE")
        refused(lambda: c.move("k", 0), "MOVE")
        refused(lambda: c.copy("a", "b", destination_db="0"), "COPY")
        with c.pipeline() as pipe:
            refused(pipe.flushall, "FLUSHALL")
        assert c.config_get("appendonly")  # CONFIG GET reads: allowed
        c.set("mine", "1")
        c.hset("mine-hash", "f", "v")
        c.get("foreign:0:string")  # a read records nothing
        assert h.record.written_keys() == {b"mine", b"mine-hash"}
        c.flushdb()  # only the run's keys in the run's database
        assert h.record.written_keys() == {b"mine", b"mine-hash"}  # superset is harmless
        assert c.dbsize() == 0
        neighbour = redis_lib.Redis(
            host=h.host, port=h.port, password=h.password, db=3, socket_timeout=5
        )
        neighbour.set("someone-elses", "1")
        refused(c.flushdb, "FLUSHDB", "keys this run did not write")
        neighbour.delete("someone-elses")
        neighbour.close()
    finally:
        h.close()


# -- PostgreSQL -----------------------------------------------------------------------------


def test_postgres_foreign_databases_are_read_only(ext: ExternalBackend) -> None:
    h = ext.postgres("pg-session")
    try:
        assert h.execute("SELECT v FROM their_settings") == [("production",)]
        refused(lambda: h.execute("UPDATE their_settings SET v = 'drill'"), "database postgres")
        refused(lambda: h.execute("CREATE TABLE drill_t (x int)"), "a write to database")
        app = h.with_database("foreign_app")
        assert app.execute("SELECT count(*) FROM accounts") == [(500,)]
        refused(lambda: app.execute("DELETE FROM accounts"), "database foreign_app")
        refused(lambda: h.create_database("orders"), "CREATE DATABASE orders", "already exists")
        refused(lambda: h.drop_database("foreign_app"), "DROP DATABASE foreign_app")
        refused(
            lambda: h.execute("ALTER DATABASE foreign_app SET work_mem = '1MB'"),
            "ALTER DATABASE foreign_app",
        )
        refused(lambda: h.execute("ALTER SYSTEM SET work_mem = '9MB'"), "ALTER SYSTEM")
        refused(lambda: h.execute("CREATE ROLE drill_intruder"), "CREATE ROLE")
        refused(lambda: h.execute("SELECT pg_terminate_backend(1)"), "PG_TERMINATE_BACKEND")
        with h.connect() as conn, conn.cursor() as cur:
            refused(lambda: cur.executemany("DROP DATABASE foreign_app", [()]), "executemany")
    finally:
        h.close()


def test_postgres_own_databases_are_tagged_and_dropped_at_close(
    ext: ExternalBackend, servers: Servers
) -> None:
    h = ext.postgres("pg-session")
    name = h.new_database_name()
    assert name.startswith(f"drill_{h.record.tag}_")
    h.create_database(name)
    view = h.with_database(name)
    view.execute("CREATE TABLE t (x int)")
    view.execute("INSERT INTO t VALUES (1)")
    with view.connect() as conn:  # a plain cursor is guarded too
        conn.cursor().execute("INSERT INTO t VALUES (2)")
    assert view.execute("SELECT count(*) FROM t") == [(2,)]
    comment = servers.postgres.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        (name,),
    )
    assert comment == [(f"drillbook run {h.record.tag}",)]
    h.execute(f'ALTER DATABASE "{name}" RENAME TO "{name}_x"')
    assert h.record.names() == [f"{name}_x"]
    h.close()  # teardown drops every database the run created
    assert not servers.postgres.execute(
        "SELECT 1 FROM pg_database WHERE datname LIKE %s", (f"drill_{h.record.tag}%",)
    )


def test_postgres_read_only_is_the_servers_own_refusal(servers: Servers) -> None:
    """The read-only session is PostgreSQL's: even a raw cursor of a guarded connection
    (no statement check) cannot write into a database the run did not create."""
    backend = ExternalBackend(
        postgres=f"postgresql://drillbook:{servers.postgres.password}@127.0.0.1:"
        f"{servers.postgres.port}/postgres"
    )
    h = backend.postgres("pg")
    try:
        with h.connect() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            psycopg.Cursor(conn).execute("UPDATE their_settings SET v = 'x'")
    finally:
        h.close()
        backend.close()
    assert servers.postgres.execute("SELECT v FROM their_settings") == [("production",)]


def test_postgres_client_tools_connect_read_only_to_foreign_databases(
    ext: ExternalBackend, tmp_path: Path
) -> None:
    """psql, pg_restore and the scenario helpers that run them (``load_sql_file``) reach a
    database the run did not create read-only, like the connections; dropdb of one is
    refused; the run's own database takes their writes."""
    h = ext.postgres("pg-session")
    try:
        psql = h.tool("psql")
        env = {**os.environ, **h.env()}
        res = subprocess.run(
            [psql, "-X", "-v", "ON_ERROR_STOP=1", "-c", "UPDATE their_settings SET v = 'x'"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert res.returncode != 0 and "read-only transaction" in res.stderr, res.stderr
        sql_file = tmp_path / "seed.sql"
        sql_file.write_text("DELETE FROM accounts;\n")
        with pytest.raises(RuntimeError, match="read-only transaction"):
            schema.load_sql_file(h, "foreign_app", sql_file, analyze=False)
        dump = subprocess.run(
            [h.tool("pg_dump"), "-d", "foreign_app", "--schema-only"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert dump.returncode == 0 and "accounts" in dump.stdout, dump.stderr
        dropdb = subprocess.run(
            [h.tool("dropdb"), "foreign_app"], env=env, capture_output=True, text=True, timeout=60
        )
        assert dropdb.returncode == 1, dropdb.stderr
        assert "refused on the external postgres" in dropdb.stderr and "dropdb" in dropdb.stderr
        own = h.new_database_name()
        h.create_database(own)
        schema.load_sql_file(h, own, _write(tmp_path / "own.sql", "CREATE TABLE t (x int);\n"))
        view = h.with_database(own)
        res = subprocess.run(
            [view.tool("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-c", "INSERT INTO t VALUES (1)"],
            env={**os.environ, **view.env()}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert view.execute("SELECT count(*) FROM t") == [(1,)]
    finally:
        h.close()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_runbook_commands_need_the_allowlist(
    ext: ExternalBackend, servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runbook's shell commands get the servers' credentials and no guard can check
    them: NOT RUN unless the host is allow-listed."""
    h = ext.postgres("pg-session")
    try:
        refused(lambda: binding.bind({"postgres": h}, workdir=tmp_path), "runbook commands")
    finally:
        h.close()
    allowed = external(servers, allow=f"127.0.0.1:{servers.postgres.port}")
    a = allowed.postgres("pg-session")
    try:
        assert binding.bind({"postgres": a}, workdir=tmp_path).env["PGPORT"] == str(a.port)
    finally:
        a.close()
        allowed.close()


def test_clean_names_what_a_killed_run_left_on_external_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "runs"
    run = base / "run-1-dead"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"owner_pid": 2**22 + 7, "procs": []}))
    record = {
        "tag": "abcd1234",
        "resources": [{"kind": "s3", "address": "minio.staging:9000", "name": "media-assets"}],
        "allowed": [],
    }
    (run / RECORD_NAME).write_text(json.dumps(record))
    monkeypatch.setenv("DRILLBOOK_TMPDIR", str(base))
    assert cli.main(["clean", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (
        "  left on an external server: bucket media-assets on the s3 at minio.staging:9000" in out
    )
    assert cli.main(["clean"]) == 0
    out = capsys.readouterr().out
    assert "left on an external server: bucket media-assets" in out and "killed: left" not in out
    assert not run.exists()
