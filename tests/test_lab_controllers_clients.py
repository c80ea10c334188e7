"""The controllers' objects through the whole lab, read by the two real clients: the official
Python client (whose pydantic models reject missing required fields) and kubectl."""

from __future__ import annotations

import time
from typing import Any

from lab_clients import api_client, kubectl


def wait(what: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_official_client_and_kubectl_read_what_the_controllers_write(lab: Any) -> None:
    from kubernetes import client

    with api_client(lab) as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        discovery = client.DiscoveryV1Api(api)
        pods = core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
        assert len(pods) == 3 and all(p.status.phase == "Running" for p in pods)
        assert all(p.metadata.owner_references[0].kind == "ReplicaSet" for p in pods)
        deployment = apps.read_namespaced_deployment("kube-dns", "kube-system")
        assert deployment.status.available_replicas == 3
        assert apps.list_namespaced_replica_set("kube-system").items
        slices = discovery.list_namespaced_endpoint_slice(
            "kube-system", label_selector="kubernetes.io/service-name=kube-dns"
        ).items
        assert sum(1 for s in slices for e in s.endpoints if e.conditions.ready) == 3
        endpoints = core.read_namespaced_endpoints("kube-dns", "kube-system")
        assert len(endpoints.subsets[0].addresses) == 3
        assert core.list_namespaced_event("kube-system").items  # Events deserialise too

        kubectl(lab, "-n", "kube-system", "scale", "deployment", "kube-dns", "--replicas=4")
        out = kubectl(lab, "-n", "kube-system", "rollout", "status", "deployment/kube-dns", "--timeout=60s")
        assert 'deployment "kube-dns" successfully rolled out' in out.stdout
        wait(
            "4 ready endpoints",
            lambda: len(core.read_namespaced_endpoints("kube-dns", "kube-system").subsets[0].addresses) == 4,
        )
