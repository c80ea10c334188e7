"""A lab CoreDNS pod answers real DNS from its mounted Corefile, refuses Corefiles its version
would refuse, and shuts down the way CoreDNS does."""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest
from lab_dns_support import (
    GUIDE_COREFILE_184,
    LoopThread,
    addresses_of,
    coredns_pod,
    free_plan_and_port,
    query,
    seed_cluster,
    wait_until,
)

from wizard.lab.addresses import AddressPlan
from wizard.lab.api.store import Store
from wizard.lab.dns.coredns import CoreDNSPod
from wizard.lab.dns.pods import DNSPod, DNSPodStartError, make_dns_pod
from wizard.lab.dns.world import VirtualNetwork, stub_address
from wizard.lab.faults import Faults

GUIDE_MIGRATED_COREFILE_167 = """\
.:53 {
    errors
    health
    kubernetes cluster.local. in-addr.arpa ip6.arpa {
        pods insecure
        upstream 8.8.8.8 8.8.4.4
        fallthrough in-addr.arpa ip6.arpa
    }
    federation cluster.local {
        foo foo.feddomain.com
    }
    forward . 8.8.8.8 8.8.4.4
    cache 30
}
abc.com:53 {
    forward . 1.2.3.4
}
my.cluster.local:53 {
    forward . 2.3.4.5
}
"""


@dataclass
class Env:
    loop: LoopThread
    store: Store
    plan: AddressPlan
    port: int
    net: VirtualNetwork
    faults: Faults
    ips: dict[str, str]
    pods: list[DNSPod]

    def start(
        self, corefile: str, version: str = "1.8.4", speed: float = 20.0, name: str = "coredns-1"
    ) -> CoreDNSPod:
        pod = make_dns_pod(
            coredns_pod(self.store, self.plan, corefile, version, name),
            self.store,
            self.net,
            self.port,
            self.faults,
            speed,
        )
        assert isinstance(pod, CoreDNSPod)
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
    loop = LoopThread()
    net = VirtualNetwork(plan, port)
    loop.run(net.start(store))
    environment = Env(loop, store, plan, port, net, Faults(), ips, [])
    yield environment
    for pod in environment.pods:
        loop.run(pod.kill())
    loop.run(net.stop())
    loop.close()


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_guide_template_answers_cluster_names_ptr_pods_and_external_names(env: Env) -> None:
    pod = env.start(GUIDE_COREFILE_184)
    o = env.plan.octet

    reply = env.ask(pod, "kubernetes.default.svc.cluster.local")
    assert addresses_of(reply) == [env.ips["kubernetes"]]
    assert reply.answer[0].ttl == 5 and reply.flags & dns.flags.AA

    assert addresses_of(env.ask(pod, "web.shop.svc.cluster.local")) == [env.ips["web"]]
    assert addresses_of(env.ask(pod, "db.shop.svc.cluster.local")) == sorted(
        [env.ips["db-0"], env.ips["db-1"]]
    )
    assert addresses_of(env.ask(pod, "db-0.db.shop.svc.cluster.local")) == [env.ips["db-0"]]

    ptr = env.ask(pod, f"10.0.{o}.127.in-addr.arpa", "PTR")
    assert addresses_of(ptr, "PTR") == ["kube-dns.kube-system.svc.cluster.local."]

    pod_name = f"127-{o}-128-99.shop.pod.cluster.local"
    assert addresses_of(env.ask(pod, pod_name)) == [f"127.{o}.128.99"]  # pods insecure: no check

    external = env.ask(pod, "www.baidu.com")
    assert addresses_of(external, "CNAME") == ["www.a.shifen.com."]
    assert addresses_of(external) == ["110.242.68.3", "110.242.68.4"]
    assert env.net.resolver(env.net.node_nameserver) is not None
    assert env.net.resolver(env.net.node_nameserver).queries["www.baidu.com."] == 1  # type: ignore[union-attr]

    srv = env.ask(pod, "_dns._udp.kube-dns.kube-system.svc.cluster.local", "SRV")
    assert addresses_of(srv, "SRV") == ["0 100 53 kube-dns.kube-system.svc.cluster.local."]

    over_tcp = env.ask(pod, "web.shop.svc.cluster.local", tcp=True)
    assert addresses_of(over_tcp) == [env.ips["web"]]


