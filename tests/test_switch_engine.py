"""The switch engine against the lab: full switches, both orders, faults, dry-run, rollback."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest
from switch_support import (
    NS,
    Recorder,
    deployment_replicas,
    fast_options,
    gateway_for,
    journal_in,
    make_test_plan,
)

from wizard.migration.progress import ObservationTick, ProbeBatch, Problem, StepFinished, SwitchCompleted
from wizard.migration.rollback import rollback
from wizard.migration.switch import Switcher, SwitchOutcome
from wizard.migration.switch_state import read_cluster_record


class BackgroundProber:
    """Asks the kube-dns Service IP continuously, as the cluster's workloads do: like the glibc
    resolver (resolv.conf `attempts:2`), a lookup fails only when two tries go unanswered; a
    single datagram in flight at the instant kube-proxy drops a removed backend is retried, and
    `lost_tries` counts those."""

    def __init__(self, lab: Any) -> None:
        self.target = (lab.dns_service_ip, lab.dns_port)
        self.queries = 0
        self.lost_tries = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _lookup(self, query: dns.message.Message) -> str | None:
        """None when answered correctly, else what went wrong on the last try."""
        problem = "no try"
        for _ in range(2):
            try:
                answer = dns.query.udp(query, self.target[0], port=self.target[1], timeout=1.0)
            except Exception as err:  # every failure is what the test counts
                self.lost_tries += 1
                problem = repr(err)
                continue
            if answer.rcode() != 0 or not answer.answer:
                return f"rcode {answer.rcode()} answers {answer.answer}"
            return None
        return problem

    def _run(self) -> None:
        query = dns.message.make_query("kubernetes.default.svc.cluster.local", "A")
        while not self._stop.is_set():
            problem = self._lookup(query)
            if problem is not None:
                self.failures.append(problem)
            self.queries += 1
            self._stop.wait(0.02)

    def __enter__(self) -> BackgroundProber:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def endpoint_owners(lab: Any) -> tuple[set[str], set[str]]:
    """(ready endpoint IPs, IPs of CoreDNS pods) from the lab's store."""
    ep = lab.store.get("endpoints", NS, "kube-dns")
    ready = {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}
    pods, _ = lab.store.list("pods", NS)
    coredns = {p["status"].get("podIP") for p in pods if p["metadata"]["name"].startswith("coredns-")}
    return ready, coredns


def run_switch(
    lab: Any, tmp_path: Path, order: str = "grow-first", **options: Any
) -> tuple[SwitchOutcome, Recorder]:
    gateway = gateway_for(lab)
    plan = make_test_plan(gateway, order)
    recorder = Recorder()
    outcome = Switcher(gateway, plan, journal_in(tmp_path), fast_options(**options), recorder).run()
    return outcome, recorder


def steps_with(recorder: Recorder, outcome: str) -> list[str]:
    return [e.step.id for e in recorder.of(StepFinished) if e.outcome == outcome]


# kernel "fixed": the cluster after the guide's stage 2 (stale IPVS UDP sessions to a removed
# kube-dns pod are flushed); with the old kernel a client reusing a source port loses queries
# whatever the wizard does, which is why the pre-flight advises the IPVS timeout change.
@pytest.mark.lab_options(nodes=4, kernel="fixed")
def test_full_switch_grow_first_without_a_failed_query(lab: Any, tmp_path: Path) -> None:
    with BackgroundProber(lab) as prober:
        outcome, recorder = run_switch(lab, tmp_path)
    assert outcome.completed, outcome.reason
    assert deployment_replicas(lab, "coredns") == 3
    assert deployment_replicas(lab, "kube-dns") == 0
    ready, coredns_ips = endpoint_owners(lab)
    assert len(ready) == 3 and ready <= coredns_ips
    assert prober.queries > 20
    assert prober.failures == []
    assert recorder.of(SwitchCompleted)
    assert recorder.of(ProbeBatch) and recorder.of(ObservationTick)
    record = read_cluster_record(gateway_for(lab), fast_options())
    assert record.phase == "completed" and record.original_kube_dns_replicas == 3
    assert record.last_kube_dns_scale_down is not None


@pytest.mark.lab_options(nodes=2, kube_dns_replicas=2, kernel="fixed")
def test_shrink_first_on_two_nodes(lab: Any, tmp_path: Path) -> None:
    with BackgroundProber(lab) as prober:
        outcome, _ = run_switch(lab, tmp_path, "shrink-first")
    assert outcome.completed, outcome.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (2, 0)
    assert prober.failures == []


