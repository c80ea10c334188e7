"""The kubelet alone against a Store: pods bound by hand, a fake DNS process with a real /ready port.

These pin the lifecycle the official client and kubectl read: ContainerCreating → Running → Ready
by a real HTTP probe, CrashLoopBackOff with growing restartCount and `logs --previous`, graceful
termination that waits for the process, and the PodRuntime calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, ClassVar

import pytest

from wizard.lab.addresses import AddressPlan
from wizard.lab.api.store import ApiError, Obj, Store, now_rfc3339
from wizard.lab.faults import Faults
from wizard.lab.node.kubelet import Kubelet

OCTET = 251  # kubelet-only tests never bind a DNS port, only HTTP ports on 127.251.128.x


class FakeDNS:
    """Stands in for the "dns" engineer's DNSPod: serves HTTP 200 on :8181 once started."""

    instances: ClassVar[list[FakeDNS]] = []

    def __init__(self, pod: Obj, fail: bool) -> None:
        self.pod = pod
        self.fail = fail
        self.server: asyncio.Server | None = None
        self.stopped = asyncio.Event()
        FakeDNS.instances.append(self)

    async def start(self) -> None:
        if self.fail:
            err = RuntimeError("plugin/loop: Loop detected")
            err.log_lines = ["[FATAL] plugin/loop: Loop (127.0.0.1:53 -> :53) detected"]  # type: ignore[attr-defined]
            raise err
        ip = self.pod["status"]["podIP"]

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readline()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
            await writer.drain()
            writer.close()

        self.server = await asyncio.start_server(answer, ip, 8181)

    async def terminate_requested(self) -> None:
        await self.kill()  # no lameduck: exits at once on SIGTERM

    async def wait_exited(self) -> None:
        await self.stopped.wait()

    async def kill(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        self.stopped.set()

    def log_lines(self) -> list[str]:
        return [".:53", "CoreDNS-1.8.4"]


class KubeletHarness:
    def __init__(self, speed: float = 50.0, fail: bool = False) -> None:
        self.store = Store()
        self.faults = Faults()
        self.addresses = AddressPlan(OCTET)
        self.fail = fail
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.kubelet = Kubelet(
            self.store, self.faults, speed, self.addresses,
            dns_port=1053, dns_service_ip=f"127.{OCTET}.0.10",
            node_resolver_ip=f"127.{OCTET}.96.1", dns_pod_factory=self._factory,
        )
        self.run(self.kubelet.start())
        self.store.create("nodes", {
            "metadata": {"name": "10.0.1.1"},
            "status": {"addresses": [{"type": "InternalIP", "address": f"127.{OCTET}.64.1"}]},
        })

    def _factory(self, pod: Obj) -> FakeDNS | None:
        image = pod["spec"]["containers"][0]["image"]
        return FakeDNS(pod, self.fail) if "coredns" in image else None

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def close(self) -> None:
        self.run(self.kubelet.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def harness() -> Iterator[KubeletHarness]:
    h = KubeletHarness()
    yield h
    h.close()


def wait_for(what: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ApiError, KeyError, IndexError):
            value = what()
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.02)


def coredns_pod(name: str = "coredns-1", grace: int = 30) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {
            "nodeName": "10.0.1.1",
            "terminationGracePeriodSeconds": grace,
            "containers": [{
                "name": "coredns",
                "image": "ccr.ccs.tencentyun.com/tkeimages/coredns:1.8.4",
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 10},
            }],
        },
        "status": {"phase": "Pending"},
    }


def status_of(store: Store, name: str = "coredns-1") -> Obj:
    status: Obj = store.get("pods", "kube-system", name)["status"]
    return status


def is_ready(status: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))


