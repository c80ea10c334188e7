"""Containment is a change like any other: confirmed when the operator confirms changes, journaled,
recorded on the CoreDNS Deployment, and finished by the next `switch` when a wizard stops half-way.
Against the lab over real HTTP and DNS."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from containment_support import EndpointHistory, pod_ips
from switch_support import (
    Recorder,
    deployment_replicas,
    fast_options,
    gateway_for,
    journal_in,
    make_test_plan,
)

from wizard.migration import containment
from wizard.migration.journal import Journal
from wizard.migration.plan import Step
from wizard.migration.progress import Note, StepFinished
from wizard.migration.switch import Switcher
from wizard.migration.switch_state import read_cluster_record


class Killed(BaseException):
    """Stands for the wizard's process dying (not an error the engine could catch)."""


@pytest.mark.lab_options(nodes=3, kube_dns_replicas=2, kernel="fixed")
def test_a_containment_interrupted_after_its_scale_is_finished_by_the_next_switch(
    lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab.faults.on("coredns-servfail")
    original_wait = containment.Containment._wait_left

    def die(self: Any, *args: Any) -> Any:
        raise Killed()

    monkeypatch.setattr(containment.Containment, "_wait_left", die)
    gateway = gateway_for(lab)
    with pytest.raises(Killed):
        Switcher(gateway, make_test_plan(gateway), journal_in(tmp_path), fast_options()).run()
    record = read_cluster_record(gateway, fast_options())
    assert record.containment is not None and record.containment.state == "in-progress"
    assert record.phase == "r1.wait-ready"  # not rewound yet: the containment did not finish
    assert deployment_replicas(lab, "coredns") == 0  # the scale was sent before the "crash"

    monkeypatch.setattr(containment.Containment, "_wait_left", original_wait)
    lab.faults.off("coredns-servfail")
    recorder = Recorder()
    with EndpointHistory(lab) as history:
        outcome = Switcher(
            gateway, make_test_plan(gateway), journal_in(tmp_path), fast_options(), recorder
        ).run()
    assert outcome.completed, outcome.reason
    notes = [n.message for n in recorder.of(Note)]
    assert any("interrupted" in n and "finishing it first" in n for n in notes), notes
    done = [e.step.id for e in recorder.of(StepFinished) if e.outcome == "done"]
    assert done[0] == "r1.scale-coredns"  # resumed at the contained round, not at r1.probe
    history.never_empty()
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (2, 0)


@pytest.mark.lab_options(nodes=3, kube_dns_replicas=2, kernel="fixed")
def test_a_wizard_without_the_journal_resumes_at_the_contained_round(lab: Any, tmp_path: Path) -> None:
    lab.faults.on("coredns-servfail")
    gateway = gateway_for(lab)
    outcome = Switcher(gateway, make_test_plan(gateway), journal_in(tmp_path), fast_options()).run()
    assert "Contained" in outcome.reason
    lab.faults.off("coredns-servfail")
    elsewhere = Journal(tmp_path / "other-machine" / "journal.jsonl", operator="other@host")
    recorder = Recorder()
    again = Switcher(gateway, make_test_plan(gateway), elsewhere, fast_options(), recorder).run()
    assert again.completed, again.reason
    done = [e.step.id for e in recorder.of(StepFinished) if e.outcome == "done"]
    assert done[0] == "r1.scale-coredns"


@pytest.mark.lab_options(nodes=3, kube_dns_replicas=2, kernel="fixed")
def test_interactive_containment_is_shown_and_declining_it_says_traffic_reaches_the_pod(
    lab: Any, tmp_path: Path
) -> None:
    lab.faults.on("coredns-servfail")
    asked: list[tuple[str, str]] = []

    def confirm(step: Step, what: str) -> bool:
        asked.append((step.id, what))
        return not step.id.endswith(".contain")

    gateway = gateway_for(lab)
    options = fast_options(assume_yes=False)
    outcome = Switcher(gateway, make_test_plan(gateway), journal_in(tmp_path), options, None, confirm).run()
    contain_questions = [what for step_id, what in asked if step_id == "r1.contain"]
    assert contain_questions, asked
    assert "scale CoreDNS kube-system/coredns 1 → 0" in contain_questions[0]
    assert "SERVFAIL" in contain_questions[0]  # why, in the question itself
    assert "declined the containment" in outcome.reason
    assert "live traffic is reaching the failing pod" in outcome.reason, outcome.reason
    assert deployment_replicas(lab, "coredns") == 1  # nothing changed without a yes
    bad = pod_ips(lab, "coredns-")
    ready = {
        a["ip"]
        for s in lab.store.get("endpoints", "kube-system", "kube-dns").get("subsets") or []
        for a in s.get("addresses") or []
    }
    assert bad <= ready


def test_on_failure_is_a_shared_switch_option() -> None:
    from wizard.commands._options import add_switch_run_arguments, with_switch_run_options
    from wizard.options import SwitchOptions

    parser = argparse.ArgumentParser()
    add_switch_run_arguments(parser)
    assert with_switch_run_options(SwitchOptions(), parser.parse_args([])).on_failure == "contain"
    chosen = with_switch_run_options(SwitchOptions(), parser.parse_args(["--on-failure", "stop"]))
    assert chosen.on_failure == "stop"
    with pytest.raises(SystemExit):
        parser.parse_args(["--on-failure", "ignore"])


@pytest.mark.lab_options(nodes=3, kube_dns_replicas=2, kernel="fixed")
def test_the_switch_command_contains_by_default_and_stops_in_place_when_asked(
    lab: Any, tmp_path: Path
) -> None:
    from test_cmd_switch import wizard

    lab.faults.on("coredns-servfail")
    asked = wizard(
        lab, tmp_path, "switch", "--yes", "--observe", "1s", "--ready-timeout", "30s", "--on-failure", "stop"
    )
    assert asked.returncode == 1 and "Traceback" not in asked.stderr
    assert "live traffic is reaching the failing pod" in asked.stderr, asked.stderr[-2000:]
    assert deployment_replicas(lab, "coredns") == 1
    default = wizard(lab, tmp_path, "switch", "--yes", "--observe", "1s", "--ready-timeout", "30s")
    assert default.returncode == 1 and "Traceback" not in default.stderr
    assert "Contained round 1: scaled CoreDNS kube-system/coredns 1 → 0" in default.stderr, default.stderr[
        -2000:
    ]
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 2)


@pytest.mark.lab_options(nodes=3, kube_dns_replicas=2, kernel="fixed")
def test_a_rollback_voids_an_interrupted_containment(
    lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wizard.migration.rollback import rollback

    lab.faults.on("coredns-servfail")
    original_wait = containment.Containment._wait_left

    def die(self: Any, *args: Any) -> Any:
        raise Killed()

    monkeypatch.setattr(containment.Containment, "_wait_left", die)
    gateway = gateway_for(lab)
    with pytest.raises(Killed):
        Switcher(gateway, make_test_plan(gateway), journal_in(tmp_path), fast_options()).run()
    monkeypatch.setattr(containment.Containment, "_wait_left", original_wait)
    lab.faults.off("coredns-servfail")
    result = rollback(gateway, journal_in(tmp_path), fast_options())
    assert result.completed, result.reason
    recorder = Recorder()
    outcome = Switcher(gateway, make_test_plan(gateway), journal_in(tmp_path), fast_options(), recorder).run()
    assert outcome.completed, outcome.reason
    assert not any("interrupted" in n.message for n in recorder.of(Note))
    assert read_cluster_record(gateway, fast_options()).containment is None
