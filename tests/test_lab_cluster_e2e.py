"""The whole lab against the real clients: the official Python client, kubectl, dnspython and dig.

If these pass, the wizard can be tested against the lab instead of a real cluster.
"""

from __future__ import annotations

import subprocess
import threading
from typing import Any

import pytest
from lab_clients import (
    DIG,
    addresses_of,
    api_client,
    is_kube_dns,
    kubectl,
    kubectl_json,
    query,
    rcode_text,
    ready_pods,
    wait_for,
)

from wizard.lab.cluster import Lab

NAME = "kubernetes.default.svc.cluster.local."


def test_lab_starts_ready_and_writes_a_kubeconfig(lab: Lab) -> None:
    assert lab.kubeconfig_path.is_file()
    assert len(ready_pods(lab, "kube-system", is_kube_dns)) == 3
    assert lab.dns_service_ip == f"127.{lab.addresses.octet}.0.10"  # type: ignore[union-attr]


def test_official_client_reads_version_nodes_and_kube_dns(lab: Lab) -> None:
    from kubernetes import client

    api = api_client(lab)
    assert client.VersionApi(api).get_code().git_version == "v1.20.15"
    nodes = client.CoreV1Api(api).list_node().items
    assert len(nodes) == 3 and nodes[0].status.node_info.os_image == "TencentOS Server 3.1 (Final)"
    pods = client.CoreV1Api(api).list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
    assert len(pods) == 3
    for pod in pods:
        assert pod.status.phase == "Running"
        assert [c.name for c in pod.status.container_statuses] == ["kubedns", "dnsmasq", "sidecar"]
        assert all(c.ready for c in pod.status.container_statuses)
    service = client.CoreV1Api(api).read_namespaced_service("kube-dns", "kube-system")
    assert service.spec.cluster_ip == lab.dns_service_ip
    endpoints = client.CoreV1Api(api).read_namespaced_endpoints("kube-dns", "kube-system")
    assert sorted(a.ip for a in endpoints.subsets[0].addresses) == sorted(p.status.pod_ip for p in pods)


def test_official_client_watches_a_scale_up(lab: Lab) -> None:
    from kubernetes import client, watch

    api = api_client(lab)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    listed = core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns")
    seen: list[str] = []
    done = threading.Event()

    def watch_pods() -> None:
        stream = watch.Watch()
        for event in stream.stream(core.list_namespaced_pod, "kube-system", label_selector="k8s-app=kube-dns",
                                   resource_version=listed.metadata.resource_version, timeout_seconds=20):
            pod = event["object"]
            if event["type"] == "ADDED":
                seen.append(pod.metadata.name)
            if any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []) and \
                    pod.metadata.name in seen:
                done.set()
                stream.stop()

    watcher = threading.Thread(target=watch_pods, daemon=True)
    watcher.start()
    apps.patch_namespaced_deployment_scale("kube-dns", "kube-system", {"spec": {"replicas": 4}})
    assert done.wait(30), f"no Ready new pod seen by the watch (added: {seen})"
    watcher.join(25)
    assert len(seen) == 1


def test_kubectl_get_scale_rollout_logs_exec(lab: Lab) -> None:
    pods = kubectl_json(lab, "get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns")["items"]
    assert len(pods) == 3
    table = kubectl(lab, "get", "pods", "-n", "kube-system", "-o", "wide").stdout
    assert "kube-dns-" in table and "Running" in table and "3/3" in table
    kubectl(lab, "scale", "deployment/kube-dns", "-n", "kube-system", "--replicas=2")
    wait_for(lambda: len(lab.store.list("pods", "kube-system", is_kube_dns)[0]) == 2, 30, "scale down to 2")
    kubectl(lab, "rollout", "status", "deployment/kube-dns", "-n", "kube-system", "--timeout=60s", timeout=90)
    remaining = lab.store.list("pods", "kube-system", is_kube_dns)[0][0]["metadata"]["name"]
    logs = kubectl(lab, "logs", "-n", "kube-system", remaining, "-c", "kubedns").stdout
    assert logs.strip()
    defaulted = kubectl(lab, "logs", "-n", "kube-system", remaining)  # kubectl picks the first container
    assert 'Defaulted container "kubedns"' in defaulted.stderr
    assert defaulted.stdout.splitlines()[0] == logs.splitlines()[0]
    resolv = kubectl(lab, "exec", "-n", "kube-system", remaining, "-c", "kubedns", "--",
                     "cat", "/etc/resolv.conf").stdout
    assert resolv.startswith("nameserver ")  # dnsPolicy Default: the node's resolver
    missing = kubectl(lab, "exec", "-n", "kube-system", remaining, "-c", "kubedns", "--", "curl", "x",
                      check=False)
    assert missing.returncode != 0


