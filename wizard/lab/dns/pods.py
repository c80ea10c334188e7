"""DNS pods as the kubelet runs them: which pods are DNS servers, and the process contract.

The kubelet asks `make_dns_pod(pod, ...)` for every pod it starts; a pod whose container image is
CoreDNS or kube-dns gets a DNSPod, which is "the container's process": real DNS on
(pod IP, dns_port) plus the HTTP ports its probes and metrics use.

The contract with the kubelet (signals as a container runtime delivers them):
  start()                bind and serve; raises DNSPodStartError(log_lines) when the real server
                         would exit at start (a Corefile its version refuses, a forwarding loop,
                         the coredns-crashloop fault, a port in use). Nothing is left bound then.
  terminate_requested()  SIGTERM, sent when the pod gets its deletionTimestamp. CoreDNS enters
                         lameduck: /ready fails at once, DNS and /health keep serving for the
                         lameduck duration / speed, then the process exits. kube-dns ignores it
                         and keeps answering.
  wait_exited()          returns once the process has exited on its own (CoreDNS after lameduck).
  stop()                 graceful stop for callers that send no SIGTERM first: SIGTERM, then wait
                         for the process to exit (kube-dns: exits at once, as after SIGKILL).
  kill()                 SIGKILL at the end of the grace period: everything closes now.
  log_lines()            the container log so far (what `kubectl logs` shows).
The pod's `status.podIP` must be set before start().
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod

from wizard.lab.api.store import Obj, Store
from wizard.lab.dns.world import VirtualNetwork
from wizard.lab.faults import Faults

MAX_LOG_LINES = 5000


class DNSPodStartError(Exception):
    """The DNS server exited at start; `log_lines` is its log, the last line says why."""

    def __init__(self, log_lines: list[str]) -> None:
        super().__init__(log_lines[-1] if log_lines else "the DNS server exited")
        self.log_lines = list(log_lines)


class DNSPod(ABC):
    """One running DNS server process of one pod."""

    kind = "dns"
    exits_on_sigterm = False
    """True when the server exits on its own after SIGTERM (CoreDNS, after lameduck)."""

    def __init__(
        self, pod: Obj, store: Store, net: VirtualNetwork, dns_port: int, faults: Faults, speed: float
    ) -> None:
        meta = pod.get("metadata", {})
        self.pod = pod
        self.namespace: str = meta.get("namespace", "default")
        self.name: str = meta.get("name", "")
        self.ip: str = (pod.get("status") or {}).get("podIP") or ""
        if not self.ip:
            raise ValueError(f"pod {self.namespace}/{self.name} has no status.podIP yet")
        self.store = store
        self.net = net
        self.dns_port = dns_port
        self.faults = faults
        self.speed = max(speed, 0.01)
        self._log: list[str] = []
        self._log_lock = threading.Lock()
        self._exited = asyncio.Event()
        self.running = False

    # ---- the log ------------------------------------------------------------------------------
    def log(self, line: str) -> None:
        with self._log_lock:
            self._log.append(line)
            if len(self._log) > MAX_LOG_LINES:
                del self._log[: len(self._log) - MAX_LOG_LINES]

    def log_lines(self) -> list[str]:
        with self._log_lock:
            return list(self._log)

    # ---- the process --------------------------------------------------------------------------
    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def terminate_requested(self) -> None: ...

    @abstractmethod
    async def kill(self) -> None: ...

    async def stop(self) -> None:
        await self.terminate_requested()
        if self.exits_on_sigterm:
            await self.wait_exited()
        else:
            await self.kill()

    async def wait_exited(self) -> None:
        await self._exited.wait()

    @property
    def exited(self) -> bool:
        return self._exited.is_set()


def container_images(pod: Obj) -> list[str]:
    return [str(c.get("image") or "") for c in (pod.get("spec") or {}).get("containers") or []]


def is_coredns_image(image: str) -> bool:
    return "coredns" in image.rsplit("/", 1)[-1].lower()


def is_kubedns_image(image: str) -> bool:
    name = image.rsplit("/", 1)[-1].lower()
    return "kubedns" in name or "kube-dns" in name


def make_dns_pod(
    pod: Obj, store: Store, net: VirtualNetwork, dns_port: int, faults: Faults, speed: float
) -> DNSPod | None:
    """The DNS server process of `pod`, or None when the pod runs no DNS server."""
    images = container_images(pod)
    if any(is_coredns_image(image) for image in images):
        from wizard.lab.dns.coredns import CoreDNSPod

        return CoreDNSPod(pod, store, net, dns_port, faults, speed)
    if any(is_kubedns_image(image) for image in images):
        from wizard.lab.dns.kubedns import KubeDNSPod

        return KubeDNSPod(pod, store, net, dns_port, faults, speed)
    return None
