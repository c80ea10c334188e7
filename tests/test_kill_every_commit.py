"""SIGKILL at a commit of a switch and of a rollback (a journal entry written, or a write the API
server accepted: tests/kill_support.py), then a rerun: it ends correct, and the kube-dns Service
never had fewer ready endpoints than an uninterrupted run has (3 on this 4-node lab, measured with
KILL_AT 0: the Endpoints go 3,4,3,4,3,4,3 in both).

On 3 nodes the rollback swaps in place (never fewer than N-1 = 2 ready endpoints, as uninterrupted).
CI runs a slice of the kill points; `WIZARD_KILL_EVERY_COMMIT=1` runs every one of them (about
80 for the switch and 50 + 55 for the rollbacks, some 10-25 s each: a benchmark, not a CI job)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from endpoint_watch import EndpointWatch
from switch_support import NS, deployment_replicas, fast_options, gateway_for, make_test_plan

from wizard.migration.autoscaler import target_flag_of
from wizard.migration.journal import Journal
from wizard.migration.rollback import rollback
from wizard.migration.switch import Switcher
from wizard.migration.switch_state import read_cluster_record

HERE = Path(__file__).resolve().parent
UNINTERRUPTED_MINIMUM = 3
SWITCH_COMMITS = 79
ROLLBACK_COMMITS = 52
EVERY = bool(os.environ.get("WIZARD_KILL_EVERY_COMMIT"))
SWITCH_POINTS = range(1, SWITCH_COMMITS) if EVERY else (7, 33, 71)
ROLLBACK_POINTS = range(1, ROLLBACK_COMMITS) if EVERY else (4, 19, 37)
LAB = {"nodes": 4, "kernel": "fixed", "faults": ("autoscaler",)}
SWAP_ROLLBACK_COMMITS = 55
"""On 3 nodes after a shrink-first switch every kube-dns pod comes back by a swap; uninterrupted,
the Endpoints go 3,2,3,2,3,2,3. Commit 7 is the first swap's CoreDNS scale-down: killed there,
the rerun finds that pod terminating."""
SWAP_ROLLBACK_POINTS = range(1, SWAP_ROLLBACK_COMMITS) if EVERY else (7, 22, 41)


def killed_at(lab: Any, what: str, journal: Path, kill_at: int) -> str:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    child = subprocess.run(
        [
            sys.executable, str(HERE / "kill_support.py"), what, str(lab.kubeconfig_path), str(journal),
            str(kill_at),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert child.returncode == -9, (child.returncode, child.stdout, child.stderr[-2000:])
    return child.stderr


def autoscaler(lab: Any) -> tuple[str, int]:
    scaler = lab.store.get("deployments.apps", NS, "kube-dns-autoscaler")
    flag = target_flag_of(scaler)
    return (flag.value if flag else "?", int(scaler["spec"]["replicas"]))


@pytest.mark.parametrize("kill_at", SWITCH_POINTS)
@pytest.mark.lab_options(**LAB)
def test_switch_killed_at_a_commit_then_resumed(lab: Any, tmp_path: Path, kill_at: int) -> None:
    path = tmp_path / "journal.jsonl"
    with EndpointWatch(lab) as watch:
        killed_at(lab, "switch", path, kill_at)
        gateway = gateway_for(lab)
        outcome = Switcher(
            gateway, make_test_plan(gateway, n=3), Journal(path, operator="test@host"),
            fast_options(observe_seconds=1.0),
        ).run()
    assert outcome.completed, (kill_at, outcome.reason)
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (3, 0)
    assert autoscaler(lab) == ("Deployment/coredns", 1)
    assert read_cluster_record(gateway, fast_options()).phase == "completed"
    watch.assert_never_below(UNINTERRUPTED_MINIMUM)


@pytest.mark.parametrize("kill_at", ROLLBACK_POINTS)
@pytest.mark.lab_options(**LAB)
def test_rollback_killed_at_a_commit_then_run_again(lab: Any, tmp_path: Path, kill_at: int) -> None:
    path = tmp_path / "journal.jsonl"
    gateway = gateway_for(lab)
    switched = Switcher(
        gateway, make_test_plan(gateway, n=3), Journal(path, operator="test@host"),
        fast_options(observe_seconds=1.0),
    ).run()
    assert switched.completed, switched.reason
    with EndpointWatch(lab) as watch:
        killed_at(lab, "rollback", path, kill_at)
        result = rollback(gateway_for(lab), Journal(path, operator="test@host"), fast_options())
    assert result.completed, (kill_at, result.reason)
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    assert autoscaler(lab) == ("Deployment/kube-dns", 1)
    record = read_cluster_record(gateway, fast_options())
    assert record.phase == "rolled-back" and record.autoscaler is None and record.rollback_step is None
    watch.assert_never_below(UNINTERRUPTED_MINIMUM)


@pytest.mark.parametrize("kill_at", SWAP_ROLLBACK_POINTS)
@pytest.mark.lab_options(**{**LAB, "nodes": 3})
def test_swapping_rollback_killed_at_a_commit_then_run_again(lab: Any, tmp_path: Path, kill_at: int) -> None:
    path = tmp_path / "journal.jsonl"
    gateway = gateway_for(lab)
    switched = Switcher(
        gateway, make_test_plan(gateway, "shrink-first", n=3), Journal(path, operator="test@host"),
        fast_options(observe_seconds=1.0),
    ).run()
    assert switched.completed, switched.reason
    with EndpointWatch(lab) as watch:
        killed_at(lab, "rollback", path, kill_at)
        result = rollback(gateway_for(lab), Journal(path, operator="test@host"), fast_options())
    assert result.completed, (kill_at, result.reason)
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    assert autoscaler(lab) == ("Deployment/kube-dns", 1)
    watch.assert_never_below(2)  # N-1: what the uninterrupted swapping rollback has
