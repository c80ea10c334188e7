"""DNS probes against real sockets: a tiny dnspython server on a loopback address per test."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import dns.message
import dns.rcode
import dns.rrset
import pytest

from wizard.errors import CheckFailed
from wizard.migration.probes import (
    ObservationStats,
    ProbeResult,
    ProbeTarget,
    choose_transport,
    cluster_fqdn,
    compare,
    default_probe_set,
    pod_search_path,
    probe,
    probe_all,
    reverse_name,
)

K8S = "kubernetes.default.svc.cluster.local."


@dataclass
class Zone:
    """What the test server answers: name -> list of A addresses; everything else NXDOMAIN."""

    records: dict[str, list[str]]
    servfail: bool = False
    ttl: int = 30

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


def test_nxdomain_is_an_answer_not_an_error(dns_server: tuple[str, int, Zone]) -> None:
    ip, port, _ = dns_server
    result = probe(ProbeTarget("x", ip, port), "nope.default.svc.cluster.local", "A", "udp")
    assert result.rcode == "NXDOMAIN" and result.error is None and result.ok


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


def test_compare_ignores_ttl_and_order(dns_server: tuple[str, int, Zone]) -> None:
    ip, port, zone = dns_server
    first = probe(ProbeTarget("kube-dns", ip, port), "www.example.org", "A", "udp")
    zone.ttl = 5
    zone.records["www.example.org."] = ["127.0.99.2", "127.0.99.1"]
    second = probe(ProbeTarget("coredns", ip, port), "www.example.org", "A", "tcp")
    verdict = compare(first, second)
    assert verdict.agree, verdict.reason


def test_compare_reports_differences(dns_server: tuple[str, int, Zone]) -> None:
    ip, port, zone = dns_server
    good = probe(ProbeTarget("kube-dns", ip, port), K8S, "A", "udp")
    zone.records[K8S] = ["10.96.0.99"]
    wrong = probe(ProbeTarget("coredns", ip, port), K8S, "A", "udp")
    verdict = compare(good, wrong)
    assert not verdict.agree
    assert "10.96.0.99" in verdict.reason and "10.96.0.1" in verdict.reason
    zone.servfail = True
    failing = probe(ProbeTarget("coredns", ip, port), K8S, "A", "udp")
    assert failing.rcode == "SERVFAIL" and not failing.ok
    assert "kube-dns says NOERROR, coredns says SERVFAIL" in compare(good, failing).reason


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
            choose_transport(target, direct_timeout=0.2)
    finally:
        silent.close()
    assert "coredns-a cannot be reached" in str(caught.value)
    assert "pods/portforward" in str(caught.value)


def test_names_expand_like_a_pods_resolver() -> None:
    assert pod_search_path("default") == ("default.svc.cluster.local", "svc.cluster.local", "cluster.local")
    assert cluster_fqdn("kubernetes.default") == "kubernetes.default.svc.cluster.local"
    assert cluster_fqdn("web", "shop") == "web.shop.svc.cluster.local"
    assert cluster_fqdn("web.shop.svc", "x", "corp.local") == "web.shop.svc.corp.local"
    assert cluster_fqdn("web.shop.svc.cluster.local.") == "web.shop.svc.cluster.local"
    assert cluster_fqdn("www.baidu.com") == "www.baidu.com"


def test_default_probe_set() -> None:
    queries = default_probe_set(
        "cluster.local", business_names=["web/shop", "api"], namespace="prod",
        stub_domains=["abc.com"], kubernetes_service_ip="10.96.0.1",
    )
    by_purpose = {(q.purpose, q.name): q for q in queries}
    cluster = next(q for q in queries if q.purpose == "cluster")
    assert cluster.name == "kubernetes.default.svc.cluster.local"
    assert "search path" in cluster.note
    assert ("business", "web.shop.svc.cluster.local") in by_purpose
    assert ("business", "api.prod.svc.cluster.local") in by_purpose
    assert ("external", "www.baidu.com") in by_purpose
    assert ("stub", "abc.com") in by_purpose
    reverse = next(q for q in queries if q.purpose == "reverse")
    assert reverse.name == "1.0.96.10.in-addr.arpa" and reverse.rdtype == "PTR"
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
    queries = default_probe_set(external_name="www.example.org")[:2]
    results = probe_all(targets, queries, {"b": "tcp"})
    assert [(r.target, r.name, r.transport) for r in results] == [
        ("a", K8S.rstrip("."), "udp"), ("a", "www.example.org", "udp"),
        ("b", K8S.rstrip("."), "tcp"), ("b", "www.example.org", "tcp"),
    ]
    assert all(r.ok and r.answers for r in results)
