"""An independent watch on the kube-dns Service's ready endpoints, for invariants in switch,
rollback, resume and fault tests.

Why at the store: it sees every commit the lab's API server makes, synchronously, so a moment
with no ready endpoint cannot slip between two polls; and it shares nothing with the engine, so
it checks the wizard instead of agreeing with it. Both the Endpoints object (what kube-proxy
reads on old clusters) and the EndpointSlices (what it reads since 1.19) are watched.

    with EndpointWatch(lab) as watch:
        rollback(...)
    watch.assert_never_below(2)          # rollback of 3 replicas: never fewer than N-1
"""

from __future__ import annotations

import threading
from typing import Any

NS = "kube-system"
SLICES = "endpointslices.discovery.k8s.io"
SERVICE_LABEL = "kubernetes.io/service-name"


def endpoints_ready(obj: dict[str, Any]) -> frozenset[str]:
    subsets = obj.get("subsets") or []
    return frozenset(a["ip"] for s in subsets for a in s.get("addresses") or [] if a.get("ip"))


def slice_ready(obj: dict[str, Any]) -> frozenset[str]:
    """Ready addresses of one EndpointSlice (`ready` unset counts as ready, as kube-proxy reads it)."""
    ips: set[str] = set()
    for endpoint in obj.get("endpoints") or []:
        if (endpoint.get("conditions") or {}).get("ready", True) is False:
            continue
        ips.update(str(a) for a in endpoint.get("addresses") or [])
    return frozenset(ips)


class EndpointWatch:
    """Every ready-endpoint count the Service went through, in Endpoints and in EndpointSlices."""

    def __init__(self, lab: Any, service: str = "kube-dns", namespace: str = NS) -> None:
        self.lab = lab
        self.service = service
        self.namespace = namespace
        self.endpoints_counts: list[int] = []
        self.slice_counts: list[int] = []
        self._slices: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()
        self._stops: list[Any] = []

    # ---- store callbacks (called under the store's lock, for every commit) ------------------
    def _on_endpoints(self, event: str, obj: dict[str, Any]) -> None:
        if obj["metadata"].get("name") != self.service:
            return
        count = 0 if event == "DELETED" else len(endpoints_ready(obj))
        with self._lock:
            if not self.endpoints_counts or self.endpoints_counts[-1] != count:
                self.endpoints_counts.append(count)

    def _on_slice(self, event: str, obj: dict[str, Any]) -> None:
        labels = obj["metadata"].get("labels") or {}
        if labels.get(SERVICE_LABEL) != self.service:
            return
        name = str(obj["metadata"]["name"])
        with self._lock:
            if event == "DELETED":
                self._slices.pop(name, None)
            else:
                self._slices[name] = slice_ready(obj)
            count = len(frozenset().union(*self._slices.values())) if self._slices else 0
            if not self.slice_counts or self.slice_counts[-1] != count:
                self.slice_counts.append(count)

    def __enter__(self) -> EndpointWatch:
        store = self.lab.store
        self._stops.append(store.watch("endpoints", self._on_endpoints, self.namespace, since=0))
        self._stops.append(store.watch(SLICES, self._on_slice, self.namespace, since=0))
        return self

    def __exit__(self, *exc: object) -> None:
        for stop in self._stops:
            stop()
        self._stops.clear()

    # ---- what the tests assert --------------------------------------------------------------
    @property
    def minimum(self) -> int:
        """The fewest ready endpoints seen in either the Endpoints or the EndpointSlices."""
        with self._lock:
            seen = self.endpoints_counts + self.slice_counts
        return min(seen) if seen else 0

    def assert_never_below(self, floor: int) -> None:
        assert self.endpoints_counts and self.slice_counts, "the watch saw no Endpoints or no EndpointSlice"
        assert self.minimum >= floor, (
            f"Service {self.namespace}/{self.service} fell to {self.minimum} ready endpoint(s) "
            f"(floor {floor}); "
            f"Endpoints went {self.endpoints_counts}, EndpointSlices went {self.slice_counts}"
        )

    def assert_never_empty(self) -> None:
        self.assert_never_below(1)


LOST_TRIES_ALLOWED = 2
"""A resolver try lost at the instant a backend leaves kube-proxy's rules (or one starved of CPU
on a loaded 2-core test machine) is retried and never seen by a workload; an outage of more than
a second loses a try per lookup for as long as it lasts. The prober alone is a weak detector of a
short outage (a mutated rollback that scales CoreDNS to 0 before kube-dns is back finished with 2
lookups, both answered): the EndpointWatch above is the invariant, this bound is the second one."""


def assert_lost_tries(prober: Any) -> None:
    """The BackgroundProber's tries that went unanswered (each one retried by the resolver)."""
    assert prober.lost_tries <= LOST_TRIES_ALLOWED, (
        f"{prober.lost_tries} unanswered tries in {prober.queries} lookups (at most {LOST_TRIES_ALLOWED}): "
        "the Service's backends stopped answering for a while"
    )
