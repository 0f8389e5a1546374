"""The SeaweedFS S3 handle does what the drills rely on, against the real ``weed mini``.

- credentials: the right key works; a wrong secret, an unknown key and an unsigned
  request are refused (with no identity SeaweedFS accepts all three);
- object lock: every rule of drillbook.scenarios.s3.lock holds (moto is shown to break
  two, which is why the object-lock drills are NOT RUN on it);
- versions and delete markers survive a SIGKILL and a stop, and the start after;
- presigned URLs: good before expiry, refused after it and when tampered with;
- every listener on 127.0.0.1 and on a port drillbook chose; a port taken before the
  start makes it start on others;
- the unix sockets weed leaves in /tmp for its ports are removed after a kill, a stop and
  close, and after a killed pytest by the local backend's ``clean_run``; a socket at the
  same path that another server made since is left alone;
- restart with a flag changes behaviour; a flag that places the server is refused
  before anything stops; the secret key never shows in the command line or the log.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from drillbook.fixtures import procs
from drillbook.fixtures.backend import backends
from drillbook.fixtures.local import LocalBackend
from drillbook.fixtures.recipes import seaweedfs
from drillbook.scenarios.s3.client import error_code, latest_is_delete_marker
from drillbook.scenarios.s3.lock import probe_lock_enforcement

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def weed() -> Iterator[Any]:
    handle = LocalBackend(s3="seaweedfs").s3("sw-handle")
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture
def bucket(weed: Any) -> Iterator[str]:
    name = f"sw-{os.urandom(3).hex()}"
    c = weed.client()
    c.create_bucket(Bucket=name)
    c.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield name
    weed.recover_for_next_test()
    weed.reset()


def refused(call: Any) -> str:
    with pytest.raises(ClientError) as info:
        call()
    return error_code(info.value)


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket *pid* listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    out = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            addr, port = fields[1].split(":")
            raw = bytes.fromhex(addr)
            if family == socket.AF_INET:
                raw = raw[::-1]
            else:  # four little-endian 32-bit words
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
            out.add((socket.inet_ntop(family, raw), int(port, 16)))
    return out


# -- credentials --------------------------------------------------------------------------------


def test_signature_enforced(weed: Any, bucket: str) -> None:
    c = weed.client()
    c.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert c.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"

    def other(**kw: Any) -> Any:
        keys = {"aws_access_key_id": weed.access_key, "aws_secret_access_key": weed.secret_key}
        keys.update(kw.pop("keys", {}))
        cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **kw)
        import boto3

        return boto3.client(
            "s3", endpoint_url=weed.endpoint, region_name=weed.region, config=cfg, **keys
        )

    wrong_secret = other(keys={"aws_secret_access_key": "not-" + weed.secret_key})
    unknown_key = other(keys={"aws_access_key_id": "AKNOBODY"})
    unsigned = other(signature_version=UNSIGNED)
    assert refused(lambda: wrong_secret.get_object(Bucket=bucket, Key="k")) == (
        "SignatureDoesNotMatch"
    )
    assert refused(lambda: unknown_key.get_object(Bucket=bucket, Key="k")) == "InvalidAccessKeyId"
    assert refused(lambda: unsigned.get_object(Bucket=bucket, Key="k")) == "AccessDenied"
    assert refused(lambda: unsigned.put_object(Bucket=bucket, Key="x", Body=b"")) == (
        "AccessDenied"
    )


def test_secret_never_on_the_command_line_nor_in_the_log(weed: Any) -> None:
    identity = seaweedfs.SeaweedFS.identity_path(weed)
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    assert weed.secret_key in identity.read_text()
    cmdline = Path(f"/proc/{weed.pid}/cmdline").read_bytes().decode()
    assert weed.secret_key not in cmdline and weed.secret_key not in weed._start_text()
    assert weed.secret_key not in weed.log_path.read_text()
    assert weed.secret_key not in weed.safe_url and "***" in weed.safe_url


# -- object lock --------------------------------------------------------------------------------


def test_object_lock_enforced_rule_by_rule() -> None:
    # A server of its own: the probe leaves a COMPLIANCE version no reset can delete.
    own = LocalBackend(s3="seaweedfs").s3("sw-lock")
    try:
        found = probe_lock_enforcement(own)
    finally:
        own.close()
    assert found.enforced(), found.summary()
    by_rule = {(r.mode, r.rule): r.observed for r in found.rules}
    bypass = "DeleteObject with BypassGovernanceRetention"
    assert by_rule[("GOVERNANCE", bypass)] == "allowed"  # the bypass is GOVERNANCE's only
    assert by_rule[("COMPLIANCE", bypass)].startswith("refused")
    assert by_rule[("legal hold", bypass)].startswith("refused")


def test_moto_breaks_compliance_rules() -> None:
    """The other direction: the probe does catch a server that only pretends."""
    moto = LocalBackend(s3="moto").s3("sw-moto")
    try:
        found = probe_lock_enforcement(moto)
    finally:
        moto.close()
    assert found.enforced("GOVERNANCE", "legal hold")
    assert not found.enforced("COMPLIANCE")
    assert {r.rule for r in found.failures()} == {
        "PutObjectRetention lowering it to GOVERNANCE (with the bypass)",
        "GetObjectRetention reads the mode back",
    }


# -- persistence ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_versions_and_delete_markers_survive(weed: Any, bucket: str, how: str) -> None:
    c = weed.client()
    vids = [
        c.put_object(Bucket=bucket, Key="doc", Body=f"v{i}".encode())["VersionId"] for i in range(3)
    ]
    marker = c.delete_object(Bucket=bucket, Key="doc")["VersionId"]
    c.put_object(Bucket=bucket, Key="kept", Body=b"kept")
    weed.kill() if how == "kill" else weed.stop()
    assert not weed.is_healthy()
    weed.start()
    listing = c.list_object_versions(Bucket=bucket, Prefix="doc")
    assert [v["VersionId"] for v in listing["Versions"]] == vids[::-1]
    assert [m["VersionId"] for m in listing["DeleteMarkers"]] == [marker]
    assert latest_is_delete_marker(c, bucket, "doc")
    assert refused(lambda: c.get_object(Bucket=bucket, Key="doc")) == "NoSuchKey"
    body = c.get_object(Bucket=bucket, Key="doc", VersionId=vids[1])["Body"].read()
    assert body == b"v1"
    assert c.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"kept"


def test_presigned_url_expires(weed: Any, bucket: str) -> None:
    c = weed.client()
    c.put_object(Bucket=bucket, Key="p", Body=b"presigned")
    url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=2)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as resp:
        assert resp.read() == b"presigned"
    with pytest.raises(urllib.error.HTTPError) as tampered:
        opener.open(url.replace("Key=p", "Key=q").replace("/p?", "/q?"), timeout=5)
    assert tampered.value.code == 403
    time.sleep(3.5)  # past its expiry: not a timing assertion, a precondition
    with pytest.raises(urllib.error.HTTPError) as expired:
        opener.open(url, timeout=5)
    assert expired.value.code == 403


# -- placement ------------------------------------------------------------------------------------


def test_every_listener_on_loopback_and_chosen(weed: Any) -> None:
    weed.recover_for_next_test()
    # The admin server comes up a moment after the S3 gateway answers.
    deadline = time.monotonic() + 10
    expected = {weed.port, *weed.ports.values()}
    while {p for _, p in listening(weed.pid)} != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    found = listening(weed.pid)
    assert {addr for addr, _ in found} == {"127.0.0.1"}, found
    assert {port for _, port in found} == expected, (found, expected)
    cmdline = Path(f"/proc/{weed.pid}/cmdline").read_bytes().split(b"\0")
    assert b"-master.telemetry=false" in cmdline and b"-master.electionTimeout=1s" in cmdline


# The handle's first port is the S3 one; the third the first of weed's own (master).
@pytest.mark.parametrize("nth", [1, 3], ids=["s3-port", "master-port"])
def test_a_taken_port_makes_it_start_on_others(monkeypatch: pytest.MonkeyPatch, nth: int) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        real, calls = procs.free_port, []

        def first_taken(host: str = "127.0.0.1") -> int:
            calls.append(1)
            return taken if len(calls) == nth else real(host)

        monkeypatch.setattr(procs, "free_port", first_taken)
        before = set(Path("/tmp").glob("seaweedfs-*.sock"))
        handle = LocalBackend(s3="seaweedfs").s3("sw-taken")
        try:
            assert taken not in {handle.port, *handle.ports.values()}
            assert "Port allocation failed" in handle.log_path.read_text()
            handle.probe()
        finally:
            handle.close()
    # The failed attempt's sockets too (weed bound some ports before the taken one): only
    # another live server's (xdist) may remain, and it answers on them.
    made = set(Path("/tmp").glob("seaweedfs-*.sock")) - before
    assert not [p for p in made if not seaweedfs._served(str(p))]


def test_a_start_that_fails_mid_boot_leaves_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed while booting (a deadline, a readiness that never comes): the sockets of
    the ports weed had bound by then are removed, not only those of a ready server."""
    from drillbook.fixtures.base import ServiceError
    from drillbook.fixtures.recipes.s3 import S3Server

    def never_ready(self: Any, timeout: float = 60.0) -> None:
        master = next(p for p in seaweedfs.SeaweedFS().socket_paths(self) if "master" in p.name)
        deadline = time.monotonic() + 30
        while not master.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert master.exists(), "weed made no master socket within 30 s"
        raise ServiceError(f"seaweedfs {self.name}: not ready (the test says so)")

    monkeypatch.setattr(S3Server, "wait_ready", never_ready)
    before = set(Path("/tmp").glob("seaweedfs-*.sock"))
    with pytest.raises(ServiceError, match="the test says so"):
        LocalBackend(s3="seaweedfs").s3("sw-mid-boot")
    made = set(Path("/tmp").glob("seaweedfs-*.sock")) - before
    assert not [p for p in made if not seaweedfs._served(str(p))]


