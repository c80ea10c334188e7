"""The round order from a simulation of every round on where the DNS pods run: kube-dns pods
packed 2+1 on 3 nodes (kube-dns has no anti-affinity of its own) leave a free node, yet grow-first
would stall in round 2; the switch takes shrink-first and completes on the lab."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from endpoint_watch import EndpointWatch, assert_lost_tries
from plan_facts import make_facts, node
from switch_support import NS, deployment_replicas, fast_options, gateway_for, journal_in, make_test_plan
from test_switch_engine import BackgroundProber

from wizard.errors import CheckFailed
from wizard.migration.facts import collect_facts
from wizard.migration.plan import make_plan
from wizard.migration.scheduling import simulate_rounds
from wizard.migration.switch import Switcher
from wizard.options import SwitchOptions

ANTI = {
    "affinity": {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
}


def test_packed_kube_dns_makes_grow_first_stall_in_round_two() -> None:
    nodes = [node(f"node-{i}") for i in range(3)]
    packed = ["node-0", "node-0", "node-1"]
    grow = simulate_rounds("grow-first", nodes, ANTI, packed, (), 3)
    assert (grow.works, grow.stuck_round) == (False, 2)
    assert simulate_rounds("shrink-first", nodes, ANTI, packed, (), 3).works
    spread = ["node-0", "node-1", "node-2"]
    assert simulate_rounds("grow-first", [*nodes, node("node-3")], ANTI, spread, (), 3).works


def test_plan_for_packed_kube_dns_is_shrink_first_and_says_why() -> None:
    plan = make_plan(make_facts(nodes=3, replicas=3, dns_on=[0, 0, 1]), SwitchOptions())
    assert plan.order == "shrink-first"
    assert "grow-first would stall in round 2" in plan.order_reason
    with pytest.raises(CheckFailed, match="round 2"):
        make_plan(make_facts(nodes=3, replicas=3, dns_on=[0, 0, 1]), SwitchOptions(order="grow-first"))


def test_worst_case_removals_and_no_working_order() -> None:
    # the kube-dns pod removed first may be the one on node-2, which CoreDNS cannot use; node-1
    # is free, so shrink-first still places every round
    taint = {"key": "dedicated", "value": "dns", "effect": "NoSchedule"}
    facts = make_facts(nodes=3, replicas=2, dns_on=[0, 2], node_changes={2: {"taints": (taint,)}})
    assert make_plan(facts, SwitchOptions()).order == "shrink-first"
    facts = make_facts(nodes=2, replicas=2, dns_on=[0, 0])
    plan = make_plan(facts, SwitchOptions())
    assert plan.order == "shrink-first"  # 2 on one node: shrinking frees node-1 in round 1
    single = make_facts(nodes=2, replicas=1, dns_on=[0], node_changes={1: {"unschedulable": True}})
    with pytest.raises(CheckFailed, match="add or uncordon a node"):
        make_plan(single, SwitchOptions())


def cordon(lab: Any, on: bool) -> None:
    def change(obj: dict[str, Any]) -> None:
        obj.setdefault("spec", {})["unschedulable"] = on

    lab.store.mutate("nodes", "", "10.0.1.3", change)


def pack_kube_dns(lab: Any) -> None:
    """Move the kube-dns pod of the third node next to another one (the scheduler's choice when
    that node is cordoned), then uncordon it: pods packed 2+1, one node free."""
    gateway = gateway_for(lab)
    pods = [p for p in gateway.list_pods(NS, "k8s-app=kube-dns") if p["spec"].get("nodeName") == "10.0.1.3"]
    assert pods, "the lab seeds one kube-dns pod per node"
    cordon(lab, True)
    gateway.delete("Pod", NS, pods[0]["metadata"]["name"])

    def placed() -> list[str]:
        live = [p for p in lab.store.list("pods", NS)[0] if p["metadata"]["name"].startswith("kube-dns-")]
        return sorted(
            p["spec"].get("nodeName") or "-"
            for p in live
            if not p["metadata"].get("deletionTimestamp")
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in p["status"].get("conditions") or []
            )
        )

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (len(placed()) != 3 or "10.0.1.3" in placed()):
        time.sleep(0.1)
    assert len(placed()) == 3 and "10.0.1.3" not in placed(), placed()
    cordon(lab, False)


@pytest.mark.lab_options(kernel="fixed")
def test_switch_with_kube_dns_packed_two_plus_one_on_three_nodes_completes(lab: Any, tmp_path: Path) -> None:
    pack_kube_dns(lab)
    gateway = gateway_for(lab)
    facts = collect_facts(gateway, fast_options())
    plan = make_plan(facts, SwitchOptions())
    assert plan.order == "shrink-first", plan.order_reason
    with EndpointWatch(lab) as watch, BackgroundProber(lab) as prober:
        outcome = Switcher(
            gateway, make_test_plan(gateway, plan.order), journal_in(tmp_path), fast_options()
        ).run()
    assert outcome.completed, outcome.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (3, 0)
    watch.assert_never_below(2)  # shrink-first: one replica less while a round runs
    assert prober.failures == []
    assert_lost_tries(prober)


def test_a_switch_begun_grow_first_on_packed_pods_is_stopped_before_it_stalls_again() -> None:
    """Begun before the order was simulated: round 2's CoreDNS pod is Pending. Resuming the
    recorded grow-first would wait for it forever; the plan says so, and what to do."""
    from dataclasses import replace

    from wizard.migration.facts import DnsPodInfo
    from wizard.migration.journal import ANNOTATION_ORDER, ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS

    coredns = {
        "metadata": {
            "name": "coredns",
            "annotations": {ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS: "3", ANNOTATION_ORDER: "grow-first"},
        },
        "spec": {"replicas": 2},
    }
    pods = (
        DnsPodInfo("kube-dns-a", "node-0", "kube-dns", True, False),
        DnsPodInfo("kube-dns-b", "node-1", "kube-dns", True, False),
        DnsPodInfo("coredns-x", "node-2", "coredns", True, False),
        DnsPodInfo("coredns-y", None, "coredns", False, False),
    )
    stuck = replace(
        make_facts(nodes=3, replicas=3, kube_dns_replicas=2, coredns_deployment=coredns), dns_pods=pods
    )
    with pytest.raises(CheckFailed, match=r"began grow-first and cannot finish that way.*rollback"):
        make_plan(stuck, SwitchOptions())
    # the same switch begun shrink-first resumes: the next kube-dns removal frees a node
    coredns["metadata"]["annotations"][ANNOTATION_ORDER] = "shrink-first"  # type: ignore[index]
    assert make_plan(stuck, SwitchOptions()).order == "shrink-first"
