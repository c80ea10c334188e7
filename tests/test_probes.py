"""DNS probes against real sockets: a tiny dnspython server on a loopback address per test."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import dns.message
import dns.rcode
import dns.rrset
import pytest

from wizard.errors import CheckFailed, InputError
from wizard.migration.probes import (
    ObservationStats,
    PinnedSocket,
    ProbeQuery,
    ProbeResult,
    ProbeTarget,
    choose_transport,
    cluster_fqdn,
    default_probe_set,
    pod_search_path,
    probe,
    probe_all,
    reverse_name,
    service_of,
)
from wizard.migration.verdicts import Expected, judge

K8S = "kubernetes.default.svc.cluster.local."


@dataclass
class Zone:
    """What the test server answers: name -> list of A addresses; everything else NXDOMAIN."""

    records: dict[str, list[str]]
    servfail: bool = False
    ttl: int = 30
    clients: list[tuple[str, int]] = field(default_factory=list)
    """UDP source addresses seen, in order (pinned sockets keep one)."""

    def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        question = query.question[0]
        if self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif question.name.to_text().lower() in self.records:
            addresses = self.records[question.name.to_text().lower()]
            response.answer.append(dns.rrset.from_text_list(question.name, self.ttl, "IN", "A", addresses))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


class _Udp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        self.server.zone.clients.append(self.client_address)  # type: ignore[attr-defined]
        sock.sendto(self.server.zone.answer(data), self.client_address)  # type: ignore[attr-defined]


class _Tcp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        header = self.request.recv(2)
        (length,) = struct.unpack("!H", header)
        data = b""
        while len(data) < length:
            data += self.request.recv(length - len(data))
        reply = self.server.zone.answer(data)  # type: ignore[attr-defined]
        self.request.sendall(struct.pack("!H", len(reply)) + reply)


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = True


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


_next_octet = iter(range(10, 250))


@pytest.fixture
def dns_server() -> Iterator[tuple[str, int, Zone]]:
    """A UDP+TCP DNS server on 127.0.88.N, one free port shared by both."""
    ip = f"127.0.88.{next(_next_octet)}"
    zone = Zone({K8S: ["10.96.0.1"], "www.example.org.": ["127.0.99.1", "127.0.99.2"]})
    tcp = _TcpServer((ip, 0), _Tcp)
    port = tcp.server_address[1]
    udp = _UdpServer((ip, port), _Udp)
    servers = (udp, tcp)
    for server in servers:
        server.zone = zone  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield ip, port, zone
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_probe_answers_over_udp_and_tcp(dns_server: tuple[str, int, Zone], transport: str) -> None:
    ip, port, _ = dns_server
    target = ProbeTarget("coredns-a", ip, port)
    result = probe(target, K8S, "A", transport, timeout=2)  # type: ignore[arg-type]
    assert result.error is None and result.ok
    assert result.rcode == "NOERROR"
    assert result.answers == ("kubernetes.default.svc.cluster.local. A 10.96.0.1",)
    assert result.transport == transport and result.target == "coredns-a"
    assert result.latency_ms >= 0


def test_nxdomain_is_an_answer_but_not_ok(dns_server: tuple[str, int, Zone]) -> None:
    """NXDOMAIN means the server decided; whether that is right depends on the name (the verdict)."""
    ip, port, _ = dns_server
    result = probe(ProbeTarget("x", ip, port), "nope.default.svc.cluster.local", "A", "udp")
    assert result.rcode == "NXDOMAIN" and result.error is None and result.answered
    assert not result.ok


def test_unreachable_server_reports_error_without_raising() -> None:
    # a loopback address where nothing listens: UDP gets ICMP port unreachable or a timeout
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.89.1", 0))  # bound, never answers: a guaranteed timeout
    try:
        target = ProbeTarget("dead", "127.0.89.1", silent.getsockname()[1])
        result = probe(target, K8S, "A", "udp", timeout=0.3)
    finally:
        silent.close()
    assert result.error == "no answer within 0.3s" and not result.ok and result.rcode == ""


CLUSTER_Q = ProbeQuery(K8S.rstrip("."), "A", "cluster", service="default/kubernetes")
API_SAYS = Expected(frozenset({"10.96.0.1"}), "Service default/kubernetes ClusterIP 10.96.0.1")


def test_verdict_reads_real_answers_ignoring_ttl_and_order(dns_server: tuple[str, int, Zone]) -> None:
    ip, port, zone = dns_server
    outside = ProbeQuery("www.example.org", "A", "external")
    first = probe(ProbeTarget("kube-dns", ip, port), "www.example.org", "A", "udp")
    zone.ttl = 5
    zone.records["www.example.org."] = ["127.0.99.2", "127.0.99.1"]
    second = probe(ProbeTarget("coredns", ip, port), "www.example.org", "A", "tcp")
    assert second.records() == first.records() == frozenset({"127.0.99.1", "127.0.99.2"})
    verdict = judge(outside, second, first)
    assert verdict.passed and verdict.conclusive, verdict.reason


def test_verdict_on_real_answers_rejects_wrong_ip_and_servfail(dns_server: tuple[str, int, Zone]) -> None:
    ip, port, zone = dns_server
    good = probe(ProbeTarget("kube-dns", ip, port), K8S, "A", "udp")
    assert judge(CLUSTER_Q, good, None, API_SAYS).passed
    zone.records[K8S] = ["10.96.0.99"]
    wrong = probe(ProbeTarget("coredns", ip, port), K8S, "A", "udp")
    verdict = judge(CLUSTER_Q, wrong, good, API_SAYS)
    assert not verdict.passed
    assert "10.96.0.99" in verdict.reason and "10.96.0.1" in verdict.reason
    zone.servfail = True
    failing = probe(ProbeTarget("coredns", ip, port), K8S, "A", "udp")
    assert failing.rcode == "SERVFAIL" and not failing.ok
    assert "CoreDNS says SERVFAIL" in judge(CLUSTER_Q, failing, good, API_SAYS).reason


def test_pinned_socket_keeps_its_source_port(dns_server: tuple[str, int, Zone]) -> None:
    ip, port, zone = dns_server
    pinned = PinnedSocket(ProbeTarget("svc", ip, port))
    try:
        answers = [pinned.ask(K8S, "A", timeout=2) for _ in range(3)]
    finally:
        pinned.close()
    assert all(a.ok and a.records() == frozenset({"10.96.0.1"}) for a in answers)
    assert [c[1] for c in zone.clients] == [pinned.source_port] * 3
    assert str(pinned.source_port) in answers[0].target
    fresh = [probe(ProbeTarget("svc", ip, port), K8S, "A", "udp") for _ in range(2)]
    assert all(f.ok for f in fresh)
    assert len({c[1] for c in zone.clients[3:]}) == 2  # a fresh socket per query: a new port each time


def test_pinned_socket_reports_silence_as_an_error() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.89.3", 0))
    pinned = PinnedSocket(ProbeTarget("svc", "127.0.89.3", silent.getsockname()[1]))
    try:
        result = pinned.ask(K8S, "A", timeout=0.3)
    finally:
        pinned.close()
        silent.close()
    assert result.error == "no answer within 0.3s" and not judge(CLUSTER_Q, result, None, API_SAYS).passed


def test_choose_transport_prefers_direct(dns_server: tuple[str, int, Zone]) -> None:
    ip, port, _ = dns_server
    choice = choose_transport(ProbeTarget("coredns-a", ip, port), name=K8S)
    assert choice.transport == "udp" and ip in choice.reason


def test_choose_transport_without_any_path_fails_clearly() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.89.2", 0))
    try:
        with pytest.raises(CheckFailed) as caught:
            target = ProbeTarget("coredns-a", "127.0.89.2", silent.getsockname()[1])
            choose_transport(target, name=K8S, direct_timeout=0.2)
    finally:
        silent.close()
    assert "coredns-a cannot be reached" in str(caught.value)
    assert "pods/portforward" in str(caught.value)


def test_names_expand_like_a_pods_resolver() -> None:
    search = ("default.svc.corp.example", "svc.corp.example", "corp.example")
    assert pod_search_path("default", "corp.example") == search
    assert cluster_fqdn("kubernetes.default", "default", "corp.example.") == f"kubernetes.{search[0]}"
    assert cluster_fqdn("web", "shop", "cluster.local") == "web.shop.svc.cluster.local"
    assert cluster_fqdn("web.shop.svc", "x", "corp.local") == "web.shop.svc.corp.local"
    absolute = "web.shop.svc.cluster.local"
    assert cluster_fqdn(absolute + ".", "default", "cluster.local") == absolute
    assert cluster_fqdn("www.baidu.com", "default", "cluster.local") == "www.baidu.com"
    assert service_of("web.shop.svc.corp.example", "corp.example") == "shop/web"
    assert service_of("web.shop.svc.cluster.local", "corp.example") is None
    assert service_of("www.baidu.com", "cluster.local") is None


def test_default_probe_set() -> None:
    queries = default_probe_set(
        "cluster.local", business_names=["web/shop", "api"], namespace="prod",
        stub_domains=["abc.com"], kubernetes_service_ip="10.96.0.1",
    )
    by_purpose = {(q.purpose, q.name): q for q in queries}
    cluster = next(q for q in queries if q.purpose == "cluster")
    assert cluster.name == "kubernetes.default.svc.cluster.local"
    assert "search path" in cluster.note
    assert cluster.service == "default/kubernetes"
    assert by_purpose[("business", "web.shop.svc.cluster.local")].service == "shop/web"
    assert by_purpose[("business", "api.prod.svc.cluster.local")].service == "prod/api"
    assert by_purpose[("external", "www.baidu.com")].service is None
    assert by_purpose[("stub", "abc.com")].zone == "abc.com"
    reverse = next(q for q in queries if q.purpose == "reverse")
    assert reverse.name == "1.0.96.10.in-addr.arpa" and reverse.rdtype == "PTR"
    assert reverse.service == "default/kubernetes"
    with pytest.raises(InputError):
        default_probe_set("")
    assert reverse_name("fd00::1").endswith("ip6.arpa")


def _result(latency: float, rcode: str = "NOERROR", error: str | None = None) -> ProbeResult:
    return ProbeResult("t", "n", "A", rcode, (), latency, error, "udp")


def test_observation_stats_percentiles_and_errors() -> None:
    stats = ObservationStats()
    assert stats.p50 is None and stats.summary().startswith("0 queries")
    stats.record_all(_result(float(ms)) for ms in range(1, 101))
    stats.record(_result(5.0, rcode="SERVFAIL"))
    stats.record(_result(0.0, rcode="", error="no answer within 2s"))
    assert stats.total == 102 and stats.failures == 2
    assert stats.p50 == 50.0
    assert stats.p95 == 95.0
    assert stats.max == 100.0
    assert stats.rcodes["SERVFAIL"] == 1 and stats.errors["no answer within 2s"] == 1
    assert "2 failed" in stats.summary()


def test_probe_all_asks_every_target_every_question(dns_server: tuple[str, int, Zone]) -> None:
    ip, port, _ = dns_server
    targets = [ProbeTarget("a", ip, port), ProbeTarget("b", ip, port)]
    queries = default_probe_set("cluster.local", external_name="www.example.org")[:2]
    results = probe_all(targets, queries, {"b": "tcp"})
    assert [(r.target, r.name, r.transport) for r in results] == [
        ("a", K8S.rstrip("."), "udp"), ("a", "www.example.org", "udp"),
        ("b", K8S.rstrip("."), "tcp"), ("b", "www.example.org", "tcp"),
    ]
    assert all(r.ok and r.answers for r in results)
