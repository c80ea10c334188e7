"""DNS on real sockets: a UDP+TCP listener for the lab's DNS servers and a one-shot upstream query.

Every DNS speaker in the lab (CoreDNS and kube-dns pods, outside-world resolvers, the Service
proxy) binds real loopback sockets, so `dig` and dnspython can query them like a cluster's DNS.
TCP uses the 2-byte length prefix of RFC 1035 4.2.2; one connection may carry many queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable

import dns.message
import dns.rcode

Client = tuple[str, int]
WireHandler = Callable[[bytes, Client, str], Awaitable[bytes | None]]
"""`handler(query_wire, client, proto)` with proto "udp" or "tcp"; None means: send nothing."""

MAX_UDP = 65535


logger = logging.getLogger("wizard.lab.dns")


def _guarded(handler: WireHandler) -> WireHandler:
    """A handler that turns its own failure into SERVFAIL, as a server's panic recovery does,
    instead of leaving the client to time out."""

    async def guarded(wire: bytes, client: Client, proto: str) -> bytes | None:
        try:
            return await handler(wire, client, proto)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("DNS handler failed for a query from %s:%s", *client)
            try:
                reply = dns.message.make_response(dns.message.from_wire(wire))
            except Exception:
                return None
            reply.set_rcode(dns.rcode.SERVFAIL)
            return reply.to_wire()

    return guarded


class _UDPServer(asyncio.DatagramProtocol):
    def __init__(self, handler: WireHandler) -> None:
        self._handler = handler
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector datagram transport does not subclass DatagramTransport (3.12 does)
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(data, (addr[0], addr[1])))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, data: bytes, client: Client) -> None:
        reply = await self._handler(data, client, "udp")
        if reply is not None and self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(reply, client)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()


class DNSListener:
    """Binds `(host, port)` for UDP and TCP and passes every query to `handler`."""

    def __init__(self, host: str, port: int, handler: WireHandler) -> None:
        self.host = host
        self.port = port
        self._handler = _guarded(handler)
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_protocol: _UDPServer | None = None
        self._tcp: asyncio.Server | None = None
        self._tcp_writers: set[asyncio.StreamWriter] = set()

    async def start(self, udp: bool = True, tcp: bool = True) -> None:
        """Bind; raises OSError (e.g. address in use) with nothing left bound."""
        loop = asyncio.get_running_loop()
        try:
            if udp:
                self._udp_protocol = _UDPServer(self._handler)
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: self._udp_protocol or _UDPServer(self._handler),
                    local_addr=(self.host, self.port),
                )
                self._udp = transport
            if tcp:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port)
        except OSError:
            await self.stop()
            raise

    async def stop_tcp(self) -> None:
        """Stop accepting TCP (new connections are then refused); open connections are closed."""
        server, self._tcp = self._tcp, None
        if server is not None:
            server.close()
            for writer in list(self._tcp_writers):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._udp_protocol is not None:
            self._udp_protocol.cancel()
            self._udp_protocol = None
        await self.stop_tcp()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tcp_writers.add(writer)
        peer = writer.get_extra_info("peername") or ("0.0.0.0", 0)
        client = (str(peer[0]), int(peer[1]))
        try:
            while True:
                try:
                    header = await reader.readexactly(2)
                    data = await reader.readexactly(struct.unpack("!H", header)[0])
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                reply = await self._handler(data, client, "tcp")
                if reply is None:
                    return  # a server that drops the query closes the connection
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._tcp_writers.discard(writer)
            writer.close()


class _OneReply(asyncio.DatagramProtocol):
    def __init__(self, query_id: bytes) -> None:
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._id = query_id

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data[:2] == self._id and not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


async def exchange(wire: bytes, host: str, port: int, proto: str, timeout: float) -> bytes:
    """Send one query to (host, port) and return the raw reply.

    Raises TimeoutError when nothing answers in `timeout` seconds and OSError when the
    destination refuses (ICMP port unreachable for UDP, RST for TCP)."""
    loop = asyncio.get_running_loop()
    if proto == "udp":
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _OneReply(wire[:2]), remote_addr=(host, port)
        )
        try:
            transport.sendto(wire)
            return await asyncio.wait_for(protocol.reply, timeout)
        finally:
            transport.close()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        header = await asyncio.wait_for(reader.readexactly(2), timeout)
        return await asyncio.wait_for(reader.readexactly(struct.unpack("!H", header)[0]), timeout)
    except asyncio.IncompleteReadError as err:
        raise ConnectionResetError(f"{host}:{port} closed the connection") from err
    finally:
        writer.close()
