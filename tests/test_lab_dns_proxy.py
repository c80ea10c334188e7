"""The lab's kube-proxy for DNS: round robin over ready endpoints, UDP sessions pinned to their
backend (the IPVS trap of a scale-down), expire_nodest_conn, and nothing listening without
endpoints."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import dns.message
import dns.query
import dns.rcode
import dns.rrset
import pytest
from lab_dns_support import LoopThread, free_plan_and_port, wait_until

from wizard.lab.addresses import AddressPlan
from wizard.lab.api.store import Store
from wizard.lab.dns.service_proxy import ServiceProxy
from wizard.lab.dns.transport import Client, DNSListener


class Backend:
    """A DNS server that answers every A question with its own address, so a reply shows who
    answered it."""

    def __init__(self, ip: str, port: int) -> None:
        self.ip = ip
        self.listener = DNSListener(ip, port, self.handle)

    async def handle(self, wire: bytes, client: Client, proto: str) -> bytes | None:
        query = dns.message.from_wire(wire)
        reply = dns.message.make_response(query)
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 5, "IN", "A", self.ip))
        return reply.to_wire()


@dataclass
class Env:
    loop: LoopThread
    store: Store
    plan: AddressPlan
    port: int
    backends: list[Backend]

    def set_endpoints(self, ips: list[str]) -> None:
        subsets = (
            [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": "dns", "port": 53}]}] if ips else []
        )

        def change(ep: dict[str, object]) -> None:
            ep["subsets"] = subsets

        self.store.mutate("endpoints", "kube-system", "kube-dns", change)

    def make_proxy(self, **kw: object) -> ServiceProxy:
        proxy = ServiceProxy(self.store, self.plan, self.port, **kw)  # type: ignore[arg-type]
        self.loop.run(proxy.start())
        return proxy


@pytest.fixture
def env() -> Iterator[Env]:
    plan, port = free_plan_and_port()
    store = Store()
    plan.services.take(plan.dns_service_ip)
    store.create(
        "services",
        {
            "metadata": {"name": "kube-dns", "namespace": "kube-system"},
            "spec": {
                "clusterIP": plan.dns_service_ip,
                "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53}],
            },
        },
    )
    store.create("endpoints", {"metadata": {"name": "kube-dns", "namespace": "kube-system"}, "subsets": []})
    loop = LoopThread()
    backends = [Backend(plan.pods.take(), port) for _ in range(2)]
    for backend in backends:
        loop.run(backend.listener.start())
    environment = Env(loop, store, plan, port, backends)
    yield environment
    for backend in backends:
        loop.run(backend.listener.stop())
    loop.close()


class Client_:
    """A UDP client that keeps its source port, like a long-lived resolver socket in a pod."""

    def __init__(self, server: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.server = (server, port)

    def ask(self, timeout: float = 1.0) -> str | None:
        """The backend that answered, or None when no answer came."""
        query = dns.message.make_query("probe.example.", "A")
        self.sock.settimeout(timeout)
        self.sock.sendto(query.to_wire(), self.server)
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        return dns.message.from_wire(data).answer[0][0].to_text()

    def close(self) -> None:
        self.sock.close()


def test_round_robin_over_two_backends_and_sticky_sessions(env: Env) -> None:
    env.set_endpoints([b.ip for b in env.backends])
    proxy = env.make_proxy(mode="ipvs", udp_timeout=300.0)
    clients = [Client_(env.plan.dns_service_ip, env.port) for _ in range(4)]
    first = [c.ask() for c in clients]
    assert sorted(first) == sorted([b.ip for b in env.backends] * 2)  # round robin
    assert [c.ask() for c in clients] == first  # each source port stays on its backend
    assert proxy.counters.forwarded == 8 and proxy.counters.answered == 8
    assert proxy.counters.by_backend == {b.ip: 4 for b in env.backends}
    for c in clients:
        c.close()
    env.loop.run(proxy.stop())


def test_ipvs_pinned_client_gets_no_answer_after_its_backend_is_removed(env: Env) -> None:
    keep, gone = env.backends
    env.set_endpoints([gone.ip, keep.ip])
    proxy = env.make_proxy(mode="ipvs", udp_timeout=2.0, speed=1.0)
    pinned = Client_(env.plan.dns_service_ip, env.port)
    assert pinned.ask() == gone.ip
    env.set_endpoints([keep.ip])
    wait_until(lambda: proxy.vips[("kube-system", "kube-dns")].backends == [keep.ip], what="endpoint removal")
    assert pinned.ask(timeout=0.3) is None  # still pinned to the removed backend: dropped
    wait_until(lambda: proxy.counters.dropped == 1, what="the drop to be counted")
    fresh = Client_(env.plan.dns_service_ip, env.port)
    assert fresh.ask() == keep.ip  # a new source port is scheduled to a live backend
    # once the session has been idle for the UDP timeout, the pinned client is rescheduled
    wait_until(
        lambda: proxy.sessions_for("kube-system", "kube-dns").get(pinned.sock.getsockname()) is None,
        timeout=10,
        what="session expiry",
    )
    assert pinned.ask() == keep.ip
    pinned.close()
    fresh.close()
    env.loop.run(proxy.stop())


def test_expire_nodest_conn_reschedules_at_once(env: Env) -> None:
    keep, gone = env.backends
    env.set_endpoints([gone.ip, keep.ip])
    proxy = env.make_proxy(mode="ipvs", udp_timeout=300.0, expire_nodest_conn=True)
    pinned = Client_(env.plan.dns_service_ip, env.port)
    assert pinned.ask() == gone.ip
    env.set_endpoints([keep.ip])
    wait_until(lambda: proxy.vips[("kube-system", "kube-dns")].backends == [keep.ip], what="endpoint removal")
    assert pinned.ask() == keep.ip
    assert proxy.counters.dropped == 0
    pinned.close()
    env.loop.run(proxy.stop())


def test_iptables_mode_flushes_conntrack_of_removed_backends(env: Env) -> None:
    keep, gone = env.backends
    env.set_endpoints([gone.ip])
    proxy = env.make_proxy(mode="iptables", udp_timeout=300.0)
    pinned = Client_(env.plan.dns_service_ip, env.port)
    assert pinned.ask() == gone.ip
    env.set_endpoints([keep.ip])
    wait_until(lambda: proxy.vips[("kube-system", "kube-dns")].backends == [keep.ip], what="endpoint change")
    assert pinned.ask() == keep.ip
    pinned.close()
    env.loop.run(proxy.stop())


def test_no_ready_endpoints_drop_udp_and_refuse_tcp(env: Env) -> None:
    proxy = env.make_proxy()
    client = Client_(env.plan.dns_service_ip, env.port)
    assert client.ask(timeout=0.3) is None
    wait_until(lambda: proxy.counters.dropped == 1, what="the drop to be counted")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((env.plan.dns_service_ip, env.port), timeout=2).close()
    env.set_endpoints([env.backends[0].ip])
    wait_until(lambda: bool(proxy.vips[("kube-system", "kube-dns")].backends), what="endpoint")
    query = dns.message.make_query("probe.example.", "A")
    reply = dns.query.tcp(query, env.plan.dns_service_ip, port=env.port, timeout=3)
    assert reply.answer[0][0].to_text() == env.backends[0].ip
    client.close()
    env.loop.run(proxy.stop())


def test_not_ready_addresses_are_not_backends(env: Env) -> None:
    def change(ep: dict[str, object]) -> None:
        ep["subsets"] = [
            {"addresses": [{"ip": env.backends[0].ip}], "notReadyAddresses": [{"ip": env.backends[1].ip}]}
        ]

    env.store.mutate("endpoints", "kube-system", "kube-dns", change)
    proxy = env.make_proxy()
    answers = {Client_(env.plan.dns_service_ip, env.port).ask() for _ in range(4)}
    assert answers == {env.backends[0].ip}
    env.loop.run(proxy.stop())
