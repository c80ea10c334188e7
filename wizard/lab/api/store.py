"""The lab cluster's object store: the in-memory stand-in for etcd behind the lab API server.

Everything in the lab (API handlers, controllers, the simulated kubelet, DNS pods) reads and
writes cluster state only through this store, so there is exactly one source of truth and one
resourceVersion sequence, as in a real cluster. Objects are plain JSON-like dicts in the shape the
Kubernetes API serves them.

Sharing rule: dicts returned by the store are shared, read-only snapshots (copying 10,000 pods on
every list would make the lab slow). Never mutate them; use `mutate()` or `copy.deepcopy` first.

Built for a 10,000-pod lab: each kind keeps its keys sorted (a list is a slice, not a sort), a
watch resumes by position in the history instead of scanning it, and the JSON of each object
version is encoded once however many lists and watches send it.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import json
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
WatchCallback = Callable[[str, Obj], None]
"""Called as `callback(event_type, obj)` with event_type ADDED, MODIFIED or DELETED, under the
store's lock: it must be quick (queue the event, do not call back into slow code)."""


class ApiError(Exception):
    """An error the API server returns as a `Status` object."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> Obj:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    kind = resource if not group else f"{resource}.{group}"
    return ApiError(
        404, "NotFound", f'{kind} "{name}" not found', {"name": name, "group": group, "kind": resource}
    )


@dataclass(frozen=True)
class Resource:
    """One REST resource the lab serves, e.g. deployments in apps/v1."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale", "log", "exec", "portforward", "proxy"
    verbs: tuple[str, ...] = (
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
    )

    @property
    def key(self) -> str:
        """The store key: `pods`, `deployments.apps`, `endpointslices.discovery.k8s.io`."""
        return self.plural if not self.group else f"{self.plural}.{self.group}"

    @property
    def api_version(self) -> str:
        return self.version if not self.group else f"{self.group}/{self.version}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "Namespace", "namespaces", False, ("ns",), ("status",)),
    Resource("", "v1", "Node", "nodes", False, ("no",), ("status", "proxy")),
    Resource("", "v1", "Pod", "pods", True, ("po",),
             ("status", "log", "exec", "portforward", "proxy", "eviction")),
    Resource("", "v1", "Service", "services", True, ("svc",), ("status", "proxy")),
    Resource("", "v1", "Endpoints", "endpoints", True, ("ep",)),
    Resource("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
    Resource("", "v1", "Event", "events", True, ("ev",)),
    Resource("apps", "v1", "Deployment", "deployments", True, ("deploy",), ("status", "scale")),
    Resource("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("status", "scale")),
    Resource("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("status",)),
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    Resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",),
             ("status",)),
    Resource("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True,
             ("hpa",), ("status",)),
)

RESOURCES_BY_KEY: dict[str, Resource] = {r.key: r for r in RESOURCES}
RESOURCES_BY_KIND: dict[str, Resource] = {r.kind: r for r in RESOURCES}


def resource(key_or_kind: str) -> Resource:
    """Look a resource up by store key (`deployments.apps`) or by kind (`Deployment`)."""
    found = RESOURCES_BY_KEY.get(key_or_kind) or RESOURCES_BY_KIND.get(key_or_kind)
    if found is None:
        raise KeyError(f"the lab does not serve {key_or_kind!r}")
    return found


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data, several times faster than `copy.deepcopy` (no memo:
    store objects have no shared or cyclic parts); anything else falls back to deepcopy."""
    kind = type(value)
    if kind is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if kind is list:
        return [json_copy(v) for v in value]
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return copy.deepcopy(value)


def encode_json(obj: Obj) -> bytes:
    """How the lab API server encodes every object it sends (lists, gets and watch events)."""
    return json.dumps(obj).encode()


def _without_rv(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Watcher:
    resource_key: str
    namespace: str | None
    callback: WatchCallback


@dataclass(frozen=True)
class WatchEvent:
    rv: int
    resource_key: str
    type: str
    obj: Obj


class Store:
    """Thread-safe object store with one global resourceVersion and a bounded event history.

    Watches resume from a resourceVersion still in the history; older ones raise a 410 Expired,
    as the real API server does once etcd has compacted.
    """

    def __init__(self, history: int = 20000) -> None:
        self.lock = threading.RLock()
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {r.key: {} for r in RESOURCES}
        # the keys of `_objects[kind]` in (namespace, name) order, kept on create and delete
        self._sorted: dict[str, list[tuple[str, str]]] = {r.key: [] for r in RESOURCES}
        # (object, its JSON) per stored object; the identity check makes a stale entry a miss
        self._encoded: dict[str, dict[tuple[str, str], tuple[Obj, bytes]]] = {r.key: {} for r in RESOURCES}
        self._rv = 0
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._watchers: dict[str, list[_Watcher]] = {}

    # ---- reads -------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, key: str, namespace: str, name: str) -> Obj:
        """The object (shared, read-only), or ApiError 404."""
        with self.lock:
            obj = self._objects[key].get((namespace, name))
            if obj is None:
                res = RESOURCES_BY_KEY[key]
                raise not_found(res.plural, name, res.group)
            return obj

    def try_get(self, key: str, namespace: str, name: str) -> Obj | None:
        with self.lock:
            return self._objects[key].get((namespace, name))

    def list(
        self,
        key: str,
        namespace: str | None = None,
        predicate: Callable[[Obj], bool] | None = None,
    ) -> tuple[list[Obj], int]:
        """Objects (shared, read-only) sorted by namespace and name, and the store's resourceVersion."""
        with self.lock:
            objects = self._objects[key]
            idents = self._sorted[key]
            if namespace is not None:
                # tuples order by namespace first: the namespace is one contiguous slice
                # (`(ns,)` sorts before every `(ns, name)`, `(ns + "\0",)` after them all)
                start = bisect.bisect_left(idents, (namespace,))
                end = bisect.bisect_left(idents, (namespace + "\0",), start)
                idents = idents[start:end]
            if predicate is None:
                return [objects[ident] for ident in idents], self._rv
            return [obj for obj in (objects[ident] for ident in idents) if predicate(obj)], self._rv

    def encoded(self, key: str, obj: Obj) -> bytes:
        """`encode_json(obj)`, cached while `obj` is the stored version of its object, so a list of
        10,000 pods re-encodes only the ones that changed since the last list or watch event."""
        meta = obj.get("metadata") or {}
        ident = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        cache = self._encoded[key]
        hit = cache.get(ident)
        if hit is not None and hit[0] is obj:
            return hit[1]
        data = encode_json(obj)
        with self.lock:
            if self._objects[key].get(ident) is obj:  # never cache a deleted or replaced version
                cache[ident] = (obj, data)
        return data

    # ---- writes ------------------------------------------------------------------------
    def create(self, key: str, obj: Obj) -> Obj:
        """Store a new object; fills uid, resourceVersion, creationTimestamp and generation."""
        res = RESOURCES_BY_KEY[key]
        obj = json_copy(obj)
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        if not name:
            if meta.get("generateName"):
                name = meta["generateName"] + uuid.uuid4().hex[:5]
                meta["name"] = name
            else:
                raise ApiError(422, "Invalid", f"{res.kind} is invalid: metadata.name: Required value")
        namespace = meta.get("namespace", "") if res.namespaced else ""
        if res.namespaced:
            if not namespace:
                namespace = "default"
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        obj["apiVersion"] = res.api_version
        obj["kind"] = res.kind
        with self.lock:
            if (namespace, name) in self._objects[key]:
                raise ApiError(
                    409, "AlreadyExists", f'{res.key} "{name}" already exists',
                    {"name": name, "group": res.group, "kind": res.plural},
                )
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if "spec" in obj:
                meta["generation"] = 1
            return self._commit(key, (namespace, name), obj, "ADDED")

    def update(self, key: str, obj: Obj, expect_rv: str | None = None) -> Obj:
        """Replace an object. `expect_rv` (the resourceVersion the writer read) gives 409 when stale.
        generation grows when `spec` changes; uid and creationTimestamp are kept."""
        res = RESOURCES_BY_KEY[key]
        obj = json_copy(obj)
        meta = obj.setdefault("metadata", {})
        namespace = meta.get("namespace", "") if res.namespaced else ""
        name = meta.get("name", "")
        with self.lock:
            old = self._objects[key].get((namespace, name))
            if old is None:
                raise not_found(res.plural, name, res.group)
            if expect_rv and expect_rv != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409, "Conflict",
                    f'Operation cannot be fulfilled on {res.key} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    {"name": name, "group": res.group, "kind": res.plural},
                )
            old_meta = old["metadata"]
            for kept in ("uid", "creationTimestamp", "generation"):
                if kept in old_meta:
                    meta[kept] = old_meta[kept]
            if "deletionTimestamp" in old_meta:
                meta["deletionTimestamp"] = old_meta["deletionTimestamp"]
                meta["deletionGracePeriodSeconds"] = old_meta.get("deletionGracePeriodSeconds", 0)
            if "spec" in obj and obj.get("spec") != old.get("spec"):
                meta["generation"] = int(old_meta.get("generation", 0)) + 1
            obj["apiVersion"] = res.api_version
            obj["kind"] = res.kind
            if _without_rv(obj) == _without_rv(old):
                return old  # no change: no new resourceVersion, no event (as the API server)
            return self._commit(key, (namespace, name), obj, "MODIFIED")

    def mutate(self, key: str, namespace: str, name: str, change: Callable[[Obj], None]) -> Obj:
        """Read-modify-write under the lock: `change` edits a private copy in place."""
        with self.lock:
            obj = json_copy(self.get(key, namespace, name))
            change(obj)
            # copied again (as `update` does): `change` may have put in parts its caller still
            # holds and edits later, e.g. the kubelet's container state dicts
            return self.update(key, obj)

    def delete(self, key: str, namespace: str, name: str) -> Obj:
        """Remove an object at once (graceful deletion is the caller's job: it sets
        deletionTimestamp with `mutate` and deletes when the grace period is over)."""
        res = RESOURCES_BY_KEY[key]
        ident = (namespace if res.namespaced else "", name)
        with self.lock:
            old = self._objects[key].pop(ident, None)
            if old is None:
                raise not_found(res.plural, name, res.group)
            self._encoded[key].pop(ident, None)
            idents = self._sorted[key]
            del idents[bisect.bisect_left(idents, ident)]
            gone: Obj = json_copy(old)
            self._rv += 1
            gone["metadata"]["resourceVersion"] = str(self._rv)
            self._emit(WatchEvent(self._rv, key, "DELETED", gone))
            return gone

    def _commit(self, key: str, ident: tuple[str, str], obj: Obj, event: str) -> Obj:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        objects = self._objects[key]
        if ident not in objects:
            bisect.insort(self._sorted[key], ident)
        objects[ident] = obj
        self._encoded[key].pop(ident, None)
        self._emit(WatchEvent(self._rv, key, event, obj))
        return obj

    # ---- watches -----------------------------------------------------------------------
    def _emit(self, event: WatchEvent) -> None:
        self._history.append(event)
        watchers = self._watchers.get(event.resource_key)
        if not watchers:
            return
        ns = event.obj["metadata"].get("namespace")
        for w in list(watchers):
            if w.namespace is None or w.namespace == ns:
                w.callback(event.type, event.obj)

    def watch(
        self,
        key: str,
        callback: WatchCallback,
        namespace: str | None = None,
        since: int | None = None,
    ) -> Callable[[], None]:
        """Subscribe to changes; returns the function that unsubscribes.

        since=None: no replay (callers that want the current state list first, or replay with
        `since=0`, which sends ADDED for every existing object). since=N: replays every event
        after N from the history, then live events; N older than the history raises 410 Expired.
        """
        watcher = _Watcher(key, namespace, callback)
        with self.lock:
            if since == 0:
                for obj in self.list(key, namespace)[0]:
                    callback("ADDED", obj)
            elif since is not None and since < self._rv:
                oldest = self._history[0].rv if self._history else self._rv + 1
                if since < oldest - 1:
                    raise ApiError(
                        410, "Expired",
                        f"too old resource version: {since} ({oldest - 1})",
                    )
                for ev in self._events_after(since):
                    if ev.resource_key == key and (
                        namespace is None or ev.obj["metadata"].get("namespace") == namespace
                    ):
                        callback(ev.type, ev.obj)
            self._watchers.setdefault(key, []).append(watcher)

        def stop() -> None:
            with self.lock:
                watchers = self._watchers.get(key, [])
                if watcher in watchers:
                    watchers.remove(watcher)

        return stop

    def _events_after(self, rv: int) -> Iterable[WatchEvent]:
        """The history after `rv`, found by position: every resourceVersion is one event, so
        the history's versions are consecutive and the start is an offset, not a search."""
        history = self._history
        if not history:
            return []
        skip = max(rv - history[0].rv + 1, 0)
        if skip < len(history) and history[skip].rv > rv and (skip == 0 or history[skip - 1].rv <= rv):
            return list(itertools.islice(history, skip, None))
        return [ev for ev in history if ev.rv > rv]  # not consecutive after all: scan

    def compact(self) -> None:
        """Forget the event history (as etcd compaction does): older watches then get 410."""
        with self.lock:
            self._history.clear()
