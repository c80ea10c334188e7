"""What the running kube-dns served, read from its Deployment's shape (issue 10 follow-ups).

kubernetes/dns: dnsmasq-nanny alone turns the ConfigMap's stubDomains into dnsmasq `--server` lines
(pkg/dnsmasq/nanny.go); kubedns reads upstreamNameservers and federations only (pkg/dns/dns.go),
and its SkyDNS answers its --domain and the reverse zones and forwards every other name to its
upstreams. So a kube-dns without dnsmasq never served stub domains, and a dnsmasq `--server` that
sends a zone to the kubedns container itself (kops's `/in6.arpa/127.0.0.1#10053`) is the same as
the Corefile's main block forwarding it: kube-dns's own wiring, not a loopback forward.
The Deployments here are the lab presets' vendor shapes (written from the public manifests).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from wizard.dns.kubedns_config import read_kube_dns_config
from wizard.dns.translate import translate
from wizard.errors import InputError
from wizard.lab.presets import PRESETS

REPO = Path(__file__).resolve().parent.parent
STUBS = '{"abc.com": ["1.2.3.4"], "corp.internal": ["10.0.0.9:5353"]}'
UPSTREAMS = '["8.8.8.8"]'


def preset_deployment(name: str, domain: str = "cluster.local") -> dict[str, Any]:
    dep = PRESETS[name].kube_dns.deployment(2, domain)
    return {"kind": "Deployment", "apiVersion": "apps/v1", **copy.deepcopy(dep)}


def container(dep: dict[str, Any], name: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = dep["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == name)


def configmap(**data: str) -> dict[str, Any]:
    return {"kind": "ConfigMap", "data": data}


# ---------------------------------------------------------------- dnsmasq wired to kubedns


def test_kops_in6_arpa_to_kubedns_is_its_own_wiring_with_a_note() -> None:
    dep = preset_deployment("kops")
    assert "--server=/in6.arpa/127.0.0.1#10053" in container(dep, "dnsmasq")["args"]
    cfg = read_kube_dns_config(None, dep)
    assert cfg.dnsmasq_servers == []
    [note] = [n for n in cfg.notes if "in6.arpa" in n]
    assert "--server=/in6.arpa/127.0.0.1#10053" in note and "ip6.arpa" in note and "upstreams" in note
    result = translate(cfg, "1.8.4")
    assert [b.keys for b in result.corefile.blocks] == [[".:53"]]
    assert "in6.arpa" not in result.text
    assert any("in6.arpa" in w for w in result.warnings)


def test_only_kubedns_own_zones_give_no_note() -> None:
    cfg = read_kube_dns_config(None, preset_deployment("upstream"))
    assert cfg.dnsmasq_servers == [] and cfg.notes == []


@pytest.mark.parametrize(
    ("server", "kubedns_args", "where"),
    [
        ("--server=/in6.arpa/127.0.0.1#53", None, "127.0.0.1#53"),  # dnsmasq itself: a loop
        ("--server=/consul.internal/127.0.0.1", None, "127.0.0.1#53"),  # dnsmasq's default port
        ("--server=/consul.internal/127.0.0.1#8600", None, "127.0.0.1#8600"),  # nothing serves it
        ("--server=/consul.internal/::1#5353", None, "::1#5353"),
        # kubedns without --dns-port serves 53, so 10053 is nobody
        ("--server=/in6.arpa/127.0.0.1#10053", ["--domain=cluster.local."], "127.0.0.1#10053"),
        # kubedns bound to one address does not answer on loopback
        ("--server=/in6.arpa/127.0.0.1#10053",
         ["--domain=cluster.local.", "--dns-port=10053", "--dns-bind-address=10.1.2.3"], "127.0.0.1#10053"),
    ],
)
def test_a_real_loopback_forward_still_blocks(
    server: str, kubedns_args: list[str] | None, where: str
) -> None:
    dep = preset_deployment("kops")
    container(dep, "dnsmasq")["args"].append(server)
    if kubedns_args is not None:
        container(dep, "kubedns")["args"] = kubedns_args
        container(dep, "dnsmasq")["args"] = [a for a in container(dep, "dnsmasq")["args"]
                                             if a == server or "in6.arpa" not in a]
    with pytest.raises(InputError, match="forwards to a loopback address") as err:
        read_kube_dns_config(None, dep, deployment_source="kops.yaml")
    message = str(err.value)
    assert message.startswith(f"kops.yaml: dnsmasq {server} ") and where in message and "\n" not in message


@pytest.mark.parametrize(
    ("server", "kubedns_args"),
    [
        ("--server=/consul.internal/127.0.0.1#10053", ["--dns-port=10053"]),
        ("--server=/consul.internal/::1#10053", ["--dns-port", "10053"]),  # 0.0.0.0 listens on all
        ("--server=/consul.internal/127.0.0.1#10053", ["--dns-port=10053", "--dns-bind-address=127.0.0.1"]),
        ("--server=/consul.internal/127.0.0.1", []),  # kubedns on its default 53
    ],
)
def test_any_zone_sent_to_the_kubedns_listener_is_wiring(server: str, kubedns_args: list[str]) -> None:
    dep = preset_deployment("upstream")
    container(dep, "kubedns")["args"] = ["--domain=cluster.local.", *kubedns_args]
    container(dep, "dnsmasq")["args"] = [a for a in container(dep, "dnsmasq")["args"] if "#10053" not in a]
    container(dep, "dnsmasq")["args"].append(server)
    cfg = read_kube_dns_config(None, dep)
    assert cfg.dnsmasq_servers == []
    assert [n for n in cfg.notes if "consul.internal" in n and "kubedns container itself" in n]


def test_kubedns_own_zones_to_any_loopback_port_stay_dropped_as_before() -> None:
    dep = preset_deployment("upstream")
    container(dep, "dnsmasq")["args"].append("--server=/cluster.local/in-addr.arpa/127.0.0.1#5353")
    cfg = read_kube_dns_config(None, dep)
    assert cfg.dnsmasq_servers == [] and cfg.notes == []


def test_names_under_kubedns_zones_sent_to_kubedns_need_no_note_but_elsewhere_block() -> None:
    dep = preset_deployment("upstream")
    container(dep, "dnsmasq")["args"].append("--server=/svc.cluster.local/10.in-addr.arpa/127.0.0.1#10053")
    cfg = read_kube_dns_config(None, dep)
    assert cfg.dnsmasq_servers == [] and cfg.notes == []
    container(dep, "dnsmasq")["args"].append("--server=/svc.cluster.local/127.0.0.1#5353")
    with pytest.raises(InputError, match=r"forwards to a loopback address \(127.0.0.1#5353\)"):
        read_kube_dns_config(None, dep)


def test_a_bad_dns_port_is_named() -> None:
    dep = preset_deployment("kops")
    container(dep, "kubedns")["args"].append("--dns-port=ten")
    with pytest.raises(InputError, match=r"kubedns container --dns-port: port 'ten' is not a number"):
        read_kube_dns_config(None, dep)


# ---------------------------------------------------------------- stubDomains without dnsmasq


def test_stub_domains_without_dnsmasq_are_left_out_with_a_warning() -> None:
    dep = preset_deployment("minimal")
    assert [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]] == ["kubedns"]
    cfg = read_kube_dns_config(configmap(stubDomains=STUBS, upstreamNameservers=UPSTREAMS), dep)
    assert cfg.has_dnsmasq is False
    assert cfg.stub_domains == {}
    assert [u.forward_target() for u in cfg.upstreams] == ["8.8.8.8"]  # kubedns itself reads these
    result = translate(cfg, "1.8.4")
    assert [b.keys for b in result.corefile.blocks] == [[".:53"]]
    assert "forward . 8.8.8.8" in result.text
    [warning] = [w for w in result.warnings if "stubDomains" in w]
    assert "ConfigMap kube-system/kube-dns: key stubDomains (abc.com, corp.internal): left out" in warning
    assert "no dnsmasq container" in warning and "--translate-written-config" in warning
    assert "\n" not in warning


def test_stub_domains_without_dnsmasq_on_request_are_kept_and_said_so() -> None:
    cfg = read_kube_dns_config(configmap(stubDomains=STUBS), preset_deployment("minimal"), written=True)
    assert sorted(cfg.stub_domains) == ["abc.com", "corp.internal"]
    result = translate(cfg, "1.8.4")
    assert "abc.com:53" in result.text
    [warning] = [w for w in result.warnings if "stubDomains" in w]
    assert "carried over as written" in warning and "change at the switch" in warning


def test_stub_domains_with_dnsmasq_are_carried_over_silently() -> None:
    cfg = read_kube_dns_config(configmap(stubDomains=STUBS), preset_deployment("kubeadm"))
    assert cfg.has_dnsmasq is True and sorted(cfg.stub_domains) == ["abc.com", "corp.internal"]
    assert [n for n in cfg.notes if "stubDomains" in n] == []
    assert "forward . 10.0.0.9:5353" in translate(cfg, "1.8.4").text


def test_stub_domains_without_a_deployment_say_what_they_assume() -> None:
    cfg = read_kube_dns_config(configmap(stubDomains=STUBS))
    assert cfg.has_dnsmasq is None and sorted(cfg.stub_domains) == ["abc.com", "corp.internal"]
    [note] = [n for n in cfg.notes if "stubDomains" in n]
    assert "assumption" in note and "dnsmasq" in note


def test_translate_command_warns_on_stderr_and_leaves_stub_domains_out(tmp_path: Path) -> None:
    cm_path = tmp_path / "cm.yaml"
    dep_path = tmp_path / "dep.yaml"
    cm_path.write_text(yaml.safe_dump({"apiVersion": "v1", "metadata": {"name": "kube-dns"},
                                       **configmap(stubDomains=STUBS)}))
    dep_path.write_text(yaml.safe_dump(preset_deployment("minimal")))
    done = subprocess.run(
        [sys.executable, "-m", "wizard", "translate", "--kube-dns-configmap", str(cm_path),
         "--kube-dns-deployment", str(dep_path), "--coredns-version", "1.8.4"],
        capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "abc.com" not in done.stdout and ".:53 {" in done.stdout
    assert f"warning: {cm_path}: key stubDomains (abc.com, corp.internal): left out" in done.stderr
    assert "Traceback" not in done.stderr
