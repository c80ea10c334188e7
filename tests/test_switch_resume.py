"""A switch killed (SIGKILL) at a step boundary and started again neither repeats nor skips a step,
with the journal (same machine) and from the cluster's annotations alone (another machine)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from endpoint_watch import EndpointWatch
from switch_support import deployment_replicas, fast_options, gateway_for, make_test_plan

from wizard.migration.journal import Journal
from wizard.migration.switch import Switcher
from wizard.migration.switch_state import current_entries, read_cluster_record

HERE = Path(__file__).resolve().parent


def run_until(lab: Any, journal_path: Path, boundary: str) -> None:
    """Start a switch in a child process and SIGKILL it right after `boundary` finished."""
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    child = subprocess.Popen(
        [sys.executable, str(HERE / "switch_support.py"), str(lab.kubeconfig_path), str(journal_path), "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    seen: list[str] = []
    try:
        for line in child.stdout:
            seen.append(line.strip())
            if line.startswith(f"FINISHED {boundary} "):
                child.send_signal(signal.SIGKILL)
                break
            if line.startswith("OUTCOME"):
                break
    finally:
        child.kill()
        child.wait(30)
    assert any(s.startswith(f"FINISHED {boundary} ") for s in seen), (
        seen,
        child.stderr.read() if child.stderr else "",
    )


@pytest.mark.parametrize(
    ("boundary", "with_journal"),
    [("deploy", True), ("r1.scale-coredns", True), ("r1.scale-kube-dns", True), ("r2.scale-coredns", False)],
)
@pytest.mark.lab_options(nodes=4)
def test_killed_switch_resumes_without_repeating_or_skipping(
    lab: Any, tmp_path: Path, boundary: str, with_journal: bool
) -> None:
    journal_path = tmp_path / "journal.jsonl"
    with EndpointWatch(lab) as watch:
        run_until(lab, journal_path, boundary)
        journal = Journal(journal_path, operator="test@host")
        done_before = {e.step for e in current_entries(journal) if e.status == "done"}
        assert boundary in done_before
        gateway = gateway_for(lab)
        plan = make_test_plan(gateway, n=3)
        if not with_journal:  # another machine: only the annotation says how far the switch got
            phase = read_cluster_record(gateway, fast_options()).phase
            assert phase is not None
            done_before = set(plan.ids()[: plan.ids().index(phase) + 1])
        outcome = Switcher(
            gateway, plan, journal if with_journal else None, fast_options(observe_seconds=1.0)
        ).run()
    assert outcome.completed, outcome.reason
    watch.assert_never_below(3)  # grow-first on 4 nodes: an uninterrupted switch never has fewer
    assert set(outcome.steps_run) == set(plan.ids()) - done_before
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (3, 0)


def _notes(events: list[Any]) -> list[str]:
    return [e.message for e in events if type(e).__name__ == "Note"]


@pytest.mark.lab_options(nodes=4)
def test_a_fresh_switch_after_its_own_deploy_stage_does_not_say_resuming(lab: Any, tmp_path: Path) -> None:
    """The TUI applies the manifests in its deploy stage, then starts the switch stage in the
    same process: nothing was done by an earlier run, so nothing is "resumed"."""
    gateway = gateway_for(lab)
    plan = make_test_plan(gateway, n=3)
    journal = Journal(tmp_path / "journal.jsonl", operator="test@host")
    events: list[Any] = []
    deployed = Switcher(gateway, plan, journal, fast_options(), events.append).run(stop_after="deploy")
    assert deployed.completed, deployed.reason
    switched = Switcher(gateway, plan, journal, fast_options(), events.append).run(
        stop_after="r1.scale-coredns"
    )
    assert switched.completed, switched.reason
    assert switched.steps_run == ("r1.scale-coredns",)
    assert not [n for n in _notes(events) if "resuming" in n], _notes(events)


@pytest.mark.lab_options(nodes=4)
def test_a_switch_that_an_earlier_run_began_says_resuming(lab: Any, tmp_path: Path) -> None:
    journal_path = tmp_path / "journal.jsonl"
    run_until(lab, journal_path, "deploy")
    gateway = gateway_for(lab)
    plan = make_test_plan(gateway, n=3)
    events: list[Any] = []
    journal = Journal(journal_path, operator="test@host")
    outcome = Switcher(gateway, plan, journal, fast_options(), events.append).run(
        stop_after="r1.scale-coredns"
    )
    assert outcome.completed, outcome.reason
    resuming = [n for n in _notes(events) if n.startswith("resuming:")]
    assert len(resuming) == 1 and "continuing at r1.scale-coredns" in resuming[0], _notes(events)
