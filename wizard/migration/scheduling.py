"""Where a new CoreDNS pod can run, and therefore which order the rounds must take.

Why: the CoreDNS Deployment requires anti-affinity against every `k8s-app: kube-dns` pod, kube-dns
pods included. If every node that accepts a CoreDNS pod already runs a DNS pod, a new CoreDNS
replica stays Pending forever; the guide's answer is to shrink kube-dns first in each round. This
module decides that from facts already read (no scheduler call), and says why in one line.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from wizard.i18n import msg, tr
from wizard.k8s.objects import name_of, pod_template_spec
from wizard.migration.facts import ClusterFacts, NodeInfo
from wizard.migration.journal import ANNOTATION_ORDER

OrderChoice = Literal["grow-first", "shrink-first"]
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
HOSTNAME_KEY = "kubernetes.io/hostname"


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
    """Whether a pod with this spec may be scheduled on the node: readiness, cordon, nodeSelector,
    required node affinity and taints; pod (anti-)affinity and resources are the callers' part."""
    if not node.ready or node.unschedulable:
        return False
    selector = pod_spec.get("nodeSelector") or {}
    if any(node.labels.get(str(k)) != str(v) for k, v in selector.items()):
        return False
    if not matches_required_node_affinity(node, pod_spec):
        return False
    tolerations = pod_spec.get("tolerations") or []
    return all(
        tolerates(tolerations, taint) for taint in node.taints if taint.get("effect") in BLOCKING_EFFECTS
    )


