"""The garbage collector: dependents follow their owners by ownerReferences.

Background deletion (the default): once every owner of an object is gone, the object is deleted
(pods gracefully, so the kubelet still runs their shutdown). Foreground deletion: the API server
leaves the owner with a deletionTimestamp and the `foregroundDeletion` finalizer; the collector
deletes the dependents first and removes the owner when none is left. The `orphan` finalizer
strips the ownerReferences instead. Ownership is decided by uid, never by name or labels.
"""

from __future__ import annotations

import time
from typing import Any

from wizard.lab.api.objects import is_deleting, meta, rfc3339, uid_of
from wizard.lab.api.store import RESOURCES_BY_KIND, ApiError, Obj
from wizard.lab.controllers.informers import ClusterCache, Key
from wizard.lab.controllers.workqueue import WorkQueue
from wizard.lab.node.pods import delete_pod

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
Item = tuple[str, str, Key]  # ("dependent" | "owner", resource key, (namespace, name))


class GarbageCollector:
    def __init__(self, cache: ClusterCache) -> None:
        self.cache = cache
        self.queue: WorkQueue[Item] = WorkQueue("garbage-collector", self.reconcile)
        for key, informer in cache.informers.items():
            informer.add_handler(self._handler(key))

    def _handler(self, key: str) -> Any:
        def on_change(old: Obj | None, new: Obj | None) -> None:
            if new is None and old is not None:
                self._on_deleted(old)
                return
            if new is None:
                return
            ident = (str(meta(new).get("namespace", "")), str(meta(new).get("name", "")))
            refs = meta(new).get("ownerReferences")
            if refs and (old is None or meta(old).get("ownerReferences") != refs):
                self.queue.add(("dependent", key, ident))
            finalizers = meta(new).get("finalizers") or []
            if is_deleting(new) and (FOREGROUND in finalizers or ORPHAN in finalizers):
                self.queue.add(("owner", key, ident))

        return on_change

    def _on_deleted(self, obj: Obj) -> None:
        for dep_key, dep_ident in self.cache.dependents.get(uid_of(obj), set()):
            self.queue.add(("dependent", dep_key, dep_ident))
        for ref in meta(obj).get("ownerReferences") or []:  # an owner may wait for this one
            found = self.cache.owner_of_uid.get(str(ref.get("uid", "")))
            if found is not None:
                self.queue.add(("owner", found[0], found[1]))

    def resync(self) -> None:
        """Look at every object with owners: catches dependents whose owner vanished unseen."""
        for uid, dependents in list(self.cache.dependents.items()):
            if uid not in self.cache.owner_of_uid:
                for dep_key, dep_ident in dependents:
                    self.queue.add(("dependent", dep_key, dep_ident))

    # ---- reconcile -----------------------------------------------------------------------------
    def reconcile(self, item: Item) -> float | None:
        role, key, ident = item
        informer = self.cache.informers.get(key)
        obj = informer.get(*ident) if informer is not None else None
        if obj is None:
            return None
        if role == "owner":
            self._finalize_owner(key, obj)
        else:
            self._check_dependent(key, obj)
        return None

    def _owner_exists(self, ref: Obj) -> bool:
        if ref.get("kind") not in RESOURCES_BY_KIND:
            return True  # a kind the lab does not serve: never collect on its account
        return str(ref.get("uid", "")) in self.cache.owner_of_uid

    def _check_dependent(self, key: str, obj: Obj) -> None:
        refs = meta(obj).get("ownerReferences") or []
        gone = [r for r in refs if not self._owner_exists(r)]
        if not gone:
            return
        namespace, name = str(meta(obj).get("namespace", "")), str(meta(obj).get("name", ""))
        if len(gone) < len(refs):
            gone_uids = {r.get("uid") for r in gone}

            def drop(o: Obj) -> None:
                o["metadata"]["ownerReferences"] = [
                    r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") not in gone_uids
                ]

            self._write(lambda: self.cache.mutate(key, namespace, name, drop))
            return
        self.delete_object(key, obj, foreground=False)

    def delete_object(self, key: str, obj: Obj, foreground: bool) -> None:
        """Delete as the API server would for the collector's DELETE request."""
        if key == "pods":
            delete_pod(self.cache, obj)
            return
        namespace, name = str(meta(obj).get("namespace", "")), str(meta(obj).get("name", ""))
        if foreground and self.cache.dependents.get(uid_of(obj)):
            if is_deleting(obj):
                return

            def mark(o: Obj) -> None:
                o["metadata"]["deletionTimestamp"] = rfc3339(time.time())
                o["metadata"]["deletionGracePeriodSeconds"] = 0
                finalizers = o["metadata"].setdefault("finalizers", [])
                if FOREGROUND not in finalizers:
                    finalizers.append(FOREGROUND)

            self._write(lambda: self.cache.mutate(key, namespace, name, mark))
            return
        if is_deleting(obj) and meta(obj).get("finalizers"):
            return  # someone else's finalizer holds it
        self.cache.delete(key, namespace, name)

    def _finalize_owner(self, key: str, owner: Obj) -> None:
        uid = uid_of(owner)
        finalizers = list(meta(owner).get("finalizers") or [])
        namespace, name = str(meta(owner).get("namespace", "")), str(meta(owner).get("name", ""))
        dependents = [
            (dep_key, dep)
            for dep_key, dep_ident in sorted(self.cache.dependents.get(uid, set()))
            if (dep := self.cache.informers[dep_key].get(*dep_ident)) is not None
        ]
        if ORPHAN in finalizers:
            for dep_key, dep in dependents:

                def release(o: Obj) -> None:
                    o["metadata"]["ownerReferences"] = [
                        r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") != uid
                    ]

                self._write(lambda k=dep_key, d=dep: self.cache.mutate(
                    k, str(meta(d).get("namespace", "")), str(meta(d).get("name", "")), release))
            finalizers.remove(ORPHAN)
        elif FOREGROUND in finalizers:
            for dep_key, dep in dependents:
                if not is_deleting(dep):
                    self.delete_object(dep_key, dep, foreground=True)
            if dependents:
                return  # called again as each dependent disappears
            finalizers.remove(FOREGROUND)
        else:
            return

        def set_finalizers(o: Obj) -> None:
            o["metadata"]["finalizers"] = finalizers
            if not finalizers:
                del o["metadata"]["finalizers"]

        self._write(lambda: self.cache.mutate(key, namespace, name, set_finalizers))
        if not finalizers:
            self.cache.delete(key, namespace, name)

    @staticmethod
    def _write(action: Any) -> None:
        try:
            action()
        except ApiError as err:
            if err.code != 404:
                raise
