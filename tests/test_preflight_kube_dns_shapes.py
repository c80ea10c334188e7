"""Pre-flight on the vendors' kube-dns shapes, over the lab's real API (issue 10 follow-ups).

kops's stock dnsmasq sends `in6.arpa` to the kubedns container (kube-dns's own wiring): pre-flight
passes and says why the line is not carried over, while a real loopback forward still blocks.
kubedns alone (the minimal preset, no dnsmasq) never served the ConfigMap's stubDomains: the
Corefile and the probe questions leave them out, and the finding says so naming the key.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_preflight import mutate, preflight

from wizard.lab.seed import STUB_DOMAINS


@pytest.mark.lab_options(preset="kops", nodes=4, kube_dns_replicas=2)
def test_kops_dnsmasq_wiring_passes_with_a_note(lab: Any) -> None:
    report = preflight(lab)
    found = report.finding("kube-dns-config")
    assert found.status != "block", found.evidence
    assert not report.blocked, [f for f in report.findings if f.status == "block"]
    evidence = " ".join(found.evidence)
    assert "--server=/in6.arpa/127.0.0.1#10053" in evidence and "kubedns container itself" in evidence
    assert report.plan is not None
    assert "in6.arpa" not in report.plan.manifests.corefile_text
    assert "abc.com:53" in report.plan.manifests.corefile_text  # kops runs dnsmasq: stubs were served


@pytest.mark.lab_options(preset="kops", nodes=4, kube_dns_replicas=2)
@pytest.mark.parametrize(
    "server", ["--server=/in6.arpa/127.0.0.1#53", "--server=/consul.internal/127.0.0.1#8600"]
)
def test_a_real_loopback_forward_blocks_on_kops(lab: Any, server: str) -> None:
    def add(dep: dict[str, Any]) -> None:
        for c in dep["spec"]["template"]["spec"]["containers"]:
            if c["name"] == "dnsmasq":
                c["args"].append(server)

    mutate(lab, "deployments.apps", "kube-dns", add)
    report = preflight(lab)
    found = report.finding("kube-dns-config")
    assert found.status == "block"
    assert f"dnsmasq {server} forwards to a loopback address" in " ".join(found.evidence)
    assert report.plan is None


@pytest.mark.lab_options(preset="minimal", nodes=4, kube_dns_replicas=2)
def test_minimal_leaves_unserved_stub_domains_out_and_says_so(lab: Any) -> None:
    report = preflight(lab)
    assert not report.blocked, [f for f in report.findings if f.status == "block"]
    found = report.finding("kube-dns-config")
    assert found.status == "warn"
    [warning] = [e for e in found.evidence if "key stubDomains" in e]
    assert "ConfigMap kube-system/kube-dns: key stubDomains" in warning
    assert "Deployment kube-system/kube-dns has no dnsmasq container" in warning
    assert report.plan is not None
    corefile = report.plan.manifests.corefile_text
    assert all(f"{zone}:53" not in corefile for zone in STUB_DOMAINS)
    assert [q for q in report.plan.probes if q.purpose == "stub"] == []


def test_default_lab_with_dnsmasq_still_probes_its_stub_domains(lab: Any) -> None:
    report = preflight(lab)
    assert report.plan is not None
    assert "abc.com:53" in report.plan.manifests.corefile_text
    assert [q.name for q in report.plan.probes if q.purpose == "stub"] == sorted(STUB_DOMAINS)
