"""Containment of a failed round, against the lab over real HTTP and DNS.

Every test watches the `kube-dns` Service's Endpoints and EndpointSlices through the official
client while the switch runs, and asserts the invariants an operator relies on: the Service never
has zero ready endpoints, and when the switch stops no failing CoreDNS pod is a ready endpoint.
Run with `-s` to see how long after the failure the failing pod left the endpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from containment_support import CoreDNSIPs, EndpointHistory, TimedRecorder, pod_ips
from lab_clients import addresses_of, api_client, kubectl_json, query
from switch_support import (
    NS,
    Recorder,
    deployment_replicas,
    fast_options,
    gateway_for,
    journal_in,
    make_test_plan,
)

from wizard.migration.plan import Plan
from wizard.migration.progress import Event, StepFinished, StepStarted
from wizard.migration.rollback import rollback
from wizard.migration.switch import Switcher, SwitchOutcome
from wizard.migration.switch_state import read_cluster_record

WRONG_IP = "10.99.99.99"
NGINX = "nginx.default.svc.cluster.local"


def switch(
    lab: Any,
    tmp_path: Path,
    plan: Plan | None = None,
    recorder: Recorder | None = None,
    stop_after: str | None = None,
    **options: Any,
) -> tuple[SwitchOutcome, Recorder]:
    gateway = gateway_for(lab)
    plan = plan or make_test_plan(gateway, str(options.get("order", "grow-first")))
    recorder = recorder or TimedRecorder()
    outcome = Switcher(gateway, plan, journal_in(tmp_path), fast_options(**options), recorder).run(stop_after)
    return outcome, recorder


def finished(recorder: Recorder, outcome: str = "done") -> list[str]:
    return [e.step.id for e in recorder.of(StepFinished) if e.outcome == outcome]


def assert_contained(
    lab: Any,
    tmp_path: Path,
    outcome: SwitchOutcome,
    history: EndpointHistory,
    bad: set[str],
    recorder: TimedRecorder,
    label: str,
) -> None:
    assert not outcome.completed
    assert outcome.reason.startswith("Contained round "), outcome.reason
    history.never_empty()
    final = history.final()
    assert not final & bad, f"failing CoreDNS pod(s) {final & bad} still ready endpoints"
    assert final == pod_ips(lab, "kube-dns-", staying=True), (final, pod_ips(lab, "kube-dns-"))
    assert not pod_ips(lab, "coredns-", staying=True)
    record = read_cluster_record(gateway_for(lab), fast_options())
    assert record.containment is not None and record.containment.state == "done"
    journal = (tmp_path / "state" / "journal.jsonl").read_text()
    assert '"step":"r1.contain"' in journal and '"status":"done"' in journal
    left = history.left_at(bad)
    assert recorder.failed_at is not None
    after = (
        "never a ready endpoint" if left is None else f"{left - recorder.failed_at:.2f} s after the failure"
    )
    print(
        f"\n[{label}] failing pod(s) out of Endpoints and EndpointSlices: {after}; "
        f"stop message: {outcome.reason}"
    )


# ---- faults that fail the first round, grow-first: CoreDNS back to 0, kube-dns untouched ------
FAULTS = [
    ("coredns-servfail", "r1.probe", {}),
    ("coredns-crashloop", "r1.wait-ready", {"ready_timeout_seconds": 120.0}),
    ("slow-ready", "r1.wait-ready", {"ready_timeout_seconds": 1.0}),
    ("unschedulable", "r1.wait-ready", {"ready_timeout_seconds": 4.0}),
]


@pytest.mark.parametrize(("fault", "stopped_at", "extra"), FAULTS, ids=[f[0] for f in FAULTS])
@pytest.mark.lab_options(nodes=3, kube_dns_replicas=2, kernel="fixed")
def test_a_failed_first_round_is_contained_and_a_later_switch_or_rollback_continues(
    lab: Any, tmp_path: Path, fault: str, stopped_at: str, extra: dict[str, Any]
) -> None:
    lab.faults.on(fault)  # after start: kube-dns itself is up and Ready
    recorder = TimedRecorder()
    with EndpointHistory(lab) as history, CoreDNSIPs(lab) as coredns:
        outcome, _ = switch(lab, tmp_path, recorder=recorder, **extra)
    assert outcome.stopped_at == stopped_at, outcome.reason
    assert not any("scale-kube-dns" in s for s in finished(recorder)), "kube-dns was touched"
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 2)
    if fault != "unschedulable":  # an unscheduled pod never had an IP
        assert coredns.seen, "the test saw no CoreDNS pod IP"
    assert_contained(lab, tmp_path, outcome, history, coredns.seen, recorder, fault)
    assert "kube-dns" in outcome.reason and "untouched at 2" in outcome.reason
    lab.faults.off(fault)
    if fault in ("coredns-servfail", "unschedulable"):
        again, again_events = switch(lab, tmp_path)
        assert again.completed, again.reason
        assert finished(again_events)[0] == "r1.scale-coredns"  # resumed at the contained round
        assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (2, 0)
    else:
        result = rollback(gateway_for(lab), journal_in(tmp_path), fast_options())
        assert result.completed, result.reason
        assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 2)


# ---- --on-failure stop: nothing contained, the message says traffic reaches the pod ----------
@pytest.mark.lab_options(nodes=3, kube_dns_replicas=2, kernel="fixed")
def test_on_failure_stop_leaves_the_pod_serving_and_says_so_then_a_switch_contains(
    lab: Any, tmp_path: Path
) -> None:
    lab.faults.on("coredns-servfail")
    outcome, _ = switch(lab, tmp_path, on_failure="stop")
    assert not outcome.completed and outcome.stopped_at == "r1.probe"
    assert "live traffic is reaching the failing pod" in outcome.reason, outcome.reason
    bad = pod_ips(lab, "coredns-")
    endpoints = kubectl_json(lab, "get", "endpoints", "kube-dns", "-n", NS)
    ready = {a["ip"] for s in endpoints.get("subsets") or [] for a in s.get("addresses") or []}
    assert bad and bad <= ready  # left in place, as asked
    assert deployment_replicas(lab, "coredns") == 1
    recorder = TimedRecorder()
    with EndpointHistory(lab) as history:
        again, _ = switch(lab, tmp_path, recorder=recorder)  # default: contain
    assert again.stopped_at == "r1.probe"
    assert_contained(lab, tmp_path, again, history, bad, recorder, "stop, then switch")


# ---- a failure after the kube-dns scale-down: kube-dns back up, CoreDNS back down -------------
@pytest.mark.lab_options(nodes=3, kube_dns_replicas=2, kernel="fixed")
def test_observation_failure_scales_kube_dns_back_up_and_takes_coredns_out(lab: Any, tmp_path: Path) -> None:
    recorder = TimedRecorder()

    def break_during_observation(event: Event) -> None:
        if isinstance(event, StepStarted) and event.step.id == "r1.observe":
            lab.faults.on("coredns-servfail")

    recorder.hooks.append(break_during_observation)
    with EndpointHistory(lab) as history, CoreDNSIPs(lab) as coredns:
        outcome, _ = switch(lab, tmp_path, recorder=recorder, observe_seconds=5.0)
    assert outcome.stopped_at == "r1.observe", outcome.reason
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 2)
    assert "scaled back" in outcome.reason and "1 → 2" in outcome.reason
    assert_contained(lab, tmp_path, outcome, history, coredns.seen, recorder, "observe")
    lab.faults.off("coredns-servfail")
    result = rollback(gateway_for(lab), journal_in(tmp_path), fast_options())
    assert result.completed, result.reason


# ---- shrink-first: the serving CoreDNS pods are probed again before each kube-dns scale-down --
@pytest.mark.lab_options(nodes=2, kube_dns_replicas=2, kernel="fixed")
def test_shrink_first_probes_before_scaling_kube_dns_down_and_contains(lab: Any, tmp_path: Path) -> None:
    recorder = TimedRecorder()

    def break_after_round_one(event: Event) -> None:
        if isinstance(event, StepFinished) and event.step.id == "r1.observe":
            lab.faults.on("coredns-servfail")

    recorder.hooks.append(break_after_round_one)
    with EndpointHistory(lab) as history, CoreDNSIPs(lab) as coredns:
        outcome, _ = switch(lab, tmp_path, recorder=recorder, order="shrink-first")
    assert outcome.stopped_at == "r2.scale-kube-dns", outcome.reason
    assert "r2.scale-kube-dns" not in finished(recorder)
    # round 2 changed nothing, and the round-1 pod fails too: every CoreDNS pod out, kube-dns back
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 2)
    assert_contained(lab, tmp_path, outcome, history, coredns.seen, recorder, "shrink-first r2")
    lab.faults.off("coredns-servfail")
    again, again_events = switch(lab, tmp_path, order="shrink-first")
    assert again.completed, again.reason
    assert finished(again_events)[0] == "r1.scale-kube-dns"


# ---- a wrong record for a business name is contained before any kube-dns scale-down --------
def _with_wrong_nginx_record(lab: Any) -> None:
    """Add a `hosts` entry mapping nginx.default.svc.cluster.local to a wrong IP to the coredns
    ConfigMap's Corefile (a stale rule, as an operator's edit or a bad translation leaves)."""
    from kubernetes import client

    core = client.CoreV1Api(api_client(lab))
    cm = core.read_namespaced_config_map("coredns", NS)
    lines = cm.data["Corefile"].splitlines()
    opening = next(i for i, line in enumerate(lines) if line.rstrip().endswith("{"))
    lines[opening + 1 : opening + 1] = [
        "    hosts {",
        f"        {WRONG_IP} {NGINX}",
        "        fallthrough",
        "    }",
    ]
    core.patch_namespaced_config_map("coredns", NS, {"data": {"Corefile": "\n".join(lines) + "\n"}})


@pytest.mark.parametrize(("order", "nodes"), [("grow-first", 3), ("shrink-first", 2)])
def test_a_wrong_business_record_is_contained_before_any_kube_dns_scale_down(
    order: str, nodes: int, tmp_path: Path
) -> None:
    from wizard.lab.cluster import Lab, LabOptions

    with Lab(
        LabOptions(
            nodes=nodes, kube_dns_replicas=2, kernel="fixed", speed=20.0, dns_port=0, start_timeout=60.0
        )
    ) as lab:
        gateway = gateway_for(lab)
        plan = make_test_plan(gateway, order)
        options = {"probe_names": ("nginx.default",), "order": order}
        first, _ = switch(lab, tmp_path, plan=plan, stop_after="deploy", **options)
        assert first.completed, first.reason
        _with_wrong_nginx_record(lab)
        recorder = TimedRecorder()
        served: list[list[str]] = []

        def ask_the_new_pod(event: Event) -> None:  # the fault is real: the pod answers wrongly
            if isinstance(event, StepFinished) and event.step.id == "r1.wait-ready":
                for ip in pod_ips(lab, "coredns-", staying=True):
                    served.append(addresses_of(query(ip, lab.dns_port, NGINX)))

        recorder.hooks.append(ask_the_new_pod)
        with EndpointHistory(lab) as history, CoreDNSIPs(lab) as coredns:
            outcome, _ = switch(lab, tmp_path, plan=plan, recorder=recorder, **options)
        assert served and all(WRONG_IP in answer for answer in served), served
        assert outcome.stopped_at == "r1.probe", outcome.reason
        # grow-first: kube-dns never scaled down; shrink-first: only round 1's blind-by-design
        # scale-down (no CoreDNS pod existed yet), and it is scaled back up
        allowed = [] if order == "grow-first" else ["r1.scale-kube-dns"]
        assert [s for s in finished(recorder) if "scale-kube-dns" in s] == allowed
        assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 2)
        assert_contained(lab, tmp_path, outcome, history, coredns.seen, recorder, f"wrong record {order}")
