"""DaemonSets: one pod per eligible node, following nodes as they come and go."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes.client.models import V1DaemonSet
from lab_controllers_harness import Lab


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    lab.add_node("master", taints=[{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}])
    lab.add_node("node-1")
    lab.add_node("node-2")
    yield lab
    lab.close()


def create_daemonset(lab: Lab) -> None:
    labels = {"k8s-app": "kube-proxy"}
    lab.store.create(
        "daemonsets.apps",
        {
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "kube-proxy", "image": "kube-proxy:v1.20.15"}]},
                },
            },
        },
    )


def ds_pods_by_node(lab: Lab) -> dict[str, str]:
    return {
        p["spec"].get("nodeName", ""): p["metadata"]["name"]
        for p in lab.pods()
        if p["metadata"]["labels"].get("k8s-app") == "kube-proxy"
    }


def test_one_pod_per_eligible_node_and_status(lab: Lab) -> None:
    create_daemonset(lab)
    lab.wait_for(
        "2 daemon pods ready",
        lambda: (
            lab.get("daemonsets.apps", "kube-system", "kube-proxy").get("status", {}).get("numberReady") == 2
        ),
    )
    assert set(ds_pods_by_node(lab)) == {"node-1", "node-2"}, "the tainted master is not eligible"
    ds = lab.get("daemonsets.apps", "kube-system", "kube-proxy")
    assert ds["status"] | {} == {
        "currentNumberScheduled": 2,
        "desiredNumberScheduled": 2,
        "numberMisscheduled": 0,
        "numberReady": 2,
        "numberAvailable": 2,
        "numberUnavailable": 0,
        "updatedNumberScheduled": 2,
        "observedGeneration": 1,
    }
    V1DaemonSet.from_dict(ds)
    lab.add_node("node-3")
    lab.wait_for("a pod on the new node", lambda: "node-3" in ds_pods_by_node(lab))
    lab.store.delete("nodes", "", "node-1")
    lab.wait_for("the pod of the removed node is deleted", lambda: "node-1" not in ds_pods_by_node(lab))


def test_template_change_rolls_pods(lab: Lab) -> None:
    create_daemonset(lab)
    lab.wait_for(
        "ready",
        lambda: (
            lab.get("daemonsets.apps", "kube-system", "kube-proxy").get("status", {}).get("numberReady") == 2
        ),
    )
    lab.store.mutate(
        "daemonsets.apps",
        "kube-system",
        "kube-proxy",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "kube-proxy:v1.21.14"),
    )
    lab.wait_for(
        "all updated",
        lambda: (
            (s := lab.get("daemonsets.apps", "kube-system", "kube-proxy")["status"])["updatedNumberScheduled"]
            == 2
            and s["numberReady"] == 2
            and s["observedGeneration"] == 2
        ),
    )
    assert {p["spec"]["containers"][0]["image"] for p in lab.pods()} == {"kube-proxy:v1.21.14"}
