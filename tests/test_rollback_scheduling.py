"""Rollback where CoreDNS's anti-affinity leaves no node for a kube-dns pod (the default 3-node
lab after a shrink-first switch): kube-dns comes back by swapping in place, the Service never
loses its last ready endpoint, and a refused kube-dns pod stops the rollback with the scheduler's
message instead of a timeout."""

from __future__ import annotations

import threading
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

import wizard.migration.pending_pods
from wizard.migration.progress import Note, StepFinished
from wizard.migration.rollback import rollback
from wizard.migration.switch import Switcher


def switch_shrink_first(lab: Any, tmp_path: Path, stop_after: str | None = None) -> None:
    """Run a shrink-first switch on the lab; with `stop_after`, cancel it once that step is done."""
    gateway = gateway_for(lab)
    cancel = threading.Event()

    def on_event(event: Any) -> None:
        if isinstance(event, StepFinished) and event.step.id == stop_after:
            cancel.set()

    plan = make_test_plan(gateway, "shrink-first")
    outcome = Switcher(gateway, plan, journal_in(tmp_path), fast_options(), on_event, None, cancel).run()
    assert outcome.completed == (stop_after is None), outcome.reason


def kube_dns_nodes(lab: Any) -> list[str]:
    pods, _ = lab.store.list("pods", NS)
    return sorted(
        p["spec"].get("nodeName") or "-"
        for p in pods
        if p["metadata"]["name"].startswith("kube-dns-") and not p["metadata"].get("deletionTimestamp")
    )


def finished(recorder: Recorder) -> list[str]:
    return [e.step.id for e in recorder.of(StepFinished) if e.outcome == "done"]


@pytest.mark.lab_options(kernel="fixed")
def test_rollback_from_the_end_swaps_in_place_on_three_nodes(lab: Any, tmp_path: Path) -> None:
    switch_shrink_first(lab, tmp_path)
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (3, 0)
    before = lab.store.resource_version
    preview = Recorder()
    dry = rollback(gateway_for(lab, "dry-run"), None, fast_options(mode="dry-run"), preview)
    assert dry.completed, dry.reason
    assert [e.step.id for e in preview.of(StepFinished) if e.outcome == "dry-run"][:2] == [
        "rollback.s1.scale-coredns",
        "rollback.s1.wait-coredns-gone",
    ]
    assert lab.store.resource_version == before  # the preview changed nothing
    recorder = Recorder()
    with EndpointWatch(lab) as watch, BackgroundProber(lab) as prober:
        result = rollback(gateway_for(lab), journal_in(tmp_path), fast_options(), recorder)
    assert result.completed, result.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    assert prober.queries > 20 and prober.failures == []
    watch.assert_never_below(2)
    assert_lost_tries(prober)
    assert any("swap in place" in n.message for n in recorder.of(Note))
    steps = finished(recorder)
    for k in (1, 2, 3):
        assert f"rollback.s{k}.scale-coredns" in steps and f"rollback.s{k}.wait-kube-dns" in steps
        # each round frees a node before it asks for the kube-dns pod that goes there
        assert steps.index(f"rollback.s{k}.wait-coredns-gone") < steps.index(f"rollback.s{k}.scale-kube-dns")
    assert kube_dns_nodes(lab) == ["10.0.1.1", "10.0.1.2", "10.0.1.3"]  # spread as before


@pytest.mark.lab_options(kernel="fixed")
def test_rollback_from_the_middle_of_the_last_round_on_three_nodes(lab: Any, tmp_path: Path) -> None:
    # stopped before round 3's probe: every node runs a CoreDNS pod, kube-dns is at 0
    switch_shrink_first(lab, tmp_path, stop_after="r3.wait-ready")
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (3, 0)
    recorder = Recorder()
    with EndpointWatch(lab) as watch, BackgroundProber(lab) as prober:
        result = rollback(gateway_for(lab), journal_in(tmp_path), fast_options(), recorder)
    assert result.completed, result.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    assert prober.queries > 20 and prober.failures == []
    watch.assert_never_below(2)
    assert_lost_tries(prober)
    assert any("swap in place" in n.message for n in recorder.of(Note))


