"""kube-proxy for the lab's DNS Services: each ClusterIP forwards to the Service's ready endpoints.

This is where the switch is won or lost, so the data path's known traps are reproduced
(pitfalls.md, "Networking data path"):
- ipvs mode: round robin; a UDP client (ip, source port) stays pinned to its backend while it
  keeps sending, until `udp_timeout` passes without a packet. A pinned backend that left the
  Endpoints gets nothing: its packets are dropped until the session expires, unless
  `expire_nodest_conn` is set, in which case the next packet is scheduled to a live backend.
- iptables mode: random choice; conntrack pins the same way, and kube-proxy deletes the conntrack
  entries of removed UDP endpoints, so a removed backend is left at once.
- no ready endpoint: UDP queries get no answer; TCP connections are refused (nothing listens).
Timeouts run `speed` times faster than real time. Counters are kept per Service and in total.

The IPVS UDP timeout is the one in effect on the nodes, not the ConfigMap's: each node keeps the
value its kube-proxy set when it last started (`kube_proxy.udp_timeout_at_start`, read from the
pod's mounted ConfigMap at that moment), or `ipvsadm_set` gave it. One proxy serves clients of
every node, so it applies the longest timeout in effect on any node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from wizard.lab.addresses import AddressPlan
from wizard.lab.api.store import Obj, Store
from wizard.lab.dns.kube_proxy import (
    UnreadableConfig,
    configmap_source,
    container_started_at,
    is_kube_proxy_pod,
    udp_timeout_at_start,
)

Client = tuple[str, int]
DNS_PORT_NAMES = ("dns", "dns-tcp")
logger = logging.getLogger("wizard.lab.dns")


@dataclass
class ProxyCounters:
    forwarded: int = 0
    """UDP packets sent on to a backend, and TCP connections relayed."""
    dropped: int = 0
    """UDP packets that went nowhere: no ready endpoint, or pinned to a removed backend."""
    answered: int = 0
    """UDP replies relayed back to clients."""
    refused: int = 0
    """TCP connections that failed to reach a backend."""
    by_backend: Counter[str] = field(default_factory=Counter)
    """Forwarded packets and connections per backend IP: how the load spreads over the pods."""

    def add(self, other: ProxyCounters) -> None:
        self.forwarded += other.forwarded
        self.dropped += other.dropped
        self.answered += other.answered
        self.refused += other.refused
        self.by_backend.update(other.by_backend)


class _BackendSocket(asyncio.DatagramProtocol):
    """The proxy's socket towards one backend for one client session; replies go back to the
    client from the ClusterIP, as the kernel's NAT would make them appear."""

    def __init__(self, vip: ServiceVIP, client: Client) -> None:
        self.vip = vip
        self.client = client

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.vip.reply_to(self.client, data)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable from a dead backend: the client just gets no answer


@dataclass
class _Session:
    backend: str
    transport: asyncio.DatagramTransport
    last_seen: float


class _VIPSocket(asyncio.DatagramProtocol):
    def __init__(self, vip: ServiceVIP) -> None:
        self.vip = vip

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.vip.from_client((addr[0], addr[1]), data)


