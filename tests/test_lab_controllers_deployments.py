"""Deployment → ReplicaSet → Pod in the lab, as the wizard's switch loop and kubectl see it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.models import CoreV1Event, V1Deployment, V1Pod, V1ReplicaSet
from lab_controllers_harness import Lab

from wizard.lab.api.objects import controller_ref, is_ready
from wizard.lab.controllers.deployments import (
    HASH_LABEL,
    REVISION,
    surge_and_unavailable,
    template_without_hash,
)
from wizard.lab.controllers.replicasets import deletion_rank

Obj = dict[str, Any]


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    for i in range(1, 4):
        lab.add_node(f"node-{i}")
    yield lab
    lab.close()


def rollout_status(d: Obj) -> tuple[str, bool]:
    """kubectl's DeploymentStatusViewer, restated: (message, done)."""
    name = d["metadata"]["name"]
    status = d.get("status") or {}
    if d["metadata"].get("generation", 0) > status.get("observedGeneration", 0):
        return "Waiting for deployment spec update to be observed...", False
    for cond in status.get("conditions") or []:
        if cond["type"] == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return f'deployment "{name}" exceeded its progress deadline', False
    replicas = d["spec"]["replicas"]
    updated = status.get("updatedReplicas", 0)
    if updated < replicas:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {updated} out of {replicas} '
            "new replicas have been updated...",
            False,
        )
    if status.get("replicas", 0) > updated:
        return (
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{status['replicas'] - updated} old replicas are pending termination...",
            False,
        )
    if status.get("availableReplicas", 0) < updated:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {status.get("availableReplicas", 0)} '
            f"of {updated} updated replicas are available...",
            False,
        )
    return f'deployment "{name}" successfully rolled out', True


def condition(obj: Obj, kind: str) -> Obj:
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)


def test_deployment_creates_replicaset_and_pods_like_the_real_controller(lab: Lab) -> None:
    lab.create_deployment("kube-dns", 3)
    d = lab.wait_for(
        "rollout",
        lambda: (d := lab.get("deployments.apps", "kube-system", "kube-dns")) and rollout_status(d)[1] and d,
    )
    [rs] = lab.replicasets_of(d)
    pod_hash = rs["metadata"]["labels"][HASH_LABEL]
    assert rs["metadata"]["name"] == f"kube-dns-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"k8s-app": "kube-dns", HASH_LABEL: pod_hash}
    assert rs["metadata"]["annotations"][REVISION] == "1"
    assert d["metadata"]["annotations"][REVISION] == "1"
    pods = lab.pods_of_deployment("kube-system", "kube-dns")
    assert len(pods) == 3
    assert all(p["metadata"]["name"].startswith(f"kube-dns-{pod_hash}-") for p in pods)
    assert all(p["metadata"]["labels"][HASH_LABEL] == pod_hash for p in pods)
    assert len({p["spec"]["nodeName"] for p in pods}) == 3, "replicas spread over the nodes"
    assert d["status"] | {"conditions": None} == {
        "observedGeneration": 1,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "unavailableReplicas": 0,
        "conditions": None,
    }
    assert condition(d, "Available")["reason"] == "MinimumReplicasAvailable"
    assert condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert (
        condition(d, "Progressing")["message"]
        == f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.'
    )
    rs = lab.get("replicasets.apps", "kube-system", rs["metadata"]["name"])
    assert rs["status"] == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "observedGeneration": 1,
    }
    scaled = [e["message"] for e in lab.events("ScalingReplicaSet")]
    assert f"Scaled up replica set {rs['metadata']['name']} to 3" in scaled
    assert len(lab.events("SuccessfulCreate")) == 3
    # what the official client's pydantic models demand of every object
    V1Deployment.from_dict(d)
    V1ReplicaSet.from_dict(rs)
    for pod in pods:
        V1Pod.from_dict(pod)
    for event in lab.store.list("events")[0]:
        CoreV1Event.from_dict(event)


