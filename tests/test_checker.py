"""The Corefile checker: every rule of coredns-facts.md §2, accepted where CoreDNS accepts it and
refused where CoreDNS refuses it, plus the plugin tables it reads."""

from __future__ import annotations

import pytest

from wizard.dns.checker import Finding, check_corefile, check_corefile_text, format_finding, has_errors
from wizard.dns.corefile import Corefile, Directive, ServerBlock, parse
from wizard.dns.plugins import PLUGINS, Status, directive_status, directives_in, option_status
from wizard.dns.versions import KNOWN_COREDNS_VERSIONS, NEWEST_KNOWN
from wizard.errors import InputError


def check(text: str, version: str) -> list[Finding]:
    return check_corefile(parse(text), version, env={})


def errors(text: str, version: str) -> list[str]:
    return [f.message for f in check(text, version) if f.severity == "error"]


def warnings(text: str, version: str) -> list[str]:
    return [f.message for f in check(text, version) if f.severity == "warning"]


def block(*lines: str, key: str = ".:53") -> str:
    body = "\n".join(f"    {line}" for line in lines)
    return f"{key} {{\n{body}\n}}\n"


SEED_TEMPLATE = """\
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
        UPSTREAM
        fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . /etc/resolv.conf {
        prefer_udp
    }
    cache 30
    reload
    loadbalance
}
"""
WITH_UPSTREAM = SEED_TEMPLATE.replace("UPSTREAM", "upstream")
WITHOUT_UPSTREAM = SEED_TEMPLATE.replace("        UPSTREAM\n", "")


# --- the seed guide's own template -----------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.5.0", "1.6.2", "1.6.7", "1.6.9"])
def test_seed_template_with_upstream_runs_before_1_7_with_only_a_warning(version: str) -> None:
    assert errors(WITH_UPSTREAM, version) == []
    assert any("upstream" in w for w in warnings(WITH_UPSTREAM, version))


@pytest.mark.parametrize("version", ["1.7.0", "1.8.4", "1.11.1", "1.11.1-tke.1", "v1.14.7"])
def test_seed_template_without_upstream_is_clean_from_1_7(version: str) -> None:
    assert check(WITHOUT_UPSTREAM, version) == []


def test_seed_template_with_upstream_is_refused_from_1_7_at_the_option_line() -> None:
    findings = check(WITH_UPSTREAM, "1.8.4")
    assert [(f.severity, f.line, f.directive) for f in findings] == [("error", 12, "kubernetes")]
    assert "unknown property 'upstream'" in findings[0].message
    assert "1.7.0" in findings[0].message


# --- unknown and removed directives -------------------------------------------------------------------


def test_federation_runs_until_1_6_9_and_is_unknown_from_1_7_0() -> None:
    text = block("federation cluster.local {", "    foo foo.feddomain.com", "}", "forward . 8.8.8.8")
    assert check(text, "1.6.9") == []
    found = check(text, "1.7.0")
    assert len(found) == 1 and found[0].severity == "error" and found[0].line == 2
    assert found[0].message.startswith("Unknown directive 'federation'")
    assert found[0].directive == "federation"


def test_proxy_is_fine_then_deprecated_then_unknown() -> None:
    text = block("proxy . 8.8.8.8")
    assert check(text, "1.3.1") == []
    assert errors(text, "1.4.0") == []
    assert any("deprecated since CoreDNS 1.4.0" in w and "forward" in w for w in warnings(text, "1.4.0"))
    assert errors(text, "1.5.0") == [
        "Unknown directive 'proxy': CoreDNS 1.5.0 removed the proxy plugin; "
        "replace `proxy` with `forward` (same FROM and TO arguments; before 1.9.4 forward is allowed once "
        "per server block, so give each further zone its own block)"
    ]


def test_ready_is_unknown_before_1_5_0() -> None:
    text = block("ready", "forward . 8.8.8.8")
    assert errors(text, "1.5.0") == []
    [message] = errors(text, "1.4.0")
    assert message.startswith("Unknown directive 'ready'") and "1.5.0" in message


