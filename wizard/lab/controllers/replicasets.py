"""The ReplicaSet controller: keeps the number of pods a ReplicaSet owns at spec.replicas.

Ownership follows ownerReferences, never labels alone: kube-dns and CoreDNS both select
`k8s-app: kube-dns`, and a ReplicaSet that counted the other one's pods would scale it to death.
Orphans are adopted only when the selector matches and no controller owns them. When scaling
down, the pods to delete are chosen as the real controller ranks them: unscheduled, then
pending, then not ready, then ready for the shortest time, most restarts, newest first.
"""

from __future__ import annotations

import copy
import time

from wizard.lab.api.objects import (
    controller_ref,
    is_active,
    is_available,
    is_deleting,
    is_ready,
    labels_of,
    meta,
    name_of,
    node_name_of,
    owner_reference,
    parse_rfc3339,
    pod_phase,
    ready_since,
    required_pairs,
    restart_count,
    rfc3339,
    selector_matches,
    set_condition,
    uid_of,
)
from wizard.lab.api.store import ApiError, Obj
from wizard.lab.controllers.events import EventRecorder
from wizard.lab.controllers.informers import (
    BY_CONTROLLER,
    BY_NAMESPACE,
    ClusterCache,
    Informer,
    Key,
    add_standard_indexes,
    select_candidates,
)
from wizard.lab.controllers.workqueue import WorkQueue
from wizard.lab.node.pods import create_pod, delete_pod, pod_from_template

BURST = 500  # the real controller's cap on creations/deletions per sync
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_rank(pod: Obj) -> tuple[int, int, int, float, int, float]:
    """Sort key: pods that sort first are deleted first (the real controller's ActivePods order)."""
    ready = is_ready(pod)
    since = ready_since(pod) or 0.0
    created = parse_rfc3339(meta(pod).get("creationTimestamp")) or 0.0
    return (
        1 if node_name_of(pod) else 0,
        _PHASE_RANK.get(pod_phase(pod), 1),
        1 if ready else 0,
        -since if ready else 0.0,
        -restart_count(pod),
        -created,
    )


