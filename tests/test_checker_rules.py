"""The checker's per-release structural rules and argument values, on the cases issue 11 names.

Each expectation is CoreDNS's own verdict for that release (setup.go, core/dnsserver/register.go).
"""

from __future__ import annotations

import pytest

from wizard.dns.checker import Finding, check_corefile_text, format_finding
from wizard.dns.grammar import go_duration
from wizard.dns.listeners import key_zones, reverse_zones
from wizard.dns.versions import Version


def errors(text: str, version: str) -> list[Finding]:
    return [f for f in check_corefile_text(text, version, env={}) if f.is_error]


def block(*lines: str, key: str = ".:53") -> str:
    body = "\n".join(f"    {line}" for line in lines)
    return f"{key} {{\n{body}\n}}\n"


# --- once per server block -------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.1.0", "1.6.7", "1.8.4", "1.9.3"])
def test_two_forward_lines_are_refused_from_1_1_0_to_1_9_3(version: str) -> None:
    text = block("forward example.org 10.0.0.1", "forward . 8.8.8.8")
    [found] = errors(text, version)
    assert found.line == 3 and found.directive == "forward"
    assert "this plugin can only be used once per Server Block" in found.message


@pytest.mark.parametrize("version", ["1.0.6", "1.9.4", "1.11.1", "1.14.7"])
def test_two_forward_lines_are_accepted_outside_that_range(version: str) -> None:
    assert errors(block("forward example.org 10.0.0.1", "forward . 8.8.8.8"), version) == []


@pytest.mark.parametrize(
    ("line", "since"),
    [("errors", "1.1.0"), ("hosts", "1.1.0"), ("prometheus :9153", "1.1.0"), ("loop", "1.2.1"),
     ("ready", "1.5.0"), ("kubernetes cluster.local", "1.1.0"), ("cache 30", "1.1.0")],
)  # fmt: skip
def test_plugins_used_twice_are_refused_from_the_release_that_checks_it(line: str, since: str) -> None:
    text = block(line, line.replace(":9153", ":9154"))
    assert any("once per Server Block" in f.message for f in errors(text, since))
    if since != "1.5.0":
        before = f"1.0.{6 if since == '1.1.0' else 0}" if since == "1.1.0" else "1.1.0"
        assert not any("once per Server Block" in f.message for f in errors(text, before))


# --- zones and listeners ----------------------------------------------------------------------------


def test_zones_differing_only_in_case_are_two_zones_before_1_14_7() -> None:
    text = block("whoami", key="Example.org") + block("whoami", key="example.org")
    assert errors(text, "1.14.6") == []
    [found] = errors(text, "1.14.7")
    assert found.message.startswith("cannot serve dns://example.org.:53 - it is already defined")
    assert found.line == 4


def test_a_bound_and_an_unbound_block_for_one_zone_and_port_overlap() -> None:
    text = block("bind 127.0.0.1", "whoami") + block("whoami")
    [found] = errors(text, "1.8.4")
    assert found.message.startswith(
        "cannot serve dns://.:53 - zone overlap listener capacity with dns://.:53 on 127.0.0.1"
    )


def test_blocks_bound_to_different_addresses_do_not_overlap() -> None:
    assert errors(block("bind 127.0.0.1", "whoami") + block("bind 127.0.0.2", "whoami"), "1.8.4") == []


def test_a_cidr_key_expands_to_the_reverse_zones_coredns_serves() -> None:
    assert reverse_zones("10.0.0.0/24") == ["0.0.10.in-addr.arpa."]
    assert len(reverse_zones("10.9.3.0/18") or []) == 64
    text = block("whoami", key="10.9.0.0/18") + block("whoami", key="dns://5.9.10.in-addr.arpa.")
    [found] = errors(text, "1.8.4")
    assert "cannot serve dns://5.9.10.in-addr.arpa.:53 - it is already defined" in found.message


def test_transport_prefixes_and_default_ports() -> None:
    assert key_zones("tls://Example.org", Version(1, 8, 4)) == ("tls", ["Example.org."], "853")
    assert key_zones("dns://.:1053", Version(1, 14, 7)) == ("dns", ["."], "1053")
    assert errors(block("whoami", key=".:53") + block("whoami", key="tls://.:53"), "1.8.4") == []


# --- releases ---------------------------------------------------------------------------------------


def test_etcd_lease_ttl_options_arrive_in_1_12_4() -> None:
    text = block("etcd {", "    min-lease-ttl 60", "    max-lease-ttl 1h", "}")
    assert errors(text, "1.12.4") == []
    assert "unknown property 'min-lease-ttl'" in errors(text, "1.12.3")[0].message


def test_proxyproto_is_compiled_in_at_1_14_2() -> None:
    assert errors(block("proxyproto"), "1.14.2") == []
    assert errors(block("proxyproto"), "1.14.1")[0].message.startswith("Unknown directive 'proxyproto'")


# --- argument values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "go"),
    [("30s", 30.0), ("1h20m", 4800.0), ("0", 0.0), ("1.5h", 5400.0), ("-1s", -1.0), ("300ms", 0.3),
     ("1", None), ("s", None), ("1d", None), ("", None), ("1 s", None)],
)  # fmt: skip
def test_durations_follow_go_time_parse_duration(text: str, go: float | None) -> None:
    assert go_duration(text) == go