def matches_required_node_affinity(node: NodeInfo, pod_spec: Mapping[str, Any]) -> bool:
    """requiredDuringSchedulingIgnoredDuringExecution node affinity: any term may match, every
    expression of a term must (matchFields supports metadata.name, the only field Kubernetes has)."""
    affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    terms = (affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms")
    if not terms:
        return True
    fields = {"metadata.name": node.name}
    return any(
        all(_label_expression(node.labels, e) for e in term.get("matchExpressions") or [])
        and all(_label_expression(fields, e) for e in term.get("matchFields") or [])
        for term in terms
    )


def _label_expression(labels: Mapping[str, str], expression: Mapping[str, Any]) -> bool:
    key = str(expression.get("key") or "")
    operator = expression.get("operator")
    values = [str(v) for v in expression.get("values") or []]
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and values:
        try:
            have, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against a pod's labels."""
    wanted = selector.get("matchLabels") or {}
    if any(labels.get(str(k)) != str(v) for k, v in wanted.items()):
        return False
    return all(_label_expression(labels, e) for e in selector.get("matchExpressions") or [])


def repels_pods_labelled(pod_spec: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether the spec's required pod anti-affinity keeps it off a node (hostname topology)
    that runs a pod with these labels: the CoreDNS template does this for k8s-app=kube-dns."""
    anti = (pod_spec.get("affinity") or {}).get("podAntiAffinity") or {}
    for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
        selector = term.get("labelSelector") or {}
        if term.get("topologyKey") == HOSTNAME_KEY and selector_matches(selector, labels):
            return True
    return False


@dataclass(frozen=True)
class KubeDnsRoom:
    """Where the scheduler can put another kube-dns pod right now."""

    eligible: tuple[str, ...]
    """Nodes that accept a kube-dns pod (readiness, cordon, selectors, node affinity, taints)."""
    free: tuple[str, ...]
    """Eligible nodes no CoreDNS pod repels it from (and, when kube-dns repels its own kind, that
    run no kube-dns pod either)."""
    one_per_node: bool
    """kube-dns's own template repels DNS pods: each new kube-dns pod needs its own free node."""

    def capacity(self, unplaced: int = 0) -> int | None:
        """How many more kube-dns pods fit (None: as many as wanted), after `unplaced` kube-dns
        pods that are already waiting for a node have taken theirs."""
        if not self.free:
            return 0
        if not self.one_per_node:
            return None
        return max(0, len(self.free) - unplaced)


def kube_dns_room(
    nodes: Sequence[NodeInfo],
    kube_dns_pod_spec: Mapping[str, Any],
    coredns_nodes: Collection[str],
    kube_dns_nodes: Collection[str],
) -> KubeDnsRoom:
    """Room for kube-dns pods, from the kube-dns Deployment's own pod template (its tolerations,
    selectors and affinity) and the nodes the DNS pods run on (terminating ones included: the
    scheduler counts a pod until it is gone)."""
    eligible = tuple(n.name for n in nodes if accepts(n, kube_dns_pod_spec))
    one_per_node = repels_pods_labelled(kube_dns_pod_spec, {"k8s-app": "kube-dns"})
    taken = set(coredns_nodes) | (set(kube_dns_nodes) if one_per_node else set())
    return KubeDnsRoom(eligible, tuple(n for n in eligible if n not in taken), one_per_node)


def coredns_pod_spec(objects: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The pod spec of the rendered CoreDNS Deployment."""
    for obj in objects:
        if obj.get("kind") == "Deployment":
            return pod_template_spec(obj)
    return {}


def node_names(nodes: Sequence[str], limit: int = 4) -> str:
    """"a, b, c, d and 3 more": node names short enough for one line."""
    shown = ", ".join(nodes[:limit])
    if len(nodes) > limit:
        return msg("preflight.nodes-and-more", "{names} and {more} more",
                   names=shown, more=len(nodes) - limit)
    return shown


@dataclass(frozen=True)
class RoundsOutcome:
    """One order simulated round by round on the scheduling facts."""

    order: OrderChoice
    stuck_round: int | None
    """The first round whose new CoreDNS pod would find no node, None when every round places it."""
    why: str
    """What the scheduler would face in that round (empty when every round works)."""
    rounds: int = 0
    """How many rounds were simulated (a half round counts as one)."""

    @property
    def works(self) -> bool:
        return self.stuck_round is None


@dataclass
class _DnsPlacement:
    """Where the DNS pods run during the simulated rounds, so each round can change it in place."""

    eligible: list[str]
    repels: bool
    kube: dict[str, int]
    unplaced: int
    core: set[str]

    @classmethod
    def from_facts(
        cls,
        nodes: Sequence[NodeInfo],
        pod_spec: Mapping[str, Any],
        kube_dns_nodes: Sequence[str | None],
        coredns_nodes: Collection[str],
    ) -> _DnsPlacement:
        """Count the kube-dns pods per node (and unplaced) and note the nodes CoreDNS may use."""
        eligible = [n.name for n in nodes if accepts(n, pod_spec)]
        repels = repels_pods_labelled(pod_spec, {"k8s-app": "kube-dns"})
        kube: dict[str, int] = {}
        unplaced = 0
        for node in kube_dns_nodes:
            if node:
                kube[node] = kube.get(node, 0) + 1
            else:
                unplaced += 1
        return cls(eligible, repels, kube, unplaced, set(coredns_nodes))

    def place(self) -> str | None:
        """Put one new CoreDNS pod on the first free node; why not when none is free."""
        eligible, repels, kube, core = self.eligible, self.repels, self.kube, self.core
        free = [n for n in eligible if not repels or (kube.get(n, 0) == 0 and n not in core)]
        if not free:
            busy = ", ".join(
                f"{n} ({'CoreDNS' if n in core else str(kube.get(n, 0)) + ' kube-dns'})" for n in eligible[:4]
            )
            return msg("preflight.order.no-free-node",
                       "every node that accepts a CoreDNS pod runs a DNS pod by then ({busy})",
                       busy=busy or msg("preflight.none", "none"))
        core.add(free[0])
        return None

    def remove(self) -> None:
        """Remove the kube-dns pod worst for the next round: an unplaced one, then a useless one."""
        kube = self.kube
        if self.unplaced:
            self.unplaced -= 1
            return
        if not kube:
            return
        useless = [n for n, c in kube.items() if c > 1 or n not in self.eligible]
        victim = sorted(useless)[0] if useless else sorted(kube)[0]
        kube[victim] -= 1
        if kube[victim] == 0:
            del kube[victim]


def simulate_rounds(
    order: OrderChoice,
    nodes: Sequence[NodeInfo],
    pod_spec: Mapping[str, Any],
    kube_dns_nodes: Sequence[str | None],
    coredns_nodes: Collection[str],
    replicas: int,
    first: Literal["place", "remove"] | None = None,
) -> RoundsOutcome:
    """Play every round of `order` on the facts: each new CoreDNS pod needs a node that accepts it
    (readiness, cordon, selectors, node affinity, taints) and, under its required anti-affinity,
    runs no DNS pod; each kube-dns scale-down removes one kube-dns pod. Which pod the ReplicaSet
    removes is its choice, so the simulation takes the worst one for the next round: an unplaced
    pod first (the ReplicaSet does too), then one whose node stays useless to CoreDNS (it shares
    the node with another kube-dns pod, or CoreDNS cannot run there). `first`: a switch resumed
    half-way through a round has that one action of the round left before the `replicas` whole
    rounds (round numbers then count from that half round)."""
    board = _DnsPlacement.from_facts(nodes, pod_spec, kube_dns_nodes, coredns_nodes)
    place, remove = board.place, board.remove

    total = replicas + (1 if first else 0)
    if first == "place" and (problem := place()) is not None:
        return RoundsOutcome(order, 1, problem, total)
    if first == "remove":
        remove()
    for round_ in range(1 + (1 if first else 0), total + 1):
        if order == "grow-first":
            problem = place()
            remove()
        else:
            remove()
            problem = place()
        if problem is not None:
            return RoundsOutcome(order, round_, problem, total)
    return RoundsOutcome(order, None, "", total)


def decide_order(
    facts: ClusterFacts, pod_spec: Mapping[str, Any], requested: str, replicas: int
) -> OrderDecision:
    """grow-first when every round of it can place its CoreDNS pod, else shrink-first when every
    round of that can; `requested` overrides auto. Decided by simulating the rounds on where each
    DNS pod runs now (see `simulate_rounds`), not by counting the free nodes of round 1."""
    eligible = tuple(n.name for n in facts.nodes if accepts(n, pod_spec))
    live = [p for p in facts.dns_pods if not p.terminating]
    coredns_name = _coredns_owner(facts)
    core_nodes = {p.node for p in live if p.node and p.owner_deployment == coredns_name}
    kube_nodes = [p.node for p in live if p.owner_deployment != coredns_name]
    occupied = {p.node for p in live if p.node}
    free = tuple(n for n in eligible if n not in occupied)
    problem: str | None = None
    if len(eligible) < replicas:
        problem = msg(
            "preflight.order.too-few-nodes",
            "only {count} node(s) accept a CoreDNS pod ({names}) but "
            "{replicas} replicas need {replicas} distinct nodes under the required anti-affinity; "
            "make more nodes schedulable or lower kube-dns's replicas first",
            count=len(eligible), names=node_names(list(eligible)) or msg("preflight.none", "none"),
            replicas=replicas,
        )

    def simulate(order: OrderChoice) -> RoundsOutcome:
        return simulate_rounds(order, facts.nodes, pod_spec, kube_nodes, core_nodes, replicas)

    grow, shrink = simulate("grow-first"), simulate("shrink-first")
    if requested == "grow-first":
        if not grow.works and problem is None:
            problem = msg(
                "preflight.order.grow-first-stuck",
                "--order grow-first: in round {round} {why}, so the new CoreDNS pod would "
                "stay Pending; use --order auto or shrink-first, or add a node",
                round=grow.stuck_round, why=grow.why,
            )
        chosen = msg("preflight.order.chosen-grow-first", "chosen with --order grow-first")
        return OrderDecision("grow-first", chosen, problem, eligible, free)
    if requested == "shrink-first":
        if problem is None:
            label = "--order shrink-first"
            problem = _single_replica_gap(replicas) if replicas <= 1 else _stuck(shrink, label)
        chosen = msg("preflight.order.chosen-shrink-first", "chosen with --order shrink-first")
        return OrderDecision("shrink-first", chosen, problem, eligible, free)
    if grow.works:
        reason = msg(
            "preflight.order.grow-first",
            "node {node} accepts a CoreDNS pod and runs no DNS pod, and every round, "
            "simulated on where each DNS pod runs, still finds a node for its new CoreDNS pod: each new "
            "CoreDNS pod starts before a kube-dns pod is removed (no capacity lost)",
            node=free[0] if free else "?",
        )
        return OrderDecision("grow-first", reason, problem, eligible, free)
    pending = msg(
        "preflight.order.grow-first-stalls",
        "grow-first would stall in round {round}: {why}, so its new CoreDNS pod would stay "
        "Pending under the required anti-affinity",
        round=grow.stuck_round, why=grow.why,
    )
    if replicas <= 1 and problem is None:
        problem = _single_replica_gap(replicas)
    if not shrink.works and problem is None:
        problem = msg(
            "preflight.order.none-works",
            "no round order works on this cluster: {pending}; shrink-first would stall in round "
            "{round}: {why}. Make room first: add or uncordon a node that accepts "
            "CoreDNS pods (or let them tolerate the nodes' taints), or spread the kube-dns pods over "
            "distinct nodes, then run pre-flight again",
            pending=pending, round=shrink.stuck_round, why=shrink.why,
        )
    reason = msg(
        "preflight.order.shrink-first",
        "{pending}; shrink-first places every round's pod, so each round removes one kube-dns pod first",
        pending=pending,
    )
    return OrderDecision("shrink-first", reason, problem, eligible, free)


def _stuck(outcome: RoundsOutcome, label: str) -> str | None:
    if outcome.works:
        return None
    return msg(
        "preflight.order.stuck",
        "{label}: in round {round} {why}, so the new CoreDNS pod would stay Pending; "
        "add or uncordon a node that accepts CoreDNS pods, or use --order auto",
        label=label, round=outcome.stuck_round, why=outcome.why,
    )


def _coredns_owner(facts: ClusterFacts) -> str:
    return name_of(facts.coredns_deployment) or "coredns"


def keep_recorded_order(
    fresh: OrderDecision,
    recorded: OrderChoice,
    requested: str,
    facts: ClusterFacts | None = None,
    pod_spec: Mapping[str, Any] | None = None,
    replicas: int = 0,
) -> OrderDecision:
    """The order a switch in progress began with, which its resumption must keep: the rounds
    already run were built for it, and the cluster's layout mid-switch (a CoreDNS pod on a node
    that was free) no longer says which order the switch needs. The node-count problem, which
    holds for either order, still blocks; so does a recorded order that, simulated on where the
    pods run now, would stall again (a switch begun before the order was simulated)."""
    reason: str = msg("preflight.order.recorded",
                      "recorded on the CoreDNS Deployment when this switch began ({annotation})",
                      annotation=ANNOTATION_ORDER)
    if requested not in ("auto", recorded):
        reason = msg("preflight.order.recorded-ignored",
                     "{reason}; --order {requested} is ignored until the switch finishes or is rolled back",
                     reason=reason, requested=requested)
    if fresh.order != recorded:
        reason = msg("preflight.order.recorded-suggest",
                     "{reason} (the cluster as it is now would suggest {order})",
                     reason=reason, order=fresh.order)
    problem = (
        fresh.problem if fresh.problem is not None and tr(fresh.problem, "en").startswith("only ") else None
    )
    if problem is None and facts is not None and pod_spec is not None:
        stall = resumed_rounds(recorded, facts, pod_spec, replicas)
        if not stall.works:
            problem = msg(
                "preflight.order.recorded-stalls",
                "this switch began {order} and cannot finish that way: from where it stands, "
                "in round {round} of the {rounds} still to run {why}, so its new "
                "CoreDNS pod stays Pending; roll back with `coredns-wizard rollback`, then run the "
                "switch again (a new switch simulates every round and picks an order that works), or "
                "free a node that accepts CoreDNS pods",
                order=recorded, round=stall.stuck_round, rounds=stall.rounds, why=stall.why,
            )
    return OrderDecision(recorded, reason, problem, fresh.eligible_nodes, fresh.free_nodes)


def resumed_rounds(
    order: OrderChoice, facts: ClusterFacts, pod_spec: Mapping[str, Any], replicas: int
) -> RoundsOutcome:
    """The rest of a switch in progress, simulated from where the pods run now: CoreDNS pods
    still to place (Pending ones included) and kube-dns pods still to remove."""
    coredns_name = _coredns_owner(facts)
    live = [p for p in facts.dns_pods if not p.terminating]
    core_nodes = {p.node for p in live if p.node and p.owner_deployment == coredns_name}
    kube_nodes = [p.node for p in live if p.owner_deployment != coredns_name]
    to_place = max(0, replicas - len(core_nodes))
    to_remove = len(kube_nodes)
    first: Literal["place", "remove"] | None = None
    rounds = min(to_place, to_remove)
    if to_remove > to_place:
        first = "remove"
    elif to_place > to_remove:
        first = "place"
    return simulate_rounds(order, facts.nodes, pod_spec, kube_nodes, core_nodes, rounds, first)


def recorded_order(annotations: Mapping[str, str]) -> OrderChoice | None:
    """The order in ANNOTATION_ORDER, None when absent or not one of the two orders."""
    value = (annotations.get(ANNOTATION_ORDER) or "").strip()
    if value == "grow-first":
        return "grow-first"
    if value == "shrink-first":
        return "shrink-first"
    return None


def _single_replica_gap(replicas: int) -> str:
    return msg(
        "preflight.order.single-replica",
        "kube-dns has {replicas} replica and no node is free for a CoreDNS pod: shrinking kube-dns first "
        "would leave the kube-dns Service with zero ready endpoints (every lookup fails); add or uncordon "
        "a node (or scale kube-dns to 2 on a second node) and run pre-flight again",
        replicas=replicas,
    )
