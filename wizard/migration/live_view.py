"""A live feed of the DNS pods, the kube-dns Service's endpoints and their Kubernetes Events.

Why: the switch engine reports pods and endpoints only while it waits for them; an operator
watching a production switch needs to see every change as it happens (a pod restarting during
an observation window, an endpoint dropping out) several times a second, without the UI polling
the API server. This feed follows the objects with watches (`wizard.k8s.watch.Watcher`), coalesces
bursts of changes, and reports through the same event types the switch emits, so a UI draws
both sources with one code path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from wizard.errors import WizardError
from wizard.i18n import error_text, msg
from wizard.k8s.gateway import Gateway
from wizard.k8s.objects import EndpointsView, Obj, name_of, owner_uids
from wizard.k8s.watch import Watcher
from wizard.migration.dns_pods import deployment_of_replicasets, pod_owner, pod_view
from wizard.migration.progress import EndpointsChanged, Event, Note, PodsChanged
from wizard.options import SwitchOptions
from wizard.textsafety import escape_control

DEFAULT_MIN_INTERVAL_S = 0.25
"""At most four redraws a second: fast enough to see a pod turn Ready, slow enough not to flood."""


@dataclass(frozen=True)
class ClusterEventSeen:
    """One Kubernetes Event about a DNS pod or Deployment (new or repeated)."""

    type: str
    reason: str
    involved: str
    message: str
    count: int


LiveEvent = Event | ClusterEventSeen
LiveSink = Callable[[LiveEvent], None]


def is_dns_object_event(event: Obj, options: SwitchOptions) -> bool:
    """Events about the two DNS Deployments, their ReplicaSets or their pods (by name prefix,
    which is how the controllers name them)."""
    involved = event.get("involvedObject") or {}
    name = str(involved.get("name") or "")
    kind = str(involved.get("kind") or "")
    if kind not in ("Pod", "ReplicaSet", "Deployment"):
        return False
    for deployment in (options.coredns_deployment, options.kube_dns_deployment):
        if name == deployment or name.startswith(f"{deployment}-"):
            return True
    return False


def cluster_event_of(event: Obj) -> ClusterEventSeen:
    involved = event.get("involvedObject") or {}
    return ClusterEventSeen(  # cluster text, shown on terminals: control characters escaped
        type=escape_control(event.get("type") or "Normal"),
        reason=escape_control(event.get("reason") or ""),
        involved=escape_control(f"{involved.get('kind') or '?'} {involved.get('name') or '?'}"),
        message=escape_control(event.get("message") or ""),
        count=int(event.get("count") or 1),
    )


class LiveDnsFeed:
    """Watches pods labelled k8s-app=kube-dns, the Endpoints of the DNS Service and the
    namespace's Events; reports PodsChanged, EndpointsChanged and ClusterEventSeen to `sink`
    from its own threads. Reads only. `start()` once, `stop()` from any thread."""

    def __init__(
        self,
        gateway: Gateway,
        options: SwitchOptions,
        sink: LiveSink | None = None,
        *,
        min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
    ) -> None:
        self.gateway = gateway
        self.options = options
        self.sink = sink
        self.min_interval_s = min_interval_s
        ns = options.namespace
        self._pods = Watcher(gateway, "Pod", ns, label_selector="k8s-app=kube-dns")
        self._endpoints = Watcher(
            gateway, "Endpoints", ns, field_selector=f"metadata.name={options.dns_service}"
        )
        self._events = Watcher(gateway, "Event", ns)
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._dirty: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._rs_owners: dict[str, str] = {}
        self._started_at = time.time()
        self._last_endpoints: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    # ---- control ------------------------------------------------------------------------
    def start(self) -> LiveDnsFeed:
        for name, watcher, handler in (
            ("pods", self._pods, self._on_pod),
            ("endpoints", self._endpoints, self._on_endpoints),
            ("events", self._events, self._on_event),
        ):
            thread = threading.Thread(
                target=self._follow, args=(name, watcher, handler), name=f"live {name}", daemon=True
            )
            self._threads.append(thread)
        publisher = threading.Thread(target=self._publish_loop, name="live publisher", daemon=True)
        self._threads.append(publisher)
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, join_timeout_s: float = 5.0) -> None:
        self._stop.set()
        for watcher in (self._pods, self._endpoints, self._events):
            watcher.stop()
        with self._changed:
            self._changed.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(join_timeout_s)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def threads_alive(self) -> int:
        """How many of the feed's threads still run (0 after a completed stop())."""
        return sum(1 for t in self._threads if t.is_alive())

    # ---- following ----------------------------------------------------------------------
    def _follow(self, name: str, watcher: Watcher, handler: Callable[[str, Obj], None]) -> None:
        try:
            for kind, obj in watcher:
                if self._stop.is_set():
                    return
                handler(kind, obj)
        except WizardError as err:
            if not self._stop.is_set():
                self._emit(Note(msg("verify.live-view-stopped", "the live view of {name} stopped: {error}",
                                    name=name, error=error_text(err))))
        except Exception as err:  # a broken feed must not kill the switch it shows
            if not self._stop.is_set():
                self._emit(Note(msg(
                    "verify.live-view-crashed", "the live view of {name} stopped unexpectedly: {error}",
                    name=name, error=f"{type(err).__name__}: {err}",
                )))

    def _on_pod(self, _kind: str, _obj: Obj) -> None:
        self._mark("pods")

    def _on_endpoints(self, _kind: str, _obj: Obj) -> None:
        self._mark("endpoints")

    def _on_event(self, kind: str, obj: Obj) -> None:
        if kind == "DELETED" or not is_dns_object_event(obj, self.options):
            return
        if self._is_old(obj):
            return
        self._emit(cluster_event_of(obj))

    def _is_old(self, event: Obj) -> bool:
        """Events from before the feed started (replayed by the first list) are history."""
        from wizard.migration.switch_state import parse_time

        stamp = parse_time(str(event.get("lastTimestamp") or event.get("eventTime") or ""))
        return stamp is not None and stamp.timestamp() < self._started_at - 1.0

    def _mark(self, what: str) -> None:
        with self._changed:
            self._dirty.add(what)
            self._changed.notify_all()

    # ---- publishing ---------------------------------------------------------------------
    def _publish_loop(self) -> None:
        while not self._stop.is_set():
            with self._changed:
                while not self._dirty and not self._stop.is_set():
                    self._changed.wait(1.0)
                dirty, self._dirty = self._dirty, set()
            if self._stop.is_set():
                return
            try:
                if "pods" in dirty:
                    self._publish_pods()
                    dirty.add("endpoints")  # owners of endpoint IPs may have changed
                if "endpoints" in dirty:
                    self._publish_endpoints()
            except WizardError as err:
                self._emit(Note(msg("verify.live-view-classify",
                    "the live view could not classify the DNS pods: {error}",
                                    error=error_text(err))))
            self._stop.wait(self.min_interval_s)

    def _publish_pods(self) -> None:
        pods = self._pods.snapshot()
        if self._unknown_replicaset(pods):
            self._rs_owners = deployment_of_replicasets(self.gateway, self.options.namespace)
        ordered = sorted(pods, key=name_of)
        owners = self._rs_owners
        self._emit(PodsChanged(tuple(pod_view(p, pod_owner(p, owners, self.options)) for p in ordered)))

    def _unknown_replicaset(self, pods: list[Obj]) -> bool:
        return any(uid not in self._rs_owners for pod in pods for uid in owner_uids(pod, "ReplicaSet"))

    def _publish_endpoints(self) -> None:
        ep = EndpointsView.from_obj(self._endpoints.get(self.options.namespace, self.options.dns_service))
        current = (tuple(sorted(ep.ready)), tuple(sorted(ep.not_ready)))
        if current != self._last_endpoints:
            self._last_endpoints = current
            self._emit(EndpointsChanged(*current))

    def _emit(self, event: LiveEvent) -> None:
        if self.sink is not None and not self._stop.is_set():
            self.sink(event)

