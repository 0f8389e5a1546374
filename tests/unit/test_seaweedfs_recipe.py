"""The SeaweedFS recipe and the S3 server choice, without starting a server.

- ``--drill-s3``: auto finds a weed (PATH, then pip), falls back to moto; seaweedfs with
  none is NOT RUN naming the pip package; an explicit path that is no weed is refused at
  start-up (the option check) and NOT RUN at use;
- the command line: every listener on 127.0.0.1 on a port of its own, telemetry off,
  the harness's defaults, a setting overriding one and None bringing it back, capital
  keys as environment variables, no key or secret on it;
- the flags that place the server are refused as settings;
- the admin port pair (weed's worker dials admin port + 10000) stays below the
  ephemeral range;
- a drill record names the servers of the fixtures it used (a dead one is skipped).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from drillbook.errors import DrillNotRun
from drillbook.fixtures import binaries, procs
from drillbook.fixtures.base import ServiceHandle
from drillbook.fixtures.local import S3_OPTION
from drillbook.fixtures.recipes import seaweedfs
from drillbook.fixtures.runner import OsUser
from drillbook.fixtures.versions import versions_of


@pytest.fixture(autouse=True)
def fresh_lookup() -> Any:
    binaries.find_s3.cache_clear()
    yield
    binaries.find_s3.cache_clear()


def fake_weed(tmp_path: Path, version: str = "version 8000GB 4.48 pypi linux amd64") -> Path:
    path = tmp_path / "weed"
    path.write_text(f"#!/bin/sh\necho '{version}'\n")
    path.chmod(0o755)
    return path


def test_auto_prefers_a_weed_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weed = fake_weed(tmp_path, "version 30GB 3.99 linux amd64")
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    found = binaries.find_s3("auto")
    assert (found.server, found.version, found.source, found.path) == (
        "seaweedfs",
        "3.99",
        "system",
        weed.resolve(),
    )
    assert found.title == "SeaweedFS 3.99"


def test_auto_falls_back_to_pip_then_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    pip = binaries.pip_weed()
    if pip is not None:
        assert binaries.find_s3("auto").source == "pip"
    monkeypatch.setattr(binaries, "pip_weed", lambda: None)
    binaries.find_s3.cache_clear()
    assert binaries.find_s3("auto").server == "moto"
    with pytest.raises(DrillNotRun) as info:
        binaries.find_s3("seaweedfs")
    assert info.value.code == "MISSING_BINARY"
    assert f"pip install {binaries.SEAWEEDFS_DIST}" in info.value.reason


def test_moto_is_the_explicit_choice() -> None:
    found = binaries.find_s3("moto")
    assert found.server == "moto" and found.path is None and found.title.startswith("moto ")


def test_an_explicit_path_must_be_a_weed(tmp_path: Path) -> None:
    not_weed = tmp_path / "true"
    shutil.copy("/bin/true", not_weed)
    with pytest.raises(DrillNotRun, match="not a working weed binary"):
        binaries.find_s3(str(not_weed))
    assert S3_OPTION.problem(str(tmp_path / "missing")) is not None
    assert "not a working weed binary" in (S3_OPTION.problem(str(not_weed)) or "")
    assert S3_OPTION.problem(str(fake_weed(tmp_path))) is None
    for choice in binaries.S3_CHOICES:
        assert S3_OPTION.problem(choice) is None


def server(tmp_path: Path, **settings: Any) -> Any:
    """What the recipe reads of an S3Server."""
    return SimpleNamespace(
        ports={}, port=procs.free_port(), data_path=tmp_path / "data", root=tmp_path,
        settings=settings, access_key="drillKEY", secret_key="s3cr3t-value",
        os_user=OsUser.current(),
    )  # fmt: skip


def flags(argv: list[str]) -> dict[str, str]:
    return dict(a[1:].split("=", 1) for a in argv if a.startswith("-") and "=" in a)


def test_command_line_pins_every_listener(tmp_path: Path) -> None:
    s3 = server(tmp_path)
    argv = seaweedfs.SeaweedFS().args(s3, "127.0.0.1", s3.port)
    assert argv[:2] == ["-logtostderr", "mini"]
    got = flags(argv)
    ports = [int(v) for k, v in got.items() if ".port" in k and not k.startswith("s3.port.")]
    ports += [int(got["s3.port.grpc"])]
    assert len(ports) == len(set(ports)) == 10  # 5 services, each HTTP + gRPC, all distinct
    assert int(got["s3.port"]) == s3.port
    assert int(got["admin.port.grpc"]) == int(got["admin.port"]) + seaweedfs.GRPC_OFFSET
    assert got["s3.port.iceberg"] == got["s3.port.lance"] == "0"  # not served
    assert got["ip"] == got["ip.bind"] == "127.0.0.1"
    assert got["master.telemetry"] == "false" and got["master.electionTimeout"] == "1s"
    assert got["master.resumeState"] == "false"
    assert got["s3.allowDeleteBucketNotEmpty"] == "false"
    assert got["webdav"] == got["admin.ui"] == "false"
    assert got["dir"] == str(s3.data_path)
    assert "s3cr3t-value" not in " ".join(argv) and "drillKEY" not in " ".join(argv)


def test_settings_override_revert_and_env(tmp_path: Path) -> None:
    recipe = seaweedfs.SeaweedFS()
    s3 = server(tmp_path, **{"s3.allowDeleteBucketNotEmpty": True, "GOMEMLIMIT": "256MiB"})
    assert flags(recipe.args(s3, "127.0.0.1", s3.port))["s3.allowDeleteBucketNotEmpty"] == "true"
    assert recipe.env(s3) == {"GOMEMLIMIT": "256MiB"}
    assert not any("GOMEMLIMIT" in a for a in recipe.args(s3, "127.0.0.1", s3.port))
    s3.settings.update({"s3.allowDeleteBucketNotEmpty": None, "GOMEMLIMIT": None})
    assert flags(recipe.args(s3, "127.0.0.1", s3.port))["s3.allowDeleteBucketNotEmpty"] == "false"
    assert recipe.env(s3) == {}


@pytest.mark.parametrize(
    "key", ["s3.port", "master.port.grpc", "dir", "master.dir", "ip.bind", "s3.config",
            "master.telemetry", "filer.localSocket", "admin.ui", "webdav", "debug",
            "metricsPort", "master.metrics.address", "master.peers", "s3.port.iceberg"],
)  # fmt: skip
def test_placing_flags_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="set by drillbook"):
        seaweedfs.SeaweedFS().check_settings({key: "x"})


def test_other_flags_and_env_are_accepted() -> None:
    seaweedfs.SeaweedFS().check_settings(
        {"s3.allowDeleteBucketNotEmpty": True, "master.volumeSizeLimitMB": 64, "GOGC": "50"}
    )


def test_admin_pair_below_the_ephemeral_range() -> None:
    for _ in range(20):
        port = seaweedfs.admin_pair(set())
        low, high = procs.PORT_RANGE
        assert low <= port and port + seaweedfs.GRPC_OFFSET <= high


class _Handle(ServiceHandle):
    """A handle of *kind* whose version() answers *version* (or raises: a dead server)."""

    def __init__(self, kind: str, version: str | None) -> None:
        super().__init__("fake")
        self.kind, self._version = kind, version

    url = "fake://"

    def version(self) -> str:
        if self._version is None:
            raise RuntimeError("server dead")
        return self._version

    def probe(self) -> None: ...

    def close(self) -> None: ...


def test_record_versions_from_handles_and_factories() -> None:
    backend = SimpleNamespace(describe=lambda: {"s3": "SeaweedFS 4.48 (pip: /x/weed)"})
    got = versions_of(
        {"pg": _Handle("postgres", "PostgreSQL 15.18"), "s3_factory": object(),
         "drill_backend": backend, "redis_db": _Handle("redis", None)}
    )  # fmt: skip
    assert got == {"postgres": "PostgreSQL 15.18", "s3": "SeaweedFS 4.48 (pip: /x/weed)"}
    assert versions_of({"s3": _Handle("s3", "moto 5.2.5"), "s3_factory": object(),
                        "drill_backend": backend}) == {"s3": "moto 5.2.5"}  # fmt: skip
