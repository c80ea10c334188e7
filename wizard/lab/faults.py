"""Faults the lab can inject, switched on at start (`--fault NAME`) or at run time from tests.

One shared, thread-safe registry, so the API server, controllers, kubelet and DNS pods all see
the same switches at the same moment.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

FAULTS: dict[str, str] = {
    "coredns-crashloop": "CoreDNS pods crash-loop, with a log line saying why",
    "coredns-servfail": "CoreDNS pods become Ready but answer SERVFAIL",
    "unschedulable": "no node accepts new pods",
    "autoscaler": "a kube-dns-autoscaler Deployment exists and puts kube-dns replicas back",
    "flaky-api": "a share of API requests fail with 5xx or time out, and watches drop",
    "slow-ready": "pods take much longer to become Ready",
    "deny-scale": "the operator's token may not update deployments/scale",
}


class UnknownFault(ValueError):
    pass


class Faults:
    """The set of active faults. Reads are lock-free snapshots; writes are serialised."""

    def __init__(self, active: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._active: frozenset[str] = frozenset()
        for name in active:
            self.on(name)

    def on(self, name: str) -> None:
        if name not in FAULTS:
            known = ", ".join(sorted(FAULTS))
            raise UnknownFault(f"unknown lab fault {name!r}; known faults: {known}")
        with self._lock:
            self._active = self._active | {name}

    def off(self, name: str) -> None:
        with self._lock:
            self._active = self._active - {name}

    def is_on(self, name: str) -> bool:
        return name in self._active

    @property
    def active(self) -> frozenset[str]:
        return self._active