def test_scale_down_deletes_the_not_ready_pod_first_and_scale_up_adds(lab: Lab) -> None:
    lab.create_deployment("kube-dns", 3)
    lab.wait_for(
        "3 ready",
        lambda: len([p for p in lab.pods_of_deployment("kube-system", "kube-dns") if is_ready(p)]) == 3,
    )
    victim = lab.pods_of_deployment("kube-system", "kube-dns")[1]["metadata"]["name"]
    lab.kubelet.hold_ready = lambda pod: pod["metadata"]["name"] == victim
    lab.loop_thread.call(lab.kubelet.resync_all)
    lab.wait_for(
        "victim unready",
        lambda: (
            lab.get("deployments.apps", "kube-system", "kube-dns").get("status", {}).get("readyReplicas") == 2
        ),
    )
    lab.scale("kube-system", "kube-dns", 2)
    lab.wait_for("2 pods", lambda: len(lab.pods_of_deployment("kube-system", "kube-dns")) == 2)
    names = {p["metadata"]["name"] for p in lab.pods_of_deployment("kube-system", "kube-dns")}
    assert victim not in names
    assert any(e["message"] == f"Deleted pod: {victim}" for e in lab.events("SuccessfulDelete"))
    lab.scale("kube-system", "kube-dns", 5)
    d = lab.wait_for(
        "5 ready",
        lambda: (
            (d := lab.get("deployments.apps", "kube-system", "kube-dns"))
            and d.get("status", {}).get("availableReplicas") == 5
            and d
        ),
    )
    assert d["status"]["replicas"] == 5 and d["status"]["observedGeneration"] == d["metadata"]["generation"]
    assert len(lab.replicasets_of(d)) == 1, "scaling is not a rollout"


def test_deletion_rank_follows_the_replicaset_controller() -> None:
    def pod(name: str, node: str | None, phase: str, ready: bool, created: str, restarts: int = 0) -> Obj:
        return {
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"nodeName": node} if node else {},
            "status": {
                "phase": phase,
                "conditions": [
                    {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": created}
                ],
                "containerStatuses": [{"restartCount": restarts}],
            },
        }

    pods = [
        pod("ready-old", "n1", "Running", True, "2026-01-01T00:00:00Z"),
        pod("ready-new", "n1", "Running", True, "2026-01-02T00:00:00Z"),
        pod("unready", "n1", "Running", False, "2026-01-01T00:00:00Z"),
        pod("pending", "n1", "Pending", False, "2026-01-01T00:00:00Z"),
        pod("unscheduled", None, "Pending", False, "2026-01-01T00:00:00Z"),
        pod("crashy", "n1", "Running", False, "2026-01-01T00:00:00Z", restarts=5),
    ]
    order = [p["metadata"]["name"] for p in sorted(pods, key=deletion_rank)]
    assert order == ["unscheduled", "pending", "crashy", "unready", "ready-new", "ready-old"]


