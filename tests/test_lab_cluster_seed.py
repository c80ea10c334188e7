"""The seeded cluster: the guide's starting point, in shapes the official client's models accept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes.client import V1ConfigMap, V1DaemonSet, V1Deployment, V1Node, V1Pod, V1Service

from wizard.errors import InputError
from wizard.lab.addresses import AddressPlan
from wizard.lab.api.store import Store
from wizard.lab.seed import SeedOptions, load_kube_dns_configmap, seed


def seeded(**options: object) -> tuple[Store, AddressPlan]:
    store, plan = Store(), AddressPlan(252)
    seed(store, plan, SeedOptions(**options))  # type: ignore[arg-type]
    return store, plan


def test_nodes_look_like_a_tencentos_vendor_cluster() -> None:
    store, plan = seeded(nodes=4)
    nodes = store.list("nodes")[0]
    assert len(nodes) == 4
    for raw in nodes:
        node = V1Node.model_validate(raw)
        assert node.status.node_info.os_image == "TencentOS Server 3.1 (Final)"
        assert node.status.node_info.kernel_version == "5.4.119-19-0009.11"
        assert node.metadata.labels["kubernetes.io/hostname"] == node.metadata.name
        internal = [a.address for a in node.status.addresses if a.type == "InternalIP"]
        assert internal and internal[0] in plan.nodes
    fixed, _ = seeded(nodes=1, kernel="fixed")
    assert fixed.list("nodes")[0][0]["status"]["nodeInfo"]["kernelVersion"].endswith("0009.28")


def test_kube_dns_is_the_vendor_deployment_with_three_containers() -> None:
    store, plan = seeded()
    deployment = V1Deployment.model_validate(store.get("deployments.apps", "kube-system", "kube-dns"))
    assert deployment.spec.replicas == 3
    assert deployment.spec.selector.match_labels == {"k8s-app": "kube-dns"}
    containers = {c.name: c for c in deployment.spec.template.spec.containers}
    assert list(containers) == ["kubedns", "dnsmasq", "sidecar"]
    assert containers["kubedns"].image == "ccr.ccs.tencentyun.com/tkeimages/kubedns-amd64:1.14.13"
    assert containers["kubedns"].args == [
        "--domain=cluster.local.", "--dns-port=10053", "--config-dir=/kube-dns-config", "--v=2"]
    assert containers["kubedns"].readiness_probe.http_get.path == "/readiness"
    assert containers["kubedns"].readiness_probe.http_get.port == 8081
    assert "--server=/cluster.local/127.0.0.1#10053" in containers["dnsmasq"].args
    service = V1Service.model_validate(store.get("services", "kube-system", "kube-dns"))
    assert service.spec.cluster_ip == plan.dns_service_ip == "127.252.0.10"
    assert service.spec.selector == {"k8s-app": "kube-dns"}
    assert {(p.name, p.port, p.protocol) for p in service.spec.ports} == {
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")}
    assert store.try_get("serviceaccounts", "kube-system", "kube-dns") is not None


def test_default_configmap_has_stub_domains_and_upstreams_but_no_federations() -> None:
    store, _ = seeded()
    data = V1ConfigMap.model_validate(store.get("configmaps", "kube-system", "kube-dns")).data
    assert json.loads(data["stubDomains"]) == {"abc.com": ["1.2.3.4"], "my.cluster.local": ["2.3.4.5"]}
    assert json.loads(data["upstreamNameservers"]) == ["8.8.8.8", "8.8.4.4"]
    assert "federations" not in data


def test_kube_proxy_mode_is_in_the_daemonset_and_the_configmap() -> None:
    store, _ = seeded(proxy_mode="iptables", udp_timeout=5)
    daemonset = V1DaemonSet.model_validate(store.get("daemonsets.apps", "kube-system", "kube-proxy"))
    assert "--proxy-mode=iptables" in daemonset.spec.template.spec.containers[0].command
    assert daemonset.spec.template.spec.host_network is True
    config = store.get("configmaps", "kube-system", "kube-proxy")["data"]["config.conf"]
    assert "mode: iptables" in config and "udpTimeout: 5s" in config


def test_autoscaler_only_with_the_fault() -> None:
    store, _ = seeded()
    assert store.try_get("deployments.apps", "kube-system", "kube-dns-autoscaler") is None
    store, _ = seeded(autoscaler=True)
    autoscaler = store.get("deployments.apps", "kube-system", "kube-dns-autoscaler")
    command = autoscaler["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--target=Deployment/kube-dns" in command
    assert store.try_get("configmaps", "kube-system", "kube-dns-autoscaler") is not None


def test_application_services_probes_can_resolve() -> None:
    store, plan = seeded()
    for namespace, name in (("default", "nginx"), ("shop", "cart"), ("shop", "orders"),
                            ("default", "kubernetes")):
        service = store.get("services", namespace, name)
        assert service["spec"]["clusterIP"] in plan.services


def test_bulk_pods_are_seeded_running_and_valid() -> None:
    store, plan = seeded(nodes=10, extra_pods=50, extra_services=10)
    pods = store.list("pods")[0]
    assert len(pods) == 50
    pod = V1Pod.model_validate(pods[0])
    assert pod.status.phase == "Running" and pod.status.pod_ip in plan.pods
    assert len({p["status"]["podIP"] for p in pods}) == 50
    assert len(store.list("services")[0]) == 2 + 4 + 10


def test_configmap_file_replaces_the_default(tmp_path: Path) -> None:
    path = tmp_path / "kube-dns.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-dns}\n"
                    "data:\n  upstreamNameservers: '[\"1.1.1.1\"]'\n")
    assert load_kube_dns_configmap(path) == {"upstreamNameservers": '["1.1.1.1"]'}


@pytest.mark.parametrize("text, message", [
    ("kind: Secret\n", "kind must be ConfigMap"),
    ("kind: ConfigMap\ndata: {a: [1]}\n", "data must map keys to strings"),
    ("kind: [\n", "not valid YAML"),
])
def test_bad_configmap_file_is_one_clear_input_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_kube_dns_configmap(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_missing_configmap_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_kube_dns_configmap(tmp_path / "missing.yaml")
