"""Forwarding a query to upstream nameservers, as CoreDNS's `forward` and kube-dns's dnsmasq do.

Every upstream address goes through `VirtualNetwork.route()`: an outside IP the lab does not
simulate behaves like an unreachable host (the attempt waits out its timeout and fails), and a
pod-local address (127.0.0.1) means the pod itself. Timeouts are real-world values divided by the
lab's speed, but a real answer is always waited for long enough, so a busy machine never turns a
good upstream into a failing one.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import dns.flags
import dns.message

from wizard.lab.dns.transport import exchange
from wizard.lab.dns.world import Unreachable, VirtualNetwork

ATTEMPT_TIMEOUT = 2.0
"""Seconds (real-world) one attempt waits for an upstream; scaled by the lab speed."""
MIN_REAL_WAIT = 1.0
"""A reachable loopback upstream answers in milliseconds; never give it less than this."""


class UpstreamError(Exception):
    """Every upstream failed; the message is what CoreDNS's errors plugin would print."""


@dataclass
class Upstream:
    host: str
    port: int
    fails: int = 0
    down_until: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class UpstreamPool:
    """A list of upstreams with a selection policy and simple health tracking (max_fails)."""

    net: VirtualNetwork
    targets: list[tuple[str, int]]
    local_ip: str
    speed: float = 1.0
    policy: str = "random"
    max_fails: int = 2
    force_tcp: bool = False
    prefer_udp: bool = False
    health_interval: float = 0.5
    upstreams: list[Upstream] = field(init=False)
    _next: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.upstreams = [Upstream(host, port) for host, port in self.targets]

    def routes_to_self(self, dns_port: int) -> list[Upstream]:
        """Upstreams whose packets would arrive back at this very pod (a forwarding loop)."""
        looped = []
        for up in self.upstreams:
            try:
                host, port = self.net.route(up.host, up.port, local_ip=self.local_ip)
            except Unreachable:
                continue
            if host == self.local_ip and port == dns_port:
                looped.append(up)
        return looped

    def _ordered(self) -> list[Upstream]:
        ups = list(self.upstreams)
        if self.policy == "random":
            random.shuffle(ups)
        elif self.policy == "round_robin":
            start = self._next % max(1, len(ups))
            self._next += 1
            ups = ups[start:] + ups[:start]
        now = time.monotonic()
        healthy = [u for u in ups if u.down_until <= now]
        return healthy or ups  # all down: CoreDNS then tries them anyway

    async def exchange(self, query: dns.message.Message, client_proto: str) -> dns.message.Message:
        """The first upstream answer; raises UpstreamError when all attempts fail."""
        proto = "tcp" if self.force_tcp else ("udp" if self.prefer_udp else client_proto)
        errors: list[str] = []
        for up in self._ordered():
            try:
                reply = await self._attempt(up, query, proto)
            except (OSError, TimeoutError) as err:
                up.fails += 1
                if up.fails >= self.max_fails > 0:
                    up.down_until = time.monotonic() + self.health_interval / self.speed
                errors.append(f"{proto} {up.label}: {_describe(err)}")
                continue
            up.fails = 0
            up.down_until = 0.0
            return reply
        raise UpstreamError("; ".join(errors) or "no upstream configured")

    async def _attempt(self, up: Upstream, query: dns.message.Message, proto: str) -> dns.message.Message:
        timeout = ATTEMPT_TIMEOUT / self.speed
        try:
            host, port = self.net.route(up.host, up.port, local_ip=self.local_ip)
        except Unreachable as err:
            await asyncio.sleep(timeout)  # packets to nowhere: the attempt simply times out
            raise TimeoutError("i/o timeout") from err
        if host == self.local_ip and port == self.net.dns_port:
            await asyncio.sleep(timeout)  # to itself: a loop the `loop` plugin did not catch
            raise TimeoutError("i/o timeout")
        wire = query.to_wire()
        raw = await exchange(wire, host, port, proto, max(timeout, MIN_REAL_WAIT))
        reply = dns.message.from_wire(raw)
        if proto == "udp" and reply.flags & dns.flags.TC:
            raw = await exchange(wire, host, port, "tcp", max(timeout, MIN_REAL_WAIT))
            reply = dns.message.from_wire(raw)
        return reply


def _describe(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "i/o timeout"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    return str(err) or type(err).__name__
