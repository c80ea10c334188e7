"""Where a new CoreDNS pod can run, and therefore which order the rounds must take.

Why: the CoreDNS Deployment requires anti-affinity against every `k8s-app: kube-dns` pod, kube-dns
pods included. If every node that accepts a CoreDNS pod already runs a DNS pod, a new CoreDNS
replica stays Pending forever; the guide's answer is to shrink kube-dns first in each round. This
module decides that from facts already read (no scheduler call), and says why in one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from wizard.facts import ClusterFacts, NodeInfo

OrderChoice = Literal["grow-first", "shrink-first"]
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")


@dataclass(frozen=True)
class OrderDecision:
    order: OrderChoice
    reason: str
    problem: str | None
    """Set when no order works without a Pending pod or a moment with no DNS endpoint."""
    eligible_nodes: tuple[str, ...]
    free_nodes: tuple[str, ...]


def tolerates(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Kubernetes' toleration matching: key (empty key + Exists matches all), operator, effect."""
    for tol in tolerations:
        effect = tol.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        operator = tol.get("operator") or "Equal"
        key = tol.get("key") or ""
        if operator == "Exists":
            if not key or key == taint.get("key"):
                return True
        elif key == taint.get("key") and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def accepts(node: NodeInfo, pod_spec: Mapping[str, Any]) -> bool:
    """Whether a pod with this spec may be scheduled on the node, ignoring affinity and resources."""
    if not node.ready or node.unschedulable:
        return False
    selector = pod_spec.get("nodeSelector") or {}
    if any(node.labels.get(str(k)) != str(v) for k, v in selector.items()):
        return False
    tolerations = pod_spec.get("tolerations") or []
    return all(
        tolerates(tolerations, taint) for taint in node.taints if taint.get("effect") in BLOCKING_EFFECTS
    )


def coredns_pod_spec(objects: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The pod spec of the rendered CoreDNS Deployment."""
    for obj in objects:
        if obj.get("kind") == "Deployment":
            spec: Mapping[str, Any] = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
            return spec
    return {}


def _names(nodes: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(nodes[:limit])
    return shown + (f" and {len(nodes) - limit} more" if len(nodes) > limit else "")


def decide_order(
    facts: ClusterFacts, pod_spec: Mapping[str, Any], requested: str, replicas: int
) -> OrderDecision:
    """grow-first when a node is free of DNS pods, else shrink-first; `requested` overrides auto."""
    eligible = tuple(n.name for n in facts.nodes if accepts(n, pod_spec))
    occupied = {p.node for p in facts.dns_pods if p.node and not p.terminating}
    free = tuple(n for n in eligible if n not in occupied)
    problem: str | None = None
    if len(eligible) < replicas:
        problem = (
            f"only {len(eligible)} node(s) accept a CoreDNS pod ({_names(list(eligible)) or 'none'}) but "
            f"{replicas} replicas need {replicas} distinct nodes under the required anti-affinity; "
            "make more nodes schedulable or lower kube-dns's replicas first"
        )
    if requested == "grow-first":
        if not free and problem is None:
            problem = (
                "--order grow-first: every node that accepts a CoreDNS pod already runs a DNS pod, so the "
                "new CoreDNS pod would stay Pending; use --order auto or shrink-first, or add a node"
            )
        return OrderDecision("grow-first", "chosen with --order grow-first", problem, eligible, free)
    if requested == "shrink-first":
        if replicas <= 1 and problem is None:
            problem = _single_replica_gap(replicas)
        return OrderDecision("shrink-first", "chosen with --order shrink-first", problem, eligible, free)
    if free:
        reason = (
            f"node {free[0]} accepts a CoreDNS pod and runs no DNS pod, so each new CoreDNS pod starts "
            "before a kube-dns pod is removed (no capacity lost)"
        )
        return OrderDecision("grow-first", reason, problem, eligible, free)
    reason = (
        f"every node that accepts a CoreDNS pod ({len(eligible)}: {_names(list(eligible)) or 'none'}) "
        "already runs a DNS pod; under the required anti-affinity a new CoreDNS pod would stay Pending, "
        "so each round removes one kube-dns pod first (one replica less while the round runs)"
    )
    if replicas <= 1 and problem is None:
        problem = _single_replica_gap(replicas)
    return OrderDecision("shrink-first", reason, problem, eligible, free)


def _single_replica_gap(replicas: int) -> str:
    return (
        f"kube-dns has {replicas} replica and no node is free for a CoreDNS pod: shrinking kube-dns first "
        "would leave the kube-dns Service with zero ready endpoints (every lookup fails); add or uncordon "
        "a node (or scale kube-dns to 2 on a second node) and run pre-flight again"
    )