@pytest.mark.lab_options(kernel="fixed")
def test_rollback_from_an_earlier_round_swaps_so_kube_dns_stays_spread(lab: Any, tmp_path: Path) -> None:
    # after round 1 two nodes run kube-dns and one runs CoreDNS: growing kube-dns now would put two
    # kube-dns pods on one node, so the missing one takes the CoreDNS pod's node instead
    switch_shrink_first(lab, tmp_path, stop_after="r1.observe")
    recorder = Recorder()
    with EndpointWatch(lab) as watch, BackgroundProber(lab) as prober:
        result = rollback(gateway_for(lab), journal_in(tmp_path), fast_options(), recorder)
    assert result.completed, result.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    assert prober.failures == []
    watch.assert_never_below(2)
    assert_lost_tries(prober)
    assert any("swap in place" in n.message for n in recorder.of(Note))
    assert finished(recorder)[:2] == ["rollback.s1.scale-coredns", "rollback.s1.wait-coredns-gone"]
    assert kube_dns_nodes(lab) == ["10.0.1.1", "10.0.1.2", "10.0.1.3"]


@pytest.mark.lab_options(nodes=4, kernel="fixed")
def test_rollback_on_four_nodes_grows_onto_the_free_node_then_swaps(lab: Any, tmp_path: Path) -> None:
    gateway = gateway_for(lab)
    outcome = Switcher(gateway, make_test_plan(gateway), journal_in(tmp_path), fast_options()).run()
    assert outcome.completed, outcome.reason
    recorder = Recorder()
    with EndpointWatch(lab) as watch, BackgroundProber(lab) as prober:
        result = rollback(gateway_for(lab), None, fast_options(), recorder)
    assert result.completed, result.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    assert prober.failures == []
    watch.assert_never_below(3)  # one kube-dns pod is serving before the first CoreDNS pod goes
    assert_lost_tries(prober)
    steps = finished(recorder)
    assert steps.index("rollback.grow-kube-dns") < steps.index("rollback.s1.scale-coredns")
    assert "rollback.s3.scale-coredns" not in steps
    nodes = kube_dns_nodes(lab)
    assert len(set(nodes)) == 3, nodes  # spread, not three pods on the one free node


@pytest.mark.lab_options(kernel="fixed")
def test_rollback_stops_with_the_scheduler_message_when_kube_dns_cannot_be_placed(
    lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    switch_shrink_first(lab, tmp_path)
    monkeypatch.setattr(wizard.migration.pending_pods, "UNSCHEDULABLE_GRACE_S", 1.0)
    lab.faults.on("unschedulable")  # no node takes a new pod any more
    # a wait-out would end with "timed out after 10 min", never with the scheduler's words
    result = rollback(gateway_for(lab), journal_in(tmp_path), fast_options(ready_timeout_seconds=600.0))
    assert not result.completed
    assert "cannot be scheduled" in result.reason and "Insufficient cpu" in result.reason, result.reason
    assert "timed out" not in result.reason
    assert "rollback" in result.advice
    # one CoreDNS pod made room, the rest still serve: the Service kept ready endpoints
    assert deployment_replicas(lab, "coredns") == 2
    ep = lab.store.get("endpoints", NS, "kube-dns")
    assert [a for s in ep.get("subsets") or [] for a in s.get("addresses") or []]


@pytest.mark.lab_options(kernel="fixed")
def test_rollback_repairs_kube_dns_pods_left_pending_by_an_earlier_rollback(lab: Any, tmp_path: Path) -> None:
    switch_shrink_first(lab, tmp_path)
    gateway = gateway_for(lab)
    gateway.scale_deployment(NS, "kube-dns", 3)  # what the old rollback did: 3 pods stay Pending
    with EndpointWatch(lab) as watch, BackgroundProber(lab) as prober:
        result = rollback(gateway, journal_in(tmp_path), fast_options())
    assert result.completed, result.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    assert prober.failures == []
    watch.assert_never_below(2)
    assert_lost_tries(prober)


@pytest.mark.lab_options(nodes=6, kernel="fixed")
def test_rollback_on_six_nodes_grows_kube_dns_first_and_never_drops_an_endpoint(
    lab: Any, tmp_path: Path
) -> None:
    """Three free nodes: kube-dns comes back whole, on distinct nodes, before CoreDNS goes. The
    watch fails a rollback that scales CoreDNS to 0 before kube-dns is Ready (checked by mutation)."""
    gateway = gateway_for(lab)
    outcome = Switcher(gateway, make_test_plan(gateway), journal_in(tmp_path), fast_options()).run()
    assert outcome.completed, outcome.reason
    recorder = Recorder()
    with EndpointWatch(lab) as watch, BackgroundProber(lab) as prober:
        result = rollback(gateway_for(lab), None, fast_options(), recorder)
    assert result.completed, result.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    watch.assert_never_below(3)
    assert prober.failures == []
    assert_lost_tries(prober)
    assert any("grow kube-dns first" in n.message for n in recorder.of(Note))
    steps = finished(recorder)
    assert steps == ["rollback.scale-kube-dns", "rollback.wait-kube-dns", "rollback.scale-coredns"], steps
    assert len(set(kube_dns_nodes(lab))) == 3
