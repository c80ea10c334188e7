"""The Deployment controller: Deployment → ReplicaSets, rolling updates, and the status kubectl reads.

It follows the real controller's arithmetic closely because the wizard's switch loop depends on
it: with maxSurge 1 / maxUnavailable 0 a rollout adds one new pod, waits until it is available,
then removes one old pod. ReplicaSets are named `<deployment>-<pod-template-hash>` and carry the
hash label, the revision and desired/max-replicas annotations; the status conditions use the
reasons `kubectl rollout status` looks for (NewReplicaSetAvailable, ReplicaSetUpdated,
ProgressDeadlineExceeded...).
"""

from __future__ import annotations

import copy
import time

from wizard.lab.api.objects import (
    controller_ref,
    int_or_percent,
    is_deleting,
    labels_of,
    meta,
    name_of,
    owner_reference,
    parse_rfc3339,
    rfc3339,
    selector_matches,
    template_hash,
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
)
from wizard.lab.controllers.workqueue import WorkQueue

REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"


def replicas_of(obj: Obj) -> int:
    return int((obj.get("spec") or {}).get("replicas", 1))


def status_int(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field, 0) or 0)


def revision_of(rs: Obj) -> int:
    try:
        return int((meta(rs).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def surge_and_unavailable(deployment: Obj) -> tuple[int, int]:
    """maxSurge rounds up, maxUnavailable down; both 0 would deadlock, so unavailable becomes 1."""
    spec = deployment.get("spec") or {}
    replicas = replicas_of(deployment)
    strategy = spec.get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = int_or_percent(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def template_without_hash(template: Obj) -> Obj:
    template = copy.deepcopy(template)
    labels = (template.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
        if not labels:
            del template["metadata"]["labels"]
    if template.get("metadata") == {}:
        del template["metadata"]
    return template


def _normalised(template: Obj) -> Obj:
    return template_without_hash(template)


def is_complete(deployment: Obj, status: Obj) -> bool:
    replicas = replicas_of(deployment)
    return bool(
        status.get("updatedReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
        and status.get("availableReplicas", 0) == replicas
        and status.get("observedGeneration", 0) >= int(meta(deployment).get("generation", 1))
    )


def _set_condition(conditions: list[Obj], kind: str, status: str, reason: str, message: str,
                   now: str, touch: bool = False) -> None:
    """Deployment conditions carry lastUpdateTime too; `touch` refreshes it (progress was made)."""
    for i, cond in enumerate(conditions):
        if cond.get("type") != kind:
            continue
        same = (cond.get("status"), cond.get("reason"), cond.get("message")) == (status, reason, message)
        if same and not touch:
            return
        transition = cond.get("lastTransitionTime", now) if cond.get("status") == status else now
        conditions[i] = {"type": kind, "status": status, "lastUpdateTime": now,
                         "lastTransitionTime": transition, "reason": reason, "message": message}
        return
    conditions.append({"type": kind, "status": status, "lastUpdateTime": now,
                       "lastTransitionTime": now, "reason": reason, "message": message})
    conditions.sort(key=lambda c: {"Available": 0, "Progressing": 1}.get(str(c.get("type")), 2))


class DeploymentController:
    def __init__(self, cache: ClusterCache, events: EventRecorder, speed: float) -> None:
        self.cache = cache
        self.events = events
        self.speed = speed
        self.deployments: Informer = cache["deployments.apps"]
        self.rs: Informer = cache["replicasets.apps"]
        self.pods: Informer = cache["pods"]
        for informer in (self.deployments, self.rs, self.pods):
            add_standard_indexes(informer)
        self.queue: WorkQueue[Key] = WorkQueue("deployment-controller", self.reconcile)
        self.deployments.add_handler(self._on_deployment)
        self.rs.add_handler(self._on_rs)
        self.pods.add_handler(self._on_pod)

    # ---- event routing -------------------------------------------------------------------------
    def _on_deployment(self, old: Obj | None, new: Obj | None) -> None:
        if new is not None:
            self.queue.add((str(meta(new).get("namespace", "")), name_of(new)))

    def _on_rs(self, old: Obj | None, new: Obj | None) -> None:
        for rs in (old, new):
            if rs is None:
                continue
            ref = controller_ref(rs)
            namespace = str(meta(rs).get("namespace", ""))
            if ref is not None:
                if ref.get("kind") == "Deployment":
                    self.queue.add((namespace, str(ref.get("name", ""))))
            elif rs is new:
                for d in self.deployments.by(BY_NAMESPACE, namespace):
                    if selector_matches((d.get("spec") or {}).get("selector"), labels_of(rs)):
                        self.queue.add((namespace, name_of(d)))

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        """Only pod removals matter (a Recreate rollout waits for the old pods to be gone)."""
        if old is None or new is not None:
            return
        ref = controller_ref(old)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rs.get(str(meta(old).get("namespace", "")), str(ref.get("name", "")))
        owner = controller_ref(rs) if rs is not None else None
        if owner is not None and owner.get("kind") == "Deployment":
            self.queue.add((str(meta(old).get("namespace", "")), str(owner.get("name", ""))))

    # ---- reconcile -----------------------------------------------------------------------------
    def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        d = self.deployments.get(namespace, name)
        if d is None or is_deleting(d):
            return None
        spec = d.get("spec") or {}
        all_rs = self._claim_replicasets(d)
        new_rs = self._find_new(d, all_rs)
        old_rs = [rs for rs in all_rs if new_rs is None or name_of(rs) != name_of(new_rs)]
        created = False
        if spec.get("paused"):
            if new_rs is not None and replicas_of(new_rs) != replicas_of(d) and not any(
                replicas_of(rs) for rs in old_rs
            ):
                self._scale(d, new_rs, replicas_of(d))
        elif (spec.get("strategy") or {}).get("type") == "Recreate":
            new_rs, created = self._recreate(d, new_rs, old_rs)
        else:
            new_rs, created = self._rolling(d, new_rs, old_rs)
        if new_rs is not None:
            new_rs = self.rs.get(namespace, name_of(new_rs)) or new_rs
        all_rs = self.rs.by(BY_CONTROLLER, uid_of(d))
        return self._sync_status(d, new_rs, all_rs, created)

    def _claim_replicasets(self, d: Obj) -> list[Obj]:
        namespace = str(meta(d).get("namespace", ""))
        selector = (d.get("spec") or {}).get("selector")
        for rs in self.rs.by(BY_NAMESPACE, namespace):
            if controller_ref(rs) is None and not is_deleting(rs) and selector_matches(
                selector, labels_of(rs)
            ):

                def adopt(obj: Obj) -> None:
                    refs = obj["metadata"].get("ownerReferences") or []
                    if not any(r.get("controller") for r in refs):
                        obj["metadata"]["ownerReferences"] = [*refs, owner_reference(d)]

                self.cache.mutate("replicasets.apps", namespace, name_of(rs), adopt)
        return [rs for rs in self.rs.by(BY_CONTROLLER, uid_of(d)) if not is_deleting(rs)]

    def _find_new(self, d: Obj, all_rs: list[Obj]) -> Obj | None:
        wanted = _normalised((d.get("spec") or {}).get("template") or {})
        matches = [
            rs for rs in all_rs
            if _normalised((rs.get("spec") or {}).get("template") or {}) == wanted
        ]
        matches.sort(key=lambda rs: str(meta(rs).get("creationTimestamp", "")))
        return matches[0] if matches else None

    # ---- strategies ----------------------------------------------------------------------------
    def _rolling(self, d: Obj, new_rs: Obj | None, old_rs: list[Obj]) -> tuple[Obj | None, bool]:
        replicas = replicas_of(d)
        surge, unavailable = surge_and_unavailable(d)
        counts = {name_of(rs): replicas_of(rs) for rs in old_rs}
        current = sum(counts.values()) + (replicas_of(new_rs) if new_rs is not None else 0)
        created = False
        new_count = replicas_of(new_rs) if new_rs is not None else 0
        if new_count > replicas:
            target = replicas
        elif new_count < replicas and current < replicas + surge:
            target = new_count + min(replicas + surge - current, replicas - new_count)
        else:
            target = new_count
        if new_rs is None:
            new_rs = self._create_rs(d, target, old_rs)
            created = new_rs is not None
        elif target != new_count or self._needs_annotations(d, new_rs, old_rs):
            new_rs = self._scale(d, new_rs, target, old_rs)
        if new_rs is None:
            return None, False
        new_count = replicas_of(new_rs)

        active_old = [rs for rs in old_rs if counts[name_of(rs)] > 0]
        if not active_old:
            return new_rs, created
        oldest_first = sorted(active_old, key=lambda rs: str(meta(rs).get("creationTimestamp", "")))
        min_available = replicas - unavailable
        all_count = sum(counts.values()) + new_count
        new_unavailable = new_count - status_int(new_rs, "availableReplicas")
        max_scaled_down = all_count - min_available - new_unavailable
        if max_scaled_down <= 0:
            return new_rs, created
        # first drop old pods that are not available anyway: that costs no availability
        scaled = 0
        for rs in oldest_first:
            if scaled >= max_scaled_down:
                break
            unhealthy = counts[name_of(rs)] - status_int(rs, "availableReplicas")
            if unhealthy <= 0:
                continue
            step = min(max_scaled_down - scaled, unhealthy)
            counts[name_of(rs)] -= step
            scaled += step
            self._scale(d, rs, counts[name_of(rs)])
        # then available old pods, as far as minAvailable allows
        available = sum(status_int(rs, "availableReplicas") for rs in [*old_rs, new_rs])
        budget = available - min_available
        for rs in oldest_first:
            if budget <= 0:
                break
            if counts[name_of(rs)] == 0:
                continue
            step = min(counts[name_of(rs)], budget)
            counts[name_of(rs)] -= step
            budget -= step
            self._scale(d, rs, counts[name_of(rs)])
        return new_rs, created

    def _recreate(self, d: Obj, new_rs: Obj | None, old_rs: list[Obj]) -> tuple[Obj | None, bool]:
        for rs in old_rs:
            if replicas_of(rs) > 0:
                self._scale(d, rs, 0)
        if any(self.pods.count_by(BY_CONTROLLER, uid_of(rs)) for rs in old_rs):
            return new_rs, False  # wait until every old pod is gone
        if new_rs is None:
            created = self._create_rs(d, replicas_of(d), old_rs)
            return created, created is not None
        if replicas_of(new_rs) != replicas_of(d):
            new_rs = self._scale(d, new_rs, replicas_of(d), old_rs)
        return new_rs, False

    # ---- ReplicaSet writes ---------------------------------------------------------------------
    def _next_revision(self, old_rs: list[Obj]) -> int:
        return max((revision_of(rs) for rs in old_rs), default=0) + 1

    def _needs_annotations(self, d: Obj, rs: Obj, old_rs: list[Obj]) -> bool:
        notes = meta(rs).get("annotations") or {}
        stale_revision = revision_of(rs) <= max((revision_of(o) for o in old_rs), default=0)
        return stale_revision or notes.get(DESIRED_REPLICAS) != str(replicas_of(d))

    def _annotations(self, d: Obj, revision: int | None) -> dict[str, str]:
        surge, _ = surge_and_unavailable(d)
        notes = {DESIRED_REPLICAS: str(replicas_of(d)), MAX_REPLICAS: str(replicas_of(d) + surge)}
        if revision is not None:
            notes[REVISION] = str(revision)
        return notes

    def _create_rs(self, d: Obj, replicas: int, old_rs: list[Obj]) -> Obj | None:
        namespace = str(meta(d).get("namespace", ""))
        spec = d.get("spec") or {}
        collisions = status_int(d, "collisionCount")
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = template_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        revision = self._next_revision(old_rs)
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name_of(d)}-{pod_hash}",
                "namespace": namespace,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": self._annotations(d, revision),
                "ownerReferences": [owner_reference(d)],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": int(spec.get("minReadySeconds", 0)),
                "selector": selector,
                "template": template,
            },
            "status": {"replicas": 0},
        }
        try:
            created = self.cache.create("replicasets.apps", rs)
        except ApiError as err:
            if err.code != 409:
                raise
            existing = self.rs.get(namespace, str(rs["metadata"]["name"]))
            ref = controller_ref(existing) if existing is not None else None
            if existing is not None and ref is not None and ref.get("uid") == uid_of(d) and (
                _normalised((existing.get("spec") or {}).get("template") or {})
                == _normalised(spec.get("template") or {})
            ):
                return existing
            # a hash collision: count it, as the real controller does, and retry with a new name
            self.cache.mutate("deployments.apps", namespace, name_of(d), lambda obj: obj.setdefault(
                "status", {}).__setitem__("collisionCount", collisions + 1))
            raise
        self._set_revision(d, revision)
        if replicas > 0:
            self.events.normal(d, "ScalingReplicaSet",
                               f"Scaled up replica set {name_of(created)} to {replicas}")
        return created

    def _scale(self, d: Obj, rs: Obj, replicas: int, old_rs: list[Obj] | None = None) -> Obj:
        """Scale a ReplicaSet (and refresh its annotations; for the new one also its revision)."""
        before = replicas_of(rs)
        revision: int | None = None
        if old_rs is not None:
            revision = revision_of(rs)
            if revision <= max((revision_of(o) for o in old_rs), default=0):
                revision = self._next_revision(old_rs)

        def change(obj: Obj) -> None:
            obj["spec"]["replicas"] = replicas
            notes = obj["metadata"].setdefault("annotations", {})
            notes.update(self._annotations(d, revision))

        updated = self.cache.mutate("replicasets.apps", str(meta(rs).get("namespace", "")),
                                    name_of(rs), change)
        if revision is not None:
            self._set_revision(d, revision)
        if replicas != before:
            verb = "up" if replicas > before else "down"
            self.events.normal(d, "ScalingReplicaSet",
                               f"Scaled {verb} replica set {name_of(rs)} to {replicas}")
        return updated

    def _set_revision(self, d: Obj, revision: int) -> None:
        if (meta(d).get("annotations") or {}).get(REVISION) == str(revision):
            return

        def change(obj: Obj) -> None:
            obj["metadata"].setdefault("annotations", {})[REVISION] = str(revision)

        self.cache.mutate("deployments.apps", str(meta(d).get("namespace", "")), name_of(d), change)

    def _cleanup(self, d: Obj, all_rs: list[Obj], new_rs: Obj | None) -> None:
        """Keep at most revisionHistoryLimit idle old ReplicaSets (oldest go first)."""
        limit = int((d.get("spec") or {}).get("revisionHistoryLimit", 10))
        idle = [
            rs for rs in all_rs
            if (new_rs is None or name_of(rs) != name_of(new_rs))
            and replicas_of(rs) == 0 and status_int(rs, "replicas") == 0
            and status_int(rs, "observedGeneration") >= int(meta(rs).get("generation", 1))
        ]
        idle.sort(key=lambda rs: str(meta(rs).get("creationTimestamp", "")))
        for rs in idle[: max(len(idle) - limit, 0)]:
            self.cache.delete("replicasets.apps", str(meta(rs).get("namespace", "")), name_of(rs))

    # ---- status --------------------------------------------------------------------------------
    def _sync_status(self, d: Obj, new_rs: Obj | None, all_rs: list[Obj], created: bool) -> float | None:
        d = self.deployments.get(str(meta(d).get("namespace", "")), name_of(d)) or d
        now = time.time()
        stamp = rfc3339(now)
        replicas = replicas_of(d)
        _, unavailable = surge_and_unavailable(d)
        previous = d.get("status") or {}
        available = sum(status_int(rs, "availableReplicas") for rs in all_rs)
        status: Obj = {
            "observedGeneration": int(meta(d).get("generation", 1)),
            "replicas": sum(status_int(rs, "replicas") for rs in all_rs),
            "updatedReplicas": status_int(new_rs, "replicas") if new_rs is not None else 0,
            "readyReplicas": sum(status_int(rs, "readyReplicas") for rs in all_rs),
            "availableReplicas": available,
            "unavailableReplicas": max(sum(replicas_of(rs) for rs in all_rs) - available, 0),
        }
        if "collisionCount" in previous:
            status["collisionCount"] = previous["collisionCount"]
        conditions: list[Obj] = copy.deepcopy(previous.get("conditions") or [])
        if available >= replicas - unavailable:
            _set_condition(conditions, "Available", "True", "MinimumReplicasAvailable",
                           "Deployment has minimum availability.", stamp)
        else:
            _set_condition(conditions, "Available", "False", "MinimumReplicasUnavailable",
                           "Deployment does not have minimum availability.", stamp)
        retry = self._progress(d, new_rs, previous, status, conditions, created, now)
        status["conditions"] = conditions
        if status != previous:
            self.cache.mutate("deployments.apps", str(meta(d).get("namespace", "")), name_of(d),
                              lambda obj: obj.__setitem__("status", status))
        if is_complete(d, status):
            self._cleanup(d, all_rs, new_rs)
        return retry

    def _progress(self, d: Obj, new_rs: Obj | None, previous: Obj, status: Obj,
                  conditions: list[Obj], created: bool, now: float) -> float | None:
        """The Progressing condition; returns when to look again for the progress deadline."""
        stamp = rfc3339(now)
        rs_name = name_of(new_rs) if new_rs is not None else ""
        if (d.get("spec") or {}).get("paused"):
            _set_condition(conditions, "Progressing", "Unknown", "DeploymentPaused",
                           "Deployment is paused", stamp)
            return None
        current = next((c for c in conditions if c.get("type") == "Progressing"), None)
        if is_complete(d, status):
            _set_condition(conditions, "Progressing", "True", "NewReplicaSetAvailable",
                           f'ReplicaSet "{rs_name}" has successfully progressed.', stamp)
            return None
        if created:
            _set_condition(conditions, "Progressing", "True", "NewReplicaSetCreated",
                           f'Created new replica set "{rs_name}"', stamp)
        elif self._made_progress(previous, status) or (
            current is not None and current.get("reason") == "NewReplicaSetAvailable"
        ):
            _set_condition(conditions, "Progressing", "True", "ReplicaSetUpdated",
                           f'ReplicaSet "{rs_name}" is progressing.', stamp, touch=True)
        elif current is None and new_rs is not None:
            _set_condition(conditions, "Progressing", "True", "FoundNewReplicaSet",
                           f'Found new replica set "{rs_name}"', stamp)
        current = next((c for c in conditions if c.get("type") == "Progressing"), None)
        deadline = (d.get("spec") or {}).get("progressDeadlineSeconds", 600)
        if current is None or current.get("status") != "True" or deadline is None:
            return None
        since = parse_rfc3339(current.get("lastUpdateTime")) or now
        left = since + int(deadline) / self.speed - now
        if left <= 0:
            _set_condition(conditions, "Progressing", "False", "ProgressDeadlineExceeded",
                           f'ReplicaSet "{rs_name}" has timed out progressing.', stamp)
            return None
        return left + 0.05

    @staticmethod
    def _made_progress(old: Obj, new: Obj) -> bool:
        def old_pods(s: Obj) -> int:
            return int(s.get("replicas", 0)) - int(s.get("updatedReplicas", 0))

        return (
            new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
            or old_pods(new) < old_pods(old)
            or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or new.get("availableReplicas", 0) > old.get("availableReplicas", 0)
        )
