"""What an operator sees around a rollback: the exact steps before it starts (engine preview and
the CLI's list), and a `status` after a declined or half-done rollback that says where things
stand and what to run, never "completed" or "clean-up allowed"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from endpoint_watch import EndpointWatch
from switch_support import deployment_replicas, fast_options, gateway_for, journal_in
from test_cmd_switch import wizard
from test_rollback_scheduling import switch_shrink_first

from wizard.migration.rollback import preview_rollback, rollback
from wizard.migration.status import read_status, status_lines


def declining(step_id: str) -> Any:
    def confirm(step: Any, what: str) -> bool:
        return bool(step.id != step_id)

    return confirm


@pytest.mark.lab_options(kernel="fixed")
def test_preview_declined_and_partial_rollback_status_then_the_cli_finishes_it(
    lab: Any, tmp_path: Path
) -> None:
    switch_shrink_first(lab, tmp_path)
    gateway = gateway_for(lab)
    journal = journal_in(tmp_path)
    steps = preview_rollback(gateway, journal, fast_options())
    ids = [s.id for s in steps]
    assert ids == [
        *(f"rollback.s{k}.{what}" for k in (1, 2, 3) for what in (
            "scale-coredns", "wait-coredns-gone", "scale-kube-dns", "wait-kube-dns"
        )),
    ], ids  # CoreDNS ends at 0 through the swaps: no separate (no-op) scale to 0
    assert len(set(ids)) == len(ids)

    # declined before anything changed
    asking = fast_options(assume_yes=False)
    declined = rollback(gateway, journal, asking, None, declining(ids[0]))
    assert not declined.completed and "declined" in declined.reason
    status = read_status(gateway, journal, fast_options())
    assert status.phase == "rolling-back" and not status.cleanup_allowed
    assert status.rollback is not None and status.rollback.how == "declined"
    text = "\n".join(status_lines(status))
    assert "phase: completed" not in text and "clean-up: allowed" not in text
    assert "declined at rollback.s1.scale-coredns before it changed anything" in status.next_action
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (3, 0)

    # half-way: the second swap declined
    with EndpointWatch(lab) as watch:
        partial = rollback(gateway, journal, asking, None, declining("rollback.s2.scale-coredns"))
    assert not partial.completed
    watch.assert_never_below(2)
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (2, 1)
    status = read_status(gateway, journal, fast_options())
    assert status.phase == "rolling-back"
    assert status.rollback is not None and status.rollback.last_done == "rollback.s1.wait-kube-dns"
    assert "finish the rollback: run `coredns-wizard rollback`" in status.next_action
    assert "kube-dns has 1 of 3 replicas back" in status.next_action
    # another machine (no journal) reads the same from the CoreDNS Deployment's annotations
    elsewhere = read_status(gateway, None, fast_options())
    assert elsewhere.phase == "rolling-back" and not elsewhere.cleanup_allowed

    shown = wizard(lab, tmp_path, "status")
    assert shown.returncode == 0, shown.stderr
    assert "phase: rolling-back" in shown.stdout and "next: finish the rollback" in shown.stdout
    with EndpointWatch(lab) as watch:
        done = wizard(lab, tmp_path, "rollback", "--yes", "--ready-timeout", "30s")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "The rollback will run these 8 step(s), in order:" in done.stderr, done.stderr[:2000]
    assert "  1. Scale CoreDNS kube-system/coredns 2 → 1 to free a node" in done.stderr
    watch.assert_never_below(2)
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    final = read_status(gateway, None, fast_options())
    assert final.phase == "rolled-back" and final.rollback is None
