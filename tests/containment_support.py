"""Helpers for the containment tests: watches of the kube-dns Service's endpoints through the
official client (real HTTP), a recorder with hooks and the failure time, and CoreDNS pod IPs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import watch
from lab_clients import api_client
from switch_support import NS, Recorder

from wizard.migration.progress import Event, StepFinished


@dataclass
class EndpointHistory:
    """Ready IPs of Service kube-system/kube-dns as seen by watches of its Endpoints and its
    EndpointSlices (official client, real HTTP), with the monotonic time of each change."""

    lab: Any
    endpoints: list[tuple[float, frozenset[str]]] = field(default_factory=list)
    slices: list[tuple[float, frozenset[str]]] = field(default_factory=list)
    _watches: list[Any] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> EndpointHistory:
        from kubernetes import client

        api = api_client(self.lab)
        core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)

        def endpoints() -> None:
            while not self._stop.is_set():
                w = watch.Watch()
                self._watches.append(w)
                for event in self._events(
                    w, core.list_namespaced_endpoints, field_selector="metadata.name=kube-dns"
                ):
                    ep = event["object"]
                    ready = (
                        frozenset(a.ip for s in ep.subsets or [] for a in s.addresses or [])
                        if event["type"] != "DELETED"
                        else frozenset()
                    )
                    self.endpoints.append((time.monotonic(), ready))

        def slices() -> None:
            per_slice: dict[str, frozenset[str]] = {}
            while not self._stop.is_set():
                w = watch.Watch()
                self._watches.append(w)
                for event in self._events(
                    w,
                    discovery.list_namespaced_endpoint_slice,
                    label_selector="kubernetes.io/service-name=kube-dns",
                ):
                    eps = event["object"]
                    ips = frozenset(
                        ip
                        for e in eps.endpoints or []
                        if e.conditions is None or e.conditions.ready is not False
                        for ip in e.addresses or []
                    )
                    if event["type"] == "DELETED":
                        per_slice.pop(eps.metadata.name, None)
                    else:
                        per_slice[eps.metadata.name] = ips
                    self.slices.append((time.monotonic(), frozenset().union(*per_slice.values())))

        for target in (endpoints, slices):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + 10
        while (not self.endpoints or not self.slices) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.endpoints and self.slices, "the endpoint watches saw nothing"
        return self

    def _events(self, w: Any, lister: Any, **selector: str) -> Any:
        """One short watch (the loop above starts the next, which lists afresh); the stream
        breaking when the lab stops at the end of the test is not an event."""
        try:
            yield from w.stream(lister, NS, timeout_seconds=1, **selector)
        except Exception:
            if not self._stop.is_set():
                raise

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)  # let the last changes arrive
        self._stop.set()
        for w in self._watches:
            w.stop()
        for thread in self._threads:
            thread.join(10)

    def never_empty(self) -> None:
        for name, history in (("Endpoints", self.endpoints), ("EndpointSlices", self.slices)):
            empty = [t for t, ips in history if not ips]
            assert not empty, f"the Service had 0 ready {name} during the run"

    def left_at(self, ips: set[str]) -> float | None:
        """When the last of `ips` stopped being a ready endpoint in both views (the arrival of
        the first change without them after their last presence); None if never present."""
        moments: list[float] = []
        for history in (self.endpoints, self.slices):
            present = [i for i, (_, ready) in enumerate(history) if ready & ips]
            if present and present[-1] + 1 < len(history):
                moments.append(history[present[-1] + 1][0])
        return max(moments) if moments else None

    def final(self) -> frozenset[str]:
        assert self.endpoints[-1][1] == self.slices[-1][1], (self.endpoints[-1], self.slices[-1])
        return self.endpoints[-1][1]


@dataclass
class TimedRecorder(Recorder):
    """Recorder that also notes when the first step failed, and runs hooks on events."""

    failed_at: float | None = None
    hooks: list[Any] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        super().__call__(event)
        if isinstance(event, StepFinished) and event.outcome == "failed" and self.failed_at is None:
            self.failed_at = time.monotonic()
        for hook in self.hooks:
            hook(event)


def pod_ips(lab: Any, owner_prefix: str, staying: bool = False) -> set[str]:
    """IPs of the pods whose names start with `owner_prefix`; `staying`: not being deleted."""
    pods, _ = lab.store.list("pods", NS)
    return {
        p["status"]["podIP"]
        for p in pods
        if p["metadata"]["name"].startswith(owner_prefix)
        and (p.get("status") or {}).get("podIP")
        and not (staying and p["metadata"].get("deletionTimestamp"))
    }


class CoreDNSIPs:
    """Every IP a CoreDNS pod had during the run (polled from the lab's store)."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen |= pod_ips(self.lab, "coredns-")
            self._stop.wait(0.05)

    def __enter__(self) -> CoreDNSIPs:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.seen |= pod_ips(self.lab, "coredns-")