def test_loop_is_unknown_before_1_2_1() -> None:
    text = block("loop", "forward . 8.8.8.8")
    assert errors(text, "1.2.1") == []
    [message] = errors(text, "1.2.0")
    assert message.startswith("Unknown directive 'loop'") and "1.2.1" in message


def test_a_name_no_release_knows_is_unknown_everywhere() -> None:
    for version in ("1.2.2", "1.8.4", "1.14.7"):
        [message] = errors(block("erors"), version)
        assert message.startswith("Unknown directive 'erors'") and "spelling" in message


def test_transfer_plugin_exists_from_1_6_5() -> None:
    text = block("transfer cluster.local {", "    to *", "}")
    assert errors(text, "1.6.5") == []
    assert errors(text, "1.6.4")[0].startswith("Unknown directive 'transfer'")


# --- options: removed, deprecated, no-op, not yet there ----------------------------------------------


def kubernetes_with(option: str) -> str:
    return block("kubernetes cluster.local {", f"    {option}", "}")


def test_kubernetes_upstream_through_its_whole_life() -> None:
    text = kubernetes_with("upstream 8.8.8.8")
    assert check(text, "1.3.1") == []
    assert errors(text, "1.4.0") == [] and "deprecated since CoreDNS 1.4.0" in warnings(text, "1.4.0")[0]
    assert errors(text, "1.6.9") == [] and "does nothing since CoreDNS 1.5.0" in warnings(text, "1.6.9")[0]
    assert errors(text, "1.7.0")[0].startswith("kubernetes: unknown property 'upstream'")


def test_kubernetes_resyncperiod_is_deprecated_in_1_5_and_removed_in_1_7() -> None:
    text = kubernetes_with("resyncperiod 30s")
    assert check(text, "1.4.0") == []
    assert errors(text, "1.5.0") == [] and warnings(text, "1.5.0")
    assert errors(text, "1.7.0")[0].startswith("kubernetes: unknown property 'resyncperiod'")


def test_kubernetes_transfer_option_is_removed_in_1_8_0() -> None:
    text = kubernetes_with("transfer to *")
    assert check(text, "1.7.1") == []
    [message] = errors(text, "1.8.0")
    assert message.startswith("kubernetes: unknown property 'transfer'") and "transfer plugin" in message


@pytest.mark.parametrize(
    ("option", "first"),
    [
        ("noendpoints", "1.0.6"),
        ("ignore empty_service", "1.1.3"),
        ("kubeconfig /k cluster", "1.2.3"),
        ("namespace_labels a=b", "1.5.0"),
        ("startup_timeout 5s", "1.12.3"),
        ("apiserver_qps 10", "1.14.0"),
    ],
)
def test_kubernetes_options_refused_before_they_appeared(option: str, first: str) -> None:
    text = kubernetes_with(option)
    assert errors(text, first) == []
    earlier = KNOWN_COREDNS_VERSIONS[KNOWN_COREDNS_VERSIONS.index(first) - 1]
    [message] = errors(text, earlier)
    assert f"unknown property '{option.split()[0]}'" in message and first in message


@pytest.mark.parametrize(
    "option",
    ["pods insecure", "ttl 30", "fallthrough in-addr.arpa", "namespaces a b", "labels a=b",
     "endpoint_pod_names", "tls c k ca", "endpoint https://10.0.0.1"],
)  # fmt: skip
def test_kubernetes_classic_options_are_fine_on_every_release(option: str) -> None:
    for version in ("1.2.2", "1.6.7", "1.8.4", "1.14.7"):
        assert check(kubernetes_with(option), version) == []


def test_an_option_no_release_has_is_refused_listing_the_real_ones() -> None:
    [message] = errors(kubernetes_with("podz insecure"), "1.8.4")
    assert message.startswith("kubernetes: unknown property 'podz'")
    assert "pods" in message and "upstream" not in message


