"""Garbage collection by ownerReferences: background, foreground and orphan deletion."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from lab_controllers_harness import Lab

from wizard.lab.api.objects import controller_ref, rfc3339


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    lab.add_node("node-1")
    lab.create_deployment("web", 2, namespace="default", labels={"app": "web"})
    lab.wait_for(
        "web ready",
        lambda: lab.get("deployments.apps", "default", "web").get("status", {}).get("availableReplicas") == 2,
    )
    yield lab
    lab.close()


def test_background_deletion_removes_replicasets_then_pods(lab: Lab) -> None:
    lab.store.delete("deployments.apps", "default", "web")
    lab.wait_for(
        "everything gone",
        lambda: (
            not lab.store.list("replicasets.apps", "default")[0] and not lab.store.list("pods", "default")[0]
        ),
    )


def test_foreground_deletion_removes_the_owner_last(lab: Lab) -> None:
    lab.kubelet.hold_deletion = True

    def foreground(d: dict) -> None:  # type: ignore[type-arg]
        d["metadata"]["deletionTimestamp"] = rfc3339(time.time())
        d["metadata"]["finalizers"] = ["foregroundDeletion"]

    lab.store.mutate("deployments.apps", "default", "web", foreground)
    lab.wait_for(
        "pods terminating",
        lambda: all(p["metadata"].get("deletionTimestamp") for p in lab.pods("default", active_only=False)),
    )
    lab.settle()
    assert lab.store.try_get("deployments.apps", "default", "web") is not None, "waits for its dependents"
    [rs] = lab.store.list("replicasets.apps", "default")[0]
    assert "foregroundDeletion" in rs["metadata"].get("finalizers", [])
    lab.kubelet.hold_deletion = False
    lab.loop_thread.call(lab.kubelet.resync_all)
    lab.wait_for("deployment gone", lambda: lab.store.try_get("deployments.apps", "default", "web") is None)
    assert not lab.store.list("replicasets.apps", "default")[0]
    assert not lab.store.list("pods", "default")[0]


def test_orphan_deletion_keeps_the_dependents(lab: Lab) -> None:
    def orphan(d: dict) -> None:  # type: ignore[type-arg]
        d["metadata"]["deletionTimestamp"] = rfc3339(time.time())
        d["metadata"]["finalizers"] = ["orphan"]

    lab.store.mutate("deployments.apps", "default", "web", orphan)
    lab.wait_for("deployment gone", lambda: lab.store.try_get("deployments.apps", "default", "web") is None)
    lab.settle()
    [rs] = lab.store.list("replicasets.apps", "default")[0]
    assert controller_ref(rs) is None
    assert len(lab.pods("default")) == 2, "the orphaned ReplicaSet keeps running its pods"


def test_a_dependent_with_a_second_owner_only_loses_the_reference(lab: Lab) -> None:
    owner_a = lab.store.create("configmaps", {"metadata": {"name": "a", "namespace": "default"}})
    owner_b = lab.store.create("configmaps", {"metadata": {"name": "b", "namespace": "default"}})

    def ref(o: dict) -> dict:  # type: ignore[type-arg]
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": o["metadata"]["name"],
            "uid": o["metadata"]["uid"],
        }

    lab.store.create(
        "configmaps",
        {
            "metadata": {
                "name": "dep",
                "namespace": "default",
                "ownerReferences": [ref(owner_a), ref(owner_b)],
            }
        },
    )
    lab.store.delete("configmaps", "default", "a")
    lab.wait_for(
        "reference dropped",
        lambda: (
            [r["name"] for r in lab.get("configmaps", "default", "dep")["metadata"]["ownerReferences"]]
            == ["b"]
        ),
    )
    lab.store.delete("configmaps", "default", "b")
    lab.wait_for("dependent gone", lambda: lab.store.try_get("configmaps", "default", "dep") is None)


def test_a_dependent_whose_owner_never_existed_is_collected(lab: Lab) -> None:
    lab.store.create(
        "configmaps",
        {
            "metadata": {
                "name": "dangling",
                "namespace": "default",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-dead"}
                ],
            }
        },
    )
    lab.wait_for("collected", lambda: lab.store.try_get("configmaps", "default", "dangling") is None)
