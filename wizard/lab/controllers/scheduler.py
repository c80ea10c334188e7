"""The scheduler: binds Pending pods to nodes, or leaves them Pending with the real reasons.

What the switch depends on is reproduced: CoreDNS's required anti-affinity on
`k8s-app: kube-dns` per hostname also repels kube-dns pods, so on a cluster where every node
already runs one of them the new CoreDNS pod stays Pending with the real scheduler's message
("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.") and a
FailedScheduling Event. Filters run in the real framework's order and a node reports its first
failing reason. Unschedulable pods are retried, with back-off, when nodes or pods change.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Iterator

from wizard.lab.api.objects import (
    is_deleting,
    is_terminal,
    labels_of,
    meta,
    name_of,
    namespace_of,
    node_name_of,
    required_pairs,
    rfc3339,
    selector_matches,
    set_condition,
)
from wizard.lab.api.store import ApiError, Obj
from wizard.lab.controllers.events import EventRecorder
from wizard.lab.controllers.informers import (
    BY_CONTROLLER,
    BY_NODE,
    ClusterCache,
    Informer,
    Key,
    add_standard_indexes,
    ident_of,
    select_candidates,
)
from wizard.lab.controllers.workqueue import WorkQueue
from wizard.lab.faults import Faults

SCHEDULER_NAME = "default-scheduler"

REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_TOO_MANY_PODS = "Too many pods"
REASON_NODE_SELECTOR = "node(s) didn't match node selector"
REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
REASON_FAULT = "Insufficient cpu"  # what the "unschedulable" fault makes every node report


def tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    """Whether one of the pod's tolerations tolerates the taint (Kubernetes' ToleratesTaint)."""
    for tol in tolerations:
        effect = tol.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        key = tol.get("key") or ""
        operator = tol.get("operator") or "Equal"
        if not key:
            if operator == "Exists":
                return True  # an empty key with Exists tolerates everything
            continue
        if key != taint.get("key"):
            continue
        if operator == "Exists":
            return True
        if operator == "Equal" and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def untolerated_taint(node: Obj, tolerations: list[Obj]) -> Obj | None:
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            found: Obj = taint
            return found
    return None


def _node_requirement_matches(req: Obj, labels: dict[str, str]) -> bool:
    key, op, values = req.get("key", ""), req.get("operator", ""), req.get("values") or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and key in labels and values:
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def matches_node_affinity(pod: Obj, node: Obj) -> bool:
    """nodeSelector and required nodeAffinity (terms ORed; expressions and fields ANDed)."""
    spec = pod.get("spec") or {}
    labels = labels_of(node)
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not required:
        return True
    fields = {"metadata.name": name_of(node)}
    for term in required.get("nodeSelectorTerms") or []:
        exprs = term.get("matchExpressions") or []
        field_exprs = term.get("matchFields") or []
        if not exprs and not field_exprs:
            continue  # an empty term selects no node
        if all(_node_requirement_matches(e, labels) for e in exprs) and all(
            _node_requirement_matches(e, fields) for e in field_exprs
        ):
            return True
    return False


def pinned_nodes(pod: Obj) -> set[str] | None:
    """The only nodes the pod's required node affinity admits by `metadata.name` (how DaemonSet
    pods are pinned), or None when some term could admit any node. Lets the scheduler try the
    pinned node first instead of walking all 1,000 nodes for each of 1,000 daemon pods."""
    required = (((((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution")) or {})
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return None
    names: set[str] = set()
    for term in terms:
        if not term.get("matchExpressions") and not term.get("matchFields"):
            continue  # an empty term selects no node
        by_name = [e for e in term.get("matchFields") or []
                   if e.get("key") == "metadata.name" and e.get("operator") == "In"]
        if not by_name:
            return None
        allowed = set.intersection(*(set(e.get("values") or []) for e in by_name))
        names |= {str(n) for n in allowed}
    return names


def anti_affinity_terms(pod: Obj) -> list[Obj]:
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("podAntiAffinity") or {}
    terms: list[Obj] = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or []
    return terms


def unschedulable_message(total: int, reasons: Counter[str]) -> str:
    if total == 0:
        return "no nodes available to schedule pods"
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
    return f"0/{total} nodes are available: {', '.join(parts)}."


class Scheduler:
    def __init__(self, cache: ClusterCache, events: EventRecorder, faults: Faults, speed: float) -> None:
        self.cache = cache
        self.events = events
        self.faults = faults
        self.speed = speed
        self.pods: Informer = cache["pods"]
        self.nodes: Informer = cache["nodes"]
        add_standard_indexes(self.pods)
        self.queue: WorkQueue[Key] = WorkQueue("scheduler", self.reconcile)
        self._waiting: dict[Key, int] = {}  # unschedulable pods and how often they failed
        self._with_anti_affinity: set[Key] = set()
        self._sorted_nodes: list[Obj] | None = None
        self._node_names: list[str] = []
        self._node_position: dict[str, int] = {}
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(self._on_node)

    # ---- event routing -------------------------------------------------------------------------
    def _wants_scheduling(self, pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (not spec.get("nodeName") and not is_deleting(pod)
                and spec.get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME)

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        pod = new or old
        if pod is None:
            return
        ident = ident_of(pod)
        if new is not None and anti_affinity_terms(new):
            self._with_anti_affinity.add(ident)
        else:
            self._with_anti_affinity.discard(ident)
        if new is not None and self._wants_scheduling(new):
            if ident not in self._waiting:
                self.queue.add(ident)
            return
        self._waiting.pop(ident, None)
        # something that held a place may have moved or gone: the waiting pods may fit now
        if new is None or old is None or node_name_of(old) != node_name_of(new) or (
            labels_of(old) != labels_of(new)
        ):
            self.retry_waiting()

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        self._sorted_nodes = None
        if old is None or new is None or old.get("spec") != new.get("spec") or (
            labels_of(old) != labels_of(new)
        ) or (old.get("status") or {}).get("allocatable") != (new.get("status") or {}).get("allocatable"):
            self.retry_waiting()

    def retry_waiting(self) -> None:
        """Retry unschedulable pods, each after its own back-off (1 s doubling to 10 s, scaled)."""
        for ident, failures in list(self._waiting.items()):
            self.queue.add_after(ident, min(2.0 ** (failures - 1), 10.0) / self.speed)

    def resync(self) -> None:
        for ident in list(self._waiting):
            self.queue.add(ident)

    # ---- reconcile -----------------------------------------------------------------------------
    def reconcile(self, key: Key) -> float | None:
        pod = self.pods.get(*key)
        if pod is None or not self._wants_scheduling(pod):
            self._waiting.pop(key, None)
            return None
        if self._sorted_nodes is None:
            self._sorted_nodes = sorted(self.nodes.all(), key=name_of)
            self._node_names = [name_of(n) for n in self._sorted_nodes]
            self._node_position = {name: i for i, name in enumerate(self._node_names)}
        nodes = self._sorted_nodes
        reasons: Counter[str] = Counter()
        forbidden = self._forbidden_topologies(pod)
        pinned = pinned_nodes(pod)
        if pinned is not None:
            # every other node fails the node-affinity filter, so the first pinned node that
            # passes in preference order is the node the full walk below would pick
            for node in self._preference_order(pod, nodes, pinned):
                if self._filter(pod, node, forbidden) is None:
                    self._bind(pod, node)
                    self._waiting.pop(key, None)
                    return None
            # none fits: the full walk gives the real per-node reasons for the message
        # try nodes best-first and bind to the first that passes every filter: at 1,000 nodes,
        # filtering them all for each of 10,000 pods would make the lab sluggish
        for node in self._preference_order(pod, nodes):
            reason = self._filter(pod, node, forbidden)
            if reason is None:
                self._bind(pod, node)
                self._waiting.pop(key, None)
                return None
            reasons[reason] += 1
        self._waiting[key] = self._waiting.get(key, 0) + 1
        self._mark_unschedulable(pod, unschedulable_message(len(nodes), reasons))
        return None

    def _filter(self, pod: Obj, node: Obj, forbidden: list[tuple[str, set[str], str]]) -> str | None:
        """The first failing filter for this node, in the scheduler framework's order."""
        if self.faults.is_on("unschedulable"):
            return REASON_FAULT
        spec = pod.get("spec") or {}
        tolerations = spec.get("tolerations") or []
        if (node.get("spec") or {}).get("unschedulable") and not tolerates(
            tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
        ):
            return REASON_UNSCHEDULABLE
        status = node.get("status") or {}
        capacity = (status.get("allocatable") or status.get("capacity") or {}).get("pods")
        if capacity is not None and self._pods_on(name_of(node)) >= int(capacity):
            return REASON_TOO_MANY_PODS
        if not matches_node_affinity(pod, node):
            return REASON_NODE_SELECTOR
        taint = untolerated_taint(node, tolerations)
        if taint is not None:
            return (f"node(s) had taint {{{taint.get('key', '')}: {taint.get('value', '')}}}, "
                    "that the pod didn't tolerate")
        labels = labels_of(node)
        for topology_key, values, reason in forbidden:
            if topology_key in labels and labels[topology_key] in values:
                return reason
        return None

    def _pods_on(self, node: str) -> int:
        """Pods bound to the node (finished ones too, until deleted: a cheap, slight overcount)."""
        return self.pods.count_by(BY_NODE, node)

    def _node_label(self, node_name: str, key: str) -> str | None:
        node = self.nodes.get("", node_name)
        return labels_of(node).get(key) if node is not None else None

    def _forbidden_topologies(self, pod: Obj) -> list[tuple[str, set[str], str]]:
        """(topologyKey, values, reason): the topology domains the pod may not join."""
        found: list[tuple[str, set[str], str]] = []
        for term in anti_affinity_terms(pod):
            topology_key = str(term.get("topologyKey", ""))
            selector = term.get("labelSelector")
            values: set[str] = set()
            for namespace in term.get("namespaces") or [namespace_of(pod)]:
                for other in select_candidates(self.pods, namespace, required_pairs(selector)):
                    if node_name_of(other) and not is_terminal(other) and selector_matches(
                        selector, labels_of(other)
                    ):
                        value = self._node_label(node_name_of(other), topology_key)
                        if value is not None:
                            values.add(value)
            found.append((topology_key, values, REASON_ANTI_AFFINITY))
        labels = labels_of(pod)
        for ident in self._with_anti_affinity:
            holder = self.pods.get(*ident)
            if holder is None or not node_name_of(holder) or is_terminal(holder) or ident == ident_of(pod):
                continue
            for term in anti_affinity_terms(holder):
                if namespace_of(pod) not in (term.get("namespaces") or [namespace_of(holder)]):
                    continue
                if selector_matches(term.get("labelSelector"), labels):
                    topology_key = str(term.get("topologyKey", ""))
                    value = self._node_label(node_name_of(holder), topology_key)
                    if value is not None:
                        found.append((topology_key, {value}, REASON_EXISTING_ANTI_AFFINITY))
        return found

    def _preference_order(self, pod: Obj, nodes: list[Obj], only: set[str] | None = None) -> Iterator[Obj]:
        """Spread: nodes with fewer pods of the same owner first, then fewer pods overall.
        Lazy (a heap), because usually the first node is taken. `only`: these nodes alone, in
        the same relative order."""
        owner = next((r.get("uid") for r in meta(pod).get("ownerReferences") or [] if r.get("controller")),
                     None)
        per_node = self.pods.buckets(BY_NODE)
        positions: list[tuple[int, str]]
        siblings: Counter[str]
        if only is None:
            positions = list(enumerate(self._node_names))
            siblings = Counter(
                node_name_of(p) for p in (self.pods.by(BY_CONTROLLER, owner) if owner else [])
                if node_name_of(p)
            )
        else:
            positions = sorted((self._node_position[n], n) for n in only if n in self._node_position)
            by_owner = self.pods.buckets(BY_CONTROLLER).get(owner, set()) if owner else set()
            siblings = Counter({name: len(by_owner & per_node.get(name, set())) for _, name in positions})
        heap = [(siblings[name], len(per_node.get(name, ())), name, i) for i, name in positions]
        heapq.heapify(heap)
        while heap:
            yield nodes[heapq.heappop(heap)[3]]

    # ---- writes --------------------------------------------------------------------------------
    def _bind(self, pod: Obj, node: Obj) -> None:
        stamp = rfc3339(time.time())
        node_name = name_of(node)

        def bind(obj: Obj) -> None:
            if obj["spec"].get("nodeName"):
                raise ApiError(409, "Conflict", f'pod "{name_of(obj)}" is already assigned to a node')
            obj["spec"]["nodeName"] = node_name
            conditions = obj.setdefault("status", {}).setdefault("conditions", [])
            set_condition(conditions, {"type": "PodScheduled", "status": "True",
                                       "lastProbeTime": None}, stamp)
            for cond in conditions:
                if cond.get("type") == "PodScheduled":
                    cond.pop("reason", None)
                    cond.pop("message", None)

        try:
            self.cache.mutate("pods", namespace_of(pod), name_of(pod), bind)
        except ApiError as err:
            if err.code in (404, 409):
                return
            raise
        self.events.normal(pod, "Scheduled",
                           f"Successfully assigned {namespace_of(pod)}/{name_of(pod)} to {node_name}")

    def _mark_unschedulable(self, pod: Obj, message: str) -> None:
        stamp = rfc3339(time.time())
        changed = False

        def mark(obj: Obj) -> None:
            nonlocal changed
            conditions = obj.setdefault("status", {}).setdefault("conditions", [])
            changed = set_condition(conditions, {"type": "PodScheduled", "status": "False",
                                                 "lastProbeTime": None, "reason": "Unschedulable",
                                                 "message": message}, stamp)

        try:
            self.cache.mutate("pods", namespace_of(pod), name_of(pod), mark)
        except ApiError as err:
            if err.code == 404:
                return
            raise
        self.events.warning(pod, "FailedScheduling", message)
