"""The lab's CoreDNS refuses a Corefile exactly where CoreDNS release V does, in CoreDNS's words.

Each case is a Corefile one release refuses, the line CoreDNS logs (from coredns/coredns's
`plugin/*/setup.go`, `plugin.ErrOnce` and `core/dnsserver/register.go` at that tag), and a release
that accepts the same Corefile, so a rule that fires too early or too late fails too. The last
test runs it end to end: a CoreDNS Deployment whose Corefile 1.8.4 refuses crash-loops in the
lab, and `kubectl logs --previous` says why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_clients import is_coredns, kubectl, render_switch_manifest, wait_for

from wizard.lab.cluster import Lab
from wizard.lab.dns.coredns_config import ConfigRejected, load_corefile

PATH = "/etc/coredns/Corefile"
BASE = """\
.:53 {
    errors
    health
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}
"""


def with_line(line: str, after: str = "    errors\n") -> str:
    return BASE.replace(after, after + line + "\n", 1)


ONCE = "this plugin can only be used once per Server Block"
CASES = [
    # (id, corefile, refusing version, the line CoreDNS logs, a version that accepts it or None)
    ("forward-twice", with_line("    forward abc.com 1.2.3.4"), (1, 8, 4), f"plugin/forward: {ONCE}",
     (1, 9, 4)),
    ("forward-twice-1.1.0", with_line("    forward abc.com 1.2.3.4").replace("    loop\n", ""), (1, 1, 0),
     f"plugin/forward: {ONCE}", None),
    ("errors-twice", with_line("    errors"), (1, 11, 1), f"plugin/errors: {ONCE}", None),
    ("hosts-twice", with_line("    hosts {\n        fallthrough\n    }\n    hosts /etc/hosts {\n"
                              "        fallthrough\n    }"), (1, 8, 4), f"plugin/hosts: {ONCE}", None),
    ("prometheus-twice", with_line("    prometheus :9154"), (1, 6, 7), f"plugin/prometheus: {ONCE}", None),
    ("loop-twice", with_line("    loop"), (1, 2, 1), f"plugin/loop: {ONCE}", None),
    ("ready-twice", with_line("    ready\n    ready"), (1, 5, 0), f"plugin/ready: {ONCE}", None),
    ("kubernetes-twice", with_line("    kubernetes other.local"), (1, 8, 4), f"plugin/kubernetes: {ONCE}",
     None),
    ("cache-twice", with_line("    cache 10"), (1, 8, 4), f"plugin/cache: {ONCE}", None),
    ("same-zone-and-port", BASE + ".:53 {\n    whoami\n}\n", (1, 8, 4),
     "cannot serve dns://.:53 - it is already defined", None),
    ("overlapping-bind", BASE + ".:53 {\n    bind 127.0.0.1\n    whoami\n}\n", (1, 8, 4),
     "cannot serve dns://.:53 on 127.0.0.1 - zone overlap listener capacity with dns://.:53", None),
    ("unknown-directive", with_line("    proxy . 8.8.8.8"), (1, 5, 0),
     f"{PATH}:3 - Error during parsing: Unknown directive 'proxy'", (1, 4, 0)),
    ("federation-gone", with_line("    federation cluster.local {\n        foo foo.example.com\n    }"),
     (1, 7, 0), f"{PATH}:3 - Error during parsing: Unknown directive 'federation'", (1, 6, 9)),
    ("ready-too-new", with_line("    ready"), (1, 4, 0), f"{PATH}:3 - Error during parsing: Unknown "
     "directive 'ready'", (1, 5, 0)),
    ("kubernetes-upstream", BASE.replace("pods insecure", "pods insecure\n        upstream"), (1, 7, 0),
     f"plugin/kubernetes: {PATH}:6 - Error during parsing: unknown property 'upstream'", (1, 6, 9)),
    ("kubernetes-unknown", BASE.replace("pods insecure", "pods insecure\n        podz verified"), (1, 8, 4),
     f"plugin/kubernetes: {PATH}:6 - Error during parsing: unknown property 'podz'", None),
    ("kubernetes-pods-value", BASE.replace("pods insecure", "pods always"), (1, 8, 4),
     "plugin/kubernetes: wrong value for pods: always,  must be one of: disabled, verified, insecure", None),
    ("forward-unknown", BASE.replace("forward . /etc/resolv.conf",
                                     "forward . /etc/resolv.conf {\n        max_concurrent 1000\n    }"),
     (1, 6, 7), f"plugin/forward: {PATH}:10 - Error during parsing: unknown property 'max_concurrent'",
     (1, 6, 8)),
    ("forward-no-target", BASE.replace("forward . /etc/resolv.conf", "forward ."), (1, 8, 4),
     f"plugin/forward: {PATH}:9 - Error during parsing: Wrong argument count or unexpected line ending "
     "after '.'", None),
    ("forward-hostname", BASE.replace("/etc/resolv.conf", "dns.google"), (1, 8, 4),
     'plugin/forward: not an IP address or file: "dns.google"', (1, 14, 4)),
    ("forward-16-tos", BASE.replace("/etc/resolv.conf", " ".join(f"10.0.0.{i}" for i in range(16))),
     (1, 8, 4), "plugin/forward: more than 15 TOs configured: 16", None),
    ("cache-unknown", BASE.replace("cache 30", "cache 30 {\n        serve_stale\n    }"), (1, 6, 5),
     f"plugin/cache: {PATH}:11 - Error during parsing: Wrong argument count or unexpected line ending "
     "after 'serve_stale'", (1, 6, 6)),
    ("health-unknown", BASE.replace("    health\n", "    health {\n        lameduk 5s\n    }\n"), (1, 8, 4),
     f"plugin/health: {PATH}:4 - Error during parsing: Wrong argument count or unexpected line ending "
     "after 'lameduk'", None),
    ("loop-argument", BASE.replace("    loop\n", "    loop 5\n"), (1, 8, 4),
     f"plugin/loop: {PATH}:11 - Error during parsing: Wrong argument count or unexpected line ending "
     "after '5'", None),
    ("hosts-after-fallthrough", with_line("    hosts {\n        fallthrough\n        10.0.0.1 a.b\n    }"),
     (1, 8, 4), f"plugin/hosts: {PATH}:5 - Error during parsing: unknown property '10.0.0.1'", None),
]


@pytest.mark.parametrize(("corefile", "version", "line", "accepted_by"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_release_refuses_with_coredns_words(
    corefile: str, version: tuple[int, int, int], line: str, accepted_by: tuple[int, int, int] | None
) -> None:
    with pytest.raises(ConfigRejected) as caught:
        load_corefile(corefile, version, PATH)
    assert str(caught.value) == line
    if accepted_by is not None:
        load_corefile(corefile, accepted_by, PATH)


def test_the_guide_corefile_and_snippets_env_and_inline_hosts_are_accepted() -> None:
    text = (
        "(common) {\n    errors\n    cache 30\n}\n"
        "abc.com:53 {\n    import common\n    forward . 1.2.3.4\n}\n"
        + BASE.replace("    errors\n", "    hosts {\n        10.9.9.9 printer.office\n        fallthrough\n"
                       "    }\n").replace("cache 30", "cache {$CACHE_TTL}")
        + ".:5353 {\n    bind 127.0.0.2\n    whoami\n}\n"
    )
    blocks = load_corefile(text, (1, 8, 4), PATH, {"CACHE_TTL": "30"})
    assert [b.keys for b in blocks] == [["abc.com:53"], [".:53"], [".:5353"]]
    assert blocks[0].directives[0].name == "errors"
    assert next(d for d in blocks[1].directives if d.name == "cache").args == ["30"]


@pytest.mark.lab_options(nodes=4)
def test_a_corefile_the_release_refuses_crash_loops_the_pod_with_the_reason_in_its_log(
    lab: Lab, tmp_path: Path
) -> None:
    manifest = render_switch_manifest(lab, tmp_path)  # CoreDNS 1.8.4
    kubectl(lab, "apply", "--server-side", "--validate=false", "-f", str(manifest))
    corefile = lab.store.get("configmaps", "kube-system", "coredns")["data"]["Corefile"]
    twice = corefile.replace("    forward . ", "    forward abc.com 1.2.3.4\n    forward . ", 1)
    assert twice != corefile
    lab.store.mutate("configmaps", "kube-system", "coredns", lambda cm: cm["data"].update(Corefile=twice))
    kubectl(lab, "scale", "deployment/coredns", "-n", "kube-system", "--replicas=1")

    def restarted() -> list[dict[str, object]]:
        pods = lab.store.list("pods", "kube-system", is_coredns)[0]
        return [p for p in pods if any(c.get("restartCount", 0) >= 1
                                       for c in (p.get("status") or {}).get("containerStatuses") or [])]

    pod = wait_for(restarted, 60, "the CoreDNS pod restarted")[0]
    name = pod["metadata"]["name"]  # type: ignore[index]
    log = kubectl(lab, "logs", "-n", "kube-system", name, "--previous").stdout
    assert f"plugin/forward: {ONCE}" in log
    ready = [c.get("ready") for c in pod["status"]["containerStatuses"]]  # type: ignore[index]
    assert ready == [False]
