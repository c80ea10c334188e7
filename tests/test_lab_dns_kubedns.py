"""A lab kube-dns pod answers like kube-dns from the guide's ConfigMap, and the same names as a
CoreDNS pod running the guide's translated Corefile."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dns.name
import dns.rcode
import pytest
from lab_dns_support import (
    GUIDE_COREFILE_184,
    GUIDE_KUBEDNS_DATA,
    LoopThread,
    addresses_of,
    coredns_pod,
    free_plan_and_port,
    kubedns_pod,
    query,
    seed_cluster,
    wait_until,
)

from wizard.lab.addresses import AddressPlan
from wizard.lab.api.store import Store
from wizard.lab.dns.kubedns import KubeDNSPod
from wizard.lab.dns.pods import DNSPod, make_dns_pod
from wizard.lab.dns.world import VirtualNetwork, stub_address
from wizard.lab.faults import Faults

WORKING_KUBEDNS_DATA = {**GUIDE_KUBEDNS_DATA, "federations": "foo=foo.feddomain.com"}
"""The guide's ConfigMap with federations in the syntax kube-dns reads (name=domain)."""

TRANSLATED_COREFILE = (
    GUIDE_COREFILE_184.replace(
        "forward . /etc/resolv.conf {\n        prefer_udp\n    }", "forward . 8.8.8.8 8.8.4.4"
    )
    + "abc.com:53 {\n    forward . 1.2.3.4\n}\nmy.cluster.local:53 {\n    forward . 2.3.4.5\n}\n"
)


@dataclass
class Env:
    loop: LoopThread
    store: Store
    plan: AddressPlan
    port: int
    net: VirtualNetwork
    ips: dict[str, str]
    pods: list[DNSPod]

    def start_kubedns(self, extra: list[str] | None = None) -> KubeDNSPod:
        pod = make_dns_pod(kubedns_pod(self.plan, extra), self.store, self.net, self.port, Faults(), 20.0)
        assert isinstance(pod, KubeDNSPod)
        self.loop.run(pod.start())
        self.pods.append(pod)
        return pod

    def ask(self, pod: DNSPod, name: str, rdtype: str = "A", **kw: Any) -> Any:
        return query(name, rdtype, pod.ip, self.port, **kw)


@pytest.fixture
def env() -> Iterator[Env]:
    plan, port = free_plan_and_port()
    store = Store()
    ips = seed_cluster(store, plan)
    store.create(
        "configmaps",
        {"metadata": {"name": "kube-dns", "namespace": "kube-system"}, "data": WORKING_KUBEDNS_DATA},
    )
    store.create("nodes", {"metadata": {"name": "node-1", "labels": {
        "failure-domain.beta.kubernetes.io/zone": "100003",
        "failure-domain.beta.kubernetes.io/region": "gz"}}})
    loop = LoopThread()
    net = VirtualNetwork(plan, port)
    loop.run(net.start(store))
    environment = Env(loop, store, plan, port, net, ips, [])
    yield environment
    for pod in environment.pods:
        loop.run(pod.kill())
    loop.run(net.stop())
    loop.close()


def test_guide_configmap_cluster_stub_upstream_and_federation_names(env: Env) -> None:
    pod = env.start_kubedns()
    o = env.plan.octet
    cluster = env.ask(pod, "kubernetes.default.svc.cluster.local")
    assert addresses_of(cluster) == [env.ips["kubernetes"]]
    assert cluster.answer[0].ttl == 30
    assert addresses_of(env.ask(pod, "web.shop.svc.cluster.local")) == [env.ips["web"]]
    ptr = env.ask(pod, f"10.0.{o}.127.in-addr.arpa", "PTR")
    assert addresses_of(ptr, "PTR") == ["kube-dns.kube-system.svc.cluster.local."]
    assert addresses_of(env.ask(pod, f"127-{o}-128-99.shop.pod.cluster.local")) == [f"127.{o}.128.99"]

    baidu = env.ask(pod, "www.baidu.com")
    assert addresses_of(baidu) == ["110.242.68.3", "110.242.68.4"]
    upstreams = [env.net.resolver(ip) for ip in ("8.8.8.8", "8.8.4.4")]
    assert sum(r.queries["www.baidu.com."] for r in upstreams if r is not None) == 1

    stub = env.ask(pod, "www.abc.com")
    assert addresses_of(stub) == [stub_address(stub.question[0].name)]
    assert addresses_of(env.ask(pod, "host.my.cluster.local")) != []

    fed = env.ask(pod, "web2.shop.foo.svc.cluster.local")
    # no local endpoints: kube-dns sends the client to the federation, by the nodes' zone and region
    assert addresses_of(fed, "CNAME") == ["web2.shop.foo.svc.100003.gz.foo.feddomain.com."]

    srv = env.ask(pod, "_pg._tcp.db.shop.svc.cluster.local", "SRV")
    targets = addresses_of(srv, "SRV")
    assert len(targets) == 2 and all(t.startswith("10 50 5432 ") for t in targets)
    assert any("db-0.db.shop.svc.cluster.local." in t for t in targets)