def test_rolling_update_with_max_surge_1_max_unavailable_0_never_drops_below_replicas(lab: Lab) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    lab.create_deployment("coredns", 3, strategy=strategy)
    lab.wait_for(
        "rolled out", lambda: rollout_status(lab.get("deployments.apps", "kube-system", "coredns"))[1]
    )
    old_rs = lab.replicasets_of(lab.get("deployments.apps", "kube-system", "coredns"))[0]
    seen: list[tuple[int, int]] = []

    def observe(event_type: str, pod: Obj) -> None:  # runs under the store lock: a consistent view
        active = lab.pods("kube-system")
        seen.append((len(active), sum(1 for p in active if is_ready(p))))

    # hold new pods unready so the intermediate state can be inspected
    lab.kubelet.hold_ready = lambda pod: "v1.9.3" in pod["spec"]["containers"][0]["image"]
    stop = lab.store.watch("pods", observe)
    lab.store.mutate(
        "deployments.apps",
        "kube-system",
        "coredns",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__(
            "image", "registry.k8s.io/coredns/coredns:v1.9.3"
        ),
    )
    d = lab.wait_for(
        "a surge pod",
        lambda: (
            (d := lab.get("deployments.apps", "kube-system", "coredns"))
            .get("status", {})
            .get("updatedReplicas")
            == 1
            and d
        ),
    )
    lab.settle()
    d = lab.get("deployments.apps", "kube-system", "coredns")
    assert rollout_status(d) == (
        'Waiting for deployment "coredns" rollout to finish: 1 out of 3 new replicas have been updated...',
        False,
    )
    assert lab.get("replicasets.apps", "kube-system", old_rs["metadata"]["name"])["spec"]["replicas"] == 3
    assert condition(d, "Progressing")["reason"] in ("NewReplicaSetCreated", "ReplicaSetUpdated")
    lab.kubelet.hold_ready = lambda pod: False
    lab.loop_thread.call(lab.kubelet.resync_all)
    d = lab.wait_for(
        "rolled out",
        lambda: (d := lab.get("deployments.apps", "kube-system", "coredns")) and rollout_status(d)[1] and d,
    )
    stop()
    assert seen and max(total for total, _ in seen) <= 4, "maxSurge 1 over 3 replicas"
    assert min(ready for _, ready in seen) >= 3, "maxUnavailable 0: never fewer than 3 ready"
    rss = {rs["metadata"]["name"]: rs for rs in lab.replicasets_of(d)}
    assert rss[old_rs["metadata"]["name"]]["spec"]["replicas"] == 0
    [new_rs] = [rs for name, rs in rss.items() if name != old_rs["metadata"]["name"]]
    assert new_rs["spec"]["replicas"] == 3 and new_rs["metadata"]["annotations"][REVISION] == "2"
    assert d["metadata"]["annotations"][REVISION] == "2"
    assert condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert all(
        "v1.9.3" in p["spec"]["containers"][0]["image"]
        for p in lab.pods_of_deployment("kube-system", "coredns")
    )


def test_two_deployments_with_the_same_selector_keep_to_their_own_pods(lab: Lab) -> None:
    lab.create_deployment("kube-dns", 2, image="registry.k8s.io/k8s-dns-kube-dns:1.14.13")
    lab.create_deployment("coredns", 0)
    lab.wait_for(
        "kube-dns ready",
        lambda: (
            lab.get("deployments.apps", "kube-system", "kube-dns").get("status", {}).get("availableReplicas")
            == 2
        ),
    )
    lab.scale("kube-system", "coredns", 1)
    lab.wait_for(
        "coredns ready",
        lambda: (
            lab.get("deployments.apps", "kube-system", "coredns").get("status", {}).get("availableReplicas")
            == 1
        ),
    )
    lab.settle()
    kube_dns = lab.pods_of_deployment("kube-system", "kube-dns")
    coredns = lab.pods_of_deployment("kube-system", "coredns")
    assert len(kube_dns) == 2 and len(coredns) == 1
    assert all("kube-dns" in p["spec"]["containers"][0]["image"] for p in kube_dns)
    lab.scale("kube-system", "kube-dns", 1)
    lab.wait_for("kube-dns at 1", lambda: len(lab.pods_of_deployment("kube-system", "kube-dns")) == 1)
    lab.settle()
    assert [p["metadata"]["name"] for p in lab.pods_of_deployment("kube-system", "coredns")] == [
        coredns[0]["metadata"]["name"]
    ], "scaling kube-dns down must not touch CoreDNS's pod"
    d = lab.get("deployments.apps", "kube-system", "coredns")
    assert d["status"]["replicas"] == 1 and len(lab.replicasets_of(d)) == 1


