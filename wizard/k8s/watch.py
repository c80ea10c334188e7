"""Watches, not polling: follow pods, endpoints and deployments as the API server changes them.

Why: the switch waits for things (a new pod Ready, its IP in the kube-dns endpoints) many times
per run; polling either lags or hammers the API server of a production cluster. A `Watcher` lists
once, then streams changes, keeps a current-state cache, re-lists on 410 Expired (the server
compacted its history), and reconnects with backoff after drops, resuming from the last
resourceVersion. All HTTP goes through `wizard.k8s.gateway`.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import TypeVar

from wizard.durations import human_duration
from wizard.errors import CheckFailed
from wizard.i18n import msg
from wizard.k8s.gateway import Gateway, GatewayError, WatchDropped, WatchStream
from wizard.k8s.objects import (
    DeploymentView,
    Obj,
    PodView,
    endpoint_ips,
    name_of,
    namespace_of,
    owner_uids,
    pod_is_ready,
    resource_version_of,
    uid_of,
)

T = TypeVar("T")
Key = tuple[str, str]


def object_key(obj: Obj) -> Key:
    return (namespace_of(obj), name_of(obj))


class Watcher:
    """List-then-watch one resource with selectors; iterate for `(type, obj)` events.

    Types are ADDED, MODIFIED and DELETED. After a re-list the differences to the cache are
    yielded as such events too, so the consumer never misses a change. `stop()` may be called
    from any thread; iteration then ends promptly.
    """

    def __init__(
        self,
        gateway: Gateway,
        kind: str,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        *,
        timeout_s: int = 60,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 10.0,
        on_state: Callable[[str], None] | None = None,
        resume_from: str | None = None,
    ) -> None:
        """`resume_from`: a resourceVersion to watch from without listing first (the cache then
        starts empty and fills from events, or from a re-list if that version has expired)."""
        self.gateway = gateway
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.timeout_s = timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.on_state = on_state
        self.resource_version = resume_from or ""
        self.relists = 0
        self.reconnects = 0  # after a broken stream (counted apart from ordinary stream ends)
        self.watches_opened = 0
        self._cache: dict[Key, Obj] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._stream: WatchStream | None = None

    # ---- the current state --------------------------------------------------------------
    def snapshot(self) -> list[Obj]:
        """The objects as last seen (shared dicts: do not mutate)."""
        with self._lock:
            return list(self._cache.values())

    def get(self, namespace: str, name: str) -> Obj | None:
        with self._lock:
            return self._cache.get((namespace, name))

    # ---- control ------------------------------------------------------------------------
    def stop(self) -> None:
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            stream.close()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def __iter__(self) -> Iterator[tuple[str, Obj]]:
        return self.events()

    def events(self) -> Iterator[tuple[str, Obj]]:
        failures = 0
        if not self.resource_version:
            yield from self._relist()
        while not self._stopped.is_set():
            try:
                stream = self.gateway.open_watch(
                    self.kind, self.namespace, self.resource_version,
                    self.label_selector, self.field_selector, self.timeout_s,
                )
            except GatewayError as err:
                if err.status == 410:
                    yield from self._relist()
                    continue
                raise
            self._stream = stream
            self.watches_opened += 1
            if self._stopped.is_set():
                stream.close()
                return
            expired = False
            try:
                for event in stream:
                    failures = 0
                    kind = event.get("type")
                    obj = event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            expired = True
                            break
                        raise WatchDropped(msg("cli.watch-error", "watch error: {message}",
                                               message=obj.get("message")))
                    rv = resource_version_of(obj)
                    if rv:
                        self.resource_version = rv
                    if kind == "BOOKMARK":
                        continue
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        self._store(kind, obj)
                        yield kind, obj
            except WatchDropped:
                failures += 1
                self.reconnects += 1
                self._state(msg("cli.watch-reconnecting", "watch of {kind} dropped; reconnecting",
                                kind=self.kind))
                self._backoff(failures)
                continue
            finally:
                stream.close()
                self._stream = None
            if expired:
                self._state(msg("cli.watch-expired", "watch of {kind} expired (410); listing again",
                                kind=self.kind))
                yield from self._relist()
            # else: the server ended the stream at timeoutSeconds; resume from resource_version

    def _relist(self) -> Iterator[tuple[str, Obj]]:
        listing = self.gateway.get_list(self.kind, self.namespace, self.label_selector, self.field_selector)
        self.relists += 1
        items = listing.get("items") or []
        fresh = {object_key(o): o for o in items}
        with self._lock:
            old = self._cache
            self._cache = dict(fresh)
        self.resource_version = resource_version_of(listing)
        for key, obj in fresh.items():
            before = old.get(key)
            if before is None:
                yield "ADDED", obj
            elif resource_version_of(before) != resource_version_of(obj):
                yield "MODIFIED", obj
        for key, obj in old.items():
            if key not in fresh:
                yield "DELETED", obj

    def _store(self, kind: str, obj: Obj) -> None:
        with self._lock:
            if kind == "DELETED":
                self._cache.pop(object_key(obj), None)
            else:
                self._cache[object_key(obj)] = obj

    def _backoff(self, failures: int) -> None:
        delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (failures - 1))
        self._stopped.wait(random.uniform(delay / 2, delay))

    def _state(self, text: str) -> None:
        if self.on_state is not None:
            self.on_state(text)


# ---- waiting on conditions ---------------------------------------------------------------------


@dataclass(frozen=True)
class WaitProgress:
    """Reported about once a second while waiting: what for, how long so far, what is seen."""

    waiting_for: str
    elapsed_s: float
    detail: str


class WaitTimeout(CheckFailed):
    """The condition did not come true in time; the message says what was awaited and seen."""


def wait_for(
    gateway: Gateway,
    kind: str,
    namespace: str | None,
    predicate: Callable[[list[Obj]], T | None],
    timeout: float,
    waiting_for: str,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    on_progress: Callable[[WaitProgress], None] | None = None,
    describe_state: Callable[[list[Obj]], str] | None = None,
    progress_interval_s: float = 1.0,
) -> T:
    """Watch until `predicate(current objects)` returns something other than None; return it.

    The watcher runs in a thread; this thread evaluates the predicate after each change and
    reports progress every `progress_interval_s`. Raises WaitTimeout after `timeout` seconds."""
    watcher = Watcher(gateway, kind, namespace, label_selector, field_selector)
    started = time.monotonic()
    changes = _changes_of(watcher, f"watch {kind} for: {waiting_for}")
    try:
        while True:
            elapsed = time.monotonic() - started
            remaining = timeout - elapsed
            if remaining <= 0:
                detail = describe_state(watcher.snapshot()) if describe_state else ""
                if detail:
                    raise WaitTimeout(msg(
                        "cli.wait-timeout-last-seen",
                        "timed out after {timeout} waiting for {waiting_for}; last seen: {detail}",
                        timeout=human_duration(timeout), waiting_for=waiting_for, detail=detail,
                    ))
                raise WaitTimeout(msg(
                    "cli.wait-timeout", "timed out after {timeout} waiting for {waiting_for}",
                    timeout=human_duration(timeout), waiting_for=waiting_for,
                ))
            try:
                item = changes.get(timeout=min(progress_interval_s, remaining))
            except queue.Empty:
                item = None
            if isinstance(item, BaseException):
                raise item
            if watcher.relists:  # evaluate only once the first list arrived
                found = predicate(watcher.snapshot())
                if found is not None:
                    return found
            if on_progress is not None:
                snapshot = watcher.snapshot()
                on_progress(
                    WaitProgress(
                        waiting_for, time.monotonic() - started,
                        describe_state(snapshot) if describe_state else "",
                    )
                )
    finally:
        watcher.stop()


def _changes_of(watcher: Watcher, thread_name: str) -> queue.Queue[BaseException | None]:
    """A thread that follows `watcher` and puts None on the queue for each change it sees, or the
    error that ended it (for the waiting thread to raise)."""
    changes: queue.Queue[BaseException | None] = queue.Queue()

    def pump() -> None:
        try:
            for _ in watcher:
                changes.put(None)
        except BaseException as err:  # handed to the waiting thread, which raises it
            changes.put(err)

    threading.Thread(target=pump, name=thread_name, daemon=True).start()
    return changes


# ---- predicates the switch needs --------------------------------------------------------------


def replicaset_uids_of(gateway: Gateway, namespace: str, deployment: Obj) -> set[str]:
    """The ReplicaSets a Deployment owns (ownership by ownerReferences, never by labels: the
    kube-dns and CoreDNS Deployments select each other's pods)."""
    uid = uid_of(deployment)
    return {
        uid_of(rs)
        for rs in gateway.items("ReplicaSet", namespace)
        if uid in owner_uids(rs, "Deployment")
    }


def wait_for_ready_pod(
    gateway: Gateway,
    namespace: str,
    deployment_name: str,
    timeout: float,
    *,
    ignore_pods: Collection[str] = (),
    on_progress: Callable[[WaitProgress], None] | None = None,
) -> Obj:
    """Wait until a pod owned (via a ReplicaSet) by Deployment `deployment_name` is Ready and
    not in `ignore_pods` (the pods that existed before a scale-up); return that pod."""
    deployment = gateway.get_deployment(namespace, deployment_name)
    selector = DeploymentView.from_obj(deployment).selector_text
    rs_uids = replicaset_uids_of(gateway, namespace, deployment)

    def mine(pods: list[Obj]) -> list[Obj]:
        nonlocal rs_uids
        owned = []
        for pod in pods:
            owners = owner_uids(pod, "ReplicaSet")
            if owners and not owners & rs_uids:
                rs_uids = replicaset_uids_of(gateway, namespace, deployment)  # a new rollout
            if owners & rs_uids and name_of(pod) not in ignore_pods:
                owned.append(pod)
        return owned

    def ready_pod(pods: list[Obj]) -> Obj | None:
        return next((p for p in mine(pods) if pod_is_ready(p)), None)

    def describe(pods: list[Obj]) -> str:
        parts = [f"{name_of(p)} {_pod_phase(p)}" for p in mine(pods)]
        return ", ".join(parts) or msg("cli.no-new-pod-yet", "no new pod yet")

    return wait_for(
        gateway, "Pod", namespace, ready_pod, timeout,
        msg("cli.waiting-for-ready-pod", "a new Ready pod of Deployment {namespace}/{deployment}",
            namespace=namespace, deployment=deployment_name),
        label_selector=selector, on_progress=on_progress, describe_state=describe,
    )


def wait_for_endpoint_ip(
    gateway: Gateway,
    namespace: str,
    service: str,
    ip: str,
    timeout: float,
    *,
    present: bool = True,
    on_progress: Callable[[WaitProgress], None] | None = None,
) -> Obj:
    """Wait until `ip` is (present=True) or is no longer (False) among the ready addresses of
    the Endpoints of `service`; return that Endpoints object."""

    def check(objs: list[Obj]) -> Obj | None:
        ep = next((o for o in objs if name_of(o) == service), None)
        if ep is None:
            return None
        return ep if (ip in endpoint_ips(ep)) == present else None

    def describe(objs: list[Obj]) -> str:
        ep = next((o for o in objs if name_of(o) == service), None)
        if ep is None:
            return msg("cli.no-endpoints", "no Endpoints {namespace}/{service}", namespace=namespace,
                       service=service)
        addresses = ", ".join(sorted(endpoint_ips(ep))) or msg("cli.no-ready-addresses", "none")
        return msg("cli.ready-addresses", "ready addresses: {addresses}", addresses=addresses)

    if present:
        waiting_for = msg("cli.waiting-for-endpoint-present",
                          "{ip} among the ready endpoints of Service {namespace}/{service}",
                          ip=ip, namespace=namespace, service=service)
    else:
        waiting_for = msg("cli.waiting-for-endpoint-gone",
                          "{ip} gone from the ready endpoints of Service {namespace}/{service}",
                          ip=ip, namespace=namespace, service=service)
    return wait_for(
        gateway, "Endpoints", namespace, check, timeout,
        waiting_for,
        field_selector=f"metadata.name={service}", on_progress=on_progress, describe_state=describe,
    )


def _pod_phase(pod: Obj) -> str:
    view = PodView.from_obj(pod)
    return view.waiting_reason or ("Ready" if view.ready else view.phase)