@dataclass
class ServiceVIP:
    """One Service's ClusterIP on the lab's DNS port."""

    proxy: ServiceProxy
    namespace: str
    name: str
    ip: str
    backends: list[str] = field(default_factory=list)
    sessions: dict[Client, _Session] = field(default_factory=dict)
    counters: ProxyCounters = field(default_factory=ProxyCounters)
    _udp: asyncio.DatagramTransport | None = None
    _tcp: asyncio.Server | None = None
    _rr: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _VIPSocket(self), local_addr=(self.ip, self.proxy.dns_port)
        )
        self._udp = transport
        await self._sync_tcp()

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        for session in self.sessions.values():
            session.transport.close()
        self.sessions.clear()
        for task in list(self._tasks):
            task.cancel()
        await self._stop_tcp()

    # ---- backends -----------------------------------------------------------------------------
    async def set_backends(self, backends: list[str]) -> None:
        self.backends = backends
        if self.proxy.flushes_removed_backends:
            for client, session in list(self.sessions.items()):
                if session.backend not in backends:
                    session.transport.close()
                    del self.sessions[client]
        await self._sync_tcp()

    def _pick(self) -> str:
        if self.proxy.mode == "iptables":
            return random.choice(self.backends)
        backend = self.backends[self._rr % len(self.backends)]
        self._rr += 1
        return backend

    # ---- UDP ----------------------------------------------------------------------------------
    def from_client(self, client: Client, data: bytes) -> None:
        now = time.monotonic()
        session = self.sessions.get(client)
        if session is not None and now - session.last_seen > self.proxy.session_timeout:
            session.transport.close()
            del self.sessions[client]
            session = None
        if session is not None and session.backend not in self.backends:
            session.last_seen = now  # every packet keeps the stale session alive, as in IPVS
            self.counters.dropped += 1
            return
        if session is None:
            if not self.backends:
                self.counters.dropped += 1
                return
            task = asyncio.get_running_loop().create_task(self._open_session(client, self._pick(), data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        session.last_seen = now
        self.counters.forwarded += 1
        self.counters.by_backend[session.backend] += 1
        session.transport.sendto(data)

    async def _open_session(self, client: Client, backend: str, first: bytes) -> None:
        loop = asyncio.get_running_loop()
        existing = self.sessions.get(client)
        if existing is not None:  # a second packet raced the first: use the session it opened
            existing.last_seen = time.monotonic()
            self.counters.forwarded += 1
            self.counters.by_backend[existing.backend] += 1
            existing.transport.sendto(first)
            return
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _BackendSocket(self, client), remote_addr=(backend, self.proxy.dns_port)
        )
        if client in self.sessions:
            transport.close()
            session = self.sessions[client]
            self.counters.forwarded += 1
            self.counters.by_backend[session.backend] += 1
            session.transport.sendto(first)
            return
        self.counters.forwarded += 1
        self.counters.by_backend[backend] += 1
        self.sessions[client] = _Session(backend, transport, time.monotonic())
        transport.sendto(first)

    def reply_to(self, client: Client, data: bytes) -> None:
        if self._udp is not None and not self._udp.is_closing():
            self.counters.answered += 1  # counted first: a test may read it the moment the reply lands
            self._udp.sendto(data, client)

    def expire(self, now: float) -> None:
        for client, session in list(self.sessions.items()):
            if now - session.last_seen > self.proxy.session_timeout:
                session.transport.close()
                del self.sessions[client]

    # ---- TCP ----------------------------------------------------------------------------------
    async def _sync_tcp(self) -> None:
        if self.backends and self._tcp is None and self._udp is not None:
            self._tcp = await asyncio.start_server(self._relay, self.ip, self.proxy.dns_port)
        elif not self.backends:
            await self._stop_tcp()

    async def _stop_tcp(self) -> None:
        server, self._tcp = self._tcp, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.backends:
            self.counters.refused += 1
            writer.close()
            return
        backend = self._pick()
        try:
            b_reader, b_writer = await asyncio.wait_for(
                asyncio.open_connection(backend, self.proxy.dns_port), 2.0
            )
        except (OSError, TimeoutError):
            self.counters.refused += 1
            writer.close()
            return
        self.counters.forwarded += 1
        self.counters.by_backend[backend] += 1

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, b_writer), pipe(b_reader, writer))


def dns_cluster_ip(service: Obj) -> str | None:
    """The ClusterIP of a Service that serves DNS (a port 53 or a port named dns/dns-tcp)."""
    spec = service.get("spec") or {}
    ip = spec.get("clusterIP")
    if not ip or ip == "None":
        return None
    for port in spec.get("ports") or []:
        if port.get("port") == 53 or port.get("name") in DNS_PORT_NAMES:
            return str(ip)
    return None


def ready_ips(endpoints: Obj | None) -> list[str]:
    ips: list[str] = []
    for subset in (endpoints or {}).get("subsets") or []:
        for address in subset.get("addresses") or []:
            if address.get("ip") and address["ip"] not in ips:
                ips.append(address["ip"])
    return ips


