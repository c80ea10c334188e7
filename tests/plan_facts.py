"""Hand-made ClusterFacts for plan and pre-flight tests: a cluster like the lab's, changed at will."""

from __future__ import annotations

import dataclasses
from typing import Any

from wizard.lab.seed import DEFAULT_KUBE_DNS_DATA, kube_dns_deployment
from wizard.migration.facts import AutoscalerInfo, ClusterFacts, DnsPodInfo, NodeInfo


def node(name: str, **changes: Any) -> NodeInfo:
    node = NodeInfo(name, True, False, (), {"kubernetes.io/hostname": name}, "5.15.0", "Ubuntu 22.04")
    return dataclasses.replace(node, **changes)


def make_facts(
    nodes: int = 3,
    replicas: int = 3,
    *,
    dns_on: list[int] | None = None,
    node_changes: dict[int, dict[str, Any]] | None = None,
    autoscalers: tuple[AutoscalerInfo, ...] = (),
    coredns_deployment: dict[str, Any] | None = None,
    kube_dns_replicas: int | None = None,
) -> ClusterFacts:
    """A cluster like the lab's: kube-dns `replicas` pods, one per node from node 0 upwards."""
    node_list = tuple(node(f"node-{i}", **(node_changes or {}).get(i, {})) for i in range(nodes))
    on = dns_on if dns_on is not None else list(range(min(replicas, nodes)))
    pods = tuple(DnsPodInfo(f"kube-dns-{i}", f"node-{i}", "kube-dns", True, False) for i in on)
    return ClusterFacts(
        server="https://127.0.0.1:6443",
        context="test",
        k8s_version="v1.20.15",
        namespace="kube-system",
        kube_dns_deployment=kube_dns_deployment(replicas if kube_dns_replicas is None else kube_dns_replicas),
        kube_dns_configmap={"metadata": {"name": "kube-dns"}, "data": dict(DEFAULT_KUBE_DNS_DATA)},
        dns_service={"spec": {"selector": {"k8s-app": "kube-dns"}, "clusterIP": "10.0.0.10"}},
        coredns_deployment=coredns_deployment,
        coredns_configmap=None,
        kube_proxy_configmap=None,
        kube_proxy_daemonset=None,
        nodes=node_list,
        dns_pods=pods,
        autoscalers=autoscalers,
        hpas=(),
        pdbs=(),
        addon_manager_pods=(),
        node_local_dns=(),
        kubeadm_config_present=False,
        pod_count=20,
        service_count=8,
        sample_services=("nginx.default",),
        access=(),
    )


AUTOSCALER = AutoscalerInfo(
    name="kube-dns-autoscaler",
    namespace="kube-system",
    replicas=1,
    target="Deployment/kube-dns",
    configmap="kube-dns-autoscaler",
    container="autoscaler",
    args=("/cluster-proportional-autoscaler", "--namespace=kube-system", "--target=Deployment/kube-dns"),
    args_field="command",
)