@pytest.mark.parametrize(
    ("plugin_line", "option", "first"),
    [
        ("forward . 8.8.8.8 {", "max_concurrent 1000", "1.6.8"),
        ("forward . 8.8.8.8 {", "prefer_udp", "1.2.0"),
        ("forward . 8.8.8.8 {", "next NXDOMAIN", "1.11.4"),
        ("forward . 8.8.8.8 {", "failfast_all_unhealthy_upstreams", "1.12.1"),
        ("cache 30 {", "serve_stale", "1.6.6"),
        ("cache 30 {", "keepttl", "1.10.1"),
        ("errors {", "consolidate 5m \".* timeout$\"", "1.2.6"),
        ("k8s_external example.org {", "fallthrough", "1.11.0"),
    ],
)
def test_options_refused_before_they_appeared(plugin_line: str, option: str, first: str) -> None:
    text = block(plugin_line, f"    {option}", "}")
    assert errors(text, first) == []
    earlier = KNOWN_COREDNS_VERSIONS[KNOWN_COREDNS_VERSIONS.index(first) - 1]
    assert len(errors(text, earlier)) == 1
    assert f"unknown property '{option.split()[0]}'" in errors(text, earlier)[0]


def test_forward_classic_options_and_health_lameduck_are_fine() -> None:
    text = block(
        "health {", "    lameduck 5s", "}",
        "forward . 8.8.8.8 {", "    max_fails 3", "    health_check 5s", "    force_tcp", "    expire 10s",
        "    policy sequential", "    except example.org", "    tls_servername dns.example", "}",
        "cache 30 {", "    success 9984 30", "    denial 9984 5", "    prefetch 10", "}",
    )  # fmt: skip
    for version in ("1.0.6", "1.8.4", "1.14.7"):
        assert check(text, version) == []


def test_plugins_without_options_refuse_an_options_block() -> None:
    [message] = errors(block("loop {", "    fast", "}"), "1.8.4")
    assert message.startswith("loop: unknown property 'fast'")


def test_hosts_lines_are_entries_and_late_options_only_warn() -> None:
    text = block("hosts {", "    10.0.0.1 a.example", "    ttl 60", "    fallthrough", "}")
    assert check(text, "1.4.0") == []
    assert errors(text, "1.3.1") == []
    [message] = warnings(text, "1.3.1")
    assert "'ttl'" in message and "1.4.0" in message


# --- forward targets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["8.8.8.8", "8.8.8.8:5353", "2001:db8::1", "[2001:db8::1]:53", "[2001:db8::1]", "tls://1.1.1.1",
     "dns://8.8.4.4", "tls://[2001:db8::1]:853", "/etc/resolv.conf", "fe80::1%eth0"],
)  # fmt: skip
def test_ip_and_file_upstreams_are_fine_on_every_release(target: str) -> None:
    for version in ("1.2.2", "1.8.4", "1.14.7"):
        assert check(block(f"forward . {target}"), version) == []


@pytest.mark.parametrize("target", ["dns.google", "tls://dns.quad9.net", "my-dns.svc.cluster.local:53"])
def test_host_name_upstreams_need_1_14_4(target: str) -> None:
    text = block(f"forward . 8.8.8.8 {target}")
    assert check(text, "1.14.4") == []
    [message] = errors(text, "1.14.3")
    assert message.startswith("forward: not an IP address or file") and "1.14.4" in message


@pytest.mark.parametrize("target", ["8.8.8.8:99999", "8.8.8.8:0", "not_an_address!", "udp://8.8.8.8"])
def test_malformed_upstreams_are_refused_even_when_host_names_are_allowed(target: str) -> None:
    assert errors(block(f"forward . {target}"), "1.14.7")


def test_https_upstreams_need_1_14_5() -> None:
    text = block("forward . https://dns.example/dns-query")
    assert check(text, "1.14.5") == []
    assert "not supported as a destination protocol" in errors(text, "1.14.4")[0]