def test_an_orphan_is_adopted_only_by_the_replicaset_whose_selector_matches(lab: Lab) -> None:
    lab.create_deployment("kube-dns", 2, image="registry.k8s.io/k8s-dns-kube-dns:1.14.13")
    lab.create_deployment("coredns", 1)
    lab.wait_for(
        "both ready",
        lambda: all(
            lab.get("deployments.apps", "kube-system", n).get("status", {}).get("availableReplicas")
            for n in ("kube-dns", "coredns")
        ),
    )
    kube_dns_rs = lab.replicasets_of(lab.get("deployments.apps", "kube-system", "kube-dns"))[0]
    orphan = {
        "metadata": {
            "name": "stray",
            "namespace": "kube-system",
            "labels": dict(kube_dns_rs["spec"]["selector"]["matchLabels"]),
        },
        "spec": {"containers": [{"name": "x", "image": "busybox"}]},
        "status": {"phase": "Pending"},
    }
    lab.store.create("pods", orphan)
    lab.settle()
    stray = lab.store.try_get("pods", "kube-system", "stray")
    if stray is not None:  # adopted (then possibly deleted as a surplus pod: it ranks first)
        assert (controller_ref(stray) or {}).get("uid") == kube_dns_rs["metadata"]["uid"]
    assert len(lab.pods(owner_uid=kube_dns_rs["metadata"]["uid"])) == 2
    assert len(lab.pods_of_deployment("kube-system", "coredns")) == 1


def test_recreate_strategy_removes_old_pods_before_creating_new(lab: Lab) -> None:
    lab.create_deployment("web", 2, namespace="default", labels={"app": "web"}, strategy={"type": "Recreate"})
    lab.wait_for("rolled out", lambda: rollout_status(lab.get("deployments.apps", "default", "web"))[1])
    lab.kubelet.hold_deletion = True
    lab.store.mutate(
        "deployments.apps",
        "default",
        "web",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "nginx:2"),
    )
    lab.wait_for(
        "old pods terminating",
        lambda: all(p["metadata"].get("deletionTimestamp") for p in lab.pods("default", active_only=False)),
    )
    lab.settle()
    assert not [p for p in lab.pods("default") if p["spec"]["containers"][0]["image"] == "nginx:2"]
    lab.kubelet.hold_deletion = False
    lab.loop_thread.call(lab.kubelet.resync_all)
    lab.wait_for("rolled out", lambda: rollout_status(lab.get("deployments.apps", "default", "web"))[1])
    assert {p["spec"]["containers"][0]["image"] for p in lab.pods("default")} == {"nginx:2"}


def test_progress_deadline_exceeded_is_reported(lab: Lab) -> None:
    lab.kubelet.hold_ready = lambda pod: True
    lab.create_deployment("stuck", 1, namespace="default", labels={"app": "stuck"}, extra_spec={})
    lab.store.mutate(
        "deployments.apps",
        "default",
        "stuck",
        lambda d: d["spec"].__setitem__("progressDeadlineSeconds", 200),
    )  # 2 s at speed 100
    d = lab.wait_for(
        "deadline",
        lambda: (
            (d := lab.get("deployments.apps", "default", "stuck"))
            and any(
                c.get("reason") == "ProgressDeadlineExceeded"
                for c in d.get("status", {}).get("conditions", [])
            )
            and d
        ),
    )
    assert rollout_status(d) == ('deployment "stuck" exceeded its progress deadline', False)
    assert condition(d, "Progressing")["status"] == "False"
    assert condition(d, "Available")["reason"] == "MinimumReplicasUnavailable"


def test_surge_and_unavailable_resolution() -> None:
    def d(replicas: int, surge: Any, unavailable: Any) -> Obj:
        return {
            "spec": {
                "replicas": replicas,
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
                },
            }
        }

    assert surge_and_unavailable(d(10, "25%", "25%")) == (3, 2)  # surge rounds up, unavailable down
    assert surge_and_unavailable(d(3, 1, 0)) == (1, 0)
    assert surge_and_unavailable(d(3, 0, 0)) == (0, 1)
    assert surge_and_unavailable({"spec": {"replicas": 4}}) == (1, 1)


def test_template_comparison_ignores_only_the_hash_label() -> None:
    a = {"metadata": {"labels": {"app": "x", HASH_LABEL: "abc"}}, "spec": {"containers": []}}
    assert template_without_hash(a) == {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}
    assert a["metadata"]["labels"][HASH_LABEL] == "abc", "the input is not modified"
