"""A round trip between clients and the lab's API server, as over a WAN.

Why: on loopback a request costs microseconds, so what a far-away API server costs (one round
trip per request, more for each new TCP+TLS connection) is invisible. The relay sits in front of
the API server and holds every chunk of bytes for half the round trip in each direction, in order,
without limiting bandwidth: TCP and TLS handshakes, HTTP/1.1 and HTTP/2 requests, WebSockets and
watches all pay the delay they would pay on a real link.
"""

from __future__ import annotations

import asyncio
import contextlib

_CHUNK = 64 * 1024


class LatencyRelay:
    """Listens on `host`:0 and forwards every connection to `target_host`:`target_port`, each
    direction delayed by `rtt_s / 2`."""

    def __init__(self, host: str, target_host: str, target_port: int, rtt_s: float) -> None:
        self.host = host
        self.target = (target_host, target_port)
        self.one_way_s = rtt_s / 2.0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[bool]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # the connect itself is a round trip (SYN, SYN-ACK) before the client's first byte goes
        try:
            await asyncio.sleep(self.one_way_s * 2)
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except (OSError, asyncio.CancelledError):
            writer.close()
            return
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        for task in pumps:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            done, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            if pending and all(t.result() for t in done):  # a clean half-close: let the other end
                await asyncio.wait(pending)
        except asyncio.CancelledError:  # the lab stopping: end quietly (asyncio logs a cancelled
            pass  # connection handler as an error)
        finally:
            for task in pumps:
                task.cancel()
            writer.close()
            up_writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read as bytes arrive, deliver each chunk `one_way_s` later, in order; True when the
        sender ended cleanly (EOF passed on), False on a broken connection."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                chunk = await reader.read(_CHUNK)
                await queue.put((loop.time() + self.one_way_s, chunk))
                if not chunk:
                    break
            await sender
            return True
        except (ConnectionError, OSError, RuntimeError):
            return False
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError, RuntimeError):
                await sender