def test_kubectl_server_side_apply_creates_and_updates(lab: Lab) -> None:
    manifest = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe-settings\n  namespace: default\n"
        "data:\n  interval: '5'\n"
    )
    for value in ("5", "7"):
        text = manifest.replace("'5'", f"'{value}'")
        kubectl(lab, "apply", "--server-side", "--validate=false", "-f", "-", stdin=text)
        assert lab.store.get("configmaps", "default", "probe-settings")["data"] == {"interval": value}


def test_every_kube_dns_pod_and_the_service_answer(lab: Lab) -> None:
    pods = ready_pods(lab, "kube-system", is_kube_dns)
    service_ip = lab.store.get("services", "default", "kubernetes")["spec"]["clusterIP"]
    for pod in pods:
        response = query(pod["status"]["podIP"], lab.dns_port, NAME)
        assert addresses_of(response) == [service_ip]
    assert addresses_of(query(lab.dns_service_ip, lab.dns_port, NAME)) == [service_ip]
    assert addresses_of(query(lab.dns_service_ip, lab.dns_port, NAME, tcp=True)) == [service_ip]
    nginx = lab.store.get("services", "default", "nginx")["spec"]["clusterIP"]
    nginx_name = "nginx.default.svc.cluster.local."
    assert addresses_of(query(lab.dns_service_ip, lab.dns_port, nginx_name)) == [nginx]
    missing = query(lab.dns_service_ip, lab.dns_port, "nope.default.svc.cluster.local.")
    assert rcode_text(missing) == "NXDOMAIN"


@pytest.mark.skipif(DIG is None, reason="dig is not installed")
def test_dig_through_the_service_ip(lab: Lab) -> None:
    out = subprocess.run(
        [str(DIG), f"@{lab.dns_service_ip}", "-p", str(lab.dns_port), "+short", "+time=2", "+tries=2",
         "kubernetes.default.svc.cluster.local"], capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()
    assert out == [lab.store.get("services", "default", "kubernetes")["spec"]["clusterIP"]]


def test_exec_nslookup_resolves_through_the_lab(lab: Lab) -> None:
    pod: dict[str, Any] = wait_for(
        lambda: ready_pods(lab, "default", lambda p: p["metadata"]["name"].startswith("nginx-")),
        30, "a Ready nginx pod")[0]
    name = pod["metadata"]["name"]
    out = kubectl(lab, "exec", "-n", "default", name, "--", "nslookup", "orders.shop").stdout
    orders = lab.store.get("services", "shop", "orders")["spec"]["clusterIP"]
    assert "Name:\torders.shop.svc.cluster.local" in out and f"Address: {orders}" in out
    fqdn = "orders.shop.svc.cluster.local"
    short = kubectl(lab, "exec", "-n", "default", name, "--", "dig", "+short", fqdn)
    assert short.stdout.split() == [orders]
    missing = kubectl(lab, "exec", "-n", "default", name, "--", "nslookup", "nope.shop", check=False)
    assert missing.returncode != 0 and "NXDOMAIN" in missing.stdout
    # an outside name through the pod's resolv.conf: kube-dns forwards it to the lab's 8.8.8.8
    outside = kubectl(lab, "exec", "-n", "default", name, "--", "sh", "-c", "nslookup www.example.com")
    assert "Address: " in outside.stdout.split("Name:", 1)[1]


def test_official_client_logs_exec_and_server_side_apply(lab: Lab) -> None:
    from kubernetes import client
    from kubernetes.stream import stream

    api = api_client(lab)
    core = client.CoreV1Api(api)
    name = ready_pods(lab, "kube-system", is_kube_dns)[0]["metadata"]["name"]
    log = core.read_namespaced_pod_log(name, "kube-system", container="kubedns", tail_lines=2)
    assert len(log.splitlines()) == 2
    out = stream(core.connect_get_namespaced_pod_exec, name, "kube-system", container="kubedns",
                 command=["cat", "/etc/hostname"], stderr=True, stdin=False, stdout=True, tty=False)
    assert out.strip() == name
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied", "namespace": "default"},
            "data": {"k": "v"}}
    for value in ("v", "w"):  # server-side apply creates, then updates
        body["data"] = {"k": value}
        core.patch_namespaced_config_map("applied", "default", body, field_manager="lab-test",
                                         _content_type="application/apply-patch+yaml")
        assert lab.store.get("configmaps", "default", "applied")["data"] == {"k": value}


def test_kubectl_wait_watches_until_ready(lab: Lab) -> None:
    kubectl(lab, "scale", "deployment/kube-dns", "-n", "kube-system", "--replicas=4")
    kubectl(lab, "wait", "--for=condition=Ready", "pod", "-l", "k8s-app=kube-dns", "-n", "kube-system",
            "--timeout=60s", timeout=90)
    wait_for(lambda: len(ready_pods(lab, "kube-system", is_kube_dns)) == 4, 10, "four Ready pods")
