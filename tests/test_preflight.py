"""Pre-flight against the lab cluster, and the checks that need only facts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from wizard.errors import CheckFailed
from wizard.k8s.connection import resolve_connection
from wizard.k8s.gateway import Gateway, GatewayError, Mode, ReadOnlyError, RequestEvent
from wizard.migration.facts import NodeInfo
from wizard.migration.journal import ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS, ANNOTATION_ROUND
from wizard.migration.preflight.proxy import go_duration_seconds, kernel_flushes_quickly
from wizard.migration.preflight.run import FINDING_GROUPS, PreflightReport, run_preflight, server_dry_run
from wizard.options import SwitchOptions


@contextmanager
def gateway_for(lab: Any, mode: Mode = "read-only", **kwargs: Any) -> Iterator[Gateway]:
    with Gateway(resolve_connection(kubeconfig=str(lab.kubeconfig_path)), mode=mode, **kwargs) as gw:
        yield gw


def preflight(lab: Any, options: SwitchOptions | None = None) -> PreflightReport:
    with gateway_for(lab) as gw:
        return run_preflight(gw, options or SwitchOptions())


def statuses(report: PreflightReport) -> dict[str, str]:
    return {f.id: f.status for f in report.findings}


def mutate(lab: Any, key: str, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Change a lab object on the lab's own loop, as a controller would."""

    async def apply() -> None:
        lab.store.mutate(key, "kube-system", name, change)

    lab.run_coroutine(apply())


def test_default_lab_is_ready_to_switch_shrink_first(lab: Any) -> None:
    report = preflight(lab)
    assert not report.blocked, [f for f in report.findings if f.status == "block"]
    found = statuses(report)
    assert found["kubernetes-version"] == "ok"
    assert found["kube-dns-deployment"] == "ok"
    assert found["dns-service"] == "ok"
    assert found["permissions"] == "ok"
    assert found["server-dry-run"] == "ok"
    assert found["kube-proxy"] == "warn"  # IPVS, 300 s, TencentOS 0009.11
    assert found["scheduling"] == "warn"  # 3 nodes all running kube-dns
    assert report.plan is not None
    assert report.plan.order == "shrink-first"
    assert report.plan.original_kube_dns_replicas == 3
    assert [s.id for s in report.plan.steps if s.kind == "scale-coredns"] == [
        "r1.scale-coredns",
        "r2.scale-coredns",
        "r3.scale-coredns",
    ]
    evidence = " ".join(report.finding("kube-dns-deployment").evidence)
    assert "ccr.ccs.tencentyun.com" in evidence and "replicas: 3" in evidence


def test_every_finding_belongs_to_one_group(lab: Any) -> None:
    report = preflight(lab)
    grouped = [fid for ids in FINDING_GROUPS.values() for fid in ids]
    assert len(grouped) == len(set(grouped))
    assert {f.id for f in report.findings} <= set(grouped)


@pytest.mark.lab_options(nodes=4)
def test_a_free_node_gives_grow_first(lab: Any) -> None:
    report = preflight(lab)
    assert statuses(report)["scheduling"] == "ok"
    assert report.plan is not None and report.plan.order == "grow-first"
    assert report.plan.ids()[1] == "r1.scale-coredns"


@pytest.mark.lab_options(nodes=2, kube_dns_replicas=2)
def test_two_node_lab_swaps_in_place(lab: Any) -> None:
    report = preflight(lab)
    assert report.plan is not None and report.plan.order == "shrink-first"
    assert report.plan.ids()[1] == "r1.scale-kube-dns"


@pytest.mark.lab_options(nodes=2)
def test_two_nodes_cannot_hold_three_coredns_replicas(lab: Any) -> None:
    report = preflight(lab)
    found = report.finding("scheduling")
    assert found.status == "block"
    assert "only 2 node(s)" in found.advice
    assert report.plan is None


@pytest.mark.lab_options(nodes=1, kube_dns_replicas=1)
def test_single_replica_on_a_single_node_blocks(lab: Any) -> None:
    found = preflight(lab).finding("scheduling")
    assert found.status == "block"
    assert "zero ready endpoints" in found.advice


