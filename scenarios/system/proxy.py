"""A fault proxy for cross-region links, the way Toxiproxy does it, on 127.0.0.1 only.

Each :class:`Link` listens on a loopback port and forwards to one upstream server.
Faults apply to traffic in flight, the servers themselves are untouched:

- ``latency``: every chunk is delivered that many seconds after it was read, in each
  direction (30 ms each way makes a 60 ms round trip: replication lag becomes real);
- ``bandwidth``: bytes per second per direction and connection (a slow WAN link);
- ``partition()``: every open connection is cut (RST) and new ones are reset as soon as
  they are accepted: the region is unreachable while its servers keep running;
  ``heal()`` lets traffic through again.

One asyncio event loop in a daemon thread serves every link of a :class:`FaultProxy`;
:meth:`FaultProxy.close` (the fixture's teardown, on every exit path) stops it and
closes every socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
LOCALHOST = "127.0.0.1"
CHUNK = 65536


@dataclass
class LinkStats:
    connections: int = 0
    bytes_up: int = 0  # client -> upstream
    bytes_down: int = 0
    cut: int = 0  # connections reset by a partition
    refused: int = 0  # connections reset on arrival during a partition
    upstream_errors: int = 0


class Link:
    """One proxied route: ``127.0.0.1:port`` -> ``upstream``. Create through FaultProxy."""

    def __init__(
        self,
        proxy: FaultProxy,
        name: str,
        upstream: tuple[str, int],
        *,
        latency: float = 0.0,
        bandwidth: int | None = None,
    ) -> None:
        self.proxy = proxy
        self.name = name
        self.upstream = upstream
        self.latency = latency
        self.bandwidth = bandwidth
        self.partitioned = False
        self.stats = LinkStats()
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()  # asyncio keeps only weak references

    @property
    def host(self) -> str:
        return LOCALHOST

    @property
    def address(self) -> tuple[str, int]:
        return LOCALHOST, self.port

    def describe(self) -> dict[str, Any]:
        return {
            "link": self.name,
            "listen": f"{LOCALHOST}:{self.port}",
            "upstream": f"{self.upstream[0]}:{self.upstream[1]}",
            "latency_each_way_s": self.latency,
            "bandwidth_bytes_per_s": self.bandwidth,
            "partitioned": self.partitioned,
            **self.stats.__dict__,
        }

    # -- faults (any thread) ------------------------------------------------------------
    def set_latency(self, seconds: float) -> None:
        self.latency = max(0.0, float(seconds))

    def set_bandwidth(self, bytes_per_s: int | None) -> None:
        self.bandwidth = bytes_per_s if bytes_per_s and bytes_per_s > 0 else None

    def partition(self) -> int:
        """Cut every connection and refuse new ones; returns how many were cut."""
        self.partitioned = True
        return self.proxy.call(self._cut_all())

    def heal(self) -> None:
        self.partitioned = False

    # -- the loop's side -------------------------------------------------------------
    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, LOCALHOST, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        await self._cut_all()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _cut_all(self) -> int:
        writers = list(self._writers)
        for w in writers:
            _abort(w)
        self.stats.cut += len(writers) // 2
        return len(writers) // 2

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # A cancelled connection task (the proxy closing) ends quietly: asyncio's stream
        # callback would otherwise log the CancelledError.
        with contextlib.suppress(asyncio.CancelledError):
            await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.partitioned:
            self.stats.refused += 1
            _abort(writer)
            return
        self.stats.connections += 1
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), timeout=5
            )
        except (TimeoutError, OSError):
            self.stats.upstream_errors += 1
            _abort(writer)
            return
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, up=True), self._pump(up_reader, writer, up=False)
            )
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                _abort(w)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool
    ) -> None:
        """Read, hold each chunk for the latency, deliver in order; EOF passes on."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    with contextlib.suppress(OSError, RuntimeError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        self._tasks.add(sender)
        sender.add_done_callback(self._tasks.discard)
        try:
            while True:
                data = await reader.read(CHUNK)
                if self.partitioned:
                    break
                if data and self.bandwidth:
                    await asyncio.sleep(len(data) / self.bandwidth)
                queue.put_nowait((loop.time() + self.latency, data))
                if not data:
                    break
                if up:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
            await sender
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            if not sender.done():
                sender.cancel()
                with contextlib.suppress(BaseException):
                    await sender


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0): what a client sees when the network drops it."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(Exception):
        writer.transport.abort()


class FaultProxy:
    """The harness's proxy process (a thread with its event loop) and its links."""

    def __init__(self) -> None:
        self.links: dict[str, Link] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="drillbook-fault-proxy", daemon=True
        )
        self._thread.start()
        self._closed = False

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run *coro* on the proxy's loop and wait for its result (with a deadline)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def link(
        self,
        name: str,
        upstream: tuple[str, int],
        *,
        latency: float = 0.0,
        bandwidth: int | None = None,
    ) -> Link:
        """A new link listening on a free loopback port, forwarding to *upstream*."""
        if name in self.links:
            raise ValueError(f"a link named {name!r} already exists")
        if upstream[0] not in (LOCALHOST, "localhost"):
            raise ValueError(f"link {name}: upstream {upstream[0]} is not on 127.0.0.1")
        link = Link(self, name, upstream, latency=latency, bandwidth=bandwidth)
        self.call(link._start())
        self.links[name] = link
        return link

    def partition(self, *names: str) -> int:
        return sum(self.links[n].partition() for n in names)

    def heal(self, *names: str) -> None:
        for n in names:
            self.links[n].heal()

    def describe(self) -> list[dict[str, Any]]:
        return [link.describe() for link in self.links.values()]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self.call(self._shutdown(), timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    async def _shutdown(self) -> None:
        """Close every link, then cancel and await every task still pumping."""
        for link in list(self.links.values()):
            with contextlib.suppress(Exception):
                await link._close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
