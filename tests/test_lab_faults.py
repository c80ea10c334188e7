"""Every lab fault, shown doing what the wizard must cope with (pitfalls.md, "Faults the lab should
be able to inject"). Faults are switched on at start (LabOptions.faults) or at run time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import urllib3
from lab_clients import (
    api_client,
    is_coredns,
    is_kube_dns,
    kubectl,
    query,
    rcode_text,
    ready_pods,
    render_switch_manifest,
    wait_for,
)

from wizard.lab.cluster import Lab


def start_coredns(lab: Lab, tmp_path: Path) -> None:
    manifest = render_switch_manifest(lab, tmp_path)
    kubectl(lab, "apply", "--server-side", "--validate=false", "-f", str(manifest))
    kubectl(lab, "scale", "deployment/coredns", "-n", "kube-system", "--replicas=1")


def coredns_status(lab: Lab) -> dict[str, Any]:
    """The CoreDNS container's status ({} until the pod has one)."""
    pods = lab.store.list("pods", "kube-system", is_coredns)[0]
    statuses = ((pods[0].get("status") or {}).get("containerStatuses") or [{}]) if pods else [{}]
    status: dict[str, Any] = statuses[0]
    return status


@pytest.mark.lab_options(nodes=4, faults=("coredns-crashloop",), speed=50.0)
def test_coredns_crashloop(lab: Lab, tmp_path: Path) -> None:
    start_coredns(lab, tmp_path)
    status = wait_for(lambda: s if (s := coredns_status(lab)).get("restartCount", 0) >= 2 else None,
                      60, "two restarts")
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["lastState"]["terminated"]["exitCode"] == 1
    pod = lab.store.list("pods", "kube-system", is_coredns)[0][0]["metadata"]["name"]
    previous = kubectl(lab, "logs", "-n", "kube-system", pod, "--previous").stdout
    assert previous.strip(), "logs --previous shows why the last run exited"
    assert not ready_pods(lab, "kube-system", is_coredns)
    events = kubectl(lab, "get", "events", "-n", "kube-system", "--field-selector",
                     f"involvedObject.name={pod}").stdout
    assert "BackOff" in events and "Back-off restarting failed container" in events


@pytest.mark.lab_options(nodes=4, faults=("coredns-servfail",))
def test_coredns_servfail(lab: Lab, tmp_path: Path) -> None:
    start_coredns(lab, tmp_path)
    pod = wait_for(lambda: ready_pods(lab, "kube-system", is_coredns), 60, "a Ready CoreDNS pod")[0]
    answer = query(pod["status"]["podIP"], lab.dns_port, "kubernetes.default.svc.cluster.local.")
    assert rcode_text(answer) == "SERVFAIL"  # Ready, yet wrong: only real queries notice


def test_unschedulable(lab: Lab) -> None:
    lab.faults.on("unschedulable")
    kubectl(lab, "scale", "deployment/kube-dns", "-n", "kube-system", "--replicas=4")

    def pending_unscheduled() -> bool:
        for pod in lab.store.list("pods", "kube-system", is_kube_dns)[0]:
            conditions = (pod.get("status") or {}).get("conditions") or []
            if any(c["type"] == "PodScheduled" and c["status"] == "False" for c in conditions):
                return not pod["spec"].get("nodeName") and pod["status"]["phase"] == "Pending"
        return False

    wait_for(pending_unscheduled, 30, "a Pending, unscheduled kube-dns pod")


@pytest.mark.lab_options(faults=("autoscaler",))
def test_autoscaler_puts_kube_dns_back(lab: Lab) -> None:
    assert lab.store.try_get("deployments.apps", "kube-system", "kube-dns-autoscaler") is not None
    kubectl(lab, "scale", "deployment/kube-dns", "-n", "kube-system", "--replicas=1")
    wait_for(lambda: lab.store.get("deployments.apps", "kube-system", "kube-dns")["spec"]["replicas"] == 1,
             10, "the scale-down")
    wait_for(lambda: lab.store.get("deployments.apps", "kube-system", "kube-dns")["spec"]["replicas"] == 3,
             30, "the autoscaler scaling kube-dns back to 3")


@pytest.mark.lab_options(faults=("flaky-api",))
def test_flaky_api_fails_some_requests(lab: Lab) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(api_client(lab))
    outcomes: list[str] = []
    for _ in range(60):
        try:
            core.list_namespaced_pod("kube-system", _request_timeout=1)
            outcomes.append("ok")
        except ApiException as err:
            outcomes.append(str(err.status))
        except urllib3.exceptions.HTTPError:
            outcomes.append("timeout")
    assert "ok" in outcomes
    assert {"500", "503", "504", "timeout"} & set(outcomes), outcomes


def test_slow_ready_delays_readiness(lab: Lab) -> None:
    lab.faults.on("slow-ready")
    before = {p["metadata"]["name"] for p in lab.store.list("pods", "kube-system", is_kube_dns)[0]}
    kubectl(lab, "scale", "deployment/kube-dns", "-n", "kube-system", "--replicas=4")

    def new_pod_running() -> str | None:
        for pod in lab.store.list("pods", "kube-system", is_kube_dns)[0]:
            if pod["metadata"]["name"] not in before and (pod.get("status") or {}).get("phase") == "Running":
                return str(pod["metadata"]["name"])
        return None

    name = wait_for(new_pod_running, 30, "the new kube-dns pod running")
    running_at = time.monotonic()
    wait_for(lambda: any(p["metadata"]["name"] == name for p in ready_pods(lab, "kube-system", is_kube_dns)),
             60, "the new pod Ready")
    # kube-dns readiness starts after initialDelaySeconds 3; slow-ready makes it 30 s (1.5 s at speed 20)
    assert time.monotonic() - running_at >= 1.0


@pytest.mark.lab_options(faults=("deny-scale",))
def test_deny_scale(lab: Lab) -> None:
    denied = kubectl(lab, "scale", "deployment/kube-dns", "-n", "kube-system", "--replicas=1", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    assert lab.store.get("deployments.apps", "kube-system", "kube-dns")["spec"]["replicas"] == 3
