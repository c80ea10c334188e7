"""Events as the real controllers record them (`kubectl describe` and `kubectl get events` read them).

Repeats of the same event (same object, type, reason and message) are aggregated into one Event
whose `count` and `lastTimestamp` grow, as the client-go event recorder does, so a pod that
fails scheduling on every retry does not flood the Store.
"""

from __future__ import annotations

import time

from wizard.lab.api.objects import meta, name_of, namespace_of, rfc3339, uid_of
from wizard.lab.api.store import ApiError, Obj, Store

_MAX_REMEMBERED = 20000


class EventRecorder:
    def __init__(self, store: Store, component: str) -> None:
        self.store = store
        self.component = component
        self._seen: dict[tuple[str, str, str, str], tuple[str, str]] = {}

    def normal(self, obj: Obj, reason: str, message: str) -> None:
        self.record(obj, "Normal", reason, message)

    def warning(self, obj: Obj, reason: str, message: str) -> None:
        self.record(obj, "Warning", reason, message)

    def record(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        now = time.time()
        stamp = rfc3339(now)
        namespace = namespace_of(obj) or "default"  # cluster-scoped objects' events live in default
        key = (uid_of(obj), event_type, reason, message)
        known = self._seen.get(key)
        if known is not None:
            try:
                self.store.mutate("events", known[0], known[1], lambda ev: _bump(ev, stamp))
                return
            except ApiError:
                pass  # expired or deleted meanwhile: record it afresh
        event: Obj = {
            "metadata": {
                "name": f"{name_of(obj)}.{int(now * 1e9):x}",
                "namespace": namespace,
            },
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", ""),
                "kind": obj.get("kind", ""),
                "name": name_of(obj),
                "namespace": namespace_of(obj) or None,
                "uid": uid_of(obj),
                "resourceVersion": meta(obj).get("resourceVersion", ""),
            },
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": {"component": self.component},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "eventTime": None,
            "reportingComponent": self.component,
            "reportingInstance": "",
        }
        if event["involvedObject"]["namespace"] is None:
            del event["involvedObject"]["namespace"]
        for attempt in range(3):
            try:
                created = self.store.create("events", event)
                break
            except ApiError as err:
                if err.code != 409 or attempt == 2:
                    return  # events are best effort, as in Kubernetes
                event["metadata"]["name"] = f"{name_of(obj)}.{int(time.time() * 1e9) + attempt + 1:x}"
        if len(self._seen) >= _MAX_REMEMBERED:
            self._seen.clear()
        self._seen[key] = (namespace, name_of(created))


def _bump(event: Obj, stamp: str) -> None:
    event["count"] = int(event.get("count", 1)) + 1
    event["lastTimestamp"] = stamp
