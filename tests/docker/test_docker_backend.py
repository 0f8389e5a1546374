"""The docker backend beyond the compliance suite: no pulls, labels and cleanup, the
host-network mode, the host-command relay (archive_command) and the option plumbing.

Tests marked "engine" need a reachable Docker engine and the images named by the
``--drill-docker-*`` options (CI: the locally built ``sandbox/*`` images); without an
engine they end NOT RUN through the backend's DrillNotRun, never skipped. The others run
anywhere.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drillbook.errors import DrillNotRun
from drillbook.fixtures import backend as backend_mod
from drillbook.fixtures import docker as dk
from drillbook.fixtures import procs
from drillbook.fixtures.base import Capability
from drillbook.fixtures.docker import client as dkc  # the engine
from drillbook.fixtures.docker import containers as dkl  # labels, docker.json, removal
from drillbook.fixtures.docker import images as dki
from drillbook.fixtures.docker import relay as dkr
from drillbook.fixtures.docker.runner import ContainerRunner
from drillbook.fixtures.options import get_option
from drillbook.fixtures.runner import OsUser

ROOT = Path(__file__).resolve().parents[2]


# -- anywhere: pure functions ---------------------------------------------------------------------


def test_option_defaults_are_the_pinned_images() -> None:
    opts = {o.name: o for o in backend_mod.backends()["docker"].options}
    for service, image in dki.DEFAULT_IMAGES.items():
        opt = opts[f"drill_docker_{service}_image"]
        assert opt.default == image
        assert opt.env == f"DRILLBOOK_DOCKER_{service.upper()}_IMAGE"
        assert ":" in image and not image.endswith(":latest")  # pinned
    assert opts["drill_docker_network"].default == "auto"
    assert dki.DEFAULT_IMAGES["postgres"].startswith("postgres:")
    assert dki.DEFAULT_IMAGES["redis"].startswith("redis:")
    assert dki.DEFAULT_IMAGES["s3"].startswith("minio/minio:")


def test_fill_placeholders_quotes_like_a_shell_and_keeps_unknown() -> None:
    cmd = "'/usr/bin/python3' '/x/wal_s3.py' push '/x/c.json' %p %f 100%% %r"
    out = dkr.fill_placeholders(cmd, {"p": "pg_wal/000000010000000000000001", "f": "0001"})
    assert out == (
        "'/usr/bin/python3' '/x/wal_s3.py' push '/x/c.json' "
        "pg_wal/000000010000000000000001 0001 100% %r"
    )
    # A value is one shell word whatever it holds.
    assert dkr.fill_placeholders("cp %p /a", {"p": "a b;rm -rf /"}) == "cp 'a b;rm -rf /' /a"


def test_relayed_command_passes_only_the_placeholders_used() -> None:
    script, spool = Path("/r/relay.sh"), Path("/r/spool")
    assert (
        dkr.relayed_command("archive_command", "push %p %f", script, spool, "pf")
        == "/r/relay.sh /r/spool archive_command p=%p f=%f"
    )
    assert (
        dkr.relayed_command("restore_command", "fetch %f %p", script, spool, "pfr")
        == "/r/relay.sh /r/spool restore_command p=%p f=%f"
    )
    # %r is not a placeholder of archive_command (PostgreSQL 16 rejects it there).
    line = dkr.relayed_command("archive_command", "x %r", script, spool, "pf")
    assert line.endswith("archive_command")


def test_parse_passwd_and_s3_flavour() -> None:
    text = "root:x:0:0::/root:/bin/sh\npostgres:x:100:102:PG:/var/lib/postgresql:/bin/bash\n"
    assert dki.parse_passwd(text, "postgres") == (100, 102)
    assert dki.parse_passwd(text, "redis") is None

    def info(ref: str, entry: tuple[str, ...] = (), cmd: tuple[str, ...] = ()) -> dki.ImageInfo:
        return dki.ImageInfo(ref, "sha256:x", {}, "", entry, cmd)

    assert dki.s3_flavour(info("minio/minio:RELEASE.2025-04-22T22-12-26Z")) == "minio"
    assert dki.s3_flavour(info("sandbox/s3:moto", cmd=("moto_server", "-p", "9000"))) == "moto"
    assert (
        dki.s3_flavour(info("motoserver/moto:5", entry=("/usr/local/bin/moto_server",))) == "moto"
    )
    with pytest.raises(DrillNotRun) as err:
        dki.s3_flavour(info("nginx:1", cmd=("nginx",)))
    assert "--drill-docker-s3-image" in err.value.reason


class _Net:
    def __init__(self, name: str) -> None:
        self.name = name


class _FakeClient:
    def __init__(self, bridge: bool) -> None:
        self.networks = self
        self.bridge = bridge

    def list(self, names: list[str]) -> list[_Net]:
        return [_Net("bridge")] if self.bridge and "bridge" in names else []


def test_network_mode_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(dkc.SANDBOX_NETWORK_ENV, raising=False)
    assert dkc.resolve_network("auto", _FakeClient(bridge=True)) == "bridge"
    assert dkc.resolve_network("auto", _FakeClient(bridge=False)) == "host"
    assert dkc.resolve_network("host", _FakeClient(bridge=True)) == "host"
    monkeypatch.setenv(dkc.SANDBOX_NETWORK_ENV, "host")
    assert dkc.resolve_network("auto", _FakeClient(bridge=True)) == "host"
    with pytest.raises(DrillNotRun) as err:
        dkc.resolve_network("bridge", _FakeClient(bridge=False))
    assert "--drill-docker-network=host" in err.value.reason
    with pytest.raises(ValueError):
        dkc.resolve_network("overlay", _FakeClient(bridge=True))


def test_bad_network_option_is_refused(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    (tmp_path / "test_x.py").write_text("def test_x(drill_backend):\n    pass\n")
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--drill-backend=docker", "--drill-docker-network=overlay", str(tmp_path)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "--drill-docker-network='overlay'" in out and "auto, host, bridge" in out, out
    assert " passed" not in out, out


def test_relay_runs_the_host_command_and_returns_its_status(tmp_path: Path) -> None:
    """The container side is a POSIX sh script: run it here against a registered spool."""
    root = tmp_path / "pg"
    data, spool = root / "data", root / "relay"
    (data / "pg_wal").mkdir(parents=True)
    spool.mkdir()
    script = root / "relay.sh"
    script.write_text(dkr.RELAY_SCRIPT)
    script.chmod(0o755)
    (data / "pg_wal" / "seg1").write_text("wal bytes")
    archive = tmp_path / "archive"
    archive.mkdir()
    relay = dkr.HostCommandRelay()
    relay.register(
        spool,
        root,
        {
            "archive_command": f"cp %p {archive}/%f.tmp && mv {archive}/%f.tmp {archive}/%f",
            "restore_command": f"cp {archive}/%f %p",
        },
        OsUser.current(),
    )
    try:

        def shim(setting: str, command: str) -> subprocess.CompletedProcess[str]:
            line = dkr.relayed_command(setting, command, script, spool, "pfr")
            return subprocess.run(
                ["/bin/sh", "-c", line.replace("%p", "pg_wal/seg1").replace("%f", "seg1")],
                cwd=data,
                capture_output=True,
                text=True,
                timeout=30,
            )

        res = shim("archive_command", "%p %f")
        assert res.returncode == 0, res.stderr
        assert (archive / "seg1").read_text() == "wal bytes"
        (data / "pg_wal" / "seg1").unlink()
        res = shim("restore_command", "%f %p")
        assert res.returncode == 0, res.stderr
        assert (data / "pg_wal" / "seg1").read_text() == "wal bytes"
        (archive / "seg1").unlink()
        res = shim("restore_command", "%f %p")  # absent: the host command's failure
        assert res.returncode != 0 and "seg1" in res.stderr
        assert not list(spool.iterdir())  # every request answered and cleaned up
    finally:
        relay.unregister(spool)


# -- with an engine -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docker_backend(pytestconfig: pytest.Config) -> Iterator[dk.DockerBackend]:
    backend = backend_mod.create_backend(pytestconfig, "docker")  # NOT RUN without an engine
    assert isinstance(backend, dk.DockerBackend)
    try:
        yield backend
    finally:
        backend.close()


def runner_of(handle: Any) -> ContainerRunner:
    runner = handle.runner
    assert isinstance(runner, ContainerRunner)
    return runner


def _labelled(backend: dk.DockerBackend, **labels: str) -> list[Any]:
    filters = [f"{k}={v}" for k, v in {dkl.LABEL_RUN: backend.run.path.name, **labels}.items()]
    return backend.engine.client.containers.list(all=True, filters={"label": filters})


def test_network_mode_binds_loopback_only(docker_backend: dk.DockerBackend) -> None:
    """host: 127.0.0.1 on a free port, nothing published; bridge: published on 127.0.0.1."""
    pg = docker_backend.postgres("net")
    try:
        wrapped = runner_of(pg).wrapped()
        wrapped.reload()
        host_config = wrapped.attrs["HostConfig"]
        if docker_backend.network_mode == "host":
            assert host_config["NetworkMode"] == "host"
            assert not host_config.get("PortBindings")
            assert pg.execute("SHOW listen_addresses") == [("127.0.0.1",)]
            assert pg.execute("SHOW port") == [(str(pg.port),)]
        else:
            assert host_config["PortBindings"] == {
                "5432/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(pg.port)}]
            }
            assert pg.execute("SHOW port") == [("5432",)]
        assert pg.execute("SHOW data_checksums") == [("on",)]  # initdb like the local backend
    finally:
        pg.close()


def test_containers_labelled_recorded_and_removed(docker_backend: dk.DockerBackend) -> None:
    r = docker_backend.redis("labels")
    cid = runner_of(r).container_id
    assert cid
    [c] = _labelled(docker_backend, **{dkl.LABEL_HANDLE: "labels"})
    assert c.id == cid
    assert c.labels[dkl.LABEL_OWNER] == str(os.getpid())
    assert c.labels[dkl.LABEL_SERVICE] == "redis"
    registry = json.loads((docker_backend.run.path / dkl.REGISTRY_FILE).read_text())
    assert cid in registry["containers"]
    assert registry["docker_host"] == dkc.docker_host()
    r.kill()  # a killed server's container stays until start() or close()
    r.start()
    assert runner_of(r).container_id != cid  # recreated on the same mount and port
    r.close()
    assert not _labelled(docker_backend, **{dkl.LABEL_HANDLE: "labels"})
    registry = json.loads((docker_backend.run.path / dkl.REGISTRY_FILE).read_text())
    assert not [v for v in registry["containers"].values() if v["handle"] == "labels"]


def test_missing_image_is_not_run_and_never_pulled(
    docker_backend: dk.DockerBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docker.models.images

    pulls: list[Any] = []
    monkeypatch.setattr(
        docker.models.images.ImageCollection, "pull", lambda self, *a, **k: pulls.append(a)
    )
    monkeypatch.setattr(
        docker.api.client.APIClient, "pull", lambda self, *a, **k: pulls.append(a), raising=False
    )
    backend = dk.DockerBackend(
        postgres_image="drillbook-test/absent:1",
        redis_image="drillbook-test/absent:2",
        s3_image="drillbook-test/absent-minio:3",
        network=docker_backend.network_mode,
    )
    try:
        for service, call in (
            ("postgres", lambda: backend.postgres("absent")),
            ("redis", lambda: backend.redis("absent")),
            ("s3", lambda: backend.s3("absent")),
        ):
            with pytest.raises(DrillNotRun) as err:
                call()
            assert err.value.code == "MISSING_BINARY"
            assert f"docker pull {backend.images[service]}" in err.value.reason
            assert dki.IMAGE_OPTIONS[service] in err.value.reason
        # The container class refuses too (an image removed between check and create).
        c = dkl.container_class()(
            "drillbook-test/absent:4",
            service="redis",
            labels=dkl.run_labels(backend.run),
            network_mode=backend.network_mode,
        )
        with pytest.raises(DrillNotRun):
            c.create()
        assert pulls == []
        assert "not present" in backend.describe()["redis"]
    finally:
        backend.close()


def test_wal_archive_through_the_relay(docker_backend: dk.DockerBackend) -> None:
    """archive_command names the host's python and files: the relay runs it on the host."""
    from drillbook.scenarios.postgres.backup import WalArchive

    s3 = docker_backend.s3("wal")
    pg = None
    try:
        archive = WalArchive.create(s3, "wal-relay")
        pg = docker_backend.postgres("wal", **archive.server_settings(1))
        pg.execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g")
        segment = archive.wait_archived(pg, timeout=60)
        assert segment in archive.segments()
        assert archive.lag(pg)["failed_count"] == 0
        shown = pg.execute("SHOW archive_command")[0][0]
        assert "relay.sh" in shown and "python" not in shown
    finally:
        if pg is not None:
            pg.close()
        s3.close()