# -- what weed leaves in /tmp ---------------------------------------------------------------------


def grpc_sockets(handle: Any) -> list[Path]:
    return [p for p in seaweedfs.SeaweedFS().socket_paths(handle) if "grpc" in p.name]


def test_sockets_removed_after_kill_stop_and_close(weed: Any) -> None:
    weed.recover_for_next_test()
    paths = grpc_sockets(weed)
    deadline = time.monotonic() + 10
    while not all(p.exists() for p in paths) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(p.exists() for p in paths), paths
    weed.kill()
    assert not any(p.exists() for p in paths)
    weed.start()
    weed.stop()
    assert not any(p.exists() for p in paths)
    weed.start()


def test_foreign_or_served_socket_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "seaweedfs-master-grpc-1.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        st = os.lstat(path)
        ours = {str(path): [st.st_dev, st.st_ino]}
        path.unlink()  # our server's socket gone, another server made one since
        with socket.socket(socket.AF_UNIX) as other:
            other.bind(str(path))
            other.listen()
            assert seaweedfs.remove_sockets(ours) == []
            st = os.lstat(path)
            theirs = {str(path): [st.st_dev, st.st_ino]}
            assert seaweedfs.remove_sockets(theirs) == []  # served: someone listens
            assert path.exists()
        assert seaweedfs.remove_sockets(theirs) == [str(path)]  # nobody listens now
        assert not path.exists()


