"""Starting and stopping labs: isolation between labs, clean shutdown, graceful pod termination."""

from __future__ import annotations

import json
import socket

import pytest
from lab_clients import addresses_of, is_kube_dns, kubectl, query, ready_pods, wait_for

from wizard.errors import InputError
from wizard.lab.cluster import Lab, LabOptions

FAST = {"speed": 20.0, "dns_port": 0}


def bindable(host: str, port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def listenable(host: str, port: int) -> bool:
    """As the lab's HTTP servers bind (SO_REUSEADDR): only a socket still open blocks it, not
    the TIME_WAIT left by the kubelet's probe connections."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            probe.listen(1)
        except OSError:
            return False
        return True


def terminating_and_unready(lab: Lab, name: str) -> bool:
    current = lab.store.try_get("pods", "kube-system", name)
    if current is None or not current["metadata"].get("deletionTimestamp"):
        return False
    return all(c["status"] == "False" for c in current["status"]["conditions"] if c["type"] == "Ready")


def test_two_labs_side_by_side_then_every_socket_is_closed() -> None:
    with Lab(LabOptions(**FAST)) as first, Lab(LabOptions(**FAST)) as second:  # type: ignore[arg-type]
        assert first.addresses is not None and second.addresses is not None
        assert first.addresses.octet != second.addresses.octet
        pod_ips = [p["status"]["podIP"] for p in ready_pods(first, "kube-system", is_kube_dns)]
        assert len(pod_ips) == 3
        port, service_ip = first.dns_port, first.dns_service_ip
        api_port = int(first.api_url.rsplit(":", 1)[1])
        assert not bindable(pod_ips[0], port, socket.SOCK_DGRAM)  # the pod is serving
        thread = first._thread
    assert thread is not None and not thread.is_alive()
    for ip in [*pod_ips, service_ip]:
        assert bindable(ip, port, socket.SOCK_DGRAM) and bindable(ip, port, socket.SOCK_STREAM), ip
    assert bindable("127.0.0.1", api_port, socket.SOCK_STREAM)


@pytest.mark.parametrize("options, message", [
    ({"proxy_mode": "nftables"}, "--proxy-mode 'nftables'"),
    ({"nodes": 0}, "--nodes 0"),
    ({"faults": ("meteor",)}, "--fault 'meteor'"),
    ({"k8s_version": "one.twenty"}, "--k8s-version 'one.twenty'"),
    ({"speed": 0.0}, "--speed 0.0"),
])
def test_bad_options_are_one_line_input_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as err:
        Lab(LabOptions(**options))  # type: ignore[arg-type]
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_deleted_kube_dns_pod_is_unready_at_once_but_answers_through_its_grace_period(lab: Lab) -> None:
    pod = ready_pods(lab, "kube-system", is_kube_dns)[0]
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    kubectl(lab, "delete", "pod", "-n", "kube-system", name, "--grace-period=30", "--wait=false")
    wait_for(lambda: terminating_and_unready(lab, name), 10, "the pod terminating and NotReady")
    # kube-dns ignores SIGTERM: it still answers during the 30 s (1.5 s at speed 20) grace period
    assert addresses_of(query(ip, lab.dns_port, "kubernetes.default.svc.cluster.local."))
    wait_for(lambda: lab.store.try_get("pods", "kube-system", name) is None, 30, "the pod removed")
    assert bindable(ip, lab.dns_port, socket.SOCK_DGRAM)  # its server is gone
    # the Deployment replaced it
    wait_for(lambda: len(ready_pods(lab, "kube-system", is_kube_dns)) == 3, 30, "three Ready kube-dns pods")


def test_stop_closes_the_sockets_of_a_pod_in_its_grace_period() -> None:
    """A pod still terminating when its lab stops must not keep its ports: the next lab that
    claims the same 127.N octet gives its pods the same IPs, and they could never bind."""
    with Lab(LabOptions(**FAST)) as lab:  # type: ignore[arg-type]
        pod = ready_pods(lab, "kube-system", is_kube_dns)[0]
        name, ip, port = pod["metadata"]["name"], pod["status"]["podIP"], lab.dns_port
        # 600 s is 30 s at speed 20: kube-dns ignores SIGTERM, so it is surely mid-grace at stop
        kubectl(lab, "delete", "pod", "-n", "kube-system", name, "--grace-period=600", "--wait=false")
        wait_for(lambda: terminating_and_unready(lab, name), 10, "the pod terminating and NotReady")
        assert not bindable(ip, port, socket.SOCK_DGRAM)  # still serving through its grace period
    assert bindable(ip, port, socket.SOCK_DGRAM) and bindable(ip, port, socket.SOCK_STREAM)
    for http_port in (8081, 10054, 10055):  # readiness, health and metrics of kube-dns
        assert listenable(ip, http_port), http_port


def test_guide_configmap_and_deny_options() -> None:
    options = LabOptions(guide_configmap=True, deny={("delete", "pods")}, wait_ready=False,
                         speed=20.0, dns_port=0)
    with Lab(options) as lab:
        data = lab.store.get("configmaps", "kube-system", "kube-dns")["data"]
        assert json.loads(data["federations"]) == {"foo": "foo.feddomain.com"}
        pod = wait_for(lambda: lab.store.list("pods", "kube-system", is_kube_dns)[0], 30, "a kube-dns pod")[0]
        denied = kubectl(lab, "delete", "pod", "-n", "kube-system", pod["metadata"]["name"], check=False)
        assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()


def test_unprivileged_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from wizard.lab import cluster

    monkeypatch.setattr(cluster.os, "geteuid", lambda: 1000)
    assert cluster.default_dns_port() == 1053
    with pytest.raises(InputError, match="--dns-port 53: ports below 1024 need root"):
        LabOptions(dns_port=53).validate()
    monkeypatch.setattr(cluster.os, "geteuid", lambda: 0)
    assert cluster.default_dns_port() == 53
