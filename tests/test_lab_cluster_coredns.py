"""The first step of the switch, done by hand against the lab: render, apply, scale CoreDNS to 1.

This is the lab's core promise to the wizard: a CoreDNS pod that the official manifests create
lands on the node without kube-dns (required anti-affinity), becomes Ready by its real /ready
endpoint, joins the kube-dns Service's Endpoints, and answers cluster names, the stub domains and
outside names exactly like the kube-dns configuration it was translated from.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_clients import (
    addresses_of,
    is_coredns,
    is_kube_dns,
    kubectl,
    query,
    rcode_text,
    ready_pods,
    render_switch_manifest,
    wait_for,
)

from wizard.lab.cluster import Lab


@pytest.mark.lab_options(nodes=4)
def test_rendered_coredns_scaled_to_one_serves_from_the_free_node(lab: Lab, tmp_path: Path) -> None:
    manifest = render_switch_manifest(lab, tmp_path)
    kubectl(lab, "apply", "--server-side", "--validate=false", "-f", str(manifest))
    kubectl(lab, "scale", "deployment/coredns", "-n", "kube-system", "--replicas=1")
    pod = wait_for(lambda: ready_pods(lab, "kube-system", is_coredns), 60, "a Ready CoreDNS pod")[0]

    kube_dns_nodes = {p["spec"]["nodeName"] for p in lab.store.list("pods", "kube-system", is_kube_dns)[0]}
    assert len(kube_dns_nodes) == 3
    assert pod["spec"]["nodeName"] not in kube_dns_nodes  # the only node without kube-dns
    ip = pod["status"]["podIP"]

    def in_endpoints() -> bool:
        subsets = lab.store.get("endpoints", "kube-system", "kube-dns").get("subsets") or []
        return ip in {a["ip"] for s in subsets for a in s.get("addresses") or []}

    wait_for(in_endpoints, 30, "the CoreDNS pod in the kube-dns Endpoints")

    kubernetes_ip = lab.store.get("services", "default", "kubernetes")["spec"]["clusterIP"]
    assert addresses_of(query(ip, lab.dns_port, "kubernetes.default.svc.cluster.local.")) == [kubernetes_ip]
    for stub_name in ("www.abc.com.", "ns.my.cluster.local."):  # the ConfigMap's stub domains
        answer = query(ip, lab.dns_port, stub_name)
        assert rcode_text(answer) == "NOERROR" and addresses_of(answer), stub_name
    outside = query(ip, lab.dns_port, "www.example.com.")  # through upstreamNameservers
    assert rcode_text(outside) == "NOERROR" and addresses_of(outside)
    # kube-dns gives the same answers for the stub domain: the translation kept it
    kube_dns_ip = lab.store.list("pods", "kube-system", is_kube_dns)[0][0]["status"]["podIP"]
    assert addresses_of(query(kube_dns_ip, lab.dns_port, "www.abc.com.")) == addresses_of(
        query(ip, lab.dns_port, "www.abc.com."))


@pytest.mark.lab_options(nodes=4)
def test_deleted_coredns_pod_answers_through_lameduck_then_goes(lab: Lab, tmp_path: Path) -> None:
    manifest = render_switch_manifest(lab, tmp_path)
    kubectl(lab, "apply", "--server-side", "--validate=false", "-f", str(manifest))
    kubectl(lab, "scale", "deployment/coredns", "-n", "kube-system", "--replicas=1")
    pod = wait_for(lambda: ready_pods(lab, "kube-system", is_coredns), 60, "a Ready CoreDNS pod")[0]
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    kubectl(lab, "scale", "deployment/coredns", "-n", "kube-system", "--replicas=0")
    wait_for(lambda: not ready_pods(lab, "kube-system", is_coredns), 10, "the CoreDNS pod NotReady")
    # health { lameduck 30s }: still answering (30 s / speed 20 = 1.5 s) while /ready already fails
    assert addresses_of(query(ip, lab.dns_port, "kubernetes.default.svc.cluster.local."))
    wait_for(lambda: lab.store.try_get("pods", "kube-system", name) is None, 30, "the CoreDNS pod removed")
