"""The engine fixes found using the wizard against the lab: durations people can read, the round
order kept across a resume, journal ids outside the plan, the Switcher's partial run, the
rollback's room for kube-dns pods, the scheduler-refusal detector, and the operator texts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from plan_facts import make_facts, node
from switch_support import NS, deployment_replicas, fast_options, gateway_for, journal_in, make_test_plan

from wizard.durations import human_duration
from wizard.migration.journal import ANNOTATION_ORDER, ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS, ANNOTATION_PHASE
from wizard.migration.pending_pods import StuckScheduling, scheduler_refusal
from wizard.migration.plan import make_plan
from wizard.migration.scheduling import accepts, kube_dns_room, matches_required_node_affinity
from wizard.options import SwitchOptions

# ---- 5. durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (3, "3 s"),
        (0.05 * 60, "3 s"),
        (2.5, "2.5 s"),
        (0.25, "0.25 s"),
        (59.96, "1 min"),
        (90, "1 min 30 s"),
        (300, "5 min"),
        (3660, "1 h 1 min"),
        (72 * 3600, "72 h"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_step_descriptions_use_human_durations() -> None:
    plan = make_plan(make_facts(nodes=4), SwitchOptions(observe_seconds=3.0, ready_timeout_seconds=90.0))
    assert plan.step("r1.observe").description.startswith("Watch for 3 s that lookups")
    assert "(up to 1 min 30 s;" in plan.step("r1.wait-ready").description
    assert "--timeout=90s" in plan.step("r1.wait-ready").kubectl[0]  # kubectl keeps its own syntax
    five = make_plan(make_facts(nodes=4), SwitchOptions(observe_seconds=300.0))
    assert five.step("r2.observe").description.startswith("Watch for 5 min that")


# ---- 2. the recorded order ----------------------------------------------------------------------


def _in_progress(order: str, phase: str = "r1.scale-coredns") -> dict[str, Any]:
    return {
        "metadata": {
            "name": "coredns",
            "namespace": NS,
            "annotations": {
                ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS: "3",
                ANNOTATION_PHASE: phase,
                ANNOTATION_ORDER: order,
            },
        },
        "spec": {"replicas": 1},
    }


def test_a_switch_in_progress_keeps_its_recorded_order() -> None:
    # 4 nodes with a free one: afresh this would be grow-first
    assert make_plan(make_facts(nodes=4), SwitchOptions()).order == "grow-first"
    facts = make_facts(nodes=4, coredns_deployment=_in_progress("shrink-first"), kube_dns_replicas=2)
    plan = make_plan(facts, SwitchOptions())
    assert plan.order == "shrink-first"
    assert ANNOTATION_ORDER in plan.order_reason and "suggest grow-first" in plan.order_reason
    assert plan.ids()[1] == "r1.scale-kube-dns"
    asked = make_plan(facts, SwitchOptions(order="grow-first"))
    assert asked.order == "shrink-first" and "--order grow-first is ignored" in asked.order_reason


def test_recorded_grow_first_resumes_even_when_no_node_is_free_mid_switch() -> None:
    # killed after r2.scale-coredns on 4 nodes: kube-dns on 2 nodes, CoreDNS on the other 2
    facts = make_facts(nodes=4, dns_on=[0, 1, 2, 3], coredns_deployment=_in_progress("grow-first"))
    assert make_plan(facts, SwitchOptions()).order == "grow-first"


def test_after_a_rollback_the_order_is_chosen_afresh() -> None:
    facts = make_facts(nodes=4, coredns_deployment=_in_progress("shrink-first", phase="rolled-back"))
    assert make_plan(facts, SwitchOptions()).order == "grow-first"


@pytest.mark.lab_options(nodes=4)
def test_deploy_records_the_order_and_stop_after_ends_there(lab: Any, tmp_path: Path) -> None:
    from wizard.migration.deploy_stage import run_deploy
    from wizard.migration.switch import Switcher

    gateway = gateway_for(lab)
    plan = make_test_plan(gateway, "shrink-first")
    outcome = run_deploy(gateway, plan, journal_in(tmp_path), fast_options())
    assert outcome.completed, outcome.reason
    assert outcome.steps_run == ("deploy",)
    assert outcome.reason.startswith("CoreDNS objects applied; steps run: deploy")
    notes = lab.store.get("deployments.apps", NS, "coredns")["metadata"]["annotations"]
    assert notes[ANNOTATION_ORDER] == "shrink-first"
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    again = Switcher(gateway, plan, journal_in(tmp_path), fast_options()).run(stop_after="deploy")
    assert again.completed and again.steps_run == ()
    with pytest.raises(ValueError, match=r"no step 'r9\.observe'"):
        Switcher(gateway, plan, None, fast_options()).run(stop_after="r9.observe")


# ---- 3. journal ids outside the plan ------------------------------------------------------------


def test_journal_done_counts_only_the_plans_steps(tmp_path: Path) -> None:
    from wizard.migration.switch import Switcher

    plan = make_plan(make_facts(nodes=4), SwitchOptions())
    journal = journal_in(tmp_path)
    journal.done("deploy", "apply", "deployment kube-system/coredns")
    journal.done("tui.ipvs-wait-skipped", "the operator skipped the IPVS wait", "cluster")
    offline = SimpleNamespace(dry_run=False, connection=SimpleNamespace(dns_port=53, context="t"))
    switcher = Switcher(offline, plan, journal, SwitchOptions())  # type: ignore[arg-type]
    assert switcher._journal_done(None) == {"deploy"}


# ---- 1. room for kube-dns pods and refused pods -------------------------------------------------


def test_kube_dns_room_follows_coredns_anti_affinity_and_kube_dns_own_template() -> None:
    nodes = [node("a"), node("b"), node("c"), node("d", unschedulable=True)]
    plain: dict[str, Any] = {}
    room = kube_dns_room(nodes, plain, {"a", "b", "c"}, set())
    assert room.eligible == ("a", "b", "c") and room.free == () and room.capacity() == 0
    room = kube_dns_room(nodes, plain, {"b", "c"}, {"a"})
    assert room.free == ("a",) and room.capacity() is None  # kube-dns pods may share node a
    spread = {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {
                            "matchExpressions": [{"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]
                        },
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
    }
    room = kube_dns_room([*nodes, node("e")], spread, {"b"}, {"a"})
    assert room.one_per_node and room.free == ("c", "e") and room.capacity(unplaced=1) == 1


def test_required_node_affinity_limits_where_a_pod_may_go() -> None:
    spec = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["system"]}]},
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n9"]}]},
                    ]
                }
            }
        }
    }
    system = node("n1", labels={"pool": "system"})
    apps = node("n2", labels={"pool": "apps"})
    assert matches_required_node_affinity(system, spec) and accepts(system, spec)
    assert not accepts(apps, spec)
    assert accepts(node("n9"), spec)
    assert accepts(apps, {})


REFUSED = "0/3 nodes are available: 3 Insufficient cpu."


def _pending(name: str, message: str | None = REFUSED) -> dict[str, Any]:
    conditions = [] if message is None else [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
    ]
    return {"metadata": {"name": name, "namespace": NS}, "spec": {}, "status": {"conditions": conditions}}


def test_scheduler_refusal_reads_the_pod_condition() -> None:
    assert scheduler_refusal(_pending("p")) == "0/3 nodes are available: 3 Insufficient cpu."
    assert scheduler_refusal(_pending("p", None)) is None
    placed = _pending("p")
    placed["spec"]["nodeName"] = "n1"
    assert scheduler_refusal(placed) is None


def test_a_refusal_counts_only_once_no_dns_pod_is_terminating_for_the_grace() -> None:
    now = [100.0]
    stuck = StuckScheduling(grace_s=20.0, clock=lambda: now[0])
    pod = _pending("kube-dns-x")
    leaving = {"metadata": {"name": "coredns-y", "deletionTimestamp": "2026-11-27T00:00:00Z"}}
    assert stuck.check([pod], [pod, leaving]) is None  # room is on its way
    now[0] += 60
    assert stuck.check([pod], [pod, leaving]) is None
    assert stuck.check([pod], [pod]) is None  # the clock starts now
    now[0] += 19
    assert stuck.check([pod], [pod]) is None
    now[0] += 2
    assert stuck.check([pod], [pod]) == (
        f"pod {NS}/kube-dns-x cannot be scheduled: 0/3 nodes are available: 3 Insufficient cpu."
    )
    assert stuck.check([], [pod]) is None  # nothing waited for is refused: reset


# ---- 6. and 7. texts the operator reads ---------------------------------------------------------


def test_addon_manager_advice_says_the_coredns_objects_have_no_addon_labels() -> None:
    from wizard.migration.preflight.run import evaluate

    facts = dataclasses.replace(make_facts(nodes=4), addon_manager_pods=("kube-addon-manager-master",))
    findings, _, _ = evaluate(facts, SwitchOptions())
    advice = next(f for f in findings if f.id == "addon-manager").advice
    assert "carry that label" not in advice
    assert "no addonmanager.kubernetes.io labels" in advice


def test_lab_usage_lists_the_next_steps(lab: Any, tmp_path: Path) -> None:
    from wizard.commands.lab import _usage

    text = _usage(lab, tmp_path / "lab.kubeconfig")
    assert f"export KUBECONFIG={tmp_path / 'lab.kubeconfig'}" in text
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    for command in (
        "coredns-wizard plan",
        "coredns-wizard switch --observe 30s",
        "coredns-wizard status",
        "coredns-wizard rollback",
        "coredns-wizard",
    ):
        assert command in lines, command
    assert text.index("export KUBECONFIG") < text.index("coredns-wizard plan")