@pytest.mark.lab_options(nodes=4, faults=("coredns-crashloop",))
def test_crashloop_stops_before_any_kube_dns_scale_down_and_rolls_back(lab: Any, tmp_path: Path) -> None:
    outcome, recorder = run_switch(lab, tmp_path, ready_timeout_seconds=120.0)  # stops early: crash loop
    assert not outcome.completed
    assert outcome.stopped_at == "r1.wait-ready"
    assert "rollback" in outcome.advice
    assert not any("scale-kube-dns" in s for s in outcome.steps_run)
    assert deployment_replicas(lab, "kube-dns") == 3
    problems = recorder.of(Problem)
    assert problems and any("coredns-" in line for line in problems[0].evidence)
    evidence = "\n".join(problems[0].evidence)
    assert "CrashLoopBackOff" in evidence and "log:" in evidence  # why it crashes, from its logs
    gateway = gateway_for(lab)
    result = rollback(gateway, journal_in(tmp_path), fast_options())
    assert result.completed, result.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)


@pytest.mark.lab_options(nodes=4, faults=("coredns-servfail",))
def test_servfail_stops_at_the_probe(lab: Any, tmp_path: Path) -> None:
    outcome, _ = run_switch(lab, tmp_path)
    assert not outcome.completed
    assert outcome.stopped_at == "r1.probe"
    assert "SERVFAIL" in outcome.reason
    assert deployment_replicas(lab, "kube-dns") == 3


@pytest.mark.lab_options(nodes=4)
def test_unschedulable_stops_with_the_scheduler_message(lab: Any, tmp_path: Path) -> None:
    lab.faults.on("unschedulable")  # after start: kube-dns itself must get scheduled first
    outcome, recorder = run_switch(lab, tmp_path, ready_timeout_seconds=4.0)
    assert outcome.stopped_at == "r1.wait-ready"
    evidence = "\n".join(recorder.of(Problem)[0].evidence)
    assert "PodScheduled=False" in evidence
    assert deployment_replicas(lab, "kube-dns") == 3


@pytest.mark.lab_options(nodes=4, faults=("deny-scale",))
def test_deny_scale_stops_at_the_first_scale_with_the_permission_named(lab: Any, tmp_path: Path) -> None:
    outcome, _ = run_switch(lab, tmp_path)
    assert outcome.stopped_at == "r1.scale-coredns"
    assert "deployments/scale" in outcome.reason or "403" in outcome.reason
    assert deployment_replicas(lab, "kube-dns") == 3
    lab.faults.off("deny-scale")
    result = rollback(gateway_for(lab), journal_in(tmp_path), fast_options())
    assert result.completed, result.reason
    assert deployment_replicas(lab, "kube-dns") == 3


@pytest.mark.lab_options(nodes=4, faults=("autoscaler",))
def test_autoscaler_is_paused_recorded_and_retargeted(lab: Any, tmp_path: Path) -> None:
    outcome, _ = run_switch(lab, tmp_path)
    assert outcome.completed, outcome.reason
    scaler = lab.store.get("deployments.apps", NS, "kube-dns-autoscaler")
    command = scaler["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--target=Deployment/coredns" in command
    assert scaler["spec"]["replicas"] == 1
    record = read_cluster_record(gateway_for(lab), fast_options())
    assert record.autoscaler is not None and record.autoscaler.replicas == 1
    assert record.autoscaler.target == "Deployment/kube-dns"
    assert deployment_replicas(lab, "kube-dns") == 0


@pytest.mark.lab_options(nodes=4, faults=("autoscaler",))
def test_rollback_restores_the_autoscaler_exactly(lab: Any, tmp_path: Path) -> None:
    outcome, _ = run_switch(lab, tmp_path, autoscaler_policy="leave-paused")
    assert outcome.completed, outcome.reason
    assert deployment_replicas(lab, "kube-dns-autoscaler") == 0
    result = rollback(gateway_for(lab), journal_in(tmp_path), fast_options())
    assert result.completed, result.reason
    scaler = lab.store.get("deployments.apps", NS, "kube-dns-autoscaler")
    assert "--target=Deployment/kube-dns" in scaler["spec"]["template"]["spec"]["containers"][0]["command"]
    assert scaler["spec"]["replicas"] == 1
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)


@pytest.mark.lab_options(nodes=4, faults=("flaky-api",))
def test_flaky_api_still_completes(lab: Any, tmp_path: Path) -> None:
    outcome, _ = run_switch(lab, tmp_path)
    assert outcome.completed, outcome.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (3, 0)


@pytest.mark.lab_options(nodes=4)
def test_dry_run_changes_nothing(lab: Any, tmp_path: Path) -> None:
    gateway = gateway_for(lab, "dry-run")
    plan = make_test_plan(gateway)
    before = lab.store.resource_version
    recorder = Recorder()
    outcome = Switcher(gateway, plan, journal_in(tmp_path), fast_options(mode="dry-run"), recorder).run()
    assert outcome.completed and outcome.dry_run, outcome.reason
    assert lab.store.resource_version == before
    assert lab.store.try_get("deployments.apps", NS, "coredns") is None
    assert not (tmp_path / "state" / "journal.jsonl").exists()
    assert steps_with(recorder, "dry-run")  # the writes went out with dryRun=All
