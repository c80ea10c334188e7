"""make_plan and the round order, from hand-made facts (no cluster needed)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from plan_facts import AUTOSCALER, make_facts, node

from wizard.errors import CheckFailed, InputError
from wizard.migration.facts import find_autoscaler
from wizard.migration.journal import ANNOTATION_AUTOSCALER, ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS
from wizard.migration.plan import Plan, make_plan, retargeted_args
from wizard.migration.scheduling import accepts, tolerates
from wizard.options import SwitchOptions


def round_ids(k: int, order: str) -> list[str]:
    grow = [f"r{k}.scale-coredns", f"r{k}.wait-ready", f"r{k}.probe", f"r{k}.check-endpoints"]
    shrink = [f"r{k}.scale-kube-dns"]
    body = grow + shrink if order == "grow-first" else shrink + grow
    return [*body, f"r{k}.observe"]


def test_free_node_gives_grow_first_rounds_in_the_guide_order() -> None:
    plan = make_plan(make_facts(nodes=4, replicas=3), SwitchOptions())
    assert plan.order == "grow-first"
    assert "node-3" in plan.order_reason
    assert plan.ids() == [
        "deploy",
        *round_ids(1, "grow-first"),
        *round_ids(2, "grow-first"),
        *round_ids(3, "grow-first"),
    ]
    assert plan.original_kube_dns_replicas == 3
    assert plan.autoscaler is None


def test_every_node_running_dns_gives_shrink_first() -> None:
    plan = make_plan(make_facts(nodes=3, replicas=3), SwitchOptions())
    assert plan.order == "shrink-first"
    assert "would stay Pending" in plan.order_reason
    assert plan.ids()[1:7] == round_ids(1, "shrink-first")


def test_scale_steps_carry_replicas_descriptions_and_kubectl() -> None:
    plan = make_plan(make_facts(nodes=4, replicas=3), SwitchOptions())
    up = plan.step("r2.scale-coredns")
    assert (up.replicas, up.changes_cluster) == (2, True)
    assert up.description == "Scale CoreDNS kube-system/coredns 1 → 2"
    assert up.kubectl == ("kubectl scale deployment coredns -n kube-system --replicas=2",)
    assert up.target == "deployment kube-system/coredns"
    down = plan.step("r3.scale-kube-dns")
    assert down.replicas == 0
    assert down.kubectl == ("kubectl scale deployment kube-dns -n kube-system --replicas=0",)
    deploy = plan.step("deploy")
    assert deploy.kubectl[0].startswith("kubectl apply --server-side")
    assert "switch2coredns.yaml" in deploy.kubectl[0]
    endpoints = plan.step("r1.check-endpoints")
    assert "kubectl get endpoints kube-dns -n kube-system -o jsonpath=" in endpoints.kubectl[0]
    assert not endpoints.changes_cluster
    probe = plan.step("r1.probe")
    assert probe.kubectl[0] == "nslookup kubernetes.default.svc.cluster.local <pod-ip>"
    assert "nslookup nginx.default.svc.cluster.local <pod-ip>" in probe.kubectl
    assert "nslookup www.baidu.com <pod-ip>" in probe.kubectl
    assert probe.kubectl[-1] == "nslookup my.cluster.local <pod-ip>"  # the lab's stub domains
    assert [q.name for q in plan.probes] == [c.split()[-2] for c in probe.kubectl]
    wait = plan.step("r1.wait-ready")
    assert wait.kubectl[0].startswith("kubectl wait --for=condition=Ready pod -l k8s-app=kube-dns,")


def test_plan_lookup_of_an_unknown_step_names_the_known_ones() -> None:
    plan = make_plan(make_facts(nodes=4, replicas=1), SwitchOptions())
    with pytest.raises(KeyError, match=r"r1\.scale-coredns"):
        plan.step("r9.observe")


def test_manifests_are_rendered_for_the_cluster() -> None:
    plan = make_plan(make_facts(nodes=4), SwitchOptions())
    assert plan.coredns_version == "1.8.4"
    assert plan.manifests.image == "ccr.ccs.tencentyun.com/tkeimages/coredns:1.8.4"
    assert "abc.com:53" in plan.manifests.corefile_text
    assert [o["kind"] for o in plan.manifests.objects][-1] == "Deployment"


def test_single_replica_without_a_free_node_is_refused() -> None:
    with pytest.raises(CheckFailed, match="zero ready endpoints"):
        make_plan(make_facts(nodes=1, replicas=1), SwitchOptions())


def test_single_replica_with_a_free_node_grows_first() -> None:
    plan = make_plan(make_facts(nodes=2, replicas=1), SwitchOptions())
    assert plan.order == "grow-first"
    assert plan.ids() == ["deploy", *round_ids(1, "grow-first")]


def test_forced_shrink_first_with_one_replica_is_refused_even_with_room() -> None:
    with pytest.raises(CheckFailed, match="zero ready endpoints"):
        make_plan(make_facts(nodes=2, replicas=1), SwitchOptions(order="shrink-first"))


def test_forced_grow_first_without_room_is_refused() -> None:
    with pytest.raises(CheckFailed, match="would stay Pending"):
        make_plan(make_facts(nodes=3, replicas=3), SwitchOptions(order="grow-first"))


def test_too_few_nodes_for_the_replicas_is_refused() -> None:
    facts = make_facts(nodes=2, replicas=3, dns_on=[0, 1])
    with pytest.raises(CheckFailed, match="only 2 node"):
        make_plan(facts, SwitchOptions())


def test_untolerated_taint_and_cordon_remove_free_nodes() -> None:
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    facts = make_facts(
        nodes=5, replicas=3, node_changes={3: {"taints": (taint,)}, 4: {"unschedulable": True}}
    )
    plan = make_plan(facts, SwitchOptions())
    assert plan.order == "shrink-first"
    master = {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}
    facts = make_facts(nodes=4, replicas=3, node_changes={3: {"taints": (master,)}})
    assert make_plan(facts, SwitchOptions()).order == "grow-first"


def test_toleration_matching() -> None:
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    assert tolerates([{"operator": "Exists"}], taint)
    assert tolerates([{"key": "k", "operator": "Exists"}], taint)
    assert tolerates([{"key": "k", "value": "v"}], taint)
    assert not tolerates([{"key": "k", "value": "w"}], taint)
    assert not tolerates([{"key": "k", "operator": "Exists", "effect": "NoExecute"}], taint)
    soft = node("n", taints=({"key": "soft", "effect": "PreferNoSchedule"},), labels={"zone": "a"})
    assert accepts(soft, {})
    assert not accepts(soft, {"nodeSelector": {"zone": "b"}})
    assert not accepts(node("n", ready=False), {})


def test_autoscaler_is_paused_first_and_retargeted_last() -> None:
    plan = make_plan(make_facts(nodes=4, autoscalers=(AUTOSCALER,)), SwitchOptions())
    assert plan.ids()[0] == "pause-autoscaler"
    assert plan.ids()[-1] == "finish-autoscaler"
    assert plan.autoscaler == AUTOSCALER
    pause = plan.step("pause-autoscaler")
    assert pause.kubectl == ("kubectl scale deployment kube-dns-autoscaler -n kube-system --replicas=0",)
    assert pause.replicas == 0 and pause.changes_cluster
    finish = plan.step("finish-autoscaler")
    assert "--target=Deployment/coredns" in finish.kubectl[0]
    assert '"command"' in finish.kubectl[0]
    assert finish.kubectl[1] == "kubectl scale deployment kube-dns-autoscaler -n kube-system --replicas=1"


def test_autoscaler_policies_restore_and_leave_paused() -> None:
    facts = make_facts(nodes=4, autoscalers=(AUTOSCALER,))
    restore = make_plan(facts, SwitchOptions(autoscaler_policy="restore")).step("finish-autoscaler")
    assert restore.kubectl == ("kubectl scale deployment kube-dns-autoscaler -n kube-system --replicas=1",)
    assert "scale kube-dns up again" in restore.description
    paused = make_plan(facts, SwitchOptions(autoscaler_policy="leave-paused")).step("finish-autoscaler")
    assert paused.kubectl == () and not paused.changes_cluster


def test_retargeted_args_keeps_the_flag_form() -> None:
    two_words = dataclasses.replace(AUTOSCALER, args=("--target", "deployment/kube-dns", "--v=2"))
    assert retargeted_args(two_words, "coredns") == ["--target", "Deployment/coredns", "--v=2"]
    with pytest.raises(InputError, match="no --target"):
        retargeted_args(dataclasses.replace(AUTOSCALER, args=("--v=2",)), "coredns")


def test_find_autoscaler_matches_the_target_in_any_case() -> None:
    deployment: dict[str, Any] = {
        "metadata": {"name": "dns-autoscaler", "namespace": "kube-system"},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "a",
                            "command": ["/cpa"],
                            "args": ["--target=deployment/KUBE-DNS", "--configmap=cfg"],
                        },
                    ]
                }
            },
        },
    }
    found = find_autoscaler(deployment, "kube-system", "kube-dns")
    assert found is not None
    assert (found.name, found.replicas, found.configmap, found.args_field) == (
        "dns-autoscaler",
        2,
        "cfg",
        "args",
    )
    deployment["spec"]["template"]["spec"]["containers"][0]["args"] = ["--target=Deployment/other"]
    assert find_autoscaler(deployment, "kube-system", "kube-dns") is None


def _in_progress(original: int, paused_autoscaler: bool = False) -> dict[str, Any]:
    annotations = {ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS: str(original)}
    if paused_autoscaler:
        annotations[ANNOTATION_AUTOSCALER] = json.dumps(
            {"name": "kube-dns-autoscaler", "replicas": 1, "target": "Deployment/kube-dns"}
        )
    return {"metadata": {"name": "coredns", "annotations": annotations}, "spec": {"replicas": 2}}


def test_resumed_switch_gets_the_same_plan() -> None:
    fresh = make_plan(make_facts(nodes=4, replicas=3, autoscalers=(AUTOSCALER,)), SwitchOptions())
    paused = dataclasses.replace(AUTOSCALER, replicas=0)
    resumed_facts = make_facts(
        nodes=4,
        replicas=3,
        dns_on=[0, 1, 2],
        kube_dns_replicas=1,
        autoscalers=(paused,),
        coredns_deployment=_in_progress(3, paused_autoscaler=True),
    )
    resumed = make_plan(resumed_facts, SwitchOptions())
    assert resumed.ids() == fresh.ids()
    assert resumed.original_kube_dns_replicas == 3
    assert resumed.autoscaler is not None and resumed.autoscaler.replicas == 1
    assert resumed.step("finish-autoscaler").kubectl == fresh.step("finish-autoscaler").kubectl
    assert isinstance(resumed, Plan)


def test_nothing_to_switch() -> None:
    with pytest.raises(CheckFailed, match="0 replicas"):
        make_plan(make_facts(nodes=3, replicas=0, dns_on=[]), SwitchOptions())
    facts = dataclasses.replace(make_facts(), kube_dns_deployment=None)
    with pytest.raises(CheckFailed, match="not found"):
        make_plan(facts, SwitchOptions())


def test_autoscaler_paused_by_the_wizard_keeps_its_original_replicas() -> None:
    record = json.dumps({"name": "dns-autoscaler", "namespace": "kube-system", "replicas": 2})
    deployment: dict[str, Any] = {
        "metadata": {
            "name": "dns-autoscaler",
            "namespace": "kube-system",
            "annotations": {ANNOTATION_AUTOSCALER: record},
        },
        "spec": {
            "replicas": 0,
            "template": {
                "spec": {"containers": [{"name": "a", "command": ["/cpa", "--target=Deployment/kube-dns"]}]}
            },
        },
    }
    found = find_autoscaler(deployment, "kube-system", "kube-dns")
    assert found is not None and found.replicas == 2


EDITED = """.:53 {
    errors
    health
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . 9.9.9.9
    cache 60
}
"""


def test_edited_corefile_replaces_the_translation_everywhere() -> None:
    plan = make_plan(make_facts(nodes=4), SwitchOptions(corefile_override=EDITED))
    configmap = next(o for o in plan.manifests.objects if o["kind"] == "ConfigMap")
    assert configmap["data"]["Corefile"] == EDITED
    assert plan.manifests.corefile_text == EDITED
    assert "forward . 9.9.9.9" in plan.manifests.yaml_text
    assert "abc.com:53" not in plan.manifests.yaml_text
    assert any("edited by the operator" in n for n in plan.manifests.notes)


def test_edited_corefile_the_version_refuses_is_bad_input() -> None:
    broken = EDITED.replace("cache 60", "federation cluster.local {\n        foo foo.example.com\n    }")
    with pytest.raises(InputError, match="edited Corefile:"):
        make_plan(make_facts(nodes=4), SwitchOptions(corefile_override=broken))
