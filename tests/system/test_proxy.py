"""The fault proxy on real loopback sockets: data passes, latency and bandwidth hold it
back (lower bounds only: a loaded machine can only be slower), a partition resets open
connections and refuses new ones, heal lets traffic through again."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from drillbook.scenarios.system.proxy import FaultProxy


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield srv.getsockname()
    stop.set()
    thread.join(2)
    srv.close()


def roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def test_data_passes_with_latency_each_way(echo):
    with FaultProxy() as proxy:
        link = proxy.link("a->b", echo, latency=0.05)
        with socket.create_connection(link.address, timeout=5) as s:
            start = time.monotonic()
            assert roundtrip(s, b"ping") == b"ping"
            assert time.monotonic() - start >= 0.1  # 50 ms there, 50 ms back
        assert link.stats.bytes_up == 4 and link.stats.bytes_down == 4


def test_bandwidth_limit_slows_a_transfer(echo):
    with FaultProxy() as proxy:
        link = proxy.link("slow", echo, bandwidth=100_000)
        with socket.create_connection(link.address, timeout=10) as s:
            start = time.monotonic()
            assert roundtrip(s, b"x" * 50_000) == b"x" * 50_000
            assert time.monotonic() - start >= 0.5  # 50 kB at 100 kB/s, each way


def test_partition_cuts_and_refuses_then_heal_restores(echo):
    with FaultProxy() as proxy:
        link = proxy.link("region", echo)
        open_conn = socket.create_connection(link.address, timeout=5)
        assert roundtrip(open_conn, b"before") == b"before"
        assert link.partition() == 1
        with pytest.raises(OSError):
            roundtrip(open_conn, b"during")
            roundtrip(open_conn, b"during")
        open_conn.close()
        with pytest.raises(OSError), socket.create_connection(link.address, timeout=5) as s:
            roundtrip(s, b"new")
            roundtrip(s, b"new")
        assert link.stats.refused >= 1 and link.stats.cut == 1
        link.heal()
        with socket.create_connection(link.address, timeout=5) as s:
            assert roundtrip(s, b"after") == b"after"


def test_links_stay_on_loopback_and_names_are_unique(echo):
    with FaultProxy() as proxy:
        with pytest.raises(ValueError, match=r"not on 127\.0\.0\.1"):
            proxy.link("out", ("db.example.invalid", 5432))
        proxy.link("x", echo)
        with pytest.raises(ValueError, match="already exists"):
            proxy.link("x", echo)
        assert proxy.describe()[0]["listen"].startswith("127.0.0.1:")


def test_close_stops_the_loop_thread(echo):
    proxy = FaultProxy()
    link = proxy.link("x", echo)
    proxy.close()
    assert not proxy._thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(link.address, timeout=1).recv(1)
