"""The lab's outside world: public and stub nameservers on loopback, and routes that never leave
the machine."""

from __future__ import annotations

import json
from collections.abc import Iterator

import dns.rcode
import pytest
from lab_dns_support import LoopThread, addresses_of, free_plan_and_port, query, wait_until

from wizard.lab.api.store import Store
from wizard.lab.dns.world import (
    DEFAULT_NODE_NAMESERVER,
    Unreachable,
    VirtualNetwork,
    split_host_port,
    stub_address,
)


@pytest.fixture
def world() -> Iterator[tuple[LoopThread, VirtualNetwork, Store]]:
    plan, port = free_plan_and_port()
    store = Store()
    loop = LoopThread()
    net = VirtualNetwork(plan, port)
    loop.run(net.start(store))
    yield loop, net, store
    loop.run(net.stop())
    loop.close()


def test_public_resolvers_answer_the_fixed_names(world: tuple[LoopThread, VirtualNetwork, Store]) -> None:
    _, net, _ = world
    for ip in ("8.8.8.8", "8.8.4.4", "1.1.1.1", "114.114.114.114", DEFAULT_NODE_NAMESERVER):
        host, port = net.route(ip)
        assert host.startswith(f"127.{net.addresses.octet}.96.") and port == net.dns_port
        baidu = query("www.baidu.com", "A", host, port)
        assert addresses_of(baidu, "CNAME") == ["www.a.shifen.com."]
        assert addresses_of(baidu) == ["110.242.68.3", "110.242.68.4"]
    host, port = net.route("8.8.8.8")
    assert addresses_of(query("kubernetes.io", "A", host, port)) != []
    assert addresses_of(query("example.com", "AAAA", host, port), "AAAA") != []
    assert query("www.abc.com", "A", host, port).rcode() == dns.rcode.NXDOMAIN  # stub names are not public


def test_stub_nameservers_answer_only_their_zones(world: tuple[LoopThread, VirtualNetwork, Store]) -> None:
    _, net, _ = world
    host, port = net.route("1.2.3.4")
    reply = query("host.abc.com", "A", host, port, tcp=True)
    assert addresses_of(reply) == [stub_address(reply.question[0].name)]
    assert query("www.baidu.com", "A", host, port).rcode() == dns.rcode.REFUSED
    host2, _ = net.route("2.3.4.5")
    assert addresses_of(query("a.my.cluster.local", "A", host2, port)) != []


def test_unknown_and_pod_local_routes(world: tuple[LoopThread, VirtualNetwork, Store]) -> None:
    _, net, _ = world
    with pytest.raises(Unreachable):
        net.route("203.0.113.7")
    with pytest.raises(Unreachable):
        net.route("127.0.0.1")
    pod_ip = f"127.{net.addresses.octet}.128.5"
    assert net.route("127.0.0.1", 53, local_ip=pod_ip) == (pod_ip, net.dns_port)
    assert net.route(pod_ip, 53) == (pod_ip, net.dns_port)


def test_stub_domains_of_the_kube_dns_configmap_get_nameservers(
    world: tuple[LoopThread, VirtualNetwork, Store],
) -> None:
    _, net, store = world
    stubs = {"corp.internal": ["10.150.0.1", "10.150.0.2:5353"]}
    store.create(
        "configmaps",
        {
            "metadata": {"name": "kube-dns", "namespace": "kube-system"},
            "data": {"stubDomains": json.dumps(stubs), "upstreamNameservers": '["10.160.0.9"]'},
        },
    )
    wait_until(lambda: net.resolver("10.150.0.2", 5353) is not None, what="stub nameserver")
    host, port = net.route("10.150.0.2", 5353)
    assert port == 5353
    assert addresses_of(query("git.corp.internal", "A", host, port)) != []
    wait_until(lambda: net.resolver("10.160.0.9") is not None, what="upstream nameserver")
    upstream, upstream_port = net.route("10.160.0.9")
    assert addresses_of(query("www.example.com", "A", upstream, upstream_port)) == ["93.184.215.14"]


def test_split_host_port_forms() -> None:
    assert split_host_port("1.2.3.4") == ("1.2.3.4", 53)
    assert split_host_port("1.2.3.4:5353") == ("1.2.3.4", 5353)
    assert split_host_port("dns://8.8.8.8") == ("8.8.8.8", 53)
    assert split_host_port("[fd00::1]:54") == ("fd00::1", 54)
    assert split_host_port("fd00::1") == ("fd00::1", 53)
    assert split_host_port("10.0.0.1#5300") == ("10.0.0.1", 5300)
