"""The cluster domain comes from the facts, the probe names from the plan, and both faces show the
engine's verdicts as they came (no second rule in the TUI)."""

from __future__ import annotations

import asyncio
import copy
import io
from typing import Any

import pytest
from plan_facts import make_facts
from textual.app import App, ComposeResult

from screens.widgets.panes import ProbesPane, probe_rows
from wizard.commands._progress import TextProgress
from wizard.errors import CheckFailed
from wizard.migration.facts import ClusterFacts, cluster_domain
from wizard.migration.plan import make_plan
from wizard.migration.preflight.run import evaluate
from wizard.migration.probes import ProbeQuery, ProbeResult
from wizard.migration.progress import ProbeBatch
from wizard.migration.verdicts import Expected, judge
from wizard.options import SwitchOptions


def with_kubedns_args(facts: ClusterFacts, args: list[str]) -> ClusterFacts:
    import dataclasses

    deployment = copy.deepcopy(facts.kube_dns_deployment)
    assert deployment is not None
    domain = "corp.example" if any("corp.example" in a for a in args) else "cluster.local"
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        if container["name"] == "kubedns":
            container["args"] = args
        if container["name"] == "dnsmasq":  # its --server for the cluster domain follows, as in a cluster
            container["args"] = [a.replace("/cluster.local/", f"/{domain}/") for a in container["args"]]
    return dataclasses.replace(facts, kube_dns_deployment=deployment)


@pytest.mark.parametrize(
    "args",
    [
        ["--domain=corp.example.", "--dns-port=10053"],
        ["--domain", "corp.example.", "--dns-port=10053"],
        ["-domain=corp.example"],
    ],
)
def test_cluster_domain_from_kube_dns_domain_flag(args: list[str]) -> None:
    facts = with_kubedns_args(make_facts(nodes=4), args)
    found = cluster_domain(facts)
    assert found.domain == "corp.example" and "--domain" in found.why
    plan = make_plan(facts, SwitchOptions())
    assert plan.cluster_domain == "corp.example"
    assert [q.name for q in plan.probes if q.purpose in ("cluster", "business")] == [
        "kubernetes.default.svc.corp.example",
        "nginx.default.svc.corp.example",
    ]
    probe_step = plan.step("r1.probe")
    assert "nslookup kubernetes.default.svc.corp.example <pod-ip>" in probe_step.kubectl
    assert "kubernetes.default.svc.corp.example" in probe_step.description
    assert not any("svc.cluster.local" in line for line in probe_step.kubectl)


def test_without_the_flag_kube_dns_serves_its_built_in_domain_and_says_so() -> None:
    facts = with_kubedns_args(make_facts(nodes=4), ["--dns-port=10053"])
    found = cluster_domain(facts)
    assert found.domain == "cluster.local" and "no --domain flag" in found.why
    assert cluster_domain(facts, "corp.example.").domain == "corp.example"


def test_an_unknown_domain_blocks_pre_flight_and_the_plan() -> None:
    import dataclasses

    facts = make_facts(nodes=4)
    broken = copy.deepcopy(facts.kube_dns_deployment)
    assert broken is not None
    broken["spec"]["template"]["spec"]["containers"] = [{"name": "sidecar", "image": "x/sidecar:1"}]
    unknown = dataclasses.replace(facts, kube_dns_deployment=broken)
    found = cluster_domain(unknown)
    assert found.domain is None and "--cluster-domain" in found.why
    with pytest.raises(CheckFailed, match="cluster domain cannot be determined"):
        make_plan(unknown, SwitchOptions())
    findings, plan, _ = evaluate(unknown, SwitchOptions())
    kube_dns = next(f for f in findings if f.id == "kube-dns-deployment")
    assert kube_dns.status == "block" and plan is None
    assert any("cluster domain unknown" in line for line in kube_dns.evidence)
    assert "--cluster-domain" in kube_dns.advice
    # the operator's --cluster-domain settles it
    assert cluster_domain(unknown, "corp.example").domain == "corp.example"