@pytest.mark.lab_options(faults=("autoscaler",), nodes=4)
def test_autoscaler_warns_and_adds_its_steps(lab: Any) -> None:
    report = preflight(lab)
    found = report.finding("autoscaler")
    assert found.status == "warn"
    assert "kube-dns-autoscaler" in found.evidence[0]
    assert "scaled to 0 during the switch" in found.advice
    assert report.plan is not None
    assert report.plan.ids()[0] == "pause-autoscaler"
    assert report.plan.ids()[-1] == "finish-autoscaler"
    assert report.plan.autoscaler is not None and report.plan.autoscaler.replicas == 1


@pytest.mark.lab_options(faults=("deny-scale",))
def test_missing_scale_permission_blocks_and_is_named(lab: Any) -> None:
    report = preflight(lab)
    found = report.finding("permissions")
    assert found.status == "block"
    assert "update deployments.apps/scale" in found.evidence[1]
    assert "patch deployments.apps/scale" in found.evidence[1]
    assert "get pods" not in found.evidence[1]
    assert report.plan is None


@pytest.mark.lab_options(guide_configmap=True)
def test_a_configmap_kube_dns_ignores_warns_and_translates_its_defaults(lab: Any) -> None:
    """The guide's ConfigMap writes federations as JSON: kube-dns ignores it as a whole, so the
    live configuration (and the Corefile) is kube-dns's defaults, said in one warning."""
    report = preflight(lab)
    found = report.finding("kube-dns-config")
    assert found.status == "warn"
    assert "kube-dns ignores this whole ConfigMap" in " ".join(found.evidence)
    assert "data.federations is JSON" in " ".join(found.evidence)
    assert report.finding("server-dry-run").status != "block"
    corefile = report.plan.manifests.corefile_text if report.plan else ""
    assert "federation" not in corefile and "abc.com:53" not in corefile


def test_changed_service_selector_blocks(lab: Any) -> None:
    def change(svc: dict[str, Any]) -> None:
        svc["spec"]["selector"] = {"k8s-app": "kube-dns", "app.kubernetes.io/name": "coredns"}

    mutate(lab, "services", "kube-dns", change)
    found = preflight(lab).finding("dns-service")
    assert found.status == "block"
    assert "app.kubernetes.io/name" in found.evidence[0]
    assert "{k8s-app: kube-dns}" in found.advice


@pytest.mark.lab_options(proxy_mode="iptables")
def test_iptables_mode_is_fine(lab: Any) -> None:
    found = preflight(lab).finding("kube-proxy")
    assert found.status == "ok"
    assert "conntrack" in found.evidence[-1]


@pytest.mark.lab_options(kernel="fixed")
def test_ipvs_on_fixed_kernels_is_fine(lab: Any) -> None:
    found = preflight(lab).finding("kube-proxy")
    assert found.status == "ok"
    assert "expires flows" in found.evidence[-1]


@pytest.mark.lab_options(udp_timeout=5)
def test_ipvs_with_short_timeout_is_fine(lab: Any) -> None:
    assert preflight(lab).finding("kube-proxy").status == "ok"


def test_ipvs_on_old_kernels_gives_the_exact_change(lab: Any) -> None:
    found = preflight(lab).finding("kube-proxy")
    assert found.status == "warn"
    assert "ipvs.udpTimeout: 5s" in found.advice
    assert "ipvsadm --set 900 120 5" in found.advice
    assert "wait 5 minutes" in found.advice
    assert any("deprecated from Kubernetes 1.35" in e for e in found.evidence)


def test_kernel_variants() -> None:
    def node(kernel: str, os_image: str) -> NodeInfo:
        return NodeInfo("n", True, False, (), {}, kernel, os_image)

    tencent = "TencentOS Server 3.1 (Final)"
    assert kernel_flushes_quickly(node("5.4.119-19-0009.23", tencent))
    assert kernel_flushes_quickly(node("5.4.119-19-0009.28", tencent))
    assert not kernel_flushes_quickly(node("5.4.119-19-0009.11", tencent))
    assert kernel_flushes_quickly(node("5.9.0-1", "Ubuntu 20.10"))
    assert kernel_flushes_quickly(node("6.1.0-18-amd64", "Debian GNU/Linux 12"))
    assert not kernel_flushes_quickly(node("5.4.0-150-generic", "Ubuntu 20.04.6 LTS"))
    assert not kernel_flushes_quickly(node("3.10.0-1160.el7.x86_64", "CentOS Linux 7"))
    assert not kernel_flushes_quickly(node("", ""))


