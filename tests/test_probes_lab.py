"""Probes that can fail, against the lab over real DNS: a CoreDNS that serves a wrong record or
the wrong zone is stopped at the probe step before kube-dns loses a pod it still needs, and on a
cluster whose domain is not cluster.local the switch asks (and checks) names under that domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from switch_support import Recorder, deployment_replicas, fast_options, gateway_for, journal_in

from wizard.k8s.gateway import Gateway
from wizard.migration.facts import collect_facts
from wizard.migration.plan import Plan, make_plan, render_for_cluster
from wizard.migration.probes import ProbeTarget, probe
from wizard.migration.progress import ObservationTick, ProbeBatch, StepFinished
from wizard.migration.switch import Switcher, SwitchOutcome
from wizard.migration.verdicts import expected_records, judge
from wizard.options import SwitchOptions

WRONG_IP = "10.10.10.10"


def plan_for(gateway: Gateway, options: SwitchOptions) -> Plan:
    """The plan exactly as `coredns-wizard switch` and the TUI build it (facts -> plan)."""
    return make_plan(collect_facts(gateway, options), options)


def translated_corefile(gateway: Gateway, options: SwitchOptions) -> str:
    return render_for_cluster(collect_facts(gateway, options), options).corefile_text


def with_wrong_nginx(corefile: str, domain: str) -> str:
    """A stale `hosts` entry in front of the kubernetes plugin: nginx.default resolves wrongly."""
    entry = f"{WRONG_IP} nginx.default.svc.{domain}"
    rule = f"hosts {{\n        {entry}\n        fallthrough\n    }}\n    kubernetes "
    assert "kubernetes " in corefile
    return corefile.replace("kubernetes ", rule, 1)


def run(lab: Any, tmp_path: Path, **overrides: Any) -> tuple[SwitchOutcome, Recorder, Plan]:
    gateway = gateway_for(lab)
    options = fast_options(**overrides)
    plan = plan_for(gateway, options)
    recorder = Recorder()
    outcome = Switcher(gateway, plan, journal_in(tmp_path), options, recorder).run()
    return outcome, recorder, plan


def finished(recorder: Recorder) -> list[tuple[str, str]]:
    return [(e.step.id, e.outcome) for e in recorder.of(StepFinished)]


def assert_no_scale_down_after_coredns(recorder: Recorder) -> None:
    """Every kube-dns scale-down that ran came before the first CoreDNS pod was created."""
    ids = [step for step, outcome in finished(recorder) if outcome == "done"]
    first_coredns = next(i for i, s in enumerate(ids) if s.endswith("scale-coredns"))
    downs = [i for i, s in enumerate(ids) if s.endswith("scale-kube-dns")]
    assert all(i < first_coredns for i in downs), ids


def failed_verdicts(recorder: Recorder) -> list[Any]:
    return [v for batch in recorder.of(ProbeBatch) for v in batch.verdicts if not v.passed]


@pytest.mark.parametrize("order", ["grow-first", "shrink-first"])
@pytest.mark.lab_options(nodes=4)
def test_a_wrong_cluster_record_fails_the_probe_before_kube_dns_shrinks(
    lab: Any, tmp_path: Path, order: str
) -> None:
    gateway = gateway_for(lab)
    corefile = with_wrong_nginx(translated_corefile(gateway, fast_options()), "cluster.local")
    nginx_ip = gateway.get_service("default", "nginx")["spec"]["clusterIP"]
    outcome, recorder, plan = run(lab, tmp_path, order=order, corefile_override=corefile)
    assert plan.order == order
    assert not outcome.completed and outcome.stopped_at == "r1.probe", outcome.reason
    wrong = failed_verdicts(recorder)
    assert wrong, finished(recorder)
    assert {v.query.name for v in wrong} == {"nginx.default.svc.cluster.local"}
    assert WRONG_IP in wrong[0].reason and nginx_ip in wrong[0].reason
    assert WRONG_IP in outcome.reason
    assert_no_scale_down_after_coredns(recorder)
    # contained: the wrongly answering pod is gone and the round is back where it started
    # (shrink-first had taken kube-dns to 2 before CoreDNS came; containment scales it back up)
    assert deployment_replicas(lab, "coredns") == 0
    assert deployment_replicas(lab, "kube-dns") == 3


@pytest.mark.lab_options(nodes=4, kernel="fixed", cluster_domain="corp.example")
def test_switch_on_corp_example_probes_names_under_that_domain(lab: Any, tmp_path: Path) -> None:
    outcome, recorder, plan = run(lab, tmp_path)
    assert outcome.completed, outcome.reason
    assert plan.cluster_domain == "corp.example"
    names = {q.name for q in plan.probes}
    assert {"kubernetes.default.svc.corp.example", "nginx.default.svc.corp.example"} <= names
    assert not any(n.endswith("cluster.local") and "my.cluster.local" not in n for n in names)
    batches = recorder.of(ProbeBatch)
    # one batch per probe step, and one more right before each kube-dns scale-down (every serving
    # CoreDNS pod answers again then; grow-first: CoreDNS serves before every scale-down)
    probe_steps = [s for s in plan.steps if s.id.endswith(".probe")]
    scale_downs = [s for s in plan.steps if s.id.endswith(".scale-kube-dns")]
    assert len(probe_steps) == 3 and len(scale_downs) == 3
    assert len(batches) == len(probe_steps) + len(scale_downs)
    for batch in batches:
        assert {v.query.name for v in batch.verdicts} == names  # exactly the plan's questions
        assert all(v.passed for v in batch.verdicts), [v.line for v in batch.verdicts if not v.passed]
        cluster = [v for v in batch.verdicts if v.query.purpose in ("cluster", "business")]
        assert cluster and all(v.result.rcode == "NOERROR" and v.result.records() for v in cluster)
    ticks = recorder.of(ObservationTick)
    assert ticks[-1].queries > 0 and ticks[-1].pinned_queries > 0
    # the same questions could fail: a server that does not serve corp.example says NXDOMAIN
    gateway = gateway_for(lab)
    query = next(q for q in plan.probes if q.purpose == "cluster")
    service_ip = gateway.get_service("kube-system", "kube-dns")["spec"]["clusterIP"]
    asked = probe(
        ProbeTarget("kube-dns Service", service_ip, lab.dns_port),
        query.name.replace("corp.example", "cluster.local"),
        "A",
        "udp",
    )
    assert asked.rcode == "NXDOMAIN"
    expected = expected_records(gateway, query, "corp.example")
    assert not judge(query, asked, None, expected).passed


@pytest.mark.lab_options(nodes=4, cluster_domain="corp.example")
def test_a_corefile_for_the_wrong_zone_fails_verification(lab: Any, tmp_path: Path) -> None:
    gateway = gateway_for(lab)
    right = translated_corefile(gateway, fast_options())
    assert "kubernetes corp.example." in right
    wrong_zone = right.replace("kubernetes corp.example.", "kubernetes cluster.local.", 1)
    outcome, recorder, _ = run(lab, tmp_path, corefile_override=wrong_zone)
    assert not outcome.completed and outcome.stopped_at == "r1.probe", outcome.reason
    failing = {v.query.name: v for v in failed_verdicts(recorder)}
    assert "kubernetes.default.svc.corp.example" in failing
    assert "NXDOMAIN" in failing["kubernetes.default.svc.corp.example"].reason
    assert all(
        v.baseline is not None and v.baseline.rcode == "NOERROR"
        for v in failing.values()
        if v.query.purpose in ("cluster", "business")
    )
    assert deployment_replicas(lab, "kube-dns") == 3


@pytest.mark.lab_options(nodes=4, kernel="old")
def test_pinned_sockets_see_what_fresh_sockets_cannot(lab: Any, tmp_path: Path) -> None:
    """On the old kernel a client that keeps its socket stays pinned to a removed kube-dns pod:
    the observation counts those failures apart (they do not stop the switch: the IPVS gate is
    what protects them), while fresh sockets see none."""
    outcome, recorder, _ = run(lab, tmp_path, observe_seconds=4.0)
    assert outcome.completed, outcome.reason
    last_ticks = [e for e in recorder.of(ObservationTick) if e.elapsed == e.total]
    assert len(last_ticks) == 3
    assert all(t.errors == 0 and t.queries > 0 for t in last_ticks)
    assert all(t.pinned_queries > 0 for t in last_ticks)
    assert sum(t.pinned_errors for t in last_ticks) > 0
    observed = [e.detail for e in recorder.of(StepFinished) if e.step.kind == "observe"]
    assert all("3 pinned socket(s)" in d for d in observed)