def test_kube_dns_and_the_translated_corefile_give_the_same_answers(env: Env) -> None:
    kube_dns = env.start_kubedns()
    core = make_dns_pod(
        coredns_pod(env.store, env.plan, TRANSLATED_COREFILE), env.store, env.net, env.port, Faults(), 20.0
    )
    assert core is not None
    env.loop.run(core.start())
    env.pods.append(core)
    o = env.plan.octet
    for name, rdtype in (
        ("kubernetes.default.svc.cluster.local", "A"),
        ("web.shop.svc.cluster.local", "A"),
        ("db.shop.svc.cluster.local", "A"),
        ("search.shop.svc.cluster.local", "A"),
        (f"10.0.{o}.127.in-addr.arpa", "PTR"),
        (f"127-{o}-128-7.shop.pod.cluster.local", "A"),
        ("www.baidu.com", "A"),
        ("www.abc.com", "A"),
        ("x.my.cluster.local", "A"),
        ("nosuch.shop.svc.cluster.local", "A"),
        ("no-such-name.example.net", "A"),
    ):
        a, b = env.ask(kube_dns, name, rdtype), env.ask(core, name, rdtype)
        assert a.rcode() == b.rcode(), name
        for kind in ("A", "CNAME", "PTR"):
            assert addresses_of(a, kind) == addresses_of(b, kind), (name, kind)


def test_no_negative_caching(env: Env) -> None:
    pod = env.start_kubedns()
    assert env.ask(pod, "late.shop.svc.cluster.local").rcode() == dns.rcode.NXDOMAIN
    env.store.create(
        "services",
        {
            "metadata": {"name": "late", "namespace": "shop"},
            "spec": {"clusterIP": f"127.{env.plan.octet}.0.31", "ports": [{"port": 80}]},
        },
    )
    assert addresses_of(env.ask(pod, "late.shop.svc.cluster.local")) == [f"127.{env.plan.octet}.0.31"]


def test_invalid_configmap_update_is_ignored_and_a_valid_one_applies(env: Env) -> None:
    pod = env.start_kubedns()
    too_many = json.dumps(["8.8.8.8", "8.8.4.4", "1.1.1.1", "114.114.114.114"])
    env.store.mutate(
        "configmaps", "kube-system", "kube-dns", lambda cm: cm["data"].update(upstreamNameservers=too_many)
    )
    wait_until(lambda: any("Invalid configuration" in line for line in pod.log_lines()), what="refusal")
    assert pod.settings.upstreams == [("8.8.8.8", 53), ("8.8.4.4", 53)]
    assert addresses_of(env.ask(pod, "www.abc.com")) != []  # stub domain still there

    env.store.mutate(
        "configmaps",
        "kube-system",
        "kube-dns",
        lambda cm: cm["data"].update(upstreamNameservers='["1.1.1.1"]', stubDomains="{}"),
    )
    wait_until(lambda: pod.settings.upstreams == [("1.1.1.1", 53)], what="valid update")
    assert env.ask(pod, "www.abc.com").rcode() == dns.rcode.NXDOMAIN  # the stub domain is gone


def test_dnsmasq_server_argument_forwards_its_zone(env: Env) -> None:
    env.loop.run(env.net.add_resolver("10.20.30.40", zones=["corp.example"], public=False))
    pod = env.start_kubedns(["--server=/corp.example/10.20.30.40#53"])
    reply = env.ask(pod, "wiki.corp.example")
    assert addresses_of(reply) == [stub_address(reply.question[0].name)]


def test_sigterm_is_ignored_until_the_kill(env: Env) -> None:
    pod = env.start_kubedns()
    with urllib.request.urlopen(f"http://{pod.ip}:8081/readiness", timeout=3) as response:
        assert response.status == 200
    env.loop.run(pod.terminate_requested())
    assert addresses_of(env.ask(pod, "web.shop.svc.cluster.local")) == [env.ips["web"]]
    assert not pod.exited
    env.loop.run(pod.kill())
    assert pod.exited
    with pytest.raises(Exception):  # noqa: B017 - closed: refused or timed out
        env.ask(pod, "web.shop.svc.cluster.local", tcp=True, timeout=1.0)