def test_go_durations() -> None:
    assert go_duration_seconds("5s") == 5
    assert go_duration_seconds("1m30s") == 90
    assert go_duration_seconds("0s") == 0
    assert go_duration_seconds("300") == 300
    assert go_duration_seconds("5 s") is None
    assert go_duration_seconds("soon") is None


def test_existing_coredns_objects(lab: Any) -> None:
    report = preflight(lab)
    assert report.plan is not None
    objects = report.plan.manifests.objects
    with gateway_for(lab, mode="live") as gw:
        gw.apply(objects)
    same = preflight(lab).finding("coredns-objects")
    assert same.status == "ok"
    assert "identical" in same.evidence[-1]

    def mark(dep: dict[str, Any]) -> None:
        dep["metadata"].setdefault("annotations", {}).update(
            {ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS: "3", ANNOTATION_ROUND: "1"}
        )

    mutate(lab, "deployments.apps", "coredns", mark)
    resumed = preflight(lab)
    assert resumed.finding("coredns-objects").status == "warn"
    assert "resume" in resumed.finding("coredns-objects").advice
    assert resumed.plan is not None and resumed.plan.ids() == report.plan.ids()

    def foreign(dep: dict[str, Any]) -> None:
        dep["metadata"]["annotations"] = {}
        dep["spec"]["template"]["spec"]["containers"][0]["image"] = "coredns/coredns:1.9.9"

    mutate(lab, "deployments.apps", "coredns", foreign)
    other = preflight(lab).finding("coredns-objects")
    assert other.status == "block"
    assert "coredns/coredns:1.9.9" in " ".join(other.evidence)


def test_preflight_sends_no_write_but_the_dry_run(lab: Any) -> None:
    seen: list[RequestEvent] = []
    with gateway_for(lab, on_request=seen.append) as gw:
        run_preflight(gw, SwitchOptions())
        with pytest.raises(ReadOnlyError):
            gw.scale_deployment("kube-system", "kube-dns", 1)
        with pytest.raises(ReadOnlyError):  # only validate_apply may send an apply, always dryRun=All
            gw.apply(
                [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "x", "namespace": "kube-system"},
                    }
                ]
            )
    writes = [e for e in seen if e.method != "GET"]
    assert writes, "expected the access reviews and the dry-run"
    for event in writes:
        review = event.method == "POST" and event.path.endswith(
            ("/selfsubjectaccessreviews", "/selfsubjectrulesreviews")
        )
        assert review or event.method == "PATCH", event
    patches = [e for e in seen if e.method == "PATCH"]
    assert len(patches) == 5  # the five objects of switch2coredns.yaml, each validated once
    with gateway_for(lab) as gw:
        assert gw.get_deployment("kube-system", "kube-dns")["spec"]["replicas"] == 3
        assert gw.try_get("Deployment", "kube-system", "coredns") is None


def test_server_dry_run_reports_the_servers_refusal(lab: Any) -> None:
    report = preflight(lab)
    assert report.plan is not None
    broken = [dict(o) for o in report.plan.manifests.objects]
    deployment = dict(broken[-1])
    deployment["spec"] = {**deployment["spec"], "replicas": -1}
    broken[-1] = deployment
    rendered = dataclasses.replace(report.plan.manifests, objects=broken)
    with gateway_for(lab) as gw:
        found = server_dry_run(gw, rendered)
    assert found.status == "block"
    assert "refused" in found.evidence[0]
    with gateway_for(lab) as gw, pytest.raises(GatewayError):
        gw.validate_apply(broken)


def _facts(**changes: Any) -> Any:
    from plan_facts import make_facts

    return dataclasses.replace(make_facts(nodes=4), **changes)


