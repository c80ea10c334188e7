"""Test harness for the lab controllers: a lab loop in a thread, the controllers on it, and a
stand-in kubelet, all driving a bare Store (no API server), so the controllers are tested alone.

The fake kubelet marks scheduled pods Running (Ready unless a test holds them back) and removes
pods marked for deletion (unless a test holds deletions back), which is all the controllers read.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from wizard.lab.addresses import AddressPlan
from wizard.lab.api.objects import controller_ref, is_active, rfc3339
from wizard.lab.api.store import ApiError, Store
from wizard.lab.controllers.controllers import Controllers
from wizard.lab.faults import Faults

Obj = dict[str, Any]
T = TypeVar("T")
SPEED = 100.0


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="lab-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapper() -> T:
            return fn()

        return self.run(wrapper())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class FakeKubelet:
    """Runs pods just enough for the controllers: Running + Ready, and removal after deletion."""

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop
        self.hold_ready: Callable[[Obj], bool] = lambda pod: False
        self.hold_deletion = False
        self._ips = (f"127.9.{i // 250}.{i % 250 + 1}" for i in itertools.count())
        self._stop = store.watch("pods", self._on_event, since=0)

    def _on_event(self, event_type: str, pod: Obj) -> None:
        if event_type != "DELETED":
            meta = pod["metadata"]
            self.loop.call_soon_threadsafe(self.sync, meta["namespace"], meta["name"])

    def stop(self) -> None:
        self._stop()

    def sync(self, namespace: str, name: str) -> None:
        pod = self.store.try_get("pods", namespace, name)
        if pod is None:
            return
        try:
            if pod["metadata"].get("deletionTimestamp"):
                if not self.hold_deletion:
                    self.store.delete("pods", namespace, name)
                return
            if not pod["spec"].get("nodeName"):
                return
            ready = not self.hold_ready(pod)
            status = pod.get("status") or {}
            current = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
            if status.get("phase") == "Running" and current and (current["status"] == "True") == ready:
                return
            self.store.mutate("pods", namespace, name, lambda obj: self._run(obj, ready))
        except ApiError:
            pass

    def resync_all(self) -> None:
        for pod in self.store.list("pods")[0]:
            self.sync(pod["metadata"]["namespace"], pod["metadata"]["name"])

    def _run(self, pod: Obj, ready: bool) -> None:
        stamp = rfc3339(time.time())
        status = pod.setdefault("status", {})
        if status.get("phase") != "Running":
            status.update(phase="Running", podIP=next(self._ips), hostIP="127.9.255.1", startTime=stamp)
        flag = "True" if ready else "False"
        conditions = [c for c in status.get("conditions") or [] if c["type"] == "PodScheduled"]
        conditions += [
            {"type": "Initialized", "status": "True", "lastTransitionTime": stamp},
            {"type": "Ready", "status": flag, "lastTransitionTime": stamp},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": stamp},
        ]
        status["conditions"] = conditions
        status["containerStatuses"] = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "docker-pullable://x@sha256:0",
                "ready": ready,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": stamp}},
                "containerID": "containerd://0",
            }
            for c in pod["spec"]["containers"]
        ]


class Lab:
    """The controllers on a lab loop, a fake kubelet, and helpers to build and inspect objects."""

    def __init__(self, speed: float = SPEED) -> None:
        self.store = Store()
        self.faults = Faults()
        self.loop_thread = LoopThread()
        self.controllers = Controllers(self.store, self.faults, speed, AddressPlan(9))
        self.loop_thread.run(self.controllers.start())
        self.kubelet = self.loop_thread.call(lambda: FakeKubelet(self.store, self.loop_thread.loop))

    def close(self) -> None:
        self.loop_thread.call(self.kubelet.stop)
        self.loop_thread.run(self.controllers.stop())
        self.loop_thread.close()

    # ---- waiting -------------------------------------------------------------------------------
    def wait_for(
        self,
        what: str,
        check: Callable[[], T | None],
        timeout: float = 20,
        locked: bool = True,
        interval: float = 0.01,
    ) -> T:
        """Poll until `check` returns something truthy; fail with `what` on timeout. The check runs
        under the store lock (a consistent view) unless it itself waits for the lab loop; checks of
        a large cluster pass a longer `interval` so the polling does not starve the controllers."""
        deadline = time.monotonic() + timeout
        while True:
            if locked:
                with self.store.lock:
                    result = check()
            else:
                result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(interval)

    def settle(self) -> None:
        """Wait until every controller queue is empty twice in a row (nothing left to react to)."""
        for _ in range(2):
            self.wait_for(
                "controllers to go idle",
                lambda: self.loop_thread.call(lambda: self.controllers.idle),
                locked=False,
            )

    # ---- reading -------------------------------------------------------------------------------
    def get(self, key: str, namespace: str, name: str) -> Obj:
        return self.store.get(key, namespace, name)

    def pods(
        self, namespace: str = "kube-system", owner_uid: str | None = None, active_only: bool = True
    ) -> list[Obj]:
        pods = self.store.list("pods", namespace)[0]
        if owner_uid is not None:
            pods = [p for p in pods if (controller_ref(p) or {}).get("uid") == owner_uid]
        return [p for p in pods if is_active(p)] if active_only else pods

    def replicasets_of(self, deployment: Obj) -> list[Obj]:
        uid = deployment["metadata"]["uid"]
        return [
            rs
            for rs in self.store.list("replicasets.apps", deployment["metadata"]["namespace"])[0]
            if (controller_ref(rs) or {}).get("uid") == uid
        ]

    def pods_of_deployment(self, namespace: str, name: str) -> list[Obj]:
        d = self.get("deployments.apps", namespace, name)
        uids = {rs["metadata"]["uid"] for rs in self.replicasets_of(d)}
        return [p for p in self.pods(namespace) if (controller_ref(p) or {}).get("uid") in uids]

    def events(self, reason: str) -> list[Obj]:
        return [e for e in self.store.list("events")[0] if e["reason"] == reason]

    # ---- writing -------------------------------------------------------------------------------
    def add_node(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        taints: list[Obj] | None = None,
        unschedulable: bool = False,
        pods: int = 110,
        cpu: str = "4",
    ) -> Obj:
        body: Obj = {
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", **(labels or {})},
            },
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {
                "capacity": {"pods": str(pods), "cpu": cpu},
                "allocatable": {"pods": str(pods), "cpu": cpu},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
        return self.store.create("nodes", body)

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        self.store.mutate(
            "deployments.apps", namespace, name, lambda d: d["spec"].__setitem__("replicas", replicas)
        )

    def create_deployment(
        self,
        name: str,
        replicas: int,
        labels: dict[str, str] | None = None,
        image: str = "registry.k8s.io/coredns/coredns:v1.8.4",
        namespace: str = "kube-system",
        anti_affinity: bool = False,
        strategy: Obj | None = None,
        tolerations: list[Obj] | None = None,
        extra_spec: Obj | None = None,
    ) -> Obj:
        labels = labels or {"k8s-app": "kube-dns"}
        pod_spec: Obj = {
            "containers": [
                {
                    "name": name,
                    "image": image,
                    "ports": [
                        {"containerPort": 53, "name": "dns", "protocol": "UDP"},
                        {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                    ],
                }
            ],
        }
        if anti_affinity:
            pod_spec["affinity"] = {
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "labelSelector": {
                                "matchExpressions": [
                                    {"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}
                                ]
                            },
                            "topologyKey": "kubernetes.io/hostname",
                        }
                    ]
                }
            }
        if tolerations is not None:
            pod_spec["tolerations"] = tolerations
        pod_spec.update(extra_spec or {})
        body: Obj = {
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": dict(labels)},
                "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
            },
        }
        if strategy is not None:
            body["spec"]["strategy"] = strategy
        return self.store.create("deployments.apps", copy.deepcopy(body))