class ServiceProxy:
    """Binds every DNS Service's ClusterIP on `dns_port` and forwards like kube-proxy."""

    def __init__(
        self,
        store: Store,
        addresses: AddressPlan,
        dns_port: int,
        mode: str = "ipvs",
        udp_timeout: float = 300.0,
        expire_nodest_conn: bool = False,
        speed: float = 1.0,
    ) -> None:
        if mode not in ("ipvs", "iptables"):
            raise ValueError(f"kube-proxy mode {mode!r} is not ipvs or iptables")
        self.store = store
        self.addresses = addresses
        self.dns_port = dns_port
        self.mode = mode
        self.kernel_udp_timeout = udp_timeout
        """What every node's kernel holds before any kube-proxy of this lab set it."""
        self.node_udp_timeouts: dict[str, float] = {}
        """node → the UDP timeout its kernel holds, as the last kube-proxy start (or ipvsadm) set it."""
        self._proxy_starts: dict[str, str] = {}
        self.expire_nodest_conn = expire_nodest_conn
        self.speed = max(speed, 0.01)
        self.vips: dict[tuple[str, str], ServiceVIP] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unwatch: list[Any] = []
        self._pending: set[tuple[str, str]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def udp_timeout(self) -> float:
        """The IPVS UDP timeout in effect: the longest any node's kernel holds."""
        return max(self.node_udp_timeouts.values(), default=self.kernel_udp_timeout)

    def ipvsadm_set(self, node: str, udp_timeout: float) -> None:
        """`ipvsadm --set TCP TCPFIN UDP` run on `node` (0 leaves the value unchanged, as ipvsadm does)."""
        if udp_timeout > 0:
            self.node_udp_timeouts[node] = udp_timeout

    def _kube_proxy_changed(self, pod: Obj) -> None:
        """A kube-proxy container that (re)started reads its config now and sets its node's timeout."""
        started = container_started_at(pod)
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if not started or not node or self._proxy_starts.get(uid) == started:
            return
        self._proxy_starts[uid] = started
        source = configmap_source(pod)
        configmap = self.store.try_get("configmaps", "kube-system", source[0]) if source else None
        try:
            timeout = udp_timeout_at_start(pod, configmap)
        except UnreadableConfig as err:
            logger.error("kube-proxy %s on %s: %s; the node keeps its IPVS timeouts",
                         meta.get("name"), node, err)
            return
        self.ipvsadm_set(node, timeout)
        logger.info("kube-proxy %s started on %s: IPVS UDP timeout %gs in effect there",
                    meta.get("name"), node, self.node_udp_timeouts.get(node, self.kernel_udp_timeout))

    @property
    def session_timeout(self) -> float:
        """Seconds of silence after which a UDP session is forgotten (scaled by speed)."""
        return self.udp_timeout / self.speed

    @property
    def flushes_removed_backends(self) -> bool:
        return self.expire_nodest_conn or self.mode == "iptables"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        loop = self._loop

        def changed(_: str, obj: Obj) -> None:
            meta = obj["metadata"]
            key = (meta.get("namespace", "default"), meta["name"])
            loop.call_soon_threadsafe(self._schedule, key)

        self._unwatch.append(self.store.watch("services", changed))
        self._unwatch.append(self.store.watch("endpoints", changed))

        def pod_changed(_: str, obj: Obj) -> None:
            if is_kube_proxy_pod(obj):
                loop.call_soon_threadsafe(self._kube_proxy_changed, obj)

        self._unwatch.append(self.store.watch("pods", pod_changed, namespace="kube-system"))
        for pod in self.store.list("pods", "kube-system")[0]:
            if is_kube_proxy_pod(pod):
                self._kube_proxy_changed(pod)
        for service in self.store.list("services")[0]:
            await self.sync(service["metadata"]["namespace"], service["metadata"]["name"])
        self._sweeper = loop.create_task(self._sweep())

    async def stop(self) -> None:
        for unwatch in self._unwatch:
            unwatch()
        self._unwatch.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for vip in list(self.vips.values()):
            await vip.stop()
        self.vips.clear()

    def _schedule(self, key: tuple[str, str]) -> None:
        if key in self._pending or self._loop is None:
            return
        self._pending.add(key)

        async def run() -> None:
            self._pending.discard(key)
            await self.sync(*key)

        self._loop.create_task(run())

    async def sync(self, namespace: str, name: str) -> None:
        """Bring one Service's ClusterIP in line with the Store."""
        async with self._lock:
            service = self.store.try_get("services", namespace, name)
            ip = dns_cluster_ip(service) if service else None
            if ip is not None and ip not in self.addresses.services:
                ip = None  # not a lab address: nothing could bind it
            vip = self.vips.get((namespace, name))
            if vip is not None and vip.ip != ip:
                await vip.stop()
                del self.vips[(namespace, name)]
                vip = None
            if ip is None:
                return
            if vip is None:
                vip = ServiceVIP(self, namespace, name, ip)
                try:
                    await vip.start()
                except OSError as err:  # e.g. the address is taken by something outside the lab
                    logger.error(
                        "kube-proxy: cannot bind %s:%s for Service %s/%s: %s",
                        ip,
                        self.dns_port,
                        namespace,
                        name,
                        err,
                    )
                    await vip.stop()
                    return
                self.vips[(namespace, name)] = vip
            await vip.set_backends(ready_ips(self.store.try_get("endpoints", namespace, name)))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, max(self.session_timeout / 4, 0.05)))
            now = time.monotonic()
            for vip in list(self.vips.values()):
                vip.expire(now)

    # ---- what tests and the wizard read -------------------------------------------------------------
    @property
    def counters(self) -> ProxyCounters:
        total = ProxyCounters()
        for vip in self.vips.values():
            total.add(vip.counters)
        return total

    def counters_for(self, namespace: str, name: str) -> ProxyCounters:
        vip = self.vips.get((namespace, name))
        return vip.counters if vip else ProxyCounters()

    def sessions_for(self, namespace: str, name: str) -> dict[Client, str]:
        """client (ip, port) → the backend IP it is pinned to."""
        vip = self.vips.get((namespace, name))
        return {client: s.backend for client, s in vip.sessions.items()} if vip else {}
