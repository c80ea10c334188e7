"""A lab on another cluster domain (`--cluster-domain`): kube-dns runs with `--domain=<domain>.`
and answers under that domain only, and pods search that domain, as on a real cluster whose
kubelets and kube-dns were set up with it."""

from __future__ import annotations

import pytest
from lab_clients import addresses_of, kubectl, kubectl_json, query, rcode_text

from wizard.errors import InputError
from wizard.lab.cluster import Lab, LabOptions

DOMAIN = "corp.example"


@pytest.mark.lab_options(cluster_domain=DOMAIN + ".", kube_dns_replicas=1)
def test_kube_dns_serves_the_configured_domain_only(lab: Lab) -> None:
    deployment = kubectl_json(lab, "get", "deployment", "kube-dns", "-n", "kube-system")
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert f"--domain={DOMAIN}." in containers["kubedns"]["args"]
    assert f"--server=/{DOMAIN}/127.0.0.1#10053" in containers["dnsmasq"]["args"]
    assert all(DOMAIN in a for a in containers["sidecar"]["args"] if a.startswith("--probe="))

    answer = query(lab.dns_service_ip, lab.dns_port, f"kubernetes.default.svc.{DOMAIN}.")
    service = kubectl_json(lab, "get", "service", "kubernetes", "-n", "default")
    assert addresses_of(answer) == [service["spec"]["clusterIP"]]
    # cluster.local is not this cluster's zone: kube-dns forwards it upstream, which knows nothing of it
    other = query(lab.dns_service_ip, lab.dns_port, "kubernetes.default.svc.cluster.local.")
    assert addresses_of(other) == [] and rcode_text(other) != "NOERROR"


@pytest.mark.lab_options(cluster_domain=DOMAIN)
def test_pods_search_the_cluster_domain(lab: Lab) -> None:
    pods = kubectl_json(lab, "get", "pods", "-n", "shop", "-l", "app=cart")["items"]
    name = pods[0]["metadata"]["name"]
    resolv = kubectl(lab, "exec", "-n", "shop", name, "--", "cat", "/etc/resolv.conf").stdout
    assert f"search shop.svc.{DOMAIN} svc.{DOMAIN} {DOMAIN}" in resolv
    assert "cluster.local" not in resolv


@pytest.mark.parametrize("bad", ["", "Cluster.Local", "-x.local", "a..b", "x" * 64 + ".local"])
def test_a_bad_cluster_domain_is_refused_by_name(bad: str) -> None:
    with pytest.raises(InputError, match="--cluster-domain"):
        LabOptions(cluster_domain=bad).validate()