def test_fifteen_upstreams_are_fine_sixteen_are_not() -> None:
    fifteen = " ".join(f"10.0.0.{i}" for i in range(1, 16))
    assert check(block(f"forward . {fifteen}"), "1.8.4") == []
    [message] = errors(block(f"forward . {fifteen} 10.0.0.16"), "1.8.4")
    assert message.startswith("forward: more than 15 TOs configured: 16")


@pytest.mark.parametrize("line", ["forward .", "forward"])
def test_forward_without_an_upstream_is_refused(line: str) -> None:
    [message] = errors(block(line), "1.8.4")
    assert "Wrong argument count" in message and "upstream" in message


# --- server blocks --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "version"),
    [
        ("abc.com:53", "ABC.com.", "1.14.7"),
        (".:53", "dns://.:53", "1.8.4"),
        ("example.org", "example.org.:53", "1.8.4"),
        ("10.0.0.0/24", "0.0.10.in-addr.arpa", "1.8.4"),
    ],
)
def test_same_zone_and_port_twice_is_refused_after_normalisation(
    first: str, second: str, version: str
) -> None:
    text = block("forward . 1.2.3.4", key=first) + block("forward . 1.2.3.5", key=second)
    found = check(text, version)
    assert [(f.severity, f.line) for f in found] == [("error", 4)]
    assert found[0].message.startswith("cannot serve dns://")
    assert "already defined" in found[0].message and "line 1" in found[0].message


@pytest.mark.parametrize(
    ("first", "second"),
    [("abc.com:53", "abc.com:1053"), ("abc.com", "abd.com"), (".:53", "tls://.:853")],
)
def test_different_zones_or_ports_are_fine(first: str, second: str) -> None:
    text = block("forward . 1.2.3.4", key=first) + block("forward . 1.2.3.5", key=second)
    assert check(text, "1.8.4") == []


def test_same_zone_on_different_bind_addresses_is_fine() -> None:
    text = block("bind 10.0.0.1", "whoami") + block("bind 10.0.0.2", "whoami")
    assert check(text, "1.8.4") == []


@pytest.mark.parametrize("plugin", ["kubernetes cluster.local", "cache 30"])
def test_kubernetes_and_cache_only_once_per_block(plugin: str) -> None:
    name = plugin.split()[0]
    assert check(block(plugin), "1.8.4") == []
    assert check(block(plugin, key="a.example") + block(plugin, key="b.example"), "1.8.4") == []
    [message] = errors(block(plugin, plugin), "1.8.4")
    assert message.startswith(f"{name}: this plugin can only be used once per Server Block")


# --- expansion, syntax errors, versions, formatting ----------------------------------------------------


def test_checks_run_on_the_expanded_corefile() -> None:
    text = "(legacy) {\n    federation cluster.local\n}\n" + block("import legacy", "forward . 8.8.8.8")
    assert check(text, "1.6.9") == []
    assert errors(text, "1.7.0")[0].startswith("Unknown directive 'federation'")


def test_environment_placeholders_are_substituted_before_checking() -> None:
    cf = parse(block("forward . {$UPSTREAM}"))
    assert check_corefile(cf, "1.8.4", env={"UPSTREAM": "8.8.8.8"}) == []
    assert has_errors(check_corefile(cf, "1.8.4", env={"UPSTREAM": "dns.google"}))


def test_hand_built_model() -> None:
    cf = Corefile(
        items=[
            ServerBlock(
                keys=[".:53"],
                directives=[
                    Directive("kubernetes", ["cluster.local"], [Directive("upstream", line=3)], line=2),
                    Directive("forward", [".", "8.8.8.8"], line=5),
                ],
                line=1,
            )
        ]
    )
    assert check_corefile(cf, "1.6.7", env={})[0].severity == "warning"
    assert check_corefile(cf, "1.7.0", env={}) == [
        Finding(
            "error",
            3,
            "kubernetes: unknown property 'upstream': CoreDNS 1.7.0 removed it; delete the line: CoreDNS "
            "resolves external names through its own server since 1.4.0",
            "kubernetes",
        )
    ]


