"""kube-dns configuration → Corefile: the guide's worked example, every translation rule, every
known CoreDNS version, and arbitrary ConfigMap content."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wizard.dns.checker import check_corefile
from wizard.dns.corefile import parse
from wizard.dns.kubedns_config import KubeDNSConfig, Nameserver, read_kube_dns_config, read_kube_dns_files
from wizard.dns.translate import Translation, translate
from wizard.dns.versions import KNOWN_COREDNS_VERSIONS, Version
from wizard.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures"
CONFIGMAP = FIXTURES / "kube-dns-configmap.yaml"
DEPLOYMENT = FIXTURES / "kube-dns-deployment.yaml"

GUIDE_1_6_7 = """\
.:53 {
    template ANY HINFO . {
        rcode NXDOMAIN
    }
    errors
    health {
        lameduck 30s
    }
    ready
    kubernetes cluster.local. in-addr.arpa ip6.arpa {
        pods insecure
        upstream 8.8.8.8 8.8.4.4
        fallthrough in-addr.arpa ip6.arpa
    }
    federation cluster.local {
        foo foo.feddomain.com
    }
    prometheus :9153
    forward . 8.8.8.8 8.8.4.4 {
        prefer_udp
    }
    cache 30
    reload
    loadbalance
}

abc.com:53 {
    errors
    cache 30
    forward . 1.2.3.4
}

my.cluster.local:53 {
    errors
    cache 30
    forward . 2.3.4.5
}
"""


def guide() -> KubeDNSConfig:
    """The guide's ConfigMap as written (kube-dns itself ignores it: JSON federations)."""
    return read_kube_dns_files(CONFIGMAP, written=True)


def config(**data: str) -> KubeDNSConfig:
    return read_kube_dns_config({"kind": "ConfigMap", "data": data}, written=True)


def block(result: Translation, key: str) -> str:
    """The printed server block whose key is `key`."""
    for chunk in result.text.split("\n\n"):
        if chunk.startswith(key + " {"):
            return chunk
    raise AssertionError(f"no block {key} in\n{result.text}")


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


# ---------------------------------------------------------------- the guide's worked example


def test_guide_example_for_1_6_7_keeps_federation_and_upstream() -> None:
    result = translate(guide(), "1.6.7")
    assert result.text.rstrip("\n") == GUIDE_1_6_7.rstrip("\n")
    assert parse(result.text) == result.corefile
    assert not [f for f in check_corefile(result.corefile, "1.6.7") if f.severity == "error"]


def test_guide_example_for_1_8_4_refuses_federations() -> None:
    with pytest.raises(InputError) as err:
        translate(guide(), "1.8.4")
    message = str(err.value)
    assert str(CONFIGMAP) in message
    assert "data.federations (foo=foo.feddomain.com)" in message
    assert "--drop-federations" in message


def test_guide_example_for_1_8_4_with_drop_federations_warns() -> None:
    result = translate(guide(), "1.8.4", drop_federations=True)
    assert "federation" not in result.text
    assert "upstream" not in result.text  # the kubernetes option is gone from 1.7.0
    assert any("foo=foo.feddomain.com" in w and "dropped" in w for w in result.warnings)
    assert "forward . 8.8.8.8 8.8.4.4 {" in result.text
    assert block(result, "abc.com:53").endswith("forward . 1.2.3.4\n}")
    assert "my.cluster.local:53 {" in result.text


# ---------------------------------------------------------------- the template's version rules


@pytest.mark.parametrize(("version", "has_ready"), [("1.3.1", False), ("1.4.0", False), ("1.5.0", True)])
def test_ready_only_from_1_5_0(version: str, has_ready: bool) -> None:
    assert ("ready" in lines(translate(KubeDNSConfig(), version).text)) is has_ready


