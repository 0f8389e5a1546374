"""The pipe from a streamed S3 object into ``tar -x``: what ends the download early.

Pure logic against the system tar, with a store that only produces bytes: tar stopping
at its own end-of-archive (or a header it gave up on) keeps the stream flowing, so the
checksum covers every byte (tests/scenarios/test_wal_fetch.py, on a real S3 server);
tar killed by a signal ends the download at once instead of fetching the rest.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drillbook.scenarios.postgres import basestream
from drillbook.scenarios.store import StoredObject

CHUNK = 1 << 20
pytestmark = pytest.mark.skipif(shutil.which("tar") is None, reason="no tar binary")


class EndlessStore:
    """Hands out *total* chunks of a tar that never ends (one file header, then data)."""

    def __init__(self, total: int, on_chunk: Callable[[int], None] = lambda n: None) -> None:
        self.total, self.sent, self.on_chunk = total, 0, on_chunk

    def url(self, key: str) -> str:
        return f"s3://fake/{key}"

    def get_stream(self, key: str, write: Callable[[bytes], Any], expected: Any) -> None:
        header = bytearray(512)
        header[0:4] = b"big\0"
        header[100:108] = b"0000644\0"
        header[124:136] = b"%011o\0" % (self.total * CHUNK)
        header[156:157] = b"0"
        header[257:263] = b"ustar\0"
        header[148:156] = b" " * 8
        header[148:156] = b"%06o\0 " % sum(header)
        write(bytes(header))
        for n in range(self.total):
            self.sent = n + 1
            self.on_chunk(n)
            write(b"\0" * CHUNK)


def test_tar_killed_by_a_signal_ends_the_download(tmp_path: Path) -> None:
    pids: list[int] = []

    def kill_tar(n: int) -> None:
        if n == 3:
            tars = [p for p in os.listdir("/proc") if p.isdigit() and _is_our_tar(int(p))]
            for pid in map(int, tars):
                pids.append(pid)
                os.kill(pid, signal.SIGKILL)

    store = EndlessStore(total=4096, on_chunk=kill_tar)  # 4 GiB it must not fetch
    obj = StoredObject("base.tar", 4096 * CHUNK, "0" * 64, 0.0)
    with pytest.raises(RuntimeError, match=r"exited -9"):
        basestream._get_into(store, obj, tmp_path / "data")  # type: ignore[arg-type]
    assert pids, "tar was not found to kill"
    assert store.sent < 64, f"{store.sent} chunks fetched after tar was killed"


def _is_our_tar(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
    return ppid == os.getpid() and cmd[0].endswith(b"tar") and b"-xf" in cmd


def test_a_tar_that_stops_at_its_end_reads_on_to_the_last_byte(tmp_path: Path) -> None:
    """An archive whose end-of-archive blocks come early: tar exits 0 and the rest of the
    stream is still taken (hashed by the real store), not cut off by the broken pipe."""

    class Padded(EndlessStore):
        def get_stream(self, key: str, write: Callable[[bytes], Any], expected: Any) -> None:
            write(b"\0" * 10240)  # an empty archive: tar is done after this
            for n in range(self.total):
                self.sent = n + 1
                write(b"appended" * (CHUNK // 8))

    store = Padded(total=32)
    obj = StoredObject("base.tar", 0, "0" * 64, 0.0)
    basestream._get_into(store, obj, tmp_path / "data")  # type: ignore[arg-type]
    assert store.sent == 32
