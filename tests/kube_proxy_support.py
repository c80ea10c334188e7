"""Helpers for the kube-proxy tests (lab and IPVS gate): drive kube-proxy as an operator does,
with real kubectl against the lab's API server."""

from __future__ import annotations

import json
import time
from typing import Any

from lab_clients import kubectl as lab_kubectl
from lab_clients import wait_for

from wizard.lab.cluster import Lab

NS = "kube-system"


def kubectl(lab: Lab, *args: str, timeout: float = 60) -> str:
    return lab_kubectl(lab, *args, timeout=timeout).stdout


def service_proxy(lab: Lab) -> Any:
    from wizard.lab.dns.service_proxy import ServiceProxy

    return next(part for part in lab._components if isinstance(part, ServiceProxy))


def set_udp_timeout(lab: Lab, value: str) -> None:
    """What an operator does: `kubectl patch` the ConfigMap's config.conf (through the API server)."""
    config = json.loads(kubectl(lab, "-n", NS, "get", "configmap", "kube-proxy", "-o", "json"))
    text = config["data"]["config.conf"]
    lines = [f"  udpTimeout: {value}" if line.strip().startswith("udpTimeout:") else line
             for line in text.splitlines()]
    patch = {"data": {"config.conf": "\n".join(lines) + "\n"}}
    kubectl(lab, "-n", NS, "patch", "configmap", "kube-proxy", "--type=merge", "-p", json.dumps(patch))


def kube_proxy_pods(lab: Lab) -> dict[str, str]:
    """node → pod uid of the running kube-proxy pods."""
    pods = lab.store.list("pods", NS)[0]
    return {p["spec"]["nodeName"]: p["metadata"]["uid"] for p in pods
            if (p["metadata"].get("labels") or {}).get("k8s-app") == "kube-proxy"
            and not p["metadata"].get("deletionTimestamp") and p.get("status", {}).get("phase") == "Running"}


def restart_kube_proxy(lab: Lab) -> None:
    """`kubectl rollout restart` in a later second than the ConfigMap's last change (API times have
    whole-second precision), then wait for the rollout as an operator would."""
    change = int(time.time())
    wait_for(lambda: int(time.time()) > change, message="the next second")
    assert "restarted" in kubectl(lab, "-n", NS, "rollout", "restart", "ds/kube-proxy")
    kubectl(lab, "-n", NS, "rollout", "status", "ds/kube-proxy", "--timeout=60s", timeout=90)
