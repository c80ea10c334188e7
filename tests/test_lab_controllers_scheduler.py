"""The lab scheduler: anti-affinity between kube-dns and CoreDNS, taints, and its messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.models import V1Pod
from lab_controllers_harness import Lab

from wizard.lab.controllers.scheduler import tolerates, unschedulable_message

Obj = dict[str, Any]
ANTI_AFFINITY_MESSAGE = "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    yield lab
    lab.close()


def scheduled_condition(pod: Obj) -> Obj | None:
    return next((c for c in pod.get("status", {}).get("conditions", []) if c["type"] == "PodScheduled"), None)


def pending_coredns(lab: Lab) -> Obj:
    def find() -> Obj | None:
        for pod in lab.pods_of_deployment("kube-system", "coredns"):
            cond = scheduled_condition(pod)
            if cond and cond["status"] == "False":
                return pod
        return None

    return lab.wait_for("a Pending CoreDNS pod", find)


def start_kube_dns_on_every_node(lab: Lab, nodes: int) -> list[Obj]:
    for i in range(1, nodes + 1):
        lab.add_node(f"node-{i}")
    lab.create_deployment("kube-dns", 3, image="registry.k8s.io/k8s-dns-kube-dns:1.14.13")
    lab.wait_for(
        "kube-dns ready",
        lambda: (
            lab.get("deployments.apps", "kube-system", "kube-dns").get("status", {}).get("availableReplicas")
            == 3
        ),
    )
    return lab.pods_of_deployment("kube-system", "kube-dns")


def test_coredns_stays_pending_when_every_node_runs_kube_dns(lab: Lab) -> None:
    kube_dns = start_kube_dns_on_every_node(lab, 3)
    assert len({p["spec"]["nodeName"] for p in kube_dns}) == 3
    lab.create_deployment("coredns", 1, anti_affinity=True)
    pod = pending_coredns(lab)
    cond = scheduled_condition(pod)
    assert cond is not None
    assert (cond["reason"], cond["message"]) == ("Unschedulable", ANTI_AFFINITY_MESSAGE)
    assert not pod["spec"].get("nodeName") and pod["status"]["phase"] == "Pending"
    V1Pod.from_dict(pod)
    events = lab.wait_for(
        "FailedScheduling event",
        lambda: [
            e
            for e in lab.events("FailedScheduling")
            if e["involvedObject"]["name"] == pod["metadata"]["name"]
        ],
    )
    assert events and events[0]["message"] == ANTI_AFFINITY_MESSAGE and events[0]["type"] == "Warning"
    # a fourth node appears: the pod is retried and lands there
    lab.add_node("node-4")
    placed = lab.wait_for(
        "CoreDNS scheduled",
        lambda: [p for p in lab.pods_of_deployment("kube-system", "coredns") if p["spec"].get("nodeName")],
    )
    assert placed[0]["spec"]["nodeName"] == "node-4"
    assert scheduled_condition(placed[0])["status"] == "True"  # type: ignore[index]
    assigned = f"Successfully assigned kube-system/{placed[0]['metadata']['name']} to node-4"
    lab.wait_for("Scheduled event", lambda: any(e["message"] == assigned for e in lab.events("Scheduled")))


def test_on_four_nodes_coredns_goes_to_the_node_without_kube_dns(lab: Lab) -> None:
    kube_dns = start_kube_dns_on_every_node(lab, 4)
    free = ({"node-1", "node-2", "node-3", "node-4"} - {p["spec"]["nodeName"] for p in kube_dns}).pop()
    lab.create_deployment("coredns", 1, anti_affinity=True)
    placed = lab.wait_for(
        "CoreDNS scheduled",
        lambda: [p for p in lab.pods_of_deployment("kube-system", "coredns") if p["spec"].get("nodeName")],
    )
    assert placed[0]["spec"]["nodeName"] == free


def test_existing_pods_anti_affinity_repels_a_new_kube_dns_pod(lab: Lab) -> None:
    lab.add_node("node-1")
    lab.create_deployment("coredns", 1, anti_affinity=True)
    lab.wait_for(
        "CoreDNS ready",
        lambda: (
            lab.get("deployments.apps", "kube-system", "coredns").get("status", {}).get("availableReplicas")
            == 1
        ),
    )
    lab.create_deployment("kube-dns", 1, image="registry.k8s.io/k8s-dns-kube-dns:1.14.13")
    pod = lab.wait_for(
        "kube-dns pending",
        lambda: next(
            (
                p
                for p in lab.pods_of_deployment("kube-system", "kube-dns")
                if (scheduled_condition(p) or {}).get("status") == "False"
            ),
            None,
        ),
    )
    assert scheduled_condition(pod)["message"] == (  # type: ignore[index]
        "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."
    )


def test_taints_and_tolerations(lab: Lab) -> None:
    master_taint = {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}
    lab.add_node("master", taints=[master_taint])
    lab.create_deployment("web", 1, namespace="default", labels={"app": "web"})
    pod = lab.wait_for(
        "pending",
        lambda: next(
            (p for p in lab.pods("default") if (scheduled_condition(p) or {}).get("status") == "False"), None
        ),
    )
    assert scheduled_condition(pod)["message"] == (  # type: ignore[index]
        "0/1 nodes are available: 1 node(s) had taint {node-role.kubernetes.io/master: }, "
        "that the pod didn't tolerate."
    )
    lab.create_deployment(
        "agent",
        1,
        namespace="default",
        labels={"app": "agent"},
        tolerations=[{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}],
    )
    lab.wait_for(
        "agent on master",
        lambda: [
            p
            for p in lab.pods("default")
            if p["metadata"]["labels"].get("app") == "agent" and p["spec"].get("nodeName") == "master"
        ],
    )
    lab.add_node("worker")
    lab.wait_for(
        "web on worker",
        lambda: [
            p
            for p in lab.pods("default")
            if p["metadata"]["labels"].get("app") == "web" and p["spec"].get("nodeName") == "worker"
        ],
    )


def test_reasons_are_counted_per_node_in_the_real_message_format(lab: Lab) -> None:
    lab.add_node("cordoned", unschedulable=True)
    lab.add_node("full", pods=0)
    lab.add_node("other-zone", labels={"zone": "b"})
    lab.create_deployment(
        "web", 1, namespace="default", labels={"app": "web"}, extra_spec={"nodeSelector": {"zone": "a"}}
    )
    pod = lab.wait_for(
        "pending",
        lambda: next(
            (p for p in lab.pods("default") if (scheduled_condition(p) or {}).get("status") == "False"), None
        ),
    )
    assert scheduled_condition(pod)["message"] == (  # type: ignore[index]
        "0/3 nodes are available: 1 Too many pods, 1 node(s) didn't match node selector, "
        "1 node(s) were unschedulable."
    )


def test_unschedulable_fault_keeps_new_pods_pending_until_switched_off(lab: Lab) -> None:
    lab.add_node("node-1")
    lab.faults.on("unschedulable")
    lab.create_deployment("web", 1, namespace="default", labels={"app": "web"})
    pod = lab.wait_for(
        "pending",
        lambda: next(
            (p for p in lab.pods("default") if (scheduled_condition(p) or {}).get("status") == "False"), None
        ),
    )
    assert scheduled_condition(pod)["message"] == "0/1 nodes are available: 1 Insufficient cpu."  # type: ignore[index]
    lab.faults.off("unschedulable")
    lab.wait_for(
        "scheduled after the fault", lambda: [p for p in lab.pods("default") if p["spec"].get("nodeName")]
    )


def test_tolerates() -> None:
    taint = {"key": "dedicated", "value": "dns", "effect": "NoSchedule"}
    assert tolerates(
        [{"key": "dedicated", "operator": "Equal", "value": "dns", "effect": "NoSchedule"}], taint
    )
    assert tolerates([{"key": "dedicated", "value": "dns"}], taint)  # Equal is the default, any effect
    assert not tolerates([{"key": "dedicated", "operator": "Equal", "value": "web"}], taint)
    assert tolerates([{"key": "dedicated", "operator": "Exists"}], taint)
    assert not tolerates([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}], taint)
    assert tolerates([{"operator": "Exists"}], taint)  # tolerates everything
    assert not tolerates([{"key": "other", "operator": "Exists"}], taint)


def test_message_without_nodes() -> None:
    from collections import Counter

    assert unschedulable_message(0, Counter()) == "no nodes available to schedule pods"