@pytest.mark.parametrize(
    ("version", "upstream"), [("1.6.9", "upstream"), ("1.7.0", None), ("1.2.2", "upstream")]
)
def test_bare_upstream_option_without_upstreams_before_1_7_0(version: str, upstream: str | None) -> None:
    text = lines(translate(KubeDNSConfig(), version).text)
    assert (upstream in text) is (upstream is not None)
    assert "forward . /etc/resolv.conf {" in text


def test_no_loop_plugin_anywhere() -> None:
    cfg = read_kube_dns_files(CONFIGMAP, DEPLOYMENT, written=True)
    result = translate(cfg, "1.8.4", drop_federations=True)
    assert not any(line.startswith("loop") for line in lines(result.text))


def test_template_order_and_options() -> None:
    result = translate(KubeDNSConfig(), "1.8.4")
    text = result.text
    names = [d.name for d in result.corefile.blocks[0].directives]
    assert names == [
        "template", "errors", "health", "ready", "kubernetes", "prometheus", "forward", "cache", "reload",
        "loadbalance",
    ]  # fmt: skip
    assert "lameduck 30s" in lines(text)
    assert "pods insecure" in lines(text)
    assert "fallthrough in-addr.arpa ip6.arpa" in lines(text)
    assert "prometheus :9153" in lines(text)


def test_cluster_domain_carried_over() -> None:
    cfg = read_kube_dns_files(CONFIGMAP, DEPLOYMENT, written=True)
    result = translate(cfg, "1.6.7")
    assert "kubernetes corp.example. in-addr.arpa ip6.arpa {" in lines(result.text)
    assert "federation corp.example {" in lines(result.text)


def test_version_below_template_minimum_refused() -> None:
    with pytest.raises(InputError, match=r"CoreDNS version 1\.1\.4 is older than 1\.2\.0"):
        translate(KubeDNSConfig(), "1.1.4")


# ---------------------------------------------------------------- stub domains and dnsmasq extras


def test_every_nameserver_and_port_kept() -> None:
    cfg = config(
        stubDomains='{"acme.local": ["10.0.0.1", "10.0.0.2:5353", "[2001:db8::1]:53", "2001:db8::2"]}'
    )
    stub = block(translate(cfg, "1.8.4"), "acme.local:53")
    assert lines(stub) == [
        "acme.local:53 {",
        "errors",
        "cache 30",
        "forward . 10.0.0.1 10.0.0.2:5353 [2001:db8::1]:53 [2001:db8::2]:53",
        "}",
    ]


def test_upstream_ports_and_ipv6_in_forward_and_upstream_option() -> None:
    cfg = config(upstreamNameservers='["10.0.0.1:5353", "2001:db8::53"]')
    text = lines(translate(cfg, "1.6.7").text)
    assert "forward . 10.0.0.1:5353 [2001:db8::53]:53 {" in text
    assert "upstream 10.0.0.1:5353 [2001:db8::53]:53" in text


def test_dnsmasq_extras_merged_with_stub_domains() -> None:
    cfg = read_kube_dns_files(CONFIGMAP, DEPLOYMENT, written=True)
    result = translate(cfg, "1.8.4", drop_federations=True)
    assert "forward . 1.2.3.4 10.20.0.7" in lines(block(result, "abc.com:53"))
    assert "forward . 10.20.0.5:8600" in lines(block(result, "consul.internal:53"))
    assert "forward . 10.20.0.6" in lines(block(result, "svc.legacy:53"))
    assert "forward . 10.20.0.6" in lines(block(result, "svc2.legacy:53"))
    keys = [b.keys for b in result.corefile.blocks]
    assert keys == [
        [".:53"], ["abc.com:53"], ["my.cluster.local:53"], ["consul.internal:53"], ["svc.legacy:53"],
        ["svc2.legacy:53"],
    ]  # fmt: skip


def test_duplicate_nameserver_listed_once() -> None:
    cfg = config(stubDomains='{"acme.local": ["10.0.0.1", "10.0.0.1:53", "10.0.0.1"]}')
    assert "forward . 10.0.0.1 10.0.0.1:53" in lines(translate(cfg, "1.8.4").text)