class ReplicaSetController:
    def __init__(self, cache: ClusterCache, events: EventRecorder, speed: float) -> None:
        self.cache = cache
        self.events = events
        self.speed = speed
        self.rs: Informer = cache["replicasets.apps"]
        self.pods: Informer = cache["pods"]
        add_standard_indexes(self.rs)
        add_standard_indexes(self.pods)
        self.queue: WorkQueue[Key] = WorkQueue("replicaset-controller", self.reconcile)
        self.rs.add_handler(self._on_rs)
        self.pods.add_handler(self._on_pod)

    # ---- event routing -------------------------------------------------------------------------
    def _on_rs(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        if obj is not None and new is not None:
            self.queue.add((str(meta(obj).get("namespace", "")), name_of(obj)))

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        for pod in (old, new):
            if pod is None:
                continue
            ref = controller_ref(pod)
            if ref is not None:
                if ref.get("kind") == "ReplicaSet":
                    self.queue.add((str(meta(pod).get("namespace", "")), str(ref.get("name", ""))))
            elif new is not None and not is_deleting(new):
                self._enqueue_matching(new)

    def _enqueue_matching(self, orphan: Obj) -> None:
        namespace = str(meta(orphan).get("namespace", ""))
        for rs in self.rs.by(BY_NAMESPACE, namespace):
            if selector_matches((rs.get("spec") or {}).get("selector"), labels_of(orphan)):
                self.queue.add((namespace, name_of(rs)))

    # ---- reconcile -----------------------------------------------------------------------------
    def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        rs = self.rs.get(namespace, name)
        if rs is None or is_deleting(rs):
            return None
        spec = rs.get("spec") or {}
        selector = spec.get("selector")
        owned = self._claim_pods(rs, selector)
        active = [p for p in owned if is_active(p)]
        wanted = int(spec.get("replicas", 1))
        failure: str | None = None
        if len(active) < wanted:
            failure = self._create(rs, min(wanted - len(active), BURST))
        elif len(active) > wanted:
            self._delete(rs, sorted(active, key=deletion_rank)[: min(len(active) - wanted, BURST)])
        owned = self.pods.by(BY_CONTROLLER, uid_of(rs))
        return self._update_status(rs, [p for p in owned if is_active(p)], failure)

    def _claim_pods(self, rs: Obj, selector: Obj | None) -> list[Obj]:
        """Pods this ReplicaSet owns after adopting matching orphans and releasing non-matching."""
        namespace = str(meta(rs).get("namespace", ""))
        uid = uid_of(rs)
        owned = []
        for pod in self.pods.by(BY_CONTROLLER, uid):
            if selector_matches(selector, labels_of(pod)) or is_deleting(pod):
                owned.append(pod)
            else:
                self._set_owner(pod, rs, adopt=False)
        for pod in select_candidates(self.pods, namespace, required_pairs(selector)):
            if controller_ref(pod) is None and not is_deleting(pod) and selector_matches(
                selector, labels_of(pod)
            ):
                adopted = self._set_owner(pod, rs, adopt=True)
                if adopted is not None:
                    owned.append(adopted)
        return owned

    def _set_owner(self, pod: Obj, rs: Obj, adopt: bool) -> Obj | None:
        uid = uid_of(rs)

        def change(obj: Obj) -> None:
            refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            if adopt:
                if any(r.get("controller") for r in refs):
                    return  # someone else adopted it first
                refs.append(owner_reference(rs))
            obj["metadata"]["ownerReferences"] = refs

        try:
            updated = self.cache.mutate("pods", str(meta(pod).get("namespace", "")), name_of(pod), change)
        except ApiError as err:
            if err.code == 404:
                return None
            raise
        ref = controller_ref(updated)
        return updated if ref is not None and ref.get("uid") == uid else None

    def _create(self, rs: Obj, count: int) -> str | None:
        spec = rs.get("spec") or {}
        namespace = str(meta(rs).get("namespace", ""))
        for _ in range(count):
            pod = pod_from_template(spec.get("template") or {}, namespace, f"{name_of(rs)}-",
                                    owner_reference(rs))
            try:
                created = create_pod(self.cache, pod)
            except ApiError as err:
                self.events.warning(rs, "FailedCreate", f"Error creating: {err.message}")
                return err.message
            self.events.normal(rs, "SuccessfulCreate", f"Created pod: {name_of(created)}")
        return None

    def _delete(self, rs: Obj, victims: list[Obj]) -> None:
        for pod in victims:
            delete_pod(self.cache, pod)
            self.events.normal(rs, "SuccessfulDelete", f"Deleted pod: {name_of(pod)}")

    def _update_status(self, rs: Obj, active: list[Obj], failure: str | None) -> float | None:
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds", 0))
        now = time.time()
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        status: Obj = copy.deepcopy(rs.get("status") or {})
        status["replicas"] = len(active)
        status["fullyLabeledReplicas"] = sum(
            1 for p in active if all(labels_of(p).get(k) == v for k, v in template_labels.items())
        )
        status["readyReplicas"] = sum(1 for p in active if is_ready(p))
        status["availableReplicas"] = sum(1 for p in active if is_available(p, min_ready / self.speed, now))
        status["observedGeneration"] = int(meta(rs).get("generation", 1))
        conditions: list[Obj] = status.get("conditions") or []
        if failure is not None:
            set_condition(conditions, {"type": "ReplicaFailure", "status": "True",
                                       "reason": "FailedCreate", "message": failure}, rfc3339(now))
        else:
            conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
        if conditions:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        if status != (rs.get("status") or {}):
            namespace = str(meta(rs).get("namespace", ""))
            self.cache.mutate("replicasets.apps", namespace, name_of(rs),
                              lambda obj: obj.__setitem__("status", status))
        if min_ready > 0 and status["readyReplicas"] > status["availableReplicas"]:
            return min_ready / self.speed / 4 + 0.01  # look again when a ready pod may be available
        return None