def test_text_variant_returns_a_syntax_error_as_one_finding() -> None:
    [finding] = check_corefile_text(".:53 {\n    errors\n", "1.8.4", "my.Corefile", env={})
    assert finding.severity == "error" and finding.line == 1
    assert format_finding("my.Corefile", finding).startswith("my.Corefile:1: error: ")


def test_text_variant_refuses_a_bad_version_before_parsing() -> None:
    with pytest.raises(InputError, match=r"'1\.8'"):
        check_corefile_text(".:53 {\n", "1.8")


def test_versions_outside_what_the_wizard_knows() -> None:
    with pytest.raises(InputError, match=r"older than 1\.0\.0"):
        check(block("errors"), "0.9.9")
    [finding] = check(block("errors"), "1.99.0")
    assert finding.severity == "warning" and finding.line == 0 and str(NEWEST_KNOWN) in finding.message


def test_findings_are_sorted_by_line_and_formatted_as_file_line() -> None:
    text = block("federation cluster.local", "proxy . 1.1.1.1", "ready")
    text += block("cache", "cache", key="a.example")
    found = check(text, "1.8.4")
    assert [f.line for f in found] == sorted(f.line for f in found)
    assert format_finding("Corefile", found[0]) == f"Corefile:2: error: {found[0].message}"
    assert format_finding("Corefile", Finding("warning", 0, "whole file")) == "Corefile: warning: whole file"


# --- the plugin tables -------------------------------------------------------------------------------------


def test_every_lifetime_is_in_order() -> None:
    for spec in PLUGINS.values():
        lives = [spec.life, *(spec.options or {}).values()]
        for life in lives:
            steps = [v for v in (life.added, life.deprecated, life.ignored, life.removed) if v is not None]
            assert steps == sorted(steps), spec.name


def test_status_lookups_match_coredns_facts() -> None:
    assert directive_status("federation", "1.6.9") is Status.OK
    assert directive_status("federation", "1.7.0") is Status.REMOVED
    assert directive_status("ready", "1.4.0") is Status.ABSENT
    assert directive_status("nonsense", "1.8.4") is Status.ABSENT
    assert option_status("kubernetes", "upstream", "1.4.0") is Status.DEPRECATED
    assert option_status("kubernetes", "upstream", "1.5.0") is Status.IGNORED
    assert option_status("kubernetes", "upstream", "1.7.0") is Status.REMOVED
    assert option_status("kubernetes", "nonsense", "1.8.4") is Status.ABSENT
    assert option_status("rewrite", "name", "1.8.4") is None  # rewrite's options are not tracked


def test_directives_in_a_release() -> None:
    names = directives_in("1.8.4")
    assert {"kubernetes", "forward", "ready", "loop", "transfer", "import"} <= set(names)
    assert not {"federation", "proxy", "reverse"} & set(names)
    assert "proxy" in directives_in("1.4.0")  # deprecated still counts as accepted


def test_acl_actions_and_local_options_by_release() -> None:
    acl = block("acl {", "    drop type ANY", "    allow net 10.0.0.0/8", "}")
    assert check(acl, "1.10.1") == []
    [message] = errors(acl, "1.9.4")
    assert message.startswith("acl: unknown property 'drop'")
    local = block("local {", "    localhost_prefix off", "}")
    assert check(local, "1.14.5") == []
    assert "unknown property 'localhost_prefix'" in errors(local, "1.14.4")[0]
    assert check(block("local"), "1.8.3") == []
    assert errors(block("local"), "1.8.0")[0].startswith("Unknown directive 'local'")


def test_several_kubernetes_endpoints_work_but_only_the_first_counts_from_1_4_0() -> None:
    text = kubernetes_with("endpoint https://10.0.0.1:6443 https://10.0.0.2:6443")
    assert check(text, "1.3.1") == []
    [message] = warnings(text, "1.4.0")
    assert message.startswith(
        "kubernetes option 'endpoint' has 2 arguments: CoreDNS 1.4.0 and newer use only the first"
    )
    assert errors(text, "1.8.4") == []
    assert check(kubernetes_with("endpoint https://10.0.0.1:6443"), "1.8.4") == []