@pytest.mark.parametrize("zone", ["corp.example", "in-addr.arpa", "ip6.arpa"])
def test_dnsmasq_extra_for_a_zone_the_main_block_serves_is_refused(zone: str) -> None:
    cfg = read_kube_dns_files(CONFIGMAP, DEPLOYMENT, written=True)
    extra = dataclasses.replace(
        cfg.dnsmasq_servers[0], zones=(zone,), raw=f"/{zone}/10.9.9.9", nameserver=Nameserver("10.9.9.9")
    )
    cfg = dataclasses.replace(cfg, dnsmasq_servers=[extra])
    with pytest.raises(InputError, match=f"forwards {zone}, which CoreDNS's kubernetes plugin serves") as err:
        translate(cfg, "1.8.4", drop_federations=True)
    assert str(DEPLOYMENT) in str(err.value)


@pytest.mark.parametrize("zone", ["in-addr.arpa", "ip6.arpa"])
def test_stub_domain_for_a_reverse_zone_the_main_block_serves_is_refused(zone: str) -> None:
    with pytest.raises(InputError, match=r"a separate .* block would hide the cluster's own records"):
        translate(config(stubDomains=json.dumps({zone: ["1.2.3.4"]})), "1.8.4")


def test_reverse_subzone_stub_is_its_own_block() -> None:
    result = translate(config(stubDomains='{"10.in-addr.arpa": ["10.0.0.53"]}'), "1.8.4")
    assert "forward . 10.0.0.53" in lines(block(result, "10.in-addr.arpa:53"))


def test_stub_without_nameservers_refused() -> None:
    with pytest.raises(InputError, match=r"stubDomains\['acme.local'\] lists no nameservers"):
        translate(config(stubDomains='{"acme.local": []}'), "1.8.4")


def test_more_than_15_merged_nameservers_refused() -> None:
    servers = [f"10.0.0.{i}" for i in range(1, 17)]
    with pytest.raises(InputError, match=r"has 16 nameservers.*at most 15"):
        translate(config(stubDomains=json.dumps({"acme.local": servers})), "1.8.4")


def test_fifteen_nameservers_accepted() -> None:
    servers = [f"10.0.0.{i}" for i in range(1, 16)]
    translate(config(stubDomains=json.dumps({"acme.local": servers})), "1.8.4")


@pytest.mark.parametrize("version", ["1.6.7", "1.8.4", "1.14.3"])
def test_host_name_nameserver_refused_before_1_14_4(version: str) -> None:
    with pytest.raises(InputError) as err:
        translate(config(stubDomains='{"acme.local": ["10.0.0.1", "ns1.acme.local"]}'), version)
    message = str(err.value)
    assert "stubDomains['acme.local']" in message
    assert "'ns1.acme.local'" in message
    assert "replace it with the server's IP" in message


def test_host_name_nameserver_kept_from_1_14_4() -> None:
    result = translate(config(stubDomains='{"acme.local": ["10.0.0.1", "ns1.acme.local"]}'), "1.14.4")
    assert "forward . 10.0.0.1 ns1.acme.local" in lines(result.text)


def test_federation_name_and_domain_pairs() -> None:
    result = translate(config(federations="a=a.example.com,b=b.example.com"), "1.6.7")
    fed = result.corefile.blocks[0].directive("federation")
    assert fed is not None
    assert fed.args == ["cluster.local"]
    assert [(d.name, d.args) for d in fed.block or []] == [("a", ["a.example.com"]), ("b", ["b.example.com"])]


def test_notes_become_warnings() -> None:
    cfg = read_kube_dns_config({"kind": "ConfigMap", "data": {"stubdomains": "{}"}})
    assert any("'stubdomains'" in w for w in translate(cfg, "1.8.4").warnings)


# ---------------------------------------------------------------- every known CoreDNS version


def translatable(version: str) -> bool:
    return Version.parse(version) >= Version(1, 2, 0)


