"""Reading kube-dns's ConfigMap and Deployment: every rule kube-dns applies, accepted and refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from wizard.dns.kubedns_config import (
    CONFIGMAP_NAME,
    KubeDNSConfig,
    Nameserver,
    read_kube_dns_config,
    read_kube_dns_files,
)
from wizard.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures"
CONFIGMAP = FIXTURES / "kube-dns-configmap.yaml"
DEPLOYMENT = FIXTURES / "kube-dns-deployment.yaml"


def cm(**data: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-dns"}, "data": data}


def read(**data: Any) -> KubeDNSConfig:
    """The ConfigMap as written (a value kube-dns refuses is an InputError); see the live tests below."""
    return read_kube_dns_config(cm(**data), written=True)


def refused(match: str, **data: Any) -> str:
    with pytest.raises(InputError, match=match) as err:
        read(**data)
    message = str(err.value)
    assert CONFIGMAP_NAME in message
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- the guide's example, as kubectl prints it


def test_guide_example_configmap_file() -> None:
    cfg = read_kube_dns_files(CONFIGMAP, written=True)
    assert cfg.cluster_domain == "cluster.local"
    assert cfg.stub_domains == {
        "abc.com": [Nameserver("1.2.3.4", None, "1.2.3.4")],
        "my.cluster.local": [Nameserver("2.3.4.5", None, "2.3.4.5")],
    }
    assert [ns.forward_target() for ns in cfg.upstreams] == ["8.8.8.8", "8.8.4.4"]
    assert cfg.federations == {"foo": "foo.feddomain.com"}
    assert cfg.configmap_source == str(CONFIGMAP)
    assert cfg.dnsmasq_servers == []
    assert cfg.image is None


def test_stock_addon_configmap_without_data_means_no_customisation() -> None:
    cfg = read_kube_dns_files(FIXTURES / "kube-dns-configmap-empty.yaml")
    assert (cfg.stub_domains, cfg.upstreams, cfg.federations) == ({}, [], {})


def test_deployment_file_gives_domain_image_and_dnsmasq_extras() -> None:
    cfg = read_kube_dns_files(CONFIGMAP, DEPLOYMENT)
    assert cfg.cluster_domain == "corp.example"
    assert cfg.image == "ccr.ccs.tencentyun.com/tkeimages/kubedns-amd64:1.14.13"
    servers = [(s.zones, s.nameserver.forward_target()) for s in cfg.dnsmasq_servers]
    # kube-dns's own wiring (its zones → 127.0.0.1#10053) is not an extra
    assert servers == [
        (("consul.internal",), "10.20.0.5:8600"),
        (("svc.legacy", "svc2.legacy"), "10.20.0.6"),
        (("abc.com",), "10.20.0.7"),
    ]


def test_cluster_domain_override_wins_and_is_noted() -> None:
    cfg = read_kube_dns_files(CONFIGMAP, DEPLOYMENT, cluster_domain="Cluster.Local.")
    assert cfg.cluster_domain == "cluster.local"
    assert any("overrides the domain corp.example" in n for n in cfg.notes)


def test_api_dicts_without_kind_are_accepted() -> None:
    obj = cm(upstreamNameservers='["1.1.1.1"]')
    del obj["kind"]
    assert [ns.host for ns in read_kube_dns_config(obj).upstreams] == ["1.1.1.1"]


def test_unknown_keys_are_noted_not_silently_dropped() -> None:
    cfg = read(stubDomains="{}", upstream="x")
    assert any("'upstream'" in n for n in cfg.notes)


# ---------------------------------------------------------------- stubDomains


@pytest.mark.parametrize(
    ("ns", "target"),
    [
        ("1.2.3.4", "1.2.3.4"),
        ("1.2.3.4:5353", "1.2.3.4:5353"),
        ("1.2.3.4:1", "1.2.3.4:1"),
        ("1.2.3.4:65535", "1.2.3.4:65535"),
        ("[2001:db8::1]:5353", "[2001:db8::1]:5353"),
        ("2001:db8::1", "[2001:db8::1]:53"),
        ("dns.example.com", "dns.example.com"),
        ("resolver", "resolver"),
    ],
)
def test_stub_nameserver_forms_kube_dns_accepts(ns: str, target: str) -> None:
    cfg = read(stubDomains=json.dumps({"acme.local": [ns]}))
    assert [n.forward_target() for n in cfg.stub_domains["acme.local"]] == [target]


def test_stub_domain_keeps_every_nameserver_in_order() -> None:
    cfg = read(stubDomains='{"acme.local": ["10.0.0.1", "10.0.0.2:5353", "[::1]:53"]}')
    assert [n.raw for n in cfg.stub_domains["acme.local"]] == ["10.0.0.1", "10.0.0.2:5353", "[::1]:53"]


def test_stub_subdomain_of_cluster_domain_is_accepted() -> None:
    assert "my.cluster.local" in read(stubDomains='{"my.cluster.local": ["2.3.4.5"]}').stub_domains


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ('{"acme.local": ["1.2.3.4"]', "not valid JSON"),
        ('["acme.local"]', "expected a JSON object"),
        ('"acme.local"', "expected a JSON object"),
        ('{"acme.local": "1.2.3.4"}', "expected a JSON array"),
        ('{"acme.local": [1234]}', "expected a JSON array"),
        ('{"Acme.local": ["1.2.3.4"]}', "'Acme.local' is not a valid DNS name"),
        ('{"acme.local.": ["1.2.3.4"]}', "is not a valid DNS name"),
        ('{"-acme.local": ["1.2.3.4"]}', "is not a valid DNS name"),
        ('{"acme_local": ["1.2.3.4"]}', "is not a valid DNS name"),
        ('{"cluster.local": ["1.2.3.4"]}', "is the cluster domain"),
        ('{"acme.local": ["1.2.3.4:0"]}', "port '0' is not a number from 1 to 65535"),
        ('{"acme.local": ["1.2.3.4:65536"]}', "port '65536'"),
        ('{"acme.local": ["1.2.3.4:dns"]}', "port 'dns'"),
        ('{"acme.local": ["1.2.3.4:"]}', "port ''"),
        ('{"acme.local": ["dns.example.com:53"]}', "a port is allowed only after an IP address"),
        ('{"acme.local": ["[dns.example.com]:53"]}', "a port is allowed only after an IP address"),
        ('{"acme.local": ["[2001:db8::1]"]}', "neither an IP"),
        ('{"acme.local": ["fe80::1%eth0"]}', "neither an IP"),
        ('{"acme.local": ["not a host"]}', "neither an IP"),
        ('{"acme.local": ["1.2.3.4.5:53"]}', "a port is allowed only after an IP address"),
    ],
)
def test_stub_domains_refused(value: str, match: str) -> None:
    message = refused(match, stubDomains=value)
    assert "stubDomains" in message


def test_stub_domain_equal_to_custom_cluster_domain_refused() -> None:
    with pytest.raises(InputError, match="is the cluster domain"):
        read_kube_dns_config(cm(stubDomains='{"corp.example": ["1.2.3.4"]}'), cluster_domain="corp.example")


# ---------------------------------------------------------------- upstreamNameservers


@pytest.mark.parametrize(
    ("value", "targets"),
    [
        ('["8.8.8.8"]', ["8.8.8.8"]),
        ('["8.8.8.8:5353", "1.1.1.1", "9.9.9.9"]', ["8.8.8.8:5353", "1.1.1.1", "9.9.9.9"]),
        (
            '["2001:4860:4860::8888", "[2001:4860:4860::8844]:5353"]',
            ["[2001:4860:4860::8888]:53", "[2001:4860:4860::8844]:5353"],
        ),
        ("[]", []),
        ("", []),
        ("  \n", []),
        ("null", []),
    ],
)
def test_upstreams_accepted(value: str, targets: list[str]) -> None:
    assert [n.forward_target() for n in read(upstreamNameservers=value).upstreams] == targets


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ('["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]', "has 4 entries; kube-dns accepts at most 3"),
        ('["dns.google"]', "not an IP or IP:port"),
        ('["dns.google:53"]', "not an IP or IP:port"),
        ('["8.8.8.8:0"]', "port '0'"),
        ('["8.8.8.8:70000"]', "port '70000'"),
        ('{"a": "8.8.8.8"}', "expected a JSON array"),
        ('"8.8.8.8"', "expected a JSON array"),
        ("[8.8.8.8]", "not valid JSON"),
        ("[53]", "expected a JSON array of strings"),
    ],
)
def test_upstreams_refused(value: str, match: str) -> None:
    message = refused(match, upstreamNameservers=value)
    assert "upstreamNameservers" in message


# ---------------------------------------------------------------- federations


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"foo" : "foo.feddomain.com"}\n', {"foo": "foo.feddomain.com"}),
        ("abc=def", {"abc": "def"}),
        ("a=b.example.com, c=d.example.com", {"a": "b.example.com", "c": "d.example.com"}),
        ("", {}),
    ],
)
def test_federations_both_formats(value: str, expected: dict[str, str]) -> None:
    assert read(federations=value).federations == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("abc", "is not name=domain"),
        ("a=b,c", "'c' is not name=domain"),
        ("Foo=foo.example.com", "'Foo' is not a DNS-1123 label"),
        ("foo.bar=foo.example.com", "'foo.bar' is not a DNS-1123 label"),
        ("foo=Foo.Example.com", "domain 'Foo.Example.com' is not a valid DNS name"),
        ('{"foo": 1}', "expected a domain string"),
        ('{"foo": "bad_domain"}', "is not a valid DNS name"),
        ('{"foo": ', "not valid JSON"),
        ("=foo.example.com", "'' is not a DNS-1123 label"),
    ],
)
def test_federations_refused(value: str, match: str) -> None:
    message = refused(match, federations=value)
    assert "federations" in message


# ---------------------------------------------------------------- malformed objects and files


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"kind": "Secret", "data": {}}, "has kind 'Secret', expected kind ConfigMap"),
        ({"kind": "List", "items": []}, "is a List"),
        ({"kind": "ConfigMap", "data": ["a"]}, "key data is a list"),
        (
            {"kind": "ConfigMap", "data": {"stubDomains": {"abc.com": ["1.2.3.4"]}}},
            r"data.stubDomains is a mapping",
        ),
        ({"kind": "ConfigMap", "data": {"upstreamNameservers": 8}}, r"data.upstreamNameservers is a number"),
    ],
)
def test_malformed_configmap_objects(obj: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        read_kube_dns_config(obj)


def write(tmp_path: Path, text: str, name: str = "cm.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("data: {}\n", "has no kind, expected kind ConfigMap"),
        ("kind: ConfigMap\ndata: [\n", "not valid YAML at line"),
        ("- a\n- b\n", "is a YAML list"),
        ("", "holds 0 YAML documents"),
        ("kind: ConfigMap\n---\nkind: ConfigMap\n", "holds 2 YAML documents"),
        ("kind: Deployment\nspec: {}\n", "has kind 'Deployment', expected kind ConfigMap"),
    ],
)
def test_malformed_configmap_files_name_the_file(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=match) as err:
        read_kube_dns_files(path)
    assert str(path) in str(err.value)


def test_missing_and_directory_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_kube_dns_files(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="is a directory"):
        read_kube_dns_files(tmp_path)


def test_error_in_file_names_file_key_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, yaml.safe_dump(cm(upstreamNameservers='["dns.google"]')))
    with pytest.raises(InputError) as err:
        read_kube_dns_files(path, written=True)
    assert str(path) in str(err.value)
    assert "data.upstreamNameservers" in str(err.value)
    assert "'dns.google'" in str(err.value)


# ---------------------------------------------------------------- the Deployment


def deployment() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DEPLOYMENT.read_text())
    return loaded


def containers(dep: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = dep["spec"]["template"]["spec"]["containers"]
    return result


def test_deployment_without_domain_flag_keeps_default() -> None:
    dep = deployment()
    containers(dep)[0]["args"] = [a for a in containers(dep)[0]["args"] if not a.startswith("--domain")]
    # with cluster.local as the domain, the dnsmasq wiring to corp.example is no longer internal
    containers(dep)[1]["args"] = [a for a in containers(dep)[1]["args"] if "corp.example" not in a]
    cfg = read_kube_dns_config(None, dep)
    assert cfg.cluster_domain == "cluster.local"


def test_deployment_domain_as_separate_token_and_single_dash() -> None:
    dep = deployment()
    containers(dep)[0]["args"] = ["-domain", "corp.example."]
    assert read_kube_dns_config(None, dep).cluster_domain == "corp.example"


@pytest.mark.parametrize(
    ("server", "match"),
    [
        ("--server=8.8.8.8", "has no zone"),
        ("--server=/consul.internal/", "is not an IP"),
        ("--server=/consul.internal/#", "is not an IP"),
        ("--server=/consul.internal/10.0.0.1@eth0", "is not an IP"),
        ("--server=/consul.internal/dns.example.com", "is not an IP address"),
        ("--server=/consul.internal/10.0.0.1#0", "port '0'"),
        ("--server=//10.0.0.1", "is not a DNS name the wizard can translate"),
        ("--server=/*.internal/10.0.0.1", "is not a DNS name the wizard can translate"),
        ("--server=/consul.internal/127.0.0.1#8600", "forwards to a loopback address"),
        ("--server=/consul.internal", "is not /zone/address"),
    ],
)
def test_dnsmasq_server_extras_refused(server: str, match: str) -> None:
    dep = deployment()
    containers(dep)[1]["args"].append(server)
    with pytest.raises(InputError, match=match) as err:
        read_kube_dns_config(None, dep, deployment_source="kube-dns.yaml")
    assert "kube-dns.yaml" in str(err.value)


def test_dnsmasq_zone_is_lower_cased_and_trailing_dot_dropped() -> None:
    dep = deployment()
    containers(dep)[1]["args"] = ["--server=/Consul.Internal./10.0.0.9#53"]
    cfg = read_kube_dns_config(None, dep)
    assert [(s.zones, s.nameserver.port) for s in cfg.dnsmasq_servers] == [(("consul.internal",), 53)]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(kind="StatefulSet"), "expected kind Deployment"),
        (lambda d: d["spec"]["template"]["spec"].update(containers=[]), "containers is missing or empty"),
        (lambda d: d["spec"].pop("template"), "containers is missing or empty"),
        (lambda d: d["spec"]["template"]["spec"].update(containers=["x"]), "holds a string, not a container"),
        (
            lambda d: d["spec"]["template"]["spec"].update(
                containers=[{"name": "nginx", "image": "nginx:1"}]
            ),
            "no kubedns container",
        ),
        (lambda d: containers(d)[0].update(args="--domain=x"), "args is not a list of strings"),
        (
            lambda d: containers(d)[0].update(args=["--domain=bad_domain"]),
            "'bad_domain' is not a valid DNS name",
        ),
        (lambda d: containers(d)[0].update(image=5), "image is a number"),
    ],
)
def test_malformed_deployments(mutate: Any, match: str) -> None:
    dep = copy.deepcopy(deployment())
    mutate(dep)
    with pytest.raises(InputError, match=match):
        read_kube_dns_config(None, dep, require_kind=True)


def test_renamed_containers_found_by_image() -> None:
    dep = deployment()
    containers(dep)[0]["name"] = "dns"
    containers(dep)[1]["name"] = "cache"
    cfg = read_kube_dns_config(None, dep)
    assert cfg.cluster_domain == "corp.example"
    assert len(cfg.dnsmasq_servers) == 3
