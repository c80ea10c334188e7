"""Loop-side caches of the Store with indexes (what client-go calls informers), for the controllers.

Why not read the Store directly: the Store only knows kinds, namespaces and names, and the
controllers must stay responsive at 10,000 pods, so they keep their own indexes (pods by owner, by
node, by label) over the Store's shared objects, fed by Store watches. Watch callbacks only
schedule delivery on the lab loop; all cache state lives on that loop, so no locks are needed.

Writes go through the cache ("write-through"): a controller that creates a pod sees it in its
next reconcile at once, instead of creating it twice while the watch event is still in flight
(the real controllers need "expectations" for this). Events are applied in resourceVersion order
per object, so a late watch event never overwrites a newer write, and tombstones keep a deleted
object from coming back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Set

from wizard.lab.api.objects import meta, uid_of
from wizard.lab.api.store import ApiError, Obj, Store

Key = tuple[str, str]  # (namespace, name)
Handler = Callable[[Obj | None, Obj | None], None]
"""Called with (old, new) on every change: (None, obj) added, (obj, None) deleted. Must only
enqueue work (it may run inside another controller's reconcile)."""
IndexFn = Callable[[Obj], Iterable[Hashable]]

log = logging.getLogger(__name__)
_TOMBSTONE_PRUNE_AT = 4096


def ident_of(obj: Obj) -> Key:
    m = meta(obj)
    return str(m.get("namespace", "")), str(m.get("name", ""))


def _rv(obj: Obj) -> int:
    try:
        return int(meta(obj).get("resourceVersion", 0))
    except (TypeError, ValueError):
        return 0


class Informer:
    """The cached objects of one resource kind, with named secondary indexes."""

    def __init__(self, resource_key: str) -> None:
        self.resource_key = resource_key
        self._objects: dict[Key, Obj] = {}
        self._index_fns: dict[str, IndexFn] = {}
        self._indexes: dict[str, dict[Hashable, set[Key]]] = {}
        # `by()` results' key order per (index, value), dropped when the bucket's members change:
        # the controllers ask for the same 1,000-pod buckets on every reconcile
        self._sorted_buckets: dict[tuple[str, Hashable], list[Key]] = {}
        self._handlers: list[Handler] = []

    def add_index(self, name: str, fn: IndexFn) -> None:
        if name in self._index_fns:
            return
        self._index_fns[name] = fn
        index: dict[Hashable, set[Key]] = {}
        for ident, obj in self._objects.items():
            for value in fn(obj):
                index.setdefault(value, set()).add(ident)
        self._indexes[name] = index

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def get(self, namespace: str, name: str) -> Obj | None:
        return self._objects.get((namespace, name))

    def all(self) -> list[Obj]:
        return list(self._objects.values())

    def __len__(self) -> int:
        return len(self._objects)

    def keys_by(self, index: str, value: Hashable) -> set[Key]:
        return set(self._indexes[index].get(value, ()))

    def by(self, index: str, value: Hashable) -> list[Obj]:
        keys = self._sorted_buckets.get((index, value))
        if keys is None:
            bucket = self._indexes[index].get(value)
            if not bucket:
                return []  # not cached: asking for gone owners must not grow the cache
            keys = sorted(bucket)
            self._sorted_buckets[(index, value)] = keys
        objects = self._objects
        return [objects[k] for k in keys if k in objects]

    def count_by(self, index: str, value: Hashable) -> int:
        return len(self._indexes[index].get(value, ()))

    def buckets(self, index: str) -> Mapping[Hashable, Set[Key]]:
        """The raw index, read-only: for hot loops that count many buckets (the scheduler)."""
        return self._indexes[index]

    # ---- internal ---------------------------------------------------------------------------
    def _put(self, obj: Obj | None, ident: Key) -> Obj | None:
        old = self._objects.pop(ident, None)
        if obj is not None:
            self._objects[ident] = obj
        for name, fn in self._index_fns.items():
            old_values = set(fn(old)) if old is not None else set()
            new_values = set(fn(obj)) if obj is not None else set()
            if old_values == new_values:
                continue  # most updates are status changes: the buckets stay as they are
            index = self._indexes[name]
            for value in old_values - new_values:
                bucket = index.get(value)
                if bucket is not None:
                    bucket.discard(ident)
                    if not bucket:
                        del index[value]
                self._sorted_buckets.pop((name, value), None)
            for value in new_values - old_values:
                index.setdefault(value, set()).add(ident)
                self._sorted_buckets.pop((name, value), None)
        return old

    def _notify(self, old: Obj | None, new: Obj | None) -> None:
        for handler in list(self._handlers):
            try:
                handler(old, new)
            except Exception:  # a broken handler must not stop the cache
                log.exception("lab informer handler for %s failed", self.resource_key)


class ClusterCache:
    """Informers for several resource kinds, fed in Store commit order, plus write-through writes."""

    def __init__(self, store: Store, resource_keys: Iterable[str]) -> None:
        self.store = store
        self.informers: dict[str, Informer] = {k: Informer(k) for k in resource_keys}
        self.owner_of_uid: dict[str, tuple[str, Key]] = {}
        self.dependents: dict[str, set[tuple[str, Key]]] = {}
        self._tombstones: dict[tuple[str, Key], int] = {}
        self._stream_rv = 0
        self._synced = asyncio.Event()
        self._unsubscribe: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def __getitem__(self, resource_key: str) -> Informer:
        return self.informers[resource_key]

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def start(self) -> None:
        """Subscribe to every kind (replaying existing objects) and wait until the replay is in."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        loop_thread = threading.get_ident()

        def subscriber(key: str) -> Callable[[str, Obj], None]:
            def on_event(event_type: str, obj: Obj) -> None:
                with contextlib.suppress(RuntimeError):  # a closed loop: the lab is shutting down
                    if threading.get_ident() == loop_thread:
                        # most writes come from the lab loop itself: queue without waking it up
                        # (call_soon_threadsafe writes to the loop's self-pipe on every event)
                        loop.call_soon(self._deliver, key, event_type, obj)
                    else:
                        loop.call_soon_threadsafe(self._deliver, key, event_type, obj)

            return on_event

        with self.store.lock:  # one atomic replay of all kinds, then live events in commit order
            for key in self.informers:
                self._unsubscribe.append(self.store.watch(key, subscriber(key), since=0))
            loop.call_soon_threadsafe(self._synced.set)
        await self._synced.wait()

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    # ---- write-through ------------------------------------------------------------------------
    def create(self, key: str, obj: Obj) -> Obj:
        created = self.store.create(key, obj)
        self._apply(key, "ADDED", created)
        return created

    def update(self, key: str, obj: Obj, expect_rv: str | None = None) -> Obj:
        updated = self.store.update(key, obj, expect_rv)
        self._apply(key, "MODIFIED", updated)
        return updated

    def mutate(self, key: str, namespace: str, name: str, change: Callable[[Obj], None]) -> Obj:
        updated = self.store.mutate(key, namespace, name, change)
        self._apply(key, "MODIFIED", updated)
        return updated

    def delete(self, key: str, namespace: str, name: str) -> Obj | None:
        """Delete at once; None when it was already gone (a delete is idempotent for a controller)."""
        try:
            gone = self.store.delete(key, namespace, name)
        except ApiError as err:
            if err.code == 404:
                self._forget(key, (namespace, name))
                return None
            raise
        self._apply(key, "DELETED", gone)
        return gone

    # ---- delivery -------------------------------------------------------------------------------
    def _deliver(self, key: str, event_type: str, obj: Obj) -> None:
        if self._synced.is_set():
            self._stream_rv = max(self._stream_rv, _rv(obj))
        self._apply(key, event_type, obj)

    def _forget(self, key: str, ident: Key) -> None:
        informer = self.informers.get(key)
        if informer is not None and informer.get(*ident) is not None:
            old = informer._put(None, ident)
            if old is not None:
                self._unindex_owner(key, ident, old)
                informer._notify(old, None)

    def _apply(self, key: str, event_type: str, obj: Obj) -> None:
        informer = self.informers.get(key)
        if informer is None:
            return
        ident = ident_of(obj)
        rv = _rv(obj)
        cached = informer.get(*ident)
        if cached is not None and _rv(cached) >= rv:
            return
        if self._tombstones.get((key, ident), -1) >= rv:
            return
        if event_type == "DELETED":
            self._tombstones[(key, ident)] = rv
            if len(self._tombstones) > _TOMBSTONE_PRUNE_AT:
                self._prune_tombstones()
            old = informer._put(None, ident)
            if old is not None:
                self._unindex_owner(key, ident, old)
                informer._notify(old, None)
            return
        self._tombstones.pop((key, ident), None)
        old = informer._put(obj, ident)
        if old is not None:
            self._unindex_owner(key, ident, old)
        self._index_owner(key, ident, obj)
        informer._notify(old, obj)

    def _prune_tombstones(self) -> None:
        self._tombstones = {k: rv for k, rv in self._tombstones.items() if rv > self._stream_rv}

    def _index_owner(self, key: str, ident: Key, obj: Obj) -> None:
        uid = uid_of(obj)
        if uid:
            self.owner_of_uid[uid] = (key, ident)
        for ref in meta(obj).get("ownerReferences") or []:
            self.dependents.setdefault(str(ref.get("uid", "")), set()).add((key, ident))

    def _unindex_owner(self, key: str, ident: Key, obj: Obj) -> None:
        uid = uid_of(obj)
        if uid and self.owner_of_uid.get(uid) == (key, ident):
            del self.owner_of_uid[uid]
        for ref in meta(obj).get("ownerReferences") or []:
            owner_uid = str(ref.get("uid", ""))
            bucket = self.dependents.get(owner_uid)
            if bucket is not None:
                bucket.discard((key, ident))
                if not bucket:
                    del self.dependents[owner_uid]


# ---- the indexes the controllers share ----------------------------------------------------------
BY_CONTROLLER = "controller-uid"
BY_LABEL = "label"
BY_NODE = "node"
BY_NAMESPACE = "namespace"


def index_by_controller(obj: Obj) -> list[Hashable]:
    """The uid of the owner with controller=true, so "pods of this ReplicaSet" is one lookup."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return [str(ref.get("uid", ""))]
    return []


def index_by_label(obj: Obj) -> list[Hashable]:
    m = meta(obj)
    namespace = str(m.get("namespace", ""))
    return [(namespace, k, v) for k, v in (m.get("labels") or {}).items()]


def index_by_node(obj: Obj) -> list[Hashable]:
    node = (obj.get("spec") or {}).get("nodeName")
    return [node] if node else []


def index_by_namespace(obj: Obj) -> list[Hashable]:
    return [str(meta(obj).get("namespace", ""))]


def add_standard_indexes(informer: Informer) -> None:
    informer.add_index(BY_CONTROLLER, index_by_controller)
    informer.add_index(BY_LABEL, index_by_label)
    informer.add_index(BY_NAMESPACE, index_by_namespace)
    if informer.resource_key == "pods":
        informer.add_index(BY_NODE, index_by_node)


def select_candidates(informer: Informer, namespace: str, pairs: list[tuple[str, str]]) -> list[Obj]:
    """Objects in `namespace` that may match a selector requiring `pairs`: the smallest label
    bucket (callers still check the whole selector), or the whole namespace without pairs."""
    if not pairs:
        return informer.by(BY_NAMESPACE, namespace)
    best = min(pairs, key=lambda kv: informer.count_by(BY_LABEL, (namespace, kv[0], kv[1])))
    return informer.by(BY_LABEL, (namespace, best[0], best[1]))