INPUTS: dict[str, Any] = {
    "guide": lambda: guide(),
    "guide+deployment": lambda: read_kube_dns_files(CONFIGMAP, DEPLOYMENT, written=True),
    "defaults": lambda: KubeDNSConfig(),
    "ipv6-and-ports": lambda: config(
        stubDomains='{"acme.local": ["10.0.0.1:5353", "[2001:db8::1]:53"]}',
        upstreamNameservers='["2001:db8::53", "10.0.0.2:5353"]',
        federations="abc=def.example.com",
    ),
}


@pytest.mark.parametrize("version", KNOWN_COREDNS_VERSIONS)
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_every_translation_passes_the_checker(name: str, version: str) -> None:
    cfg = INPUTS[name]()
    if not translatable(version):
        with pytest.raises(InputError, match=r"older than 1\.2\.0"):
            translate(cfg, version, drop_federations=True)
        return
    result = translate(cfg, version, drop_federations=True)
    findings = check_corefile(parse(result.text), version)
    assert [f.message for f in findings if f.severity == "error"] == []
    assert parse(result.text) == result.corefile
    has_federation = "federation" in [d.name for d in result.corefile.blocks[0].directives]
    assert has_federation is (bool(cfg.federations) and Version.parse(version) < Version(1, 7, 0))


# ---------------------------------------------------------------- arbitrary ConfigMap content

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_good_nameservers = st.sampled_from(
    ["1.2.3.4", "10.0.0.1:5353", "[2001:db8::1]:53", "2001:db8::2", "ns1.example.com", "9.9.9.9"]
)
_nameserver_like = (
    _good_nameservers | st.sampled_from(["ns:53", "1.2.3.4:0", "", "a b"]) | st.text(max_size=20)
)
_good_domains = st.sampled_from(["abc.com", "my.cluster.local", "consul", "10.in-addr.arpa", "a-b.example"])
_domain_like = (
    _good_domains
    | st.sampled_from(["cluster.local", "in-addr.arpa", "ABC.com", "a..b", ""])
    | st.text(max_size=20)
)
_garbage = st.one_of(st.text(max_size=40), _json_values.map(json.dumps))
_stub_domains = st.one_of(
    st.dictionaries(_good_domains, st.lists(_good_nameservers, min_size=1, max_size=4), max_size=3).map(
        json.dumps
    ),
    st.dictionaries(_domain_like, st.lists(_nameserver_like, max_size=4), max_size=3).map(json.dumps),
    _garbage,
)
_upstreams = st.one_of(
    st.lists(
        st.sampled_from(["8.8.8.8", "1.1.1.1:5353", "2001:db8::53", "[2001:db8::54]:53"]), max_size=3
    ).map(json.dumps),
    st.lists(_nameserver_like, max_size=5).map(json.dumps),
    _garbage,
)
_federations = st.one_of(
    st.dictionaries(st.sampled_from(["foo", "bar-1"]), _good_domains, max_size=2).map(json.dumps),
    st.lists(st.tuples(_domain_like, _domain_like).map("=".join), max_size=3).map(",".join),
    _garbage,
)


def _configmap_data(stub: str | None, upstream: str | None, federations: str | None) -> dict[str, str]:
    keys = ("stubDomains", "upstreamNameservers", "federations")
    return {k: v for k, v in zip(keys, (stub, upstream, federations), strict=True) if v is not None}


_data = st.builds(
    _configmap_data, st.none() | _stub_domains, st.none() | _upstreams, st.none() | _federations
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=_data,
    version=st.sampled_from(["1.2.2", "1.6.7", "1.8.4", "1.14.4"]),
    drop=st.booleans(),
)
def test_arbitrary_configmap_gives_translation_or_input_error(
    data: dict[str, str], version: str, drop: bool
) -> None:
    try:
        cfg = read_kube_dns_config({"kind": "ConfigMap", "data": data})
        result = translate(cfg, version, drop_federations=drop)
    except InputError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert isinstance(result, Translation)
    assert parse(result.text) == result.corefile
