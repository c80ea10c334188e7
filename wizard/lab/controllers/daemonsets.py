"""The DaemonSet controller: one pod per eligible node (kube-proxy and node agents in the lab).

Eligibility uses the scheduler's own node-selector and taint rules plus the tolerations the real
controller adds to daemon pods. Each pod is pinned to its node with a required nodeAffinity on
`metadata.name` and then bound by the scheduler, as in current Kubernetes. A changed template is
rolled out node by node within maxUnavailable.
"""

from __future__ import annotations

import copy
import time

from wizard.lab.api.objects import (
    controller_ref,
    int_or_percent,
    is_active,
    is_available,
    is_deleting,
    is_ready,
    meta,
    name_of,
    namespace_of,
    node_name_of,
    owner_reference,
    parse_rfc3339,
    template_hash,
    uid_of,
)
from wizard.lab.api.store import Obj
from wizard.lab.controllers.events import EventRecorder
from wizard.lab.controllers.informers import (
    BY_CONTROLLER,
    ClusterCache,
    Informer,
    Key,
    add_standard_indexes,
)
from wizard.lab.controllers.scheduler import matches_node_affinity, untolerated_taint
from wizard.lab.controllers.workqueue import WorkQueue
from wizard.lab.node.pods import create_pod, delete_pod, pod_from_template

REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
_DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def daemon_template(ds: Obj) -> Obj:
    """The DaemonSet's pod template with the tolerations the real controller adds."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    spec = template.setdefault("spec", {})
    tolerations = spec.setdefault("tolerations", [])
    for tol in _DAEMON_TOLERATIONS:
        if not any(t.get("key") == tol["key"] and t.get("effect") == tol["effect"] for t in tolerations):
            tolerations.append(dict(tol))
    return template


def pin_to_node(pod: Obj, node: str) -> None:
    affinity = pod["spec"].setdefault("affinity", {})
    affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}


def target_node(pod: Obj) -> str:
    """The node a daemon pod belongs on: its nodeName, or the node its affinity pins it to."""
    if node_name_of(pod):
        return node_name_of(pod)
    affinity = (((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for expr in term.get("matchFields") or []:
            if expr.get("key") == "metadata.name" and expr.get("values"):
                return str(expr["values"][0])
    return ""


class DaemonSetController:
    def __init__(self, cache: ClusterCache, events: EventRecorder, speed: float) -> None:
        self.cache = cache
        self.events = events
        self.speed = speed
        self.daemonsets: Informer = cache["daemonsets.apps"]
        self.pods: Informer = cache["pods"]
        self.nodes: Informer = cache["nodes"]
        add_standard_indexes(self.pods)
        self.queue: WorkQueue[Key] = WorkQueue("daemonset-controller", self.reconcile)
        self.daemonsets.add_handler(self._on_ds)
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(self._on_node)

    def _on_ds(self, old: Obj | None, new: Obj | None) -> None:
        if new is not None:
            self.queue.add((namespace_of(new), name_of(new)))

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        for pod in (old, new):
            ref = controller_ref(pod) if pod is not None else None
            if pod is not None and ref is not None and ref.get("kind") == "DaemonSet":
                self.queue.add((namespace_of(pod), str(ref.get("name", ""))))

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        for ds in self.daemonsets.all():
            self.queue.add((namespace_of(ds), name_of(ds)))

    def _eligible(self, template: Obj, node: Obj) -> bool:
        # read-only checks: no copy of the template (this runs for every node on every reconcile)
        probe = {"spec": template.get("spec") or {}}
        tolerations = probe["spec"].get("tolerations") or []
        return matches_node_affinity(probe, node) and untolerated_taint(node, tolerations) is None

    def reconcile(self, key: Key) -> float | None:
        ds = self.daemonsets.get(*key)
        if ds is None or is_deleting(ds):
            return None
        namespace = namespace_of(ds)
        template = daemon_template(ds)
        revision = template_hash(template)
        generation = str(meta(ds).get("generation", 1))
        pods_by_node: dict[str, list[Obj]] = {}
        for pod in self.pods.by(BY_CONTROLLER, uid_of(ds)):
            if is_active(pod):
                pods_by_node.setdefault(target_node(pod), []).append(pod)
        eligible = {name_of(n) for n in self.nodes.all() if self._eligible(template, n)}
        for node in sorted(eligible):
            if node not in pods_by_node:
                pod = pod_from_template(template, namespace, f"{name_of(ds)}-", owner_reference(ds),
                                        {REVISION_LABEL: revision, GENERATION_LABEL: generation})
                pin_to_node(pod, node)
                created = create_pod(self.cache, pod)
                pods_by_node[node] = [created]
                self.events.normal(ds, "SuccessfulCreate", f"Created pod: {name_of(created)}")
        for node, pods in pods_by_node.items():
            if len(pods) > 1:  # parsing timestamps of 1,000 single pods per reconcile is the cost
                pods.sort(key=lambda p: parse_rfc3339(meta(p).get("creationTimestamp")) or 0.0)
            extra = pods if node not in eligible else pods[1:]
            for pod in extra:
                delete_pod(self.cache, pod)
                self.events.normal(ds, "SuccessfulDelete", f"Deleted pod: {name_of(pod)}")
        self._roll(ds, revision, eligible, pods_by_node)
        self._update_status(ds, revision, eligible)
        return None

    def _roll(self, ds: Obj, revision: str, eligible: set[str], pods_by_node: dict[str, list[Obj]]) -> None:
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        budget = max(int_or_percent((strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1),
                                    len(eligible), round_up=False), 1)
        unavailable = sum(1 for n in eligible if not any(is_ready(p) for p in pods_by_node.get(n, [])))
        outdated = [
            p for n in sorted(eligible) for p in pods_by_node.get(n, [])[:1]
            if (meta(p).get("labels") or {}).get(REVISION_LABEL) != revision and not is_deleting(p)
        ]
        outdated.sort(key=is_ready)  # replace the broken ones first: that costs no availability
        for pod in outdated:
            if not is_ready(pod):
                delete_pod(self.cache, pod)
            elif unavailable < budget:
                delete_pod(self.cache, pod)
                unavailable += 1
            else:
                break
            self.events.normal(ds, "SuccessfulDelete", f"Deleted pod: {name_of(pod)}")

    def _update_status(self, ds: Obj, revision: str, eligible: set[str]) -> None:
        now = time.time()
        min_ready = float((ds.get("spec") or {}).get("minReadySeconds", 0)) / self.speed
        scheduled: dict[str, Obj] = {}
        misscheduled = 0
        for pod in self.pods.by(BY_CONTROLLER, uid_of(ds)):
            if not is_active(pod) or not node_name_of(pod):
                continue
            if node_name_of(pod) in eligible:
                scheduled.setdefault(node_name_of(pod), pod)
            else:
                misscheduled += 1
        available = sum(1 for p in scheduled.values() if is_available(p, min_ready, now))
        status: Obj = {
            "currentNumberScheduled": len(scheduled),
            "desiredNumberScheduled": len(eligible),
            "numberMisscheduled": misscheduled,
            "numberReady": sum(1 for p in scheduled.values() if is_ready(p)),
            "numberAvailable": available,
            "numberUnavailable": max(len(eligible) - available, 0),
            "updatedNumberScheduled": sum(
                1 for p in scheduled.values() if (meta(p).get("labels") or {}).get(REVISION_LABEL) == revision
            ),
            "observedGeneration": int(meta(ds).get("generation", 1)),
        }
        if status != (ds.get("status") or {}):
            self.cache.mutate("daemonsets.apps", namespace_of(ds), name_of(ds),
                              lambda obj: obj.__setitem__("status", status))
