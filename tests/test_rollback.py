"""Rollback against the lab: from the middle and from the end of a switch, without a journal,
and never leaving the kube-dns Service without a ready endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from endpoint_watch import EndpointWatch, assert_lost_tries
from switch_support import deployment_replicas, fast_options, gateway_for, journal_in, make_test_plan
from test_switch_engine import BackgroundProber, run_switch

from wizard.errors import InputError
from wizard.migration.rollback import rollback
from wizard.migration.switch import Switcher
from wizard.migration.switch_state import read_cluster_record


@pytest.mark.lab_options(nodes=4, kernel="fixed")
def test_rollback_from_the_middle_keeps_the_service_served(lab: Any, tmp_path: Path) -> None:
    gateway = gateway_for(lab)
    plan = make_test_plan(gateway)
    journal = journal_in(tmp_path)

    def confirm(step: Any, what: str) -> bool:
        return bool(step.id != "r2.scale-kube-dns")

    outcome = Switcher(gateway, plan, journal, fast_options(assume_yes=False), None, confirm).run()
    assert outcome.stopped_at == "r2.scale-kube-dns" and "declined" in outcome.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (2, 2)
    with EndpointWatch(lab) as watch, BackgroundProber(lab) as prober:
        result = rollback(gateway, journal, fast_options())
    assert result.completed, result.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    assert prober.failures == []
    watch.assert_never_below(2)
    assert_lost_tries(prober)
    assert read_cluster_record(gateway, fast_options()).phase == "rolled-back"
    # a new switch after the rollback starts from the beginning again
    again = Switcher(gateway, plan, journal, fast_options()).run()
    assert again.completed, again.reason
    assert again.steps_run[0] == "deploy"


@pytest.mark.lab_options(nodes=4, kernel="fixed")
def test_rollback_from_the_end(lab: Any, tmp_path: Path) -> None:
    outcome, _ = run_switch(lab, tmp_path)
    assert outcome.completed
    with EndpointWatch(lab) as watch, BackgroundProber(lab) as prober:
        result = rollback(gateway_for(lab), None, fast_options())  # annotations only: no journal
    assert result.completed, result.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    assert prober.failures == []
    watch.assert_never_below(2)
    assert_lost_tries(prober)
    # this machine's journal never saw that rollback: a new switch must not trust its old entries
    gateway = gateway_for(lab)
    again = Switcher(gateway, make_test_plan(gateway), journal_in(tmp_path), fast_options()).run()
    assert again.completed, again.reason
    assert again.steps_run[0] == "deploy" and "r1.scale-coredns" in again.steps_run


@pytest.mark.lab_options(nodes=4)
def test_rollback_without_any_record_asks_for_the_count(lab: Any, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--kube-dns-replicas"):
        rollback(gateway_for(lab), journal_in(tmp_path), fast_options())
    assert deployment_replicas(lab, "kube-dns") == 3


@pytest.mark.lab_options(nodes=4, kernel="fixed")
def test_rollback_is_resumable_it_can_run_twice(lab: Any, tmp_path: Path) -> None:
    outcome, _ = run_switch(lab, tmp_path)
    assert outcome.completed
    before = lab.store.resource_version
    dry = rollback(gateway_for(lab, "dry-run"), journal_in(tmp_path), fast_options(mode="dry-run"))
    assert dry.completed and "would restore" in dry.reason, dry.reason
    assert lab.store.resource_version == before  # a dry-run rollback changes nothing
    first = rollback(gateway_for(lab), journal_in(tmp_path), fast_options())
    second = rollback(gateway_for(lab), journal_in(tmp_path), fast_options())
    assert first.completed and second.completed, (first.reason, second.reason)
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
