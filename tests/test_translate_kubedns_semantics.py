"""What kube-dns really ran, carried into the Corefile (issue 11, item 4).

kube-dns (kubernetes/dns pkg/dns/config/sync.go) reads federations only as name=domain pairs and,
when any key is invalid, ignores the whole ConfigMap and runs with its defaults. A stub nameserver
given as a cluster Service name is resolved by CoreDNS through the node, which cannot: the
translation warns, or uses the Service's ClusterIP looked up through the API server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wizard.dns.kubedns_config import KubeDNSConfig, read_kube_dns_config
from wizard.dns.translate import translate
from wizard.errors import InputError

REPO = Path(__file__).resolve().parent.parent
STUBS = '{"abc.com": ["1.2.3.4"]}'
UPSTREAMS = '["8.8.8.8"]'


def live(**data: str) -> KubeDNSConfig:
    return read_kube_dns_config({"kind": "ConfigMap", "data": data})


def ignored_warnings(warnings: list[str]) -> list[str]:
    return [w for w in warnings if "kube-dns ignores this whole ConfigMap" in w]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"federations": '{"foo": "foo.feddomain.com"}'}, "data.federations is JSON"),
        ({"upstreamNameservers": '["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]'}, "has 4 entries"),
        ({"federations": "Foo=foo.example.com"}, "'Foo' is not a DNS-1123 label"),
        ({"stubDomains": '{"acme_local": ["1.2.3.4"]}'}, "'acme_local' is not a valid DNS name"),
    ],
)
def test_a_configmap_kube_dns_refuses_translates_to_its_defaults_with_one_warning(
    bad: dict[str, str], reason: str
) -> None:
    data = {"stubDomains": STUBS, "upstreamNameservers": UPSTREAMS, **bad}
    cfg = live(**data)
    assert cfg.ignored_by_kube_dns is not None and reason in cfg.ignored_by_kube_dns
    assert (cfg.stub_domains, cfg.upstreams, cfg.federations) == ({}, [], {})
    result = translate(cfg, "1.8.4")
    [warning] = ignored_warnings(result.warnings)
    assert reason in warning and "--translate-written-config" in warning and "\n" not in warning
    assert [b.keys for b in result.corefile.blocks] == [[".:53"]]
    assert "forward . /etc/resolv.conf" in result.text


def test_the_written_configuration_on_request_still_says_kube_dns_never_ran_it() -> None:
    data = {"stubDomains": STUBS, "federations": '{"foo": "foo.feddomain.com"}'}
    cfg = read_kube_dns_config({"kind": "ConfigMap", "data": data}, written=True)
    assert cfg.federations == {"foo": "foo.feddomain.com"} and "abc.com" in cfg.stub_domains
    result = translate(cfg, "1.6.7")
    [warning] = ignored_warnings(result.warnings)
    assert "NOT live under kube-dns" in warning
    assert "abc.com:53 {" in result.text and "federation cluster.local {" in result.text


def test_kube_dns_syntax_federations_and_unknown_keys_are_applied() -> None:
    cfg = live(stubDomains=STUBS, federations="foo=foo.feddomain.com", stubdomains="{}")
    assert cfg.ignored_by_kube_dns is None
    assert cfg.federations == {"foo": "foo.feddomain.com"} and "abc.com" in cfg.stub_domains
    assert ignored_warnings(translate(cfg, "1.6.7").warnings) == []


def test_a_stub_domain_equal_to_the_cluster_domain_is_live_but_untranslatable() -> None:
    cfg_data = {"stubDomains": '{"cluster.local": ["1.2.3.4"]}'}
    with pytest.raises(InputError, match="is the cluster domain"):
        live(**cfg_data)


# --- stub nameservers that are cluster Service names ------------------------------------------------

CONSUL = '{"consul": ["consul-dns.consul.svc.cluster.local"]}'


def test_a_service_name_stub_nameserver_warns_without_a_resolver() -> None:
    result = translate(live(stubDomains=CONSUL), "1.14.4")
    [warning] = [w for w in result.warnings if "consul-dns.consul.svc.cluster.local" in w]
    assert "cluster Service name" in warning and "--resolve-service-names" in warning
    assert "forward . consul-dns.consul.svc.cluster.local" in result.text


def test_a_service_name_stub_nameserver_is_refused_before_1_14_4_without_a_resolver() -> None:
    with pytest.raises(InputError, match=r"cluster Service name.*--resolve-service-names"):
        translate(live(stubDomains=CONSUL), "1.8.4")


def test_a_resolver_puts_the_cluster_ip_in_the_corefile() -> None:
    asked: list[str] = []

    def resolve(name: str) -> str:
        asked.append(name)
        return "10.96.7.7"

    result = translate(live(stubDomains=CONSUL), "1.8.4", resolve_service=resolve)
    assert asked == ["consul-dns.consul.svc.cluster.local"]
    assert "forward . 10.96.7.7" in result.text
    assert any("ClusterIP 10.96.7.7" in w for w in result.warnings)


def test_other_host_names_are_not_service_names() -> None:
    result = translate(live(stubDomains='{"corp": ["dns.corp.example"]}'), "1.14.4", resolve_service=None)
    assert not any("cluster Service name" in w for w in result.warnings)


def test_the_migration_layer_resolves_service_names_through_the_api(lab: Any, tmp_path: Path) -> None:
    from wizard.k8s.connection import resolve_connection
    from wizard.k8s.gateway import Gateway
    from wizard.migration.service_names import cluster_ip_resolver

    with Gateway(resolve_connection(kubeconfig=str(lab.kubeconfig_path)), mode="read-only") as gateway:
        service = gateway.get_service("kube-system", "kube-dns")
        resolve = cluster_ip_resolver(gateway)
        assert resolve("kube-dns.kube-system.svc.cluster.local") == service["spec"]["clusterIP"]
        with pytest.raises(InputError, match="Service consul/consul-dns does not exist"):
            resolve("consul-dns.consul.svc.cluster.local")

    cm = tmp_path / "cm.yaml"
    cm.write_text(
        "kind: ConfigMap\ndata:\n  stubDomains: '{\"corp\": [\"kube-dns.kube-system.svc.cluster.local\"]}'\n",
        encoding="utf-8",
    )
    args = ["translate", "--kube-dns-configmap", str(cm), "--coredns-version", "1.8.4"]
    resolved = subprocess.run(
        [sys.executable, "-m", "wizard", *args, "--resolve-service-names",
         "--kubeconfig", str(lab.kubeconfig_path)],
        cwd=REPO, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    assert f"forward . {service['spec']['clusterIP']}" in resolved.stdout
