"""wizard.k8s.objects: the read-only views of API objects, on missing fields and on the lab's real
objects (read over HTTPS through the gateway, as the engine reads them)."""

from __future__ import annotations

from typing import Any

import pytest

from wizard.k8s import objects
from wizard.k8s.connection import resolve_connection
from wizard.k8s.gateway import Gateway
from wizard.k8s.objects import (
    ConfigMapView,
    ContainerView,
    DeploymentView,
    EndpointsView,
    PodView,
    ServiceView,
)

NS = "kube-system"

EMPTY_SHAPES: list[Any] = [None, {}, {"metadata": None, "spec": None, "status": None}, {"spec": []}]


@pytest.mark.parametrize("obj", EMPTY_SHAPES)
def test_views_of_empty_objects_take_the_defaults(obj: Any) -> None:
    dep = DeploymentView.from_obj(obj)
    assert (dep.name, dep.namespace, dep.replicas, dep.ready_replicas, dep.available_replicas) == (
        "", "", None, 0, 0,
    )
    assert dep.containers == () and dep.labels == {} and dep.selector == {} and dep.template_labels == {}
    assert dep.selector_text is None and dep.container("kubedns") is None
    pod = PodView.from_obj(obj)
    assert (pod.name, pod.node, pod.phase, pod.ready, pod.terminating, pod.ip) == (
        "", "", "Pending", False, False, "",
    )
    assert pod.restarts == 0 and pod.waiting_reason == "" and pod.owners == ()
    svc = ServiceView.from_obj(obj)
    assert (svc.type, svc.cluster_ip, svc.has_cluster_ip, svc.ports, svc.selector) == (
        "ClusterIP", "", False, (), {},
    )
    assert EndpointsView.from_obj(obj).ready == frozenset()
    assert ConfigMapView.from_obj(obj).data == {}
    assert objects.spec_replicas(obj) == 0 and objects.spec_replicas(obj, default=1) == 1
    assert objects.ready_replicas(obj) == 0
    assert objects.pod_is_ready(obj) is False
    assert objects.owner_uids(obj, "ReplicaSet") == set()
    assert objects.endpoint_ips(obj) == set() and objects.slice_ready_ips([obj or {}]) == set()


def test_mistyped_fields_are_read_as_absent() -> None:
    odd = {
        "metadata": {"name": "x", "labels": ["not", "a", "map"], "ownerReferences": [None, "x"]},
        "spec": {"replicas": "3", "template": {"spec": {"containers": [None, {"name": "c", "args": "-v"}]}}},
        "status": {"conditions": "Ready", "containerStatuses": [{"restartCount": "2"}]},
    }
    dep = DeploymentView.from_obj(odd)
    assert dep.replicas is None and dep.labels == {}
    assert dep.containers == (ContainerView("c", "", (), ()),)
    assert objects.spec_replicas(odd, default=7) == 7
    pod = PodView.from_obj(odd)
    assert pod.owners == () and pod.restarts == 0 and pod.ready is False
    assert DeploymentView.from_obj({"spec": {"replicas": True}}).replicas is None


def test_deployment_view_reads_spec_status_and_containers() -> None:
    dep = DeploymentView.from_obj({
        "metadata": {"name": "kube-dns", "namespace": NS, "uid": "u1", "labels": {"k8s-app": "kube-dns"},
                     "annotations": {"a": 1}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"k8s-app": "kube-dns", "b": "c"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "kube-dns"}},
                "spec": {"containers": [
                    {"name": "kubedns", "image": "registry.k8s.io/kubedns:1", "args": ["--domain=x."]},
                    {"name": "sidecar", "command": ["/sidecar", "-v", 2]},
                ]},
            },
        },
        "status": {"readyReplicas": 2, "availableReplicas": 1},
    })
    assert (dep.name, dep.namespace, dep.uid) == ("kube-dns", NS, "u1")
    assert (dep.replicas, dep.ready_replicas, dep.available_replicas) == (0, 2, 1)
    assert dep.annotations == {"a": "1"} and dep.template_labels == {"k8s-app": "kube-dns"}
    assert dep.selector_text == "b=c,k8s-app=kube-dns"
    kubedns = dep.container("kubedns")
    assert kubedns is not None and kubedns.image == "registry.k8s.io/kubedns:1"
    assert kubedns.words("args") == ("--domain=x.",) and kubedns.words("command") == ()
    sidecar = dep.container("sidecar")
    assert sidecar is not None and sidecar.command == ("/sidecar", "-v", "2")
    assert objects.spec_replicas({"spec": {"replicas": 0}}, default=1) == 0


