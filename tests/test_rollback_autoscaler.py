"""The kube-dns autoscaler through a switch, a resume and a rollback: either flag form is found and
retargeted, a switch killed between the retarget and the scale-back resumes it, and a rollback
pauses it first and restores it last, so it cannot fight the rollback (3 and 4 nodes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from endpoint_watch import EndpointWatch, assert_lost_tries
from switch_support import (
    NS,
    Recorder,
    deployment_replicas,
    fast_options,
    gateway_for,
    journal_in,
    make_test_plan,
)
from test_switch_engine import BackgroundProber

from wizard.migration.autoscaler import target_flag_of
from wizard.migration.facts import collect_facts
from wizard.migration.progress import StepFinished
from wizard.migration.rollback import preview_rollback, rollback
from wizard.migration.switch import Switcher
from wizard.migration.switch_state import current_entries, read_cluster_record

AUTOSCALER = "kube-dns-autoscaler"


def write_target_as_two_words(lab: Any) -> None:
    """`--target Deployment/kube-dns` in args instead of `--target=` in command (both are valid)."""
    gateway = gateway_for(lab)
    scaler = gateway.get_deployment(NS, AUTOSCALER)
    container = scaler["spec"]["template"]["spec"]["containers"][0]
    words = [w for w in container["command"] if not w.startswith("--target")]
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": container["name"],
                            "command": words[:1],
                            "args": [*words[1:], "--target", "Deployment/kube-dns"],
                        }
                    ]
                }
            }
        }
    }
    gateway.patch_deployment(NS, AUTOSCALER, patch)


def autoscaler_target(lab: Any) -> tuple[str, str, int]:
    scaler = lab.store.get("deployments.apps", NS, AUTOSCALER)
    flag = target_flag_of(scaler)
    assert flag is not None
    return flag.value, flag.field, int(scaler["spec"]["replicas"])


@pytest.mark.lab_options(nodes=4, kernel="fixed", faults=("autoscaler",))
def test_two_word_target_is_retargeted_and_kube_dns_stays_at_zero(lab: Any, tmp_path: Path) -> None:
    write_target_as_two_words(lab)
    gateway = gateway_for(lab)
    facts = collect_facts(gateway, fast_options())
    assert facts.autoscaler is not None and facts.autoscaler.target == "Deployment/kube-dns"
    recorder = Recorder()
    with EndpointWatch(lab) as watch:
        plan = make_test_plan(gateway)
        outcome = Switcher(gateway, plan, journal_in(tmp_path), fast_options(), recorder).run()
    assert outcome.completed, outcome.reason
    assert autoscaler_target(lab) == ("Deployment/coredns", "args", 1)
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (3, 0)
    finish = [e for e in recorder.of(StepFinished) if e.step.id == "finish-autoscaler"]
    assert finish and "kube-dns stayed at 0" in finish[-1].detail, finish
    watch.assert_never_empty()


@pytest.mark.lab_options(nodes=4, kernel="fixed", faults=("autoscaler",))
def test_switch_killed_between_retarget_and_scale_back_resumes_the_autoscaler(
    lab: Any, tmp_path: Path
) -> None:
    gateway = gateway_for(lab)
    real_scale = gateway.scale_deployment

    def killed_before_scale_back(namespace: str, name: str, replicas: int) -> Any:
        if name == AUTOSCALER and replicas > 0:
            raise KeyboardInterrupt  # the process dies here: no failed entry, no annotation
        return real_scale(namespace, name, replicas)

    gateway.scale_deployment = killed_before_scale_back  # type: ignore[method-assign]
    journal = journal_in(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        Switcher(gateway, make_test_plan(gateway), journal, fast_options()).run()
    assert autoscaler_target(lab) == ("Deployment/coredns", "command", 0)
    last = current_entries(journal)[-1]
    assert (last.step, last.status) == ("finish-autoscaler", "intent")
    # a fresh wizard still finds the (retargeted) autoscaler, as it was before the switch
    fresh = gateway_for(lab)
    facts = collect_facts(fresh, fast_options())
    assert facts.autoscaler is not None
    assert (facts.autoscaler.target, facts.autoscaler.replicas) == ("Deployment/kube-dns", 1)
    outcome = Switcher(fresh, make_test_plan(fresh, n=3), journal, fast_options()).run()
    assert outcome.completed, outcome.reason
    assert outcome.steps_run == ("finish-autoscaler",)
    assert autoscaler_target(lab) == ("Deployment/coredns", "command", 1)
    assert deployment_replicas(lab, "kube-dns") == 0


@pytest.mark.parametrize(
    "nodes",
    [
        pytest.param(n, marks=pytest.mark.lab_options(nodes=n, kernel="fixed", faults=("autoscaler",)))
        for n in (3, 4)
    ],
)
def test_rollback_after_a_retargeting_switch_pauses_the_autoscaler_first(
    lab: Any, tmp_path: Path, nodes: int
) -> None:
    gateway = gateway_for(lab)
    order = "grow-first" if nodes == 4 else "shrink-first"
    outcome = Switcher(gateway, make_test_plan(gateway, order), journal_in(tmp_path), fast_options()).run()
    assert outcome.completed, outcome.reason
    assert autoscaler_target(lab)[0] == "Deployment/coredns"
    steps = preview_rollback(gateway, journal_in(tmp_path), fast_options())
    ids = [s.id for s in steps]
    assert ids[0] == "rollback.pause-autoscaler" and ids[-1] == "rollback.restore-autoscaler", ids
    recorder = Recorder()
    with EndpointWatch(lab) as watch, BackgroundProber(lab) as prober:
        result = rollback(gateway, journal_in(tmp_path), fast_options(), recorder)
    assert result.completed, result.reason
    assert [e.step.id for e in recorder.of(StepFinished)] == ids  # what the preview showed, exactly
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    assert autoscaler_target(lab) == ("Deployment/kube-dns", "command", 1)
    watch.assert_never_below(2)
    assert prober.queries > 20 and prober.failures == []
    assert_lost_tries(prober)
    record = read_cluster_record(gateway, fast_options())
    assert record.phase == "rolled-back" and record.autoscaler is None
