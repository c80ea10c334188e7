"""Endpoints and EndpointSlices of the kube-dns Service follow pod readiness and deletion."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.models import V1Endpoints, V1EndpointSlice
from lab_controllers_harness import Lab

Obj = dict[str, Any]


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    for i in range(1, 3):
        lab.add_node(f"node-{i}", labels={"topology.kubernetes.io/zone": "zone-a"})
    lab.store.create(
        "services",
        {
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
            "spec": {
                "selector": {"k8s-app": "kube-dns"},
                "clusterIP": "127.9.0.10",
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        },
    )
    yield lab
    lab.close()


def endpoints(lab: Lab) -> Obj | None:
    return lab.store.try_get("endpoints", "kube-system", "kube-dns")


def ready_ips(ep: Obj | None) -> set[str]:
    return {a["ip"] for s in (ep or {}).get("subsets", []) for a in s.get("addresses", [])}


def not_ready_ips(ep: Obj | None) -> set[str]:
    return {a["ip"] for s in (ep or {}).get("subsets", []) for a in s.get("notReadyAddresses", [])}


def slices(lab: Lab) -> list[Obj]:
    return [
        s
        for s in lab.store.list("endpointslices.discovery.k8s.io", "kube-system")[0]
        if s["metadata"]["labels"].get("kubernetes.io/service-name") == "kube-dns"
    ]


def slice_endpoints(lab: Lab) -> dict[str, Obj]:
    return {e["addresses"][0]: e for s in slices(lab) for e in s["endpoints"]}


def test_endpoints_list_ready_and_not_ready_pods_with_target_refs(lab: Lab) -> None:
    lab.create_deployment("kube-dns", 2)
    lab.wait_for("2 ready endpoints", lambda: len(ready_ips(endpoints(lab))) == 2)
    ep = endpoints(lab)
    assert ep is not None
    [subset] = ep["subsets"]
    pods = {p["status"]["podIP"]: p for p in lab.pods_of_deployment("kube-system", "kube-dns")}
    for address in subset["addresses"]:
        pod = pods[address["ip"]]
        assert address["nodeName"] == pod["spec"]["nodeName"]
        assert address["targetRef"] == {
            "kind": "Pod",
            "namespace": "kube-system",
            "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"],
        }
    assert sorted(subset["ports"], key=lambda p: p["name"]) == [
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
    ]
    V1Endpoints.from_dict(ep)
    [slice_] = slices(lab)
    assert slice_["addressType"] == "IPv4"
    assert (
        slice_["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"]
        == "endpointslice-controller.k8s.io"
    )
    service = lab.get("services", "kube-system", "kube-dns")
    assert slice_["metadata"]["ownerReferences"][0]["uid"] == service["metadata"]["uid"]
    for ip, endpoint in slice_endpoints(lab).items():
        assert endpoint["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert endpoint["targetRef"]["name"] == pods[ip]["metadata"]["name"]
        assert endpoint["nodeName"] == pods[ip]["spec"]["nodeName"] and endpoint["zone"] == "zone-a"
    V1EndpointSlice.from_dict(slice_)

    # one pod turns unready: it moves to notReadyAddresses, and its slice entry says so
    victim_ip, victim = next(iter(pods.items()))
    lab.kubelet.hold_ready = lambda pod: pod["metadata"]["name"] == victim["metadata"]["name"]
    lab.loop_thread.call(lab.kubelet.resync_all)
    lab.wait_for("victim not ready", lambda: not_ready_ips(endpoints(lab)) == {victim_ip})
    assert ready_ips(endpoints(lab)) == set(pods) - {victim_ip}
    lab.wait_for(
        "slice not ready",
        lambda: (
            slice_endpoints(lab)[victim_ip]["conditions"]
            == {"ready": False, "serving": False, "terminating": False}
        ),
    )


def test_a_pod_being_deleted_leaves_the_endpoints_at_once(lab: Lab) -> None:
    lab.create_deployment("kube-dns", 2)
    lab.wait_for("2 ready endpoints", lambda: len(ready_ips(endpoints(lab))) == 2)
    lab.kubelet.hold_deletion = True  # the pod stays, terminating, for its grace period
    lab.scale("kube-system", "kube-dns", 1)
    terminating = lab.wait_for(
        "a terminating pod",
        lambda: [
            p for p in lab.pods("kube-system", active_only=False) if p["metadata"].get("deletionTimestamp")
        ],
    )
    gone_ip = terminating[0]["status"]["podIP"]
    lab.wait_for(
        "address removed",
        lambda: gone_ip not in ready_ips(endpoints(lab)) and gone_ip not in not_ready_ips(endpoints(lab)),
    )
    lab.wait_for(
        "slice says terminating",
        lambda: (
            slice_endpoints(lab).get(gone_ip, {}).get("conditions")
            == {"ready": False, "serving": True, "terminating": True}
        ),
    )
    lab.kubelet.hold_deletion = False
    lab.loop_thread.call(lab.kubelet.resync_all)
    lab.wait_for("slice entry removed", lambda: gone_ip not in slice_endpoints(lab))
    assert len(ready_ips(endpoints(lab))) == 1


def test_service_deletion_removes_endpoints_and_slices(lab: Lab) -> None:
    lab.create_deployment("kube-dns", 1)
    lab.wait_for("endpoint", lambda: ready_ips(endpoints(lab)))
    lab.store.delete("services", "kube-system", "kube-dns")
    lab.wait_for("endpoints gone", lambda: endpoints(lab) is None and not slices(lab))


def test_services_without_selector_are_left_alone(lab: Lab) -> None:
    lab.store.create(
        "services",
        {"metadata": {"name": "manual", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}},
    )
    hand_made = {
        "metadata": {"name": "manual", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "127.9.9.9"}], "ports": [{"port": 80}]}],
    }
    lab.store.create("endpoints", hand_made)
    lab.settle()
    assert lab.get("endpoints", "default", "manual")["subsets"] == hand_made["subsets"]