def test_pod_view_reads_readiness_restarts_and_owners() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": NS, "creationTimestamp": "2026-01-01T00:00:00Z",
                     "ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "uid": "r1"},
                                         {"kind": "Node", "name": "n", "uid": "n1"}]},
        "spec": {"nodeName": "node-1"},
        "status": {
            "phase": "Running", "podIP": "10.0.0.5", "startTime": "2026-01-01T00:00:01Z",
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "a", "ready": True, "restartCount": 1, "state": {"running": {}}},
                {"name": "b", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
            ],
        },
    }
    view = PodView.from_obj(pod)
    assert (view.name, view.node, view.phase, view.ip) == ("p", "node-1", "Running", "10.0.0.5")
    assert view.ready
    assert view.restarts == 5 and view.waiting_reason == "CrashLoopBackOff"
    assert view.container_statuses[0].ready and not view.container_statuses[1].ready
    assert view.owner_uids("ReplicaSet") == {"r1"} == objects.owner_uids(pod, "ReplicaSet")
    assert view.created == "2026-01-01T00:00:00Z" and view.start_time == "2026-01-01T00:00:01Z"
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    gone = PodView.from_obj(pod)
    assert gone.terminating and not gone.ready and not objects.pod_is_ready(pod)
    assert gone.deletion_timestamp == "2026-01-01T00:01:00Z"


def test_service_endpoints_and_slices() -> None:
    headless = ServiceView.from_obj({"spec": {"clusterIP": "None", "selector": {"app": "x"}}})
    assert not headless.has_cluster_ip and headless.selector == {"app": "x"}
    svc = ServiceView.from_obj({
        "metadata": {"name": "kube-dns", "namespace": NS},
        "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                 "ports": [{"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 53}, {"port": 9153}]},
    })
    assert svc.has_cluster_ip and svc.cluster_ips == ("10.96.0.10",)
    assert [(p.name, p.protocol, p.port, p.target_port) for p in svc.ports] == [
        ("dns", "UDP", 53, "53"), ("", "TCP", 9153, ""),
    ]
    endpoints = {"subsets": [
        {"addresses": [{"ip": "10.0.0.1"}, {"hostname": "no-ip"}], "notReadyAddresses": [{"ip": "10.0.0.2"}]},
        {"addresses": [{"ip": "10.0.0.3"}]},
    ]}
    view = EndpointsView.from_obj(endpoints)
    assert view.ready == {"10.0.0.1", "10.0.0.3"} and view.not_ready == {"10.0.0.2"}
    slices = [{"endpoints": [
        {"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
        {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
        {"addresses": ["10.0.0.3"]},
    ]}, {}]
    assert objects.slice_ready_ips(slices) == {"10.0.0.1", "10.0.0.3"}


def test_small_readers() -> None:
    objs = [{"metadata": {"name": "a"}}, {"metadata": {"name": "b", "namespace": "x"}}]
    assert objects.named(objs, "b") is objs[1] and objects.named(objs, "c") is None
    assert set(objects.by_name(objs)) == {"a", "b"}
    assert objects.mapping_at({"a": {"b": 1}}, "a", "b") == {}
    assert objects.list_at({"a": [1, {"b": 1}]}, "a") == ({"b": 1},)
    assert objects.condition_status({"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
                                    "Ready") == "False"
    assert objects.label_selector({}) is None
    assert objects.resource_version_of({"metadata": {"resourceVersion": "42"}}) == "42"
    assert objects.resource_version_of({"items": []}) == ""


def test_views_of_the_labs_real_objects(lab: Any) -> None:
    """The lab's API server omits fields as a real one does: read its kube-dns as the engine does."""
    with Gateway(resolve_connection(kubeconfig=str(lab.kubeconfig_path), environ={}), "read-only") as gw:
        dep = DeploymentView.from_obj(gw.get_deployment(NS, "kube-dns"))
        pods = [PodView.from_obj(p) for p in gw.list_pods(NS, "k8s-app=kube-dns")]
        svc = ServiceView.from_obj(gw.get_service(NS, "kube-dns"))
        endpoints = EndpointsView.from_obj(gw.get_endpoints(NS, "kube-dns"))
        slices = gw.list_endpointslices(NS, "kube-dns")
        configmaps = [ConfigMapView.from_obj(c) for c in gw.list_configmaps(NS)]
    assert (dep.name, dep.namespace, dep.replicas, dep.ready_replicas) == ("kube-dns", NS, 3, 3)
    assert dep.uid and dep.selector.get("k8s-app") == "kube-dns" == dep.template_labels.get("k8s-app")
    kubedns = dep.container("kubedns")
    assert kubedns is not None and kubedns.image and kubedns.args
    assert len(pods) == 3 and all(p.ready and p.phase == "Running" and p.node and p.ip for p in pods)
    assert all(p.owner_uids("ReplicaSet") and not p.terminating and p.restarts == 0 for p in pods)
    assert svc.has_cluster_ip and 53 in {p.port for p in svc.ports}
    assert svc.selector == {"k8s-app": "kube-dns"}
    assert endpoints.ready == {p.ip for p in pods} and endpoints.not_ready == frozenset()
    assert objects.slice_ready_ips(slices) == {p.ip for p in pods}
    assert any(c.name == "kube-dns" for c in configmaps)