def test_negative_answers_distinguish_nxdomain_from_nodata_and_carry_the_soa(env: Env) -> None:
    pod = env.start(GUIDE_COREFILE_184)
    missing = env.ask(pod, "nosuch.shop.svc.cluster.local")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert missing.authority[0].rdtype == dns.rdatatype.SOA
    nodata = env.ask(pod, "web.shop.svc.cluster.local", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    hinfo = env.ask(pod, "anything.example.org", "HINFO")  # the guide's template block
    assert hinfo.rcode() == dns.rcode.NXDOMAIN
    unknown_outside = env.ask(pod, "no-such-host.example.net")
    assert unknown_outside.rcode() == dns.rcode.NXDOMAIN


def test_cache_keeps_a_negative_answer_that_kube_dns_would_not(env: Env) -> None:
    pod = env.start(GUIDE_COREFILE_184, speed=1.0)
    assert env.ask(pod, "late.shop.svc.cluster.local").rcode() == dns.rcode.NXDOMAIN
    env.store.create(
        "services",
        {
            "metadata": {"name": "late", "namespace": "shop"},
            "spec": {"clusterIP": f"127.{env.plan.octet}.0.30", "ports": [{"port": 80}]},
        },
    )
    # still NXDOMAIN: CoreDNS's cache 30 holds the denial (for up to 5 s, the kubernetes SOA TTL)
    assert env.ask(pod, "late.shop.svc.cluster.local").rcode() == dns.rcode.NXDOMAIN
    # a question not asked before is not in the cache: the name exists now (NODATA for AAAA)
    assert env.ask(pod, "late.shop.svc.cluster.local", "AAAA").rcode() == dns.rcode.NOERROR


def test_stub_domain_server_block_and_federation_on_a_version_that_has_it(env: Env) -> None:
    pod = env.start(GUIDE_MIGRATED_COREFILE_167, version="1.6.7")
    reply = env.ask(pod, "www.abc.com")
    assert addresses_of(reply) == [stub_address(reply.question[0].name)]
    stub = env.net.resolver("1.2.3.4")
    assert stub is not None and stub.queries["www.abc.com."] == 1
    assert addresses_of(env.ask(pod, "host.my.cluster.local")) != []
    federated = env.ask(pod, "web2.shop.foo.svc.cluster.local")
    assert addresses_of(federated, "CNAME") == ["web2.shop.foo.svc.foo.feddomain.com."]
    local = env.ask(pod, "web.shop.foo.svc.cluster.local")  # has endpoints: answered locally
    assert addresses_of(local) == [env.ips["web"]]


def test_federation_on_1_8_4_is_refused_with_coredns_error_text(env: Env) -> None:
    with pytest.raises(DNSPodStartError) as caught:
        env.start(
            GUIDE_MIGRATED_COREFILE_167.replace("        upstream 8.8.8.8 8.8.4.4\n", ""), version="1.8.4"
        )
    last = caught.value.log_lines[-1]
    assert "Unknown directive 'federation'" in last
    assert last.startswith("/etc/coredns/Corefile:8 - Error during parsing")


def test_upstream_on_1_7_0_is_refused_naming_the_plugin(env: Env) -> None:
    with pytest.raises(DNSPodStartError) as caught:
        env.start(
            GUIDE_COREFILE_184.replace("pods insecure", "pods insecure\n        upstream"), version="1.7.0"
        )
    assert "plugin/kubernetes" in caught.value.log_lines[-1]
    assert "unknown property 'upstream'" in caught.value.log_lines[-1]


def test_missing_configmap_fails_like_a_missing_file(env: Env) -> None:
    pod_obj = coredns_pod(env.store, env.plan, GUIDE_COREFILE_184)
    env.store.delete("configmaps", "kube-system", "coredns")
    pod = make_dns_pod(pod_obj, env.store, env.net, env.port, env.faults, 20.0)
    assert pod is not None
    with pytest.raises(DNSPodStartError, match="no such file"):
        env.loop.run(pod.start())


def test_forwarding_loop_to_itself_is_fatal(env: Env) -> None:
    with pytest.raises(DNSPodStartError) as caught:
        env.start(".:53 {\n    loop\n    forward . 127.0.0.1\n}\n")
    assert "[FATAL] plugin/loop: Loop (127.0.0.1:53 -> :53) detected" in caught.value.log_lines[-1]


def test_node_resolv_conf_on_systemd_resolved_loops(env: Env) -> None:
    env.net.node_nameserver = "127.0.0.53"
    with pytest.raises(DNSPodStartError, match="plugin/loop: Loop"):
        env.start(GUIDE_COREFILE_184.replace("    reload\n", "    reload\n    loop\n"))


def test_crashloop_fault_fails_start_with_a_log_line(env: Env) -> None:
    env.faults.on("coredns-crashloop")
    with pytest.raises(DNSPodStartError) as caught:
        env.start(GUIDE_COREFILE_184)
    assert "[FATAL]" in caught.value.log_lines[-1]
    assert "CoreDNS-1.8.4" in caught.value.log_lines


def test_servfail_fault_keeps_the_pod_ready_but_fails_every_answer(env: Env) -> None:
    pod = env.start(GUIDE_COREFILE_184)
    env.faults.on("coredns-servfail")
    assert env.ask(pod, "kubernetes.default.svc.cluster.local").rcode() == dns.rcode.SERVFAIL
    assert http_get(f"http://{pod.ip}:8181/ready") == (200, "OK")
    env.faults.off("coredns-servfail")
    assert env.ask(pod, "kubernetes.default.svc.cluster.local").rcode() == dns.rcode.NOERROR


def test_lameduck_fails_ready_keeps_health_and_answers_then_exits(env: Env) -> None:
    pod = env.start(GUIDE_COREFILE_184.replace("lameduck 30s", "lameduck 10s"), speed=4.0)  # 2.5 s
    assert http_get(f"http://{pod.ip}:8080/health") == (200, "OK")
    env.loop.run(pod.terminate_requested())
    assert http_get(f"http://{pod.ip}:8181/ready")[0] == 503
    assert http_get(f"http://{pod.ip}:8080/health") == (200, "OK")
    assert addresses_of(env.ask(pod, "web.shop.svc.cluster.local")) == [env.ips["web"]]
    env.loop.run(pod.wait_exited(), timeout=20)
    assert any("lameduck mode for 10s" in line for line in pod.log_lines())
    with pytest.raises(Exception):  # noqa: B017 - closed: refused or timed out, either is right
        env.ask(pod, "web.shop.svc.cluster.local", tcp=True, timeout=1.0)


def test_reload_applies_a_valid_change_and_keeps_the_old_config_on_an_invalid_one(env: Env) -> None:
    corefile = GUIDE_COREFILE_184.replace("    reload\n", "    reload 2s 1s\n")  # 0.1-0.15 s at speed 20
    pod = env.start(corefile)
    with_hosts = corefile.replace(
        "    ready\n", "    ready\n    hosts {\n        10.9.9.9 printer.office\n        fallthrough\n    }\n"
    )
    env.store.mutate(
        "configmaps", "kube-system", "coredns", lambda cm: cm["data"].update(Corefile=with_hosts)
    )
    wait_until(lambda: addresses_of(env.ask(pod, "printer.office")) == ["10.9.9.9"], what="reload to apply")
    broken = with_hosts.replace("    ready\n", "    ready\n    proxy . 8.8.8.8\n")
    env.store.mutate("configmaps", "kube-system", "coredns", lambda cm: cm["data"].update(Corefile=broken))
    wait_until(lambda: any("Restart failed" in line for line in pod.log_lines()), what="reload failure")
    assert any("Unknown directive 'proxy'" in line for line in pod.log_lines())
    assert addresses_of(env.ask(pod, "printer.office")) == ["10.9.9.9"]
    assert "coredns_reload_failed_total 1" in http_get(f"http://{pod.ip}:9153/metrics")[1]


def test_metrics_count_requests_and_responses_by_plugin(env: Env) -> None:
    pod = env.start(GUIDE_COREFILE_184)
    env.ask(pod, "kubernetes.default.svc.cluster.local")
    env.ask(pod, "kubernetes.default.svc.cluster.local")
    env.ask(pod, "www.example.com")
    status, text = http_get(f"http://{pod.ip}:9153/metrics")
    assert status == 200
    assert 'coredns_build_info{goversion="go1.16.4",revision="053c4d5",version="1.8.4"} 1' in text
    assert 'coredns_dns_requests_total{family="1",proto="udp",server="dns://:53",type="A",zone="."} 3' in text
    assert (
        'coredns_dns_responses_total{plugin="kubernetes",rcode="NOERROR",server="dns://:53",zone="."} 1'
        in text
    )
    assert 'coredns_dns_responses_total{plugin="cache",rcode="NOERROR",server="dns://:53",zone="."} 1' in text
    assert (
        'coredns_dns_responses_total{plugin="forward",rcode="NOERROR",server="dns://:53",zone="."} 1' in text
    )


def test_plugins_hosts_rewrite_template_and_log(env: Env) -> None:
    pod = env.start(
        """.:53 {
    log
    rewrite name exact front.shop.svc.cluster.local web.shop.svc.cluster.local
    rewrite name suffix .corp.internal. .shop.svc.cluster.local.
    hosts {
        10.1.1.1 gateway.lab
        fallthrough
    }
    template IN A example.test {
        match ^(?P<host>[a-z]+)[.]example[.]test[.]$
        answer "{{ .Name }} 60 IN A 10.2.2.2"
    }
    kubernetes cluster.local
    forward . 8.8.8.8
}
"""
    )
    front = env.ask(pod, "front.shop.svc.cluster.local")
    assert addresses_of(front) == [env.ips["web"]]
    assert front.answer[0].name.to_text() == "front.shop.svc.cluster.local."
    assert addresses_of(env.ask(pod, "db.corp.internal")) == sorted([env.ips["db-0"], env.ips["db-1"]])
    assert addresses_of(env.ask(pod, "gateway.lab")) == ["10.1.1.1"]
    assert addresses_of(env.ask(pod, "alpha.example.test")) == ["10.2.2.2"]
    assert env.ask(pod, "no-such.example.test").rcode() == dns.rcode.NXDOMAIN  # fell to forward
    assert any('"A IN gateway.lab. udp' in line and "NOERROR" in line for line in pod.log_lines())


def test_most_specific_server_block_wins(env: Env) -> None:
    pod = env.start(
        """.:53 {
    forward . 8.8.8.8
}
abc.com:53 {
    forward . 1.2.3.4
}
deep.abc.com:53 {
    template IN A deep.abc.com {
        answer "{{ .Name }} 60 IN A 10.3.3.3"
    }
}
"""
    )
    assert addresses_of(env.ask(pod, "x.deep.abc.com")) == ["10.3.3.3"]
    shallow = env.ask(pod, "x.abc.com")
    assert addresses_of(shallow) == [stub_address(shallow.question[0].name)]
    assert env.ask(pod, "x.abc.com.cn").rcode() == dns.rcode.NXDOMAIN  # public resolver: unknown


def test_unreachable_upstream_gives_servfail_and_an_error_line(env: Env) -> None:
    pod = env.start(".:53 {\n    errors\n    forward . 192.0.2.53\n}\n")
    assert env.ask(pod, "www.example.com", timeout=5).rcode() == dns.rcode.SERVFAIL
    assert any("[ERROR] plugin/errors: 2 www.example.com. A" in line for line in pod.log_lines())


def test_wildcards_answer_before_1_9_and_not_after(env: Env) -> None:
    old = env.start(GUIDE_COREFILE_184, version="1.8.4")
    assert env.ips["web"] in addresses_of(env.ask(old, "web.*.svc.cluster.local"))
    new = env.start(GUIDE_COREFILE_184, version="1.9.3", name="coredns-2")
    assert env.ask(new, "web.*.svc.cluster.local").rcode() == dns.rcode.NXDOMAIN


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig is not installed")
def test_dig_reads_the_answer(env: Env) -> None:
    pod = env.start(GUIDE_COREFILE_184)
    out = subprocess.run(
        [
            "dig",
            f"@{pod.ip}",
            "-p",
            str(env.port),
            "+short",
            "+time=2",
            "+tries=1",
            "kubernetes.default.svc.cluster.local",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.split()
    assert out == [env.ips["kubernetes"]]
    tcp = subprocess.run(
        ["dig", f"@{pod.ip}", "-p", str(env.port), "+tcp", "+short", "+time=2", "+tries=1", "www.baidu.com"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.split()
    assert tcp[0] == "www.a.shifen.com." and sorted(tcp[1:]) == ["110.242.68.3", "110.242.68.4"]


def test_make_dns_pod_ignores_other_pods(env: Env) -> None:
    other = {
        "metadata": {"name": "web-1", "namespace": "shop"},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
        "status": {"podIP": "127.0.0.1"},
    }
    assert make_dns_pod(other, env.store, env.net, env.port, env.faults, 1.0) is None


def test_missing_endpointslice_rbac_keeps_the_pod_unready_until_granted(env: Env) -> None:
    rules = [
        {
            "apiGroups": [""],
            "resources": ["endpoints", "services", "pods", "namespaces"],
            "verbs": ["list", "watch"],
        }
    ]
    env.store.create(
        "clusterroles.rbac.authorization.k8s.io", {"metadata": {"name": "system:coredns"}, "rules": rules}
    )
    env.store.create(
        "clusterrolebindings.rbac.authorization.k8s.io",
        {
            "metadata": {"name": "system:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}],
        },
    )
    pod_obj = coredns_pod(env.store, env.plan, GUIDE_COREFILE_184, "1.8.4")
    pod_obj["spec"]["serviceAccountName"] = "coredns"
    pod = make_dns_pod(pod_obj, env.store, env.net, env.port, env.faults, 20.0)
    assert pod is not None
    env.loop.run(pod.start())
    env.pods.append(pod)
    assert http_get(f"http://{pod.ip}:8181/ready")[0] == 503
    assert any(
        'endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:kube-system:coredns"'
        in line
        for line in pod.log_lines()
    )
    granted = [
        *rules,
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ]
    env.store.mutate(
        "clusterroles.rbac.authorization.k8s.io", "", "system:coredns", lambda r: r.update(rules=granted)
    )
    assert http_get(f"http://{pod.ip}:8181/ready") == (200, "OK")
    env.store.mutate(
        "clusterroles.rbac.authorization.k8s.io", "", "system:coredns", lambda r: r.update(rules=[])
    )
    assert http_get(f"http://{pod.ip}:8181/ready") == (200, "OK")  # a startup gate: it does not look again


def test_coredns_1_7_needs_endpoints_not_endpointslices(env: Env) -> None:
    pod = env.start(GUIDE_COREFILE_184, version="1.7.0")
    assert ("", "endpoints") in pod.needed_permissions()
    assert ("discovery.k8s.io", "endpointslices") not in pod.needed_permissions()


def test_metric_names_before_1_7_0(env: Env) -> None:
    pod = env.start(
        GUIDE_COREFILE_184.replace("pods insecure", "pods insecure\n        upstream"), version="1.6.7"
    )
    env.ask(pod, "web.shop.svc.cluster.local")
    text = http_get(f"http://{pod.ip}:9153/metrics")[1]
    assert 'coredns_dns_request_count_total{family="1",proto="udp",server="dns://:53",zone="."} 1' in text
    assert 'coredns_dns_response_rcode_count_total{rcode="NOERROR",server="dns://:53",zone="."} 1' in text
    assert "coredns_dns_requests_total" not in text


def test_kubernetes_ttl_option_and_loadbalance_shuffles(env: Env) -> None:
    pod = env.start(".:53 {\n    loadbalance\n    kubernetes cluster.local {\n        ttl 60\n    }\n}\n")
    first_records: set[str] = set()
    for _ in range(40):
        reply = env.ask(pod, "db.shop.svc.cluster.local")
        assert reply.answer[0].ttl == 60
        first_records.add(reply.answer[0][0].to_text())  # dnspython keeps the wire order
    assert first_records == {env.ips["db-0"], env.ips["db-1"]}


def test_kubernetes_plugin_without_fallthrough_answers_nxdomain_for_its_reverse_zone(env: Env) -> None:
    pod = env.start(".:53 {\n    kubernetes cluster.local in-addr.arpa\n    forward . 8.8.8.8\n}\n")
    assert env.ask(pod, "4.3.2.1.in-addr.arpa", "PTR").rcode() == dns.rcode.NXDOMAIN
    assert env.net.resolver("8.8.8.8").queries["4.3.2.1.in-addr.arpa."] == 0  # type: ignore[union-attr]


def test_corefile_syntax_error_fails_start_with_file_and_line(env: Env) -> None:
    with pytest.raises(DNSPodStartError) as caught:
        env.start(".:53 {\n    errors\n    forward . 8.8.8.8 {\n        prefer_udp\n}\n")
    assert caught.value.log_lines[-1].startswith("/etc/coredns/Corefile:")
    assert "Error during parsing" in caught.value.log_lines[-1]