@pytest.mark.parametrize(
    ("lines", "version", "expected"),
    [
        (["health {", "    lameduck 30"], "1.8.4", "invalid value '30' for option 'lameduck'"),
        (["cache 0"], "1.8.4", "invalid value '0' for cache"),
        (["cache 30 {", "    prefetch -1"], "1.8.4", "invalid value '-1' for option 'prefetch'"),
        (
            ["forward . 10.0.0.1 {", "    policy fastest"],
            "1.8.4",
            "invalid value 'fastest' for option 'policy'",
        ),
        (["forward . 10.0.0.1 {", "    max_concurrent many"], "1.8.4", "invalid value 'many'"),
        (["ready bla"], "1.8.4", "invalid value 'bla' for ready"),
        (["ready :8181 :8182"], "1.8.4", "Wrong argument count"),
        (["reload 1s"], "1.8.4", "invalid value '1s' for reload"),
        (["loadbalance fleeb"], "1.8.4", "invalid value 'fleeb' for loadbalance"),
        (["log {", "    class abracadabra"], "1.8.4", "invalid value 'abracadabra' for option 'class'"),
        (["template ANY X"], "1.8.4", "invalid value 'X' for template"),
        (["kubernetes cluster.local {", "    pods giant_seed"], "1.8.4", "invalid value 'giant_seed'"),
        (["kubernetes cluster.local {", "    ttl 3601"], "1.8.4", "invalid value '3601' for option 'ttl'"),
        (["transfer example.org {", "    to example.com"], "1.8.4", "invalid value 'example.com'"),
        (["loop extra"], "1.8.4", "Wrong argument count"),
        (
            ["autopath kubernetes"],
            "1.8.4",
            "add @PLUGIN (e.g. @kubernetes) or the path of a resolv.conf file",
        ),
        (["errors {", "    consolidate 5m .* warning"], "1.8.4", "Wrong argument count"),
        (["proxy . 8.8.8.8 {", "    policy fastest"], "1.4.0", "invalid value 'fastest' for option 'policy'"),
        (["federation cluster.local {", "    foo foo.example.com extra"], "1.6.7", "Wrong argument count"),
        (["k8s_external example.org {", "    ttl -1"], "1.8.4", "invalid value '-1' for option 'ttl'"),
        (["etcd example.org {", "    credentials user"], "1.8.4", "Wrong argument count"),
        (["hosts {", "    fallthrough", "    10.0.0.1 a.example"], "1.8.4", "unknown property '10.0.0.1'"),
        (["hosts {", "    ttl 0"], "1.8.4", "invalid value '0' for option 'ttl'"),
        (["forward . 10.0.0.1 {", "    expire 30s", "    max_age 10s"], "1.14.3",
         "max_age (10s) must not be less"),
        (["kubernetes cluster.local {", "    multicluster clusterset.local"], "1.12.2",
         "not authoritative for the multicluster zone clusterset.local."),
    ],
)
def test_values_coredns_refuses(lines: list[str], version: str, expected: str) -> None:
    text = block(*lines, *(["}"] if lines[0].endswith("{") else []))
    found = errors(text, version)
    assert found, text
    assert expected in found[0].message
    assert found[0].line == 1 + len(lines)


@pytest.mark.parametrize(
    ("lines", "version"),
    [
        (["health :8080 {", "    lameduck 5s"], "1.8.4"),
        (["cache 30 example.org {", "    success 9984 30", "    denial 9984 5", "    prefetch 10 1m 10%"],
         "1.8.4"),
        (["forward . 10.0.0.1 {", "    policy sequential", "    max_concurrent 1000", "    expire 10s"],
         "1.8.4"),
        (["ready :8181"], "1.8.4"),
        (["reload 30s 10s"], "1.8.4"),
        (["errors {", "    consolidate 5m .* warning"], "1.9.0"),
        (["kubernetes cluster.local in-addr.arpa ip6.arpa {", "    pods insecure", "    ttl 30",
          "    fallthrough in-addr.arpa ip6.arpa"], "1.8.4"),
        (["prometheus :9153"], "1.8.4"),
        (["transfer example.org {", "    to * 10.0.0.1"], "1.8.4"),
        (["template IN A example.org {", "    answer \"{{ .Name }} 60 IN A 10.0.0.1\"", "    rcode NOERROR"],
         "1.8.4"),
    ],
)  # fmt: skip
def test_values_coredns_accepts(lines: list[str], version: str) -> None:
    text = block(*lines, *(["}"] if lines[0].endswith("{") else []))
    assert errors(text, version) == []


def test_every_refusal_is_one_line_naming_file_line_plugin_and_value() -> None:
    text = block("cache 30 {", "    prefetch lots", "}")
    [found] = errors(text, "1.8.4")
    line = format_finding("Corefile", found)
    assert "\n" not in line
    assert line.startswith("Corefile:3: error: cache: invalid value 'lots'") and "fix the value" in line