def test_metrics_and_health_endpoints(env: Env) -> None:
    pod = env.start_kubedns()
    env.ask(pod, "web.shop.svc.cluster.local")
    env.ask(pod, "web.shop.svc.cluster.local", tcp=True)
    with urllib.request.urlopen(f"http://{pod.ip}:10055/metrics", timeout=3) as response:
        text = response.read().decode()
    assert 'skydns_skydns_dns_request_count_total{system="udp"} 1' in text
    assert 'skydns_skydns_dns_request_count_total{system="tcp"} 1' in text
    with urllib.request.urlopen(f"http://{pod.ip}:10054/healthcheck/kubedns", timeout=3) as response:
        assert response.status == 200


def test_json_federations_make_kube_dns_ignore_the_whole_configmap(env: Env) -> None:
    """kube-dns reads federations only as name=domain: the guide's JSON makes it log the refusal
    and start with defaults, so the ConfigMap's stub domains and upstreams were never live."""
    env.store.mutate("configmaps", "kube-system", "kube-dns",
                     lambda cm: cm.update(data=dict(GUIDE_KUBEDNS_DATA)))
    pod = env.start_kubedns()
    log = "\n".join(pod.log_lines())
    assert ("Invalid configuration for federations, ignoring update: invalid format, must be key=value"
            in log)
    assert ("Error getting initial ConfigMap: invalid format, must be key=value, starting with default "
            "values") in log
    assert pod.settings.upstreams == [] and not pod.settings.no_resolv
    # the stub domain is not forwarded to 1.2.3.4: the node's resolvers know nothing of abc.com
    assert addresses_of(env.ask(pod, "www.abc.com")) == []
    # outside names go to the node's resolv.conf servers, not to 8.8.8.8/8.8.4.4
    upstreams = [env.net.resolver(ip) for ip in ("8.8.8.8", "8.8.4.4")]
    env.ask(pod, "www.baidu.com")
    assert sum(r.queries["www.baidu.com."] for r in upstreams if r is not None) == 0
    assert addresses_of(env.ask(pod, "web.shop.svc.cluster.local")) == [env.ips["web"]]


@pytest.mark.parametrize(("key", "value", "logged"), [
    ("upstreamNameservers", "", "Invalid configuration for upstreamNameservers, ignoring update: "
     "unexpected end of JSON input"),
    ("upstreamNameservers", '["dns.google"]',
     "Invalid configuration: address dns.google: missing port in address"),
    ("stubDomains", '{"Abc.com": ["1.2.3.4"]}', 'Invalid configuration: invalid domain name: "Abc.com"'),
    ("stubDomains", '{"abc.com": "1.2.3.4"}', "Invalid configuration for stubDomains, ignoring update: json"),
    ("federations", "foo=Bad_Domain", "Invalid configuration for federations, ignoring update"),
])
def test_an_invalid_key_is_logged_and_the_previous_configuration_kept(
    env: Env, key: str, value: str, logged: str
) -> None:
    pod = env.start_kubedns()
    env.store.mutate("configmaps", "kube-system", "kube-dns", lambda cm: cm["data"].update({key: value}))
    wait_until(lambda: any(logged in line for line in pod.log_lines()), what=logged)
    assert pod.settings.upstreams == [("8.8.8.8", 53), ("8.8.4.4", 53)]
    stub = env.ask(pod, "www.abc.com")
    assert addresses_of(stub) == [stub_address(stub.question[0].name)]


def test_a_stub_nameserver_named_by_its_cluster_service_is_resolved_through_kube_dns(env: Env) -> None:
    """dnsmasq-nanny (kube-dns 1.15.1+) looks a `...cluster.local` nameserver up through the local
    kubedns once, and forwards the stub domain to that address."""
    env.store.mutate("configmaps", "kube-system", "kube-dns", lambda cm: cm["data"].update(
        stubDomains='{"corp.example": ["web.shop.svc.cluster.local"]}'))
    pod = make_dns_pod(kubedns_pod(env.plan, version="1.15.13"), env.store, env.net, env.port, Faults(), 20.0)
    assert isinstance(pod, KubeDNSPod)
    env.loop.run(pod.start())
    env.pods.append(pod)
    assert pod.settings.routes[dns.name.from_text("corp.example")] == [env.ips["web"]]
    assert any(f"'/corp.example/{env.ips['web']}'" in line for line in pod.log_lines())


def test_a_stub_nameserver_name_stops_dnsmasq_before_kube_dns_1_15_1(env: Env) -> None:
    env.store.mutate("configmaps", "kube-system", "kube-dns", lambda cm: cm["data"].update(
        stubDomains='{"corp.example": ["web.shop.svc.cluster.local"]}'))
    pod = env.start_kubedns()
    assert "bad address" in pod.dnsmasq_error
    with pytest.raises(Exception):  # noqa: B017 - dnsmasq is down: port 53 answers nothing
        env.ask(pod, "web.shop.svc.cluster.local", timeout=1.0)