def test_pg_kill_is_sigkill_of_the_whole_server(docker_backend: dk.DockerBackend) -> None:
    pg = docker_backend.postgres("kill")
    try:
        assert pg.supports(Capability.KILL, Capability.DATA_DIR)
        pg.execute("CREATE TABLE t (x int)")
        pg.execute("INSERT INTO t VALUES (1)")
        pg.kill(signal.SIGKILL)
        wrapped = runner_of(pg).wrapped()
        wrapped.reload()
        assert wrapped.attrs["State"]["ExitCode"] == 137  # SIGKILL, no clean shutdown
        assert (pg.data_dir / "postmaster.pid").exists()  # crashed, not shut down
        pg.start()  # crash recovery in place
        assert pg.execute("SELECT x FROM t") == [(1,)]
        assert "database system was interrupted" in pg.log_tail(40)
    finally:
        pg.close()


def test_kill_9_of_pytest_leaves_nothing_after_clean(
    docker_backend: dk.DockerBackend, tmp_path: Path
) -> None:
    """A pytest killed with SIGKILL leaves containers; the run-dir and label sweeps remove them."""
    base = tmp_path / "runs"
    script = textwrap.dedent(
        f"""
        import os, signal
        from drillbook.fixtures.docker import DockerBackend
        b = DockerBackend(redis_image={docker_backend.images["redis"]!r},
                          network={docker_backend.network_mode!r})
        b.redis("orphan")
        print(b.run.path, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, procs.BASE_ENV: str(base), "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == -signal.SIGKILL, res.stderr
    run_dir = Path(res.stdout.strip().splitlines()[-1])
    client = docker_backend.engine.client
    left = client.containers.list(all=True, filters={"label": f"{dkl.LABEL_RUN}={run_dir.name}"})
    assert len(left) == 1  # the server outlived its pytest: this is what clean is for
    assert (run_dir / dkl.REGISTRY_FILE).exists()
    removed = dkl.remove_run_containers(run_dir)
    assert len(removed) == 1 and "orphan" in removed[0]
    assert not client.containers.list(
        all=True, filters={"label": f"{dkl.LABEL_RUN}={run_dir.name}"}
    )
    # The label sweep finds what no run directory remembers any more.
    res = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    run_dir = Path(res.stdout.strip().splitlines()[-1])
    __import__("shutil").rmtree(run_dir, ignore_errors=True)
    removed = dkl.reap_orphan_containers()
    assert any("orphan" in r for r in removed)
    assert not client.containers.list(
        all=True, filters={"label": f"{dkl.LABEL_RUN}={run_dir.name}"}
    )


def test_session_fixtures_leave_no_container(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    """``--drill-backend=docker`` through pg/redis_db/s3, Ryuk disabled: nothing remains."""
    client = dkc.engine_client()  # NOT RUN without an engine
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    (tmp_path / "test_flow.py").write_text(
        textwrap.dedent(
            """
            import os
            from drillbook.fixtures import procs

            def test_flow(pg, redis_db, s3):
                with open(os.environ["DRILL_RUN_NAME_FILE"], "w") as f:
                    f.write(procs.current_run().path.name)
                pg.execute("CREATE TABLE t (x int)")
                redis_db.client().set("k", "v")
                s3.client().create_bucket(Bucket="drill-flow")
                assert s3.version().startswith(("moto", "minio"))
            """
        )
    )
    name_file = tmp_path / "run-name"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TESTCONTAINERS_RYUK_DISABLED": "true",
        "DRILL_RUN_NAME_FILE": str(name_file),
    }
    args = [
        f"{o.flag}={get_option(pytestconfig, o)}"
        for o in backend_mod.backends()["docker"].options
        if o.name.startswith("drill_docker_")
    ]
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--drill-backend=docker",
         *args, str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    run_name = name_file.read_text()
    left = client.containers.list(all=True, filters={"label": f"{dkl.LABEL_RUN}={run_name}"})
    assert not left, [c.name for c in left]
    assert not (procs.base_dir() / run_name).exists()