def test_pod_goes_from_container_creating_to_ready_by_real_probe(harness: KubeletHarness) -> None:
    store = harness.store
    # Record every state the container passes through: polling could miss a short-lived one.
    seen: list[Obj] = []
    stop = store.watch(
        "pods",
        lambda _type, pod: seen.extend(pod.get("status", {}).get("containerStatuses", [])[:1]),
        namespace="kube-system",
    )
    store.create("pods", coredns_pod())
    wait_for(lambda: seen)
    assert seen[0]["state"]["waiting"]["reason"] == "ContainerCreating"
    status = wait_for(lambda: s if is_ready(s := status_of(store)) else None)
    assert status["phase"] == "Running"
    assert status["podIP"].startswith(f"127.{OCTET}.128.")
    assert status["hostIP"] == f"127.{OCTET}.64.1"
    container = status["containerStatuses"][0]
    assert container["ready"] is True and container["started"] is True
    assert container["imageID"].startswith("docker-pullable://ccr.ccs.tencentyun.com/tkeimages/coredns@sha256:")
    assert container["containerID"].startswith("docker://")
    assert "startedAt" in container["state"]["running"]
    assert {c["type"] for c in status["conditions"]} == {
        "PodScheduled", "Initialized", "ContainersReady", "Ready"}
    stop()


def test_status_is_accepted_by_the_official_client_models(harness: KubeletHarness) -> None:
    from kubernetes.client import V1Pod

    harness.store.create("pods", coredns_pod())
    wait_for(lambda: is_ready(status_of(harness.store)))
    pod = V1Pod.model_validate(harness.store.get("pods", "kube-system", "coredns-1"))
    assert pod.status.container_statuses[0].ready is True


def test_pod_without_node_is_left_alone(harness: KubeletHarness) -> None:
    pod = coredns_pod()
    del pod["spec"]["nodeName"]
    harness.store.create("pods", pod)
    harness.store.create("pods", coredns_pod("coredns-2"))
    wait_for(lambda: is_ready(status_of(harness.store, "coredns-2")))
    assert status_of(harness.store) == {"phase": "Pending"}


def test_graceful_termination_stops_the_process_then_removes_the_pod(harness: KubeletHarness) -> None:
    store = harness.store
    store.create("pods", coredns_pod(grace=300))
    wait_for(lambda: is_ready(status_of(store)))
    ip = status_of(store)["podIP"]

    def mark_deleted(obj: Obj) -> None:
        obj["metadata"]["deletionTimestamp"] = now_rfc3339()
        obj["metadata"]["deletionGracePeriodSeconds"] = 300

    store.mutate("pods", "kube-system", "coredns-1", mark_deleted)
    # The process exits before the 300 s / 50 grace period: the pod goes as soon as it has.
    wait_for(lambda: store.try_get("pods", "kube-system", "coredns-1") is None)
    assert FakeDNS.instances[-1].stopped.is_set()
    assert harness.addresses.pods.take(ip) == ip  # the IP was released