def test_pre_flight_shows_where_the_domain_came_from() -> None:
    findings, plan, _ = evaluate(make_facts(nodes=4), SwitchOptions())
    kube_dns = next(f for f in findings if f.id == "kube-dns-deployment")
    assert any(line.startswith("cluster domain cluster.local (") for line in kube_dns.evidence)
    assert plan is not None and plan.cluster_domain == "cluster.local"


# ---- the faces show the engine's verdicts ------------------------------------------------------------

OUTSIDE = ProbeQuery("www.baidu.com", "A", "external")
CLUSTER = ProbeQuery("kubernetes.default.svc.cluster.local", "A", "cluster", service="default/kubernetes")
API = Expected(frozenset({"10.96.0.1"}), "Service default/kubernetes ClusterIP 10.96.0.1")
KUBE = "kube-dns-a (10.244.1.5)"
CORE = "coredns-a (10.244.3.10)"
OWNERS = {"10.244.1.5": "kube-dns", "10.244.3.10": "coredns"}


def result(who: str, query: ProbeQuery, rcode: str, *rdata: str) -> ProbeResult:
    lines = tuple(f"{query.name}. {query.rdtype} {r}" for r in rdata)
    return ProbeResult(who, query.name, query.rdtype, rcode, lines, 1.0, None, "udp")


def batch() -> ProbeBatch:
    return ProbeBatch(
        (
            # records differ for the outside name: the engine accepts it (a stricter rule said NO)
            judge(
                OUTSIDE,
                result(CORE, OUTSIDE, "NOERROR", "1.1.1.1"),
                result(KUBE, OUTSIDE, "NOERROR", "2.2.2.2"),
            ),
            judge(
                CLUSTER,
                result(CORE, CLUSTER, "NOERROR", "10.9.9.9"),
                result(KUBE, CLUSTER, "NOERROR", "10.96.0.1"),
                API,
            ),
        )
    )


def test_probe_rows_carry_the_engine_verdicts() -> None:
    rows = probe_rows(batch(), OWNERS)
    shown = [(r.target, r.name, role, verdict.split(":")[0]) for r, role, verdict in rows]
    assert shown == [
        (KUBE, "www.baidu.com", "kube-dns", "- baseline"),
        (CORE, "www.baidu.com", "coredns", "yes"),
        (KUBE, CLUSTER.name, "kube-dns", "- baseline"),
        (CORE, CLUSTER.name, "coredns", "NO"),
    ]
    assert batch().verdicts[1].reason in rows[3][2]


class _PaneHost(App[None]):
    def compose(self) -> ComposeResult:
        yield ProbesPane(id="probes")


def test_probes_pane_shows_them_as_they_came() -> None:
    app = _PaneHost()
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with app.run_test(size=(160, 12)) as pilot:
            pane = app.query_one(ProbesPane)
            pane.update_batch(batch(), OWNERS)
            await pilot.pause(0.1)
            seen["cells"] = [[str(c) for c in pane.get_row_at(i)] for i in range(pane.row_count)]

    asyncio.run(scenario())
    verdicts = [row[-1] for row in seen["cells"]]
    assert verdicts[1] == "yes" and verdicts[3].startswith("NO: CoreDNS answers [10.9.9.9]")


def test_the_command_prints_the_same_verdict_lines() -> None:
    out = io.StringIO()
    TextProgress(out, tty=False)(batch())
    text = out.getvalue()
    for verdict in batch().verdicts:
        assert verdict.line in text
    assert "FAILED" in text and ": ok:" in text


def test_pinned_sockets_are_reported_apart_in_both_faces() -> None:
    from screens.widgets.panes import observation_text
    from wizard.migration.progress import ObservationTick

    tick = ObservationTick(2.0, 5.0, 0, 40, 0.5, 0.9, pinned_errors=3, pinned_queries=12)
    out = io.StringIO()
    TextProgress(out, tty=False)(tick)
    assert "40 queries, 0 errors" in out.getvalue() and "pinned sockets 3/12 failed" in out.getvalue()
    assert "pinned sockets 3/12 failed" in observation_text(tick).plain