def _checks(facts: Any, options: SwitchOptions | None = None) -> dict[str, Any]:
    from wizard.migration.preflight.run import evaluate

    findings, _, _ = evaluate(facts, options or SwitchOptions())
    return {f.id: f for f in findings}


def test_hpa_on_kube_dns_blocks() -> None:
    hpa = {
        "metadata": {"name": "kube-dns"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "kube-dns"}},
    }
    found = _checks(_facts(hpas=(hpa,)))
    assert found["hpa"].status == "block"
    assert "delete hpa kube-dns" in found["hpa"].advice
    other = {"metadata": {"name": "x"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "nginx"}}}
    assert _checks(_facts(hpas=(other,)))["hpa"].status == "ok"


def test_two_pdbs_on_dns_pods_warn() -> None:
    def pdb(name: str, selector: dict[str, Any]) -> dict[str, Any]:
        return {"metadata": {"name": name}, "spec": {"selector": selector}}

    one = pdb("a", {"matchLabels": {"k8s-app": "kube-dns"}})
    two = pdb("b", {"matchExpressions": [{"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]})
    unrelated = pdb("c", {"matchLabels": {"app": "nginx"}})
    assert _checks(_facts(pdbs=(one, unrelated)))["pdb"].status == "ok"
    found = _checks(_facts(pdbs=(one, two, unrelated)))["pdb"]
    assert found.status == "warn"
    assert len(found.evidence) == 2


def test_addon_manager_kubeadm_and_node_local_dns_warn() -> None:
    found = _checks(
        _facts(
            addon_manager_pods=("kube-addon-manager-master",),
            kubeadm_config_present=True,
            node_local_dns=("kube-system/node-local-dns",),
        )
    )
    assert found["addon-manager"].status == "warn"
    assert "kubeadm upgrade" in found["addon-manager"].advice
    assert found["node-local-dns"].status == "warn"
    assert "measure the" in found["node-local-dns"].advice


def test_missing_kube_dns_and_kubernetes_too_old_block() -> None:
    found = _checks(_facts(kube_dns_deployment=None))
    assert found["kube-dns-deployment"].status == "block"
    old = _checks(_facts(k8s_version="v1.11.10"))
    assert old["kubernetes-version"].status == "block"
    assert "1.12" in old["kubernetes-version"].advice


def test_kube_proxy_mode_from_the_daemonset_flag() -> None:
    daemonset = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "kube-proxy",
                            "command": ["kube-proxy", "--proxy-mode=ipvs", "--ipvs-udp-timeout=10s"],
                        }
                    ]
                }
            }
        }
    }
    found = _checks(_facts(kube_proxy_daemonset=daemonset))["kube-proxy"]
    assert found.status == "ok"  # the test nodes run mainline 5.15
    assert "--proxy-mode=ipvs" in found.evidence[0]
    assert "10s" in found.evidence[1]
    none = _checks(_facts())["kube-proxy"]
    assert none.status == "warn" and "Cilium" in none.advice


def test_edited_corefile_error_blocks_in_preflight() -> None:
    found = _checks(_facts(), SwitchOptions(corefile_override=".:53 {\n    proxy . 8.8.8.8\n}\n"))
    assert found["kube-dns-config"].status == "block"
    assert "edited Corefile:2" in " ".join(found["kube-dns-config"].evidence)


@pytest.mark.lab_options(deny={("list", "horizontalpodautoscalers"), ("list", "poddisruptionbudgets")})
def test_unlistable_hpas_and_pdbs_warn_instead_of_claiming_none(lab: Any) -> None:
    report = preflight(lab)
    for fid in ("hpa", "pdb"):
        found = report.finding(fid)
        assert found.status == "warn"
        assert "forbidden (HTTP 403)" in found.evidence[0]
        assert "kubectl -n kube-system get" in found.advice
    assert report.plan is not None


@pytest.mark.lab_options(deny={("list", "nodes")})
def test_forbidden_core_read_names_the_missing_permissions(lab: Any) -> None:
    with pytest.raises(CheckFailed) as failure:
        preflight(lab)
    message = str(failure.value)
    assert "nodes" in message
    assert "missing permissions: list nodes" in message