ORPHAN = """
import json, sys, time
from drillbook.fixtures.local import LocalBackend
h = LocalBackend(s3="seaweedfs").s3("sw-orphan")
deadline = time.monotonic() + 20
expected = len(h.flavour.socket_paths(h))
while len(h.leftovers) < expected and time.monotonic() < deadline:  # admin's comes last
    time.sleep(0.05)
print(json.dumps(sorted(h.leftovers)), flush=True)
time.sleep(300)
"""


def test_sockets_of_a_killed_pytest_removed_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 of the process owning a server: the servers outlive it, then the next
    run's reaper kills them and the local backend's clean_run removes their sockets."""
    assert backends()["local"].clean_run is seaweedfs.clean_run
    monkeypatch.setenv(procs.BASE_ENV, str(tmp_path / "runs"))
    owner = subprocess.Popen(
        [sys.executable, "-c", ORPHAN], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert owner.stdout is not None
        paths = [Path(p) for p in json.loads(owner.stdout.readline())]
        assert len(paths) >= len(seaweedfs.GRPC_SOCKETS) and all(p.exists() for p in paths)
        owner.kill()
        owner.wait(30)
        assert all(p.exists() for p in paths)  # nothing in-process ran
        report = procs.reap_stale_runs()
        assert any("seaweedfs sw-orphan" in k for k in report.procs_killed), report
        assert {f"socket {p}" for p in paths} <= set(report.procs_killed), report
        assert not any(p.exists() for p in paths)
    finally:
        owner.kill()
        owner.wait(30)
        procs.reap_stale_runs()  # whatever a failed assertion left


# -- settings -------------------------------------------------------------------------------------


def test_restart_with_a_flag_and_owned_flags_refused_first(weed: Any) -> None:
    weed.recover_for_next_test()
    pid = weed.pid
    for owned in ("s3.port", "dir", "master.telemetry", "ip.bind", "filer.localSocket"):
        with pytest.raises(ValueError, match="set by drillbook"):
            weed.restart(**{owned: "x"})
    assert weed.pid == pid and weed.is_healthy()  # refused before any stop
    weed.restart(GOMEMLIMIT="256MiB")
    environ = Path(f"/proc/{weed.pid}/environ").read_bytes().split(b"\0")
    assert b"GOMEMLIMIT=256MiB" in environ
    weed.restart(GOMEMLIMIT=None)
    environ = Path(f"/proc/{weed.pid}/environ").read_bytes().split(b"\0")
    assert not any(e.startswith(b"GOMEMLIMIT=") for e in environ) or "GOMEMLIMIT" in os.environ
