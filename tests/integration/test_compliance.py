"""One compliance suite for every backend: each handle does what its capabilities claim.

Every (service, backend) pair below runs the same tests:

- connect: a protocol probe, a non-empty version, a client write read back by another
  client; the password never shows in ``safe_url``/``repr``;
- for every capability, both directions: a handle that claims it really does it (kill ->
  unreachable; start -> reachable with the data intact; restart with a changed setting ->
  the setting is live; data files; logs), and a handle that lacks it answers ``require()``
  and the operation itself with NOT RUN (``BACKEND_UNSUPPORTED``), never a silent pass.

A pair whose binaries are missing (no system PostgreSQL, say) ends as NOT RUN through
:class:`DrillNotRun`, which fails the run unless ``--drill-allow-not-run``.

The docker backend's pairs take their images and network mode from the
``--drill-docker-*`` options (CI passes the locally built ``sandbox/*`` images); with no
engine reachable, or an image absent (never pulled), they end as NOT RUN too.

The external backend is exercised against servers a local backend starts here, reached
only through URLs whose passwords are passed by environment variable name, once with
their host:port on the destructive allowlist and once without.

Every backend is built through the registry (:mod:`drillbook.fixtures.backend`) from
its options, as ``--drill-backend`` builds it, and every registered backend must have
variants here: a new backend is a new module plus its rows in :data:`VARIANTS`.

Tests share one server per pair (module scope); kill and stop/start use it too and start
it again, unless keeping data across a kill needs other settings (Redis: AOF), in which
case they get a server of their own. A LocalBackend is never closed here: its ``close()``
kills every server of the pytest run, including the session fixtures'.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis as redis_lib
from botocore.exceptions import ClientError

from drillbook import trace
from drillbook.errors import DrillNotRun
from drillbook.fixtures import procs
from drillbook.fixtures.backend import backends, create_backend
from drillbook.fixtures.base import Capability, ServiceHandle
from drillbook.fixtures.external import (
    PROCESS_CAPABILITIES,
    ExternalBackend,
    ExternalPostgres,
    PostgresTarget,
    parse_allowlist,
    parse_postgres_url,
    parse_redis_url,
    parse_s3_url,
)
from drillbook.fixtures.local import LocalBackend
from drillbook.fixtures.postgres import ensure_template
from drillbook.redact import redact

ROOT = Path(__file__).resolve().parents[2]
ALL = frozenset(Capability)
NONE: frozenset[Capability] = frozenset()
# moto: a process of the run, objects in memory (no data files, nothing kept, no settings)
LOCAL_S3 = frozenset(
    {Capability.KILL, Capability.STOP_START, Capability.LOGS, Capability.DESTRUCTIVE}
)
ALLOWLISTED = frozenset({Capability.DESTRUCTIVE, Capability.PERSISTENT})
DOCKER_MOTO_S3 = LOCAL_S3  # moto in a container: objects in memory, like the local one
DOCKER_MINIO_S3 = LOCAL_S3 | {Capability.PERSISTENT}  # objects on the bind mount


# -- what "write, read, change a setting, find the data files" means per service ---------------


class PostgresOps:
    durable: dict[str, Any] = {}  # noqa: RUF012 - read-only
    setting: dict[str, Any] = {"work_mem": "7MB"}  # noqa: RUF012
    restore: dict[str, Any] = {"work_mem": None}  # noqa: RUF012

    @staticmethod
    def write(h: Any, key: str, value: str) -> None:
        with h.client() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS drill_compliance (k text PRIMARY KEY, v text)")
            conn.execute(
                "INSERT INTO drill_compliance VALUES (%s, %s)"
                " ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                (key, value),
            )

    @staticmethod
    def read(h: Any, key: str) -> str | None:
        with h.client() as conn:
            try:
                row = conn.execute("SELECT v FROM drill_compliance WHERE k = %s", (key,)).fetchone()
            except psycopg.errors.UndefinedTable:
                return None
        return row[0] if row else None

    @staticmethod
    def setting_is_live(h: Any) -> bool:
        return h.execute("SHOW work_mem")[0][0] == "7MB"

    @staticmethod
    def check_data_dir(h: Any) -> None:
        assert h.data_dir.is_dir()
        assert (h.data_dir / "PG_VERSION").is_file()

    @staticmethod
    def cleanup(h: Any) -> None:
        h.execute("DROP TABLE IF EXISTS drill_compliance")


class RedisOps:
    # Without persistence a killed Redis forgets everything by design; AOF keeps every
    # acknowledged write across a process kill.
    durable: dict[str, Any] = {"appendonly": "yes"}  # noqa: RUF012
    setting: dict[str, Any] = {"appendonly": "yes"}  # noqa: RUF012
    restore: dict[str, Any] = {"appendonly": "no"}  # noqa: RUF012

    @staticmethod
    def write(h: Any, key: str, value: str) -> None:
        with h.client() as c:
            assert c.set(f"drill-compliance:{key}", value)

    @staticmethod
    def read(h: Any, key: str) -> str | None:
        with h.client() as c:
            raw = c.get(f"drill-compliance:{key}")
        return raw.decode() if raw is not None else None

    @staticmethod
    def setting_is_live(h: Any) -> bool:
        with h.client() as c:
            return bool(c.config_get("appendonly") == {"appendonly": "yes"})

    @staticmethod
    def check_data_dir(h: Any) -> None:
        with h.client() as c:
            c.set("drill-compliance:rdb", "1")
            assert c.save()
        assert (h.data_dir / "dump.rdb").is_file()

    @staticmethod
    def cleanup(h: Any) -> None:
        with h.client() as c:
            keys = list(c.scan_iter("drill-compliance:*"))
            if keys:
                c.delete(*keys)


class S3Ops:
    BUCKET = "drill-compliance"
    durable: dict[str, Any] = {}  # noqa: RUF012
    # SeaweedFS's flag: by default drillbook's servers refuse to delete a non-empty bucket.
    setting: dict[str, Any] = {"s3.allowDeleteBucketNotEmpty": True}  # noqa: RUF012
    restore: dict[str, Any] = {"s3.allowDeleteBucketNotEmpty": None}  # noqa: RUF012

    @classmethod
    def write(cls, h: Any, key: str, value: str) -> None:
        c = h.client()
        with contextlib.suppress(c.exceptions.BucketAlreadyOwnedByYou):
            c.create_bucket(Bucket=cls.BUCKET)
        c.put_object(Bucket=cls.BUCKET, Key=key, Body=value.encode())

    @classmethod
    def read(cls, h: Any, key: str) -> str | None:
        try:
            body = h.client().get_object(Bucket=cls.BUCKET, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchBucket", "NoSuchKey"):
                return None
            raise
        return bytes(body).decode()

    @staticmethod
    def setting_is_live(h: Any) -> bool:
        """DeleteBucket of a bucket holding one object: refused unless the setting is on."""
        c, bucket = h.client(), f"drill-setting-{token()}"
        c.create_bucket(Bucket=bucket)
        c.put_object(Bucket=bucket, Key="k", Body=b"v")
        try:
            c.delete_bucket(Bucket=bucket)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "BucketNotEmpty", exc
            c.delete_object(Bucket=bucket, Key="k")
            c.delete_bucket(Bucket=bucket)
            return False
        return True

    @classmethod
    def check_data_dir(cls, h: Any) -> None:
        """An object written lands in the server's volume files under data_dir (random
        bytes: SeaweedFS compresses what compresses)."""
        before = sum(p.stat().st_size for p in h.data_dir.rglob("*.dat"))
        cls.write(h, token(), "")
        h.client().put_object(Bucket=cls.BUCKET, Key=token(), Body=os.urandom(100_000))
        after = sum(p.stat().st_size for p in h.data_dir.rglob("*.dat"))
        assert after >= before + 100_000, (before, after)
        cls.cleanup(h)

    @classmethod
    def cleanup(cls, h: Any) -> None:
        c = h.client()
        try:
            objects = c.list_objects_v2(Bucket=cls.BUCKET).get("Contents", [])
        except ClientError:
            return
        for obj in objects:
            c.delete_object(Bucket=cls.BUCKET, Key=obj["Key"])
        c.delete_bucket(Bucket=cls.BUCKET)


OPS: dict[str, Any] = {"postgres": PostgresOps, "redis": RedisOps, "s3": S3Ops}


# -- the backends under test -------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    id: str
    service: str  # postgres | redis | s3
    backend: str  # local | docker | external
    options: dict[str, str] = field(default_factory=dict)  # option values (ini names)
    allowlisted: bool = False  # external: host:port in allow_destructive
    capabilities: frozenset[Capability] = NONE  # what the handle must declare


VARIANTS = [
    Variant("postgres-local-system-pg", "postgres", "local", {"drill_postgres": "system"},
            capabilities=ALL),
    Variant("postgres-local-pip-pg", "postgres", "local", {"drill_postgres": "pip"},
            capabilities=ALL),
    Variant("postgres-external-allowlisted", "postgres", "external", allowlisted=True,
            capabilities=ALLOWLISTED),
    Variant("postgres-external", "postgres", "external"),
    Variant("redis-local", "redis", "local", {"drill_redis": "auto"}, capabilities=ALL),
    Variant("redis-local-pip-redis", "redis", "local", {"drill_redis": "pip"},
            capabilities=ALL),
    Variant("redis-external-allowlisted", "redis", "external", allowlisted=True,
            capabilities=ALLOWLISTED),
    Variant("redis-external", "redis", "external"),
    Variant("s3-local-seaweedfs", "s3", "local", {"drill_s3": "seaweedfs"}, capabilities=ALL),
    Variant("s3-local-moto", "s3", "local", {"drill_s3": "moto"}, capabilities=LOCAL_S3),
    Variant("s3-external-allowlisted", "s3", "external", allowlisted=True,
            capabilities=ALLOWLISTED),
    Variant("s3-external", "s3", "external"),
    Variant("postgres-docker", "postgres", "docker", capabilities=ALL),
    Variant("redis-docker", "redis", "docker", capabilities=ALL),
    # moto's image (sandbox/s3:moto); a MinIO image declares DOCKER_MINIO_S3 (see subject)
    Variant("s3-docker", "s3", "docker", capabilities=DOCKER_MOTO_S3),
]  # fmt: skip


def start(backend: Any, service: str, name: str, **settings: Any) -> ServiceHandle:
    if service == "s3":
        assert not settings
        return backend.s3(name)
    return getattr(backend, service)(name, **settings)


@dataclass
class ExternalServers:
    """Servers a local backend runs, seen by the external backend only through URLs."""

    postgres: Any
    redis: Any
    s3: Any

    def url(self, service: str, *, variant: str = "default", db: int = 0) -> str:
        if service == "postgres":
            return (
                f"postgresql://drillbook:$DRILL_EXT_PG_PW@127.0.0.1:{self.postgres.port}/postgres"
            )
        if service == "redis":
            return f"redis://:${{DRILL_EXT_REDIS_PW}}@127.0.0.1:{self.redis.port}/{db}"
        if variant == "allowlisted":  # keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
            return f"http://127.0.0.1:{self.s3.port}"
        return f"s3://{self.s3.access_key}:$DRILL_EXT_S3_SECRET@127.0.0.1:{self.s3.port}"

    def handle(self, service: str) -> Any:
        return getattr(self, service)

    def backend(self, service: str, *, allowlisted: bool, db: int = 0) -> ExternalBackend:
        """The external backend from its options, as ``--drill-backend=external`` builds it."""
        port = self.handle(service).port
        values = {opt.name: "" for opt in backends()["external"].options}
        url = self.url(service, variant="allowlisted" if allowlisted else "", db=db)
        values[f"drill_external_{service}"] = url
        # The same host with another port must not allow anything.
        allow = f"127.0.0.1:{port}" if allowlisted else f"127.0.0.1:{port + 1}"
        values["drill_allow_destructive"] = allow
        backend = backends()["external"].create(values)
        assert isinstance(backend, ExternalBackend)
        return backend

    def env(self) -> dict[str, str]:
        return {
            "DRILL_EXT_PG_PW": self.postgres.password,
            "DRILL_EXT_REDIS_PW": self.redis.password,
            "DRILL_EXT_S3_SECRET": self.s3.secret_key,
            "AWS_ACCESS_KEY_ID": self.s3.access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
        }


@pytest.fixture(scope="module")
def external_servers() -> Iterator[ExternalServers]:
    local = LocalBackend()
    started: list[ServiceHandle] = []
    try:
        for service in ("postgres", "redis", "s3"):
            started.append(start(local, service, f"ext-{service}"))
        servers = ExternalServers(*started)
        with pytest.MonkeyPatch.context() as mp:
            for key, value in servers.env().items():
                mp.setenv(key, value)
            yield servers
    finally:
        for handle in reversed(started):
            handle.close()


@dataclass
class Subject:
    variant: Variant
    backend: Any
    handle: Any
    ops: Any

    @contextlib.contextmanager
    def to_break(self) -> Iterator[Any]:
        """A server a test may kill or stop, with the data kept the service's durable way.

        The shared server when it already is durable (started again afterwards, as the
        session fixtures do); one of its own when durability needs other settings (Redis
        persists only with AOF or RDB snapshots on).
        """
        if not self.ops.durable:
            try:
                yield self.handle
            finally:
                self.handle.recover_for_next_test()
                self.ops.cleanup(self.handle)
            return
        handle = start(self.backend, self.variant.service, "compliance-own", **self.ops.durable)
        try:
            yield handle
        finally:
            handle.close()


@pytest.fixture(scope="module", params=VARIANTS, ids=[v.id for v in VARIANTS])
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    variant: Variant = request.param
    if variant.backend == "external":
        servers: ExternalServers = request.getfixturevalue("external_servers")
        backend: Any = servers.backend(variant.service, allowlisted=variant.allowlisted)
    else:
        # From the run's options (docker: the --drill-docker-* images CI passes); NOT RUN
        # (DrillNotRun) when it cannot work here, e.g. no Docker engine: never a skip.
        backend = create_backend(request.config, variant.backend, **variant.options)
    server: Any = start(backend, variant.service, "compliance")
    handle = server
    if variant.backend == "external" and variant.service == "postgres":
        # The URL's database is someone else's (read-only): write into one of the run's.
        dbname = server.new_database_name("compliance")
        server.create_database(dbname)
        handle = server.with_database(dbname)
    if getattr(handle, "implementation", "").startswith("minio"):
        variant = replace(variant, capabilities=DOCKER_MINIO_S3)
    ops = OPS[variant.service]
    try:
        yield Subject(variant, backend, handle, ops)
    finally:
        try:
            with contextlib.suppress(Exception):
                ops.cleanup(handle)
        finally:
            server.close()
            if variant.backend != "local":  # local: close() would end the session's servers
                backend.close()


def assert_not_run(action: Callable[[], Any], cap: Capability) -> DrillNotRun:
    """The operation is refused as NOT RUN (BACKEND_UNSUPPORTED) naming the capability."""
    with pytest.raises(DrillNotRun) as info:
        action()
    assert info.value.code == "BACKEND_UNSUPPORTED", info.value.reason
    assert cap.value in info.value.reason
    return info.value


def token() -> str:
    return secrets.token_hex(6)


# -- connect --------------------------------------------------------------------------------------


def test_connect_probe_and_version(subject: Subject) -> None:
    h = subject.handle
    h.probe()
    assert h.is_healthy()
    assert h.backend == subject.variant.backend
    assert h.kind == subject.variant.service
    version = h.version()
    assert isinstance(version, str) and version.strip()


def test_client_round_trip(subject: Subject) -> None:
    """A write through one client is read back through another."""
    key, value = token(), token()
    try:
        subject.ops.write(subject.handle, key, value)
        assert subject.ops.read(subject.handle, key) == value
        assert subject.ops.read(subject.handle, token()) is None
    finally:
        subject.ops.cleanup(subject.handle)  # leave nothing behind on a shared server


def test_password_never_in_safe_url_or_repr(subject: Subject) -> None:
    h = subject.handle
    assert h.secrets and all(h.secrets)
    for secret in h.secrets:
        assert secret in h.url  # the real URL carries it, for clients that need it
        for shown in (h.safe_url, repr(h), str(h), redact(h.url), redact(f"connect {h.url}")):
            assert secret not in shown, shown
    assert "***" in h.safe_url


# -- capabilities, both directions ---------------------------------------------------------------


def test_declared_capabilities(subject: Subject) -> None:
    assert set(subject.handle.capabilities) == set(subject.variant.capabilities)
    if subject.variant.backend == "external":
        assert not subject.handle.capabilities & PROCESS_CAPABILITIES
        assert subject.handle.supports(Capability.DESTRUCTIVE) == subject.variant.allowlisted


@pytest.mark.parametrize("cap", list(Capability), ids=[c.value for c in Capability])
def test_require_both_directions(subject: Subject, cap: Capability) -> None:
    h = subject.handle
    if h.supports(cap):
        h.require(cap)  # no NOT RUN for what the handle claims
        return
    err = assert_not_run(lambda: h.require(cap), cap)
    assert f"on the {subject.variant.backend} backend" in err.reason
    if subject.variant.backend == "external":
        why = "not run by drillbook" if cap in PROCESS_CAPABILITIES else "--drill-allow-destructive"
        assert why in err.reason


def test_kill_makes_unreachable_and_start_keeps_data(subject: Subject) -> None:
    h = subject.handle
    if not h.supports(Capability.KILL):
        assert_not_run(h.kill, Capability.KILL)
        assert h.is_healthy()  # refusing did nothing to the server
        return
    with subject.to_break() as own:
        key, value = token(), token()
        subject.ops.write(own, key, value)
        own.kill()
        assert not own.is_healthy()  # its protocol probe fails: nobody answers
        assert own.supports(Capability.STOP_START), "a killed server must be startable again"
        own.start()
        own.probe()
        if own.supports(Capability.PERSISTENT):
            assert subject.ops.read(own, key) == value


def test_stop_start_keeps_data(subject: Subject) -> None:
    h = subject.handle
    if not h.supports(Capability.STOP_START):
        assert_not_run(h.stop, Capability.STOP_START)
        assert_not_run(h.start, Capability.STOP_START)
        assert h.is_healthy()
        return
    with subject.to_break() as own:
        key, value = token(), token()
        subject.ops.write(own, key, value)
        own.stop()
        assert not own.is_healthy()
        own.start()
        own.probe()
        if own.supports(Capability.PERSISTENT):
            assert subject.ops.read(own, key) == value


def test_restart_with_changed_setting(subject: Subject) -> None:
    h = subject.handle
    if not h.supports(Capability.RESTART_SETTINGS):
        assert_not_run(
            lambda: h.restart(**(subject.ops.setting or {"x": 1})), Capability.RESTART_SETTINGS
        )
        return
    assert not subject.ops.setting_is_live(h)
    try:
        h.restart(**subject.ops.setting)
        h.probe()
        assert subject.ops.setting_is_live(h)
    finally:
        h.restart(**subject.ops.restore)
    assert not subject.ops.setting_is_live(h)


def test_data_dir(subject: Subject) -> None:
    h = subject.handle
    if not h.supports(Capability.DATA_DIR):
        assert_not_run(lambda: h.data_dir, Capability.DATA_DIR)
        return
    subject.ops.check_data_dir(h)


def test_logs(subject: Subject) -> None:
    h = subject.handle
    if not h.supports(Capability.LOGS):
        assert_not_run(lambda: h.require(Capability.LOGS), Capability.LOGS)
        return
    assert h.log_tail().strip()


def test_recover_for_next_test_leaves_it_healthy(subject: Subject) -> None:
    subject.handle.recover_for_next_test()
    assert subject.handle.is_healthy()


def test_server_operations_are_recorded_in_the_step(subject: Subject) -> None:
    """kill, stop, start and restart each land in the running drill step (trace), on every
    backend; an operation the handle cannot do is recorded too, as failed, with the reason."""
    records: list[tuple[str, str, int, str]] = []

    def recorder(kind: str, text: str, start: float, end: float, status: int, out: str) -> None:
        assert end >= start
        records.append((kind, text, status, out))

    h = subject.handle
    ops = ("kill -KILL", "start", "stop", "restart")
    breakable = h.supports(Capability.KILL, Capability.STOP_START)
    with (
        subject.to_break() if breakable else contextlib.nullcontext(h) as own,
        trace.recording(recorder),
    ):
        if breakable:
            own.kill()
            own.start()
            own.stop()
            own.start()
        else:
            with pytest.raises(DrillNotRun):
                own.kill()
        if own.supports(Capability.RESTART_SETTINGS):
            own.restart(**subject.ops.durable)
        else:
            with pytest.raises(DrillNotRun):
                own.restart()
    assert records and all(kind == "server" for kind, _, _, _ in records), records
    assert all(text.startswith(f"{h.kind} {own.name}: ") for _, text, _, _ in records), records
    done = {op for op in ops for _, text, status, _ in records if status == 0 and f": {op}" in text}
    refused = [(text, out) for _, text, status, out in records if status != 0]
    expected = {"kill -KILL", "start", "stop"} if breakable else set()
    if h.supports(Capability.RESTART_SETTINGS):
        expected.add("restart")
    assert done == expected, records
    for text, out in refused:  # each refusal says what could not be done
        assert "DrillNotRun" in out and "cannot do" in out, (text, out)
    assert len(refused) == (not h.supports(Capability.KILL)) + (
        not h.supports(Capability.RESTART_SETTINGS)
    ), records


def test_every_registered_backend_is_in_the_suite() -> None:
    assert {v.backend for v in VARIANTS} == set(backends())
    for backend in backends():
        assert {v.service for v in VARIANTS if v.backend == backend} == set(OPS), backend


def test_every_option_is_a_flag_an_ini_key_and_an_env_var(pytestconfig: pytest.Config) -> None:
    for spec in backends().values():
        for opt in spec.options:
            assert opt.name.startswith("drill_") and opt.flag == "--" + opt.name.replace("_", "-")
            assert opt.env == "DRILLBOOK_" + opt.name.removeprefix("drill_").upper(), opt
            pytestconfig.getoption(opt.name)  # registered as a flag ...
            pytestconfig.getini(opt.name)  # ... and as an ini key
            assert opt.problem(opt.default) is None, opt  # the default is valid


# -- the external backend: what only it does -----------------------------------------------------


def test_external_refuses_settings_and_second_server(external_servers: ExternalServers) -> None:
    backend = external_servers.backend("postgres", allowlisted=False)
    with pytest.raises(DrillNotRun) as info:
        backend.postgres("pg", work_mem="7MB")
    assert info.value.code == "BACKEND_UNSUPPORTED"
    assert "work_mem" in info.value.reason and "cannot change its settings" in info.value.reason
    first = backend.postgres("pg-session")
    try:
        with pytest.raises(DrillNotRun) as info:
            backend.postgres("standby")
        assert info.value.code == "BACKEND_UNSUPPORTED"
        assert "one server per service" in info.value.reason
        assert "local or docker" in info.value.reason
    finally:
        first.close()
    again = backend.postgres("pg-after-close")  # the slot is free again
    again.close()
    backend.close()


def test_external_pg_fixture_flow(external_servers: ExternalServers) -> None:
    """What the ``pg`` fixture does: template, fresh database, a view on it, drop."""
    backend = external_servers.backend("postgres", allowlisted=False)
    h = backend.postgres("pg-session")
    name = h.new_database_name()
    try:
        ensure_template(h)
        assert h.template_db.startswith("drill_template_") and h.record.tag in h.template_db
        assert h.record.tag in name
        h.create_database(name, template=h.template_db)
        view = h.with_database(name)
        view.execute("CREATE TABLE t (x int)")
        view.execute("INSERT INTO t VALUES (42)")
        assert view.execute("SELECT x FROM t") == [(42,)]
        assert view.execute("SELECT current_database()") == [(name,)]
        assert view.dsn().endswith("/" + name) and view.env()["PGDATABASE"] == name
        assert h.password not in repr(view) and h.password not in view.safe_url
        err = assert_not_run(view.kill, Capability.KILL)
        assert "not run by drillbook" in err.reason
        h.recover_for_next_test()  # probe only
    finally:
        h.drop_database(name)
        h.close()  # drops what the run created: the template too
        backend.close()
    assert not external_servers.postgres.execute(
        "SELECT 1 FROM pg_database WHERE datname IN (%s, %s)", (name, h.template_db)
    )


def test_external_pg_without_createdb_is_not_run(
    external_servers: ExternalServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    role, password = f"drill_limited_{token()}", secrets.token_urlsafe(12)
    external_servers.postgres.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB PASSWORD '{password}'")
    monkeypatch.setenv("DRILL_LIMITED_PW", password)
    backend = ExternalBackend(
        postgres=f"postgresql://{role}:$DRILL_LIMITED_PW@127.0.0.1:"
        f"{external_servers.postgres.port}/postgres"
    )
    try:
        h = backend.postgres("pg-session")
        with pytest.raises(DrillNotRun) as info:
            h.create_database(f"drill_{token()}")
        assert "CREATEDB" in info.value.reason and password not in info.value.reason
        h.close()
    finally:
        backend.close()
        external_servers.postgres.execute(f"DROP ROLE {role}")


def test_external_unreachable_is_not_run_and_recover_never_starts() -> None:
    port = procs.free_port()  # nobody listens there
    backend = ExternalBackend(postgres=f"postgresql://u:hunter2-secret@127.0.0.1:{port}/db")
    with pytest.raises(DrillNotRun) as info:
        backend.postgres("pg")
    assert info.value.code == "SETUP_FAILED" and "does not answer" in info.value.reason
    assert "hunter2-secret" not in info.value.reason
    h = ExternalPostgres("pg", PostgresTarget("127.0.0.1", port, "u", "hunter2-secret", "db"))
    with pytest.raises(DrillNotRun) as info:
        h.recover_for_next_test()
    assert "cannot start it again" in info.value.reason
    h.close()


def test_external_redis_owns_only_an_empty_database(
    external_servers: ExternalServers,
) -> None:
    """A database holding someone's keys is refused at open (allow-listed: flushed, that
    database only); an empty one is the run's, and reset deletes exactly the keys the run
    wrote: a key someone else wrote there meanwhile stays, and the next drill is NOT RUN."""
    port, password = external_servers.redis.port, external_servers.redis.password
    other = redis_lib.Redis(host="127.0.0.1", port=port, password=password, db=7)
    neighbour = redis_lib.Redis(host="127.0.0.1", port=port, password=password, db=6)
    other.set("someone-else", "1")
    neighbour.set("next-door", "1")
    plain = external_servers.backend("redis", allowlisted=False, db=7)
    allowed = external_servers.backend("redis", allowlisted=True, db=7)
    scratch = external_servers.backend("redis", allowlisted=False, db=8)
    try:
        with pytest.raises(DrillNotRun) as info:
            plain.redis("redis-session")
        assert "1 keys" in info.value.reason and "--drill-allow-destructive" in info.value.reason
        assert other.get("someone-else") == b"1"

        s = scratch.redis("redis-session")
        s.reset()
        s.client().set("mine", "1")
        with s.client().pipeline() as pipe:
            pipe.set("mine-too", "2")
            pipe.rpush("mine-list", "a")
            pipe.execute()
        s.reset()
        assert s.client().dbsize() == 0
        s.client().set("mine", "1")
        intruder = redis_lib.Redis(host="127.0.0.1", port=port, password=password, db=8)
        intruder.set("arrived-meanwhile", "x")
        with pytest.raises(DrillNotRun) as info:
            s.reset()
        assert "1 keys in database 8" in info.value.reason
        assert intruder.get("arrived-meanwhile") == b"x" and intruder.get("mine") is None
        intruder.delete("arrived-meanwhile")
        intruder.close()
        s.close()

        a = allowed.redis("redis-session")
        a.reset()  # allowlisted: may be emptied, but only its own database
        assert other.dbsize() == 0 and neighbour.get("next-door") == b"1"
        a.close()
    finally:
        other.flushdb()
        neighbour.flushdb()
        for c in (other, neighbour):
            c.close()
        for b in (plain, allowed, scratch):
            b.close()


def test_external_s3_reset_removes_only_the_runs_buckets(
    external_servers: ExternalServers,
) -> None:
    """Reset and close delete the buckets the run created, never someone else's, not even
    on an allow-listed host (the allowlist lets drills change them, not teardown)."""
    direct = external_servers.s3.client()
    direct.create_bucket(Bucket="someone-elses")
    direct.put_object(Bucket="someone-elses", Key="k", Body=b"theirs")
    backend = external_servers.backend("s3", allowlisted=False)
    allowed = external_servers.backend("s3", allowlisted=True)
    try:
        for b in (backend, allowed):
            h = b.s3("s3-session")
            h.reset()
            h.client().create_bucket(Bucket="drill-own")
            h.client().put_object(Bucket="drill-own", Key="k", Body=b"ours")
            h.reset()
            names = [x["Name"] for x in direct.list_buckets()["Buckets"]]
            assert names == ["someone-elses"], names
            h.client().create_bucket(Bucket="drill-own-2")
            h.close()  # teardown removes it too
            names = [x["Name"] for x in direct.list_buckets()["Buckets"]]
            assert names == ["someone-elses"], names
        body = direct.get_object(Bucket="someone-elses", Key="k")["Body"].read()
        assert body == b"theirs"
    finally:
        with contextlib.suppress(ClientError):
            direct.delete_object(Bucket="someone-elses", Key="k")
            direct.delete_bucket(Bucket="someone-elses")
        backend.close()
        allowed.close()


def test_external_backend_through_the_session_fixtures(
    external_servers: ExternalServers, tmp_path: Path
) -> None:
    """``--drill-backend=external``: the pg, redis_db and s3 fixtures work, kill is NOT RUN."""
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    (tmp_path / "test_drill.py").write_text(
        textwrap.dedent(
            """
            from drillbook.fixtures.base import Capability

            def test_flow(pg, redis_db, s3):
                pg.execute("CREATE TABLE t (x int)")
                pg.execute("INSERT INTO t VALUES (1)")
                assert pg.execute("SELECT x FROM t") == [(1,)]
                redis_db.client().set("k", "v")
                assert redis_db.client().get("k") == b"v"
                s3.client().create_bucket(Bucket="drill-flow")

            def test_kill_is_not_run(pg):
                pg.kill()
            """
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DRILLBOOK_BACKEND": "external",
        "DRILLBOOK_EXTERNAL_POSTGRES": external_servers.url("postgres"),
        "DRILLBOOK_EXTERNAL_REDIS": external_servers.url("redis", db=9),
        "DRILLBOOK_EXTERNAL_S3": external_servers.url("s3"),
    }
    env.pop("DRILLBOOK_ALLOW_DESTRUCTIVE", None)
    env.pop("DRILLBOOK_ALLOW_NOT_RUN", None)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 1, out  # the NOT RUN fails the run
    assert "1 passed" in out, out
    assert "NOT RUN" in out and "cannot do: kill" in out and "not run by drillbook" in out, out
    for secret in (
        external_servers.postgres.password,
        external_servers.redis.password,
        external_servers.s3.secret_key,
    ):
        assert secret not in out
    # The fixtures cleaned up after themselves on the server, the template included.
    assert not external_servers.postgres.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE 'drill\\_%%'"
    )
    buckets = external_servers.s3.client().list_buckets()["Buckets"]
    assert "drill-flow" not in [b["Name"] for b in buckets]


# -- parsing ---------------------------------------------------------------------------------------


def test_password_by_env_var_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILL_EXT_PW", "p@ss/wörd:1")
    for written in ("$DRILL_EXT_PW", "${DRILL_EXT_PW}", "$%7BDRILL_EXT_PW%7D"):
        t = parse_postgres_url(f"postgresql://drillbook:{written}@db.staging:6543/app")
        assert (t.host, t.port, t.user, t.password, t.dbname) == (
            "db.staging",
            6543,
            "drillbook",
            "p@ss/wörd:1",
            "app",
        )
    assert parse_postgres_url("postgresql://u:%24DRILL_EXT_PW@h/d").password == "$DRILL_EXT_PW"
    assert parse_postgres_url("postgresql://u:lit%2Fpw@h").password == "lit/pw"
    assert parse_postgres_url("postgresql://u:lit@h").dbname == "u"  # libpq's default
    r = parse_redis_url("rediss://ops:$DRILL_EXT_PW@cache:6380/3")
    assert (r.username, r.password, r.db, r.tls, r.port) == ("ops", "p@ss/wörd:1", 3, True, 6380)
    assert parse_redis_url("redis://:${DRILL_EXT_PW}@cache").port == 6379


def test_missing_env_var_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRILL_NOT_SET_PW", raising=False)
    for parse, url, option in (
        (parse_postgres_url, "postgresql://u:$DRILL_NOT_SET_PW@h/d", "--drill-external-postgres"),
        (parse_redis_url, "redis://:${DRILL_NOT_SET_PW}@h", "--drill-external-redis"),
        (parse_s3_url, "s3://KEY:$DRILL_NOT_SET_PW@h:9000", "--drill-external-s3"),
    ):
        with pytest.raises(DrillNotRun) as info:
            parse(url)
        assert "DRILL_NOT_SET_PW" in info.value.reason and option in info.value.reason


@pytest.mark.parametrize(
    ("kind", "flag", "env"),
    [
        ("postgres", "--drill-external-postgres", "DRILLBOOK_EXTERNAL_POSTGRES"),
        ("redis", "--drill-external-redis", "DRILLBOOK_EXTERNAL_REDIS"),
        ("s3", "--drill-external-s3", "DRILLBOOK_EXTERNAL_S3"),
    ],
)
def test_missing_url_is_not_run_naming_the_option(kind: str, flag: str, env: str) -> None:
    backend = ExternalBackend(postgres="", redis="", s3="", allow_destructive="")
    with pytest.raises(DrillNotRun) as info:
        getattr(backend, kind)(f"{kind}-session")
    assert flag in info.value.reason and env in info.value.reason
    assert backend.describe()[kind].startswith("not configured")


def test_bad_urls_are_not_run_without_echoing_the_password() -> None:
    for kind, url in (
        ("postgres", "mysql://u:topsecret1@h/d"),
        ("postgres", "postgresql://u:topsecret1@h:notaport/d"),
        ("postgres", "postgresql://u:topsecret1@h/d?bogus_option=1"),
        ("redis", "redis://:topsecret1@h/zero"),
    ):
        with pytest.raises(DrillNotRun) as info:
            getattr(ExternalBackend(**{kind: url}), kind)("x")
        assert info.value.code == "SETUP_FAILED"
        assert "topsecret1" not in info.value.reason, info.value.reason


def test_s3_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3-secret-from-env")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    t = parse_s3_url("https://minio.staging")
    assert (t.scheme, t.host, t.port, t.access_key, t.secret_key, t.region) == (
        "https",
        "minio.staging",
        443,
        "AKIAEXAMPLE",
        "s3-secret-from-env",
        "eu-west-3",
    )
    monkeypatch.setenv("DRILL_S3_SECRET", "s3-secret-by-name")
    t = parse_s3_url("s3://OTHERKEY:$DRILL_S3_SECRET@minio:9000?region=us-west-2")
    assert (t.scheme, t.port, t.access_key, t.secret_key, t.region) == (
        "http",
        9000,
        "OTHERKEY",
        "s3-secret-by-name",
        "us-west-2",
    )
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(DrillNotRun) as info:
        parse_s3_url("http://minio:9000")
    assert "AWS_SECRET_ACCESS_KEY" in info.value.reason


def test_secrets_redacted_in_repr_and_describe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILL_EXT_PW", "by-name-secret-1")
    t = parse_postgres_url("postgresql://drillbook:$DRILL_EXT_PW@h:5432/app?sslmode=require")
    h = ExternalPostgres("pg", t)
    assert "by-name-secret-1" in h.url and "sslmode=require" in h.url
    for shown in (repr(h), str(h), h.safe_url, redact(h.url), redact(str(h.env()))):
        assert "by-name-secret-1" not in shown, shown
    assert h.env()["PGSSLMODE"] == "require"
    backend = ExternalBackend(
        postgres="postgresql://u:literal-secret-2@h/d", redis="redis://:$DRILL_EXT_PW@h"
    )
    described = str(backend.describe())
    assert "literal-secret-2" not in described and "by-name-secret-1" not in described
    assert redact("oops literal-secret-2") == "oops ***"  # registered at construction
    assert backend.describe()["allow_destructive"].startswith("none")


def test_allowlist_parsing() -> None:
    assert parse_allowlist("") == frozenset()
    assert parse_allowlist("db.staging:5432, cache.staging  [::1]:6379,minio") == {
        ("db.staging", 5432),
        ("cache.staging", None),
        ("::1", 6379),
        ("minio", None),
    }
    b = ExternalBackend(allow_destructive="DB.staging:5432,minio")
    assert b.allows_destructive("db.staging", 5432)
    assert not b.allows_destructive("db.staging", 5433)
    assert b.allows_destructive("minio", 9000) and b.allows_destructive("MINIO", 1)
    assert not b.allows_destructive("other", 5432)
    with pytest.raises(DrillNotRun) as info:
        parse_allowlist("db:port")
    assert "--drill-allow-destructive" in info.value.reason