def test_pod_runtime_logs_exec_and_ports(harness: KubeletHarness) -> None:
    store = harness.store
    store.create("configmaps", {"metadata": {"name": "coredns", "namespace": "kube-system"},
                                "data": {"Corefile": ".:53 {\n    forward . /etc/resolv.conf\n}\n"}})
    pod = coredns_pod()
    pod["spec"]["volumes"] = [{"name": "config-volume", "configMap": {
        "name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}]}}]
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "config-volume", "mountPath": "/etc/coredns"}]
    store.create("pods", pod)
    wait_for(lambda: is_ready(status_of(store)))
    kubelet = harness.kubelet
    assert kubelet.logs("kube-system", "coredns-1", None, 1, False) == "CoreDNS-1.8.4\n"
    code, out, _ = kubelet.exec("kube-system", "coredns-1", "coredns", ["cat", "/etc/coredns/Corefile"], b"")
    assert (code, out) == (0, b".:53 {\n    forward . /etc/resolv.conf\n}\n")
    code, out, _ = kubelet.exec("kube-system", "coredns-1", None, ["sh", "-c", "cat /etc/resolv.conf"], b"")
    assert out.decode().splitlines() == [
        f"nameserver 127.{OCTET}.0.10",
        "search kube-system.svc.cluster.local svc.cluster.local cluster.local",
        "options ndots:5",
    ]
    code, _, err = kubelet.exec("kube-system", "coredns-1", None, ["curl", "localhost"], b"")
    assert code == 127 and b"executable file not found in $PATH" in err
    ip = status_of(store)["podIP"]
    assert kubelet.resolve_port("kube-system", "coredns-1", 53) == (ip, 1053)
    assert kubelet.resolve_port("kube-system", "coredns-1", 9153) == (ip, 9153)
    with pytest.raises(ApiError) as missing:
        kubelet.logs("kube-system", "nope", None, None, False)
    assert missing.value.code == 404
    with pytest.raises(ApiError) as no_previous:
        kubelet.logs("kube-system", "coredns-1", None, None, True)
    assert no_previous.value.code == 400


def test_crashing_dns_process_enters_crash_loop_back_off() -> None:
    h = KubeletHarness(speed=100.0, fail=True)
    try:
        h.store.create("pods", coredns_pod())
        container = wait_for(
            lambda: c if (c := status_of(h.store)["containerStatuses"][0])["restartCount"] == 2 else None)
        assert container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        # the second crash waits twice the first back-off (10 s, 20 s, ... capped at 300 s)
        assert "back-off 20s restarting failed container=coredns" in container["state"]["waiting"]["message"]
        assert container["lastState"]["terminated"]["exitCode"] == 1
        assert container["ready"] is False
        assert not is_ready(status_of(h.store))
        previous = h.kubelet.logs("kube-system", "coredns-1", None, None, True)
        assert "Loop (127.0.0.1:53 -> :53) detected" in previous
    finally:
        h.close()



def test_failing_liveness_probe_restarts_the_container(harness: KubeletHarness) -> None:
    pod = coredns_pod("web-1")
    pod["metadata"]["namespace"] = "kube-system"
    pod["spec"]["containers"] = [{
        "name": "web", "image": "nginx:1.21.6",
        # nothing listens on port 9 of the pod IP: every probe fails
        "livenessProbe": {"tcpSocket": {"port": 9}, "periodSeconds": 1, "failureThreshold": 2},
    }]
    harness.store.create("pods", pod)
    container = wait_for(
        lambda: c if (c := status_of(harness.store, "web-1")["containerStatuses"][0])["restartCount"] >= 2
        and "running" in c["state"] else None)
    assert container["lastState"]["terminated"]["exitCode"] == 137  # killed, then started again
    reasons = {(e["reason"], e["type"]) for e in harness.store.list("events", "kube-system")[0]
               if e["involvedObject"]["name"] == "web-1"}
    assert {("Unhealthy", "Warning"), ("Killing", "Normal"), ("Started", "Normal")} <= reasons


def test_dns_policy_default_uses_the_node_resolver(harness: KubeletHarness) -> None:
    pod = coredns_pod()
    pod["spec"]["dnsPolicy"] = "Default"
    assert harness.kubelet.resolv_conf(pod) == f"nameserver 127.{OCTET}.96.1\n"
    pod["spec"]["dnsPolicy"] = "None"
    pod["spec"]["dnsConfig"] = {"nameservers": ["1.2.3.4"], "searches": ["example.com"],
                                "options": [{"name": "ndots", "value": "2"}]}
    assert harness.kubelet.resolv_conf(pod) == "nameserver 1.2.3.4\nsearch example.com\noptions ndots:2\n"


def test_exec_nslookup_never_leaves_the_machine(harness: KubeletHarness) -> None:
    harness.store.create("pods", coredns_pod())
    wait_for(lambda: is_ready(status_of(harness.store)))
    # 8.8.8.8 is not a lab address and no VirtualNetwork route exists here: refused, not sent
    command = ["nslookup", "example.com", "8.8.8.8"]
    code, out, err = harness.kubelet.exec("kube-system", "coredns-1", None, command, b"")
    assert code == 1 and b"no servers could be reached" in out + err
