"""How pre-flight reads the cluster: in parallel, permissions from a SelfSubjectRulesReview with
access reviews for the rest, DNS pods by label. Against the lab over real HTTPS; the results
must be exactly those of one access review per permission, in the same order."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from lab_clients import kubectl

from wizard.k8s.connection import resolve_connection
from wizard.k8s.gateway import Gateway, RequestEvent
from wizard.lab.cluster import Lab, LabOptions
from wizard.migration.facts import READ_WORKERS, AccessCheck, collect_facts, rules_allow
from wizard.migration.preflight.checks import check_access
from wizard.migration.preflight.run import run_preflight
from wizard.options import SwitchOptions

NS = "kube-system"
SSAR = "/selfsubjectaccessreviews"
SSRR = "/selfsubjectrulesreviews"


def gateway(lab: Any, **kwargs: Any) -> Gateway:
    return Gateway(resolve_connection(kubeconfig=str(lab.kubeconfig_path), environ={}), "read-only", **kwargs)


def decided(access: tuple[AccessCheck, ...]) -> list[tuple[str, str, str, str, str, bool, bool]]:
    """What the report shows of each permission, in order (not which review decided it)."""
    return [(a.verb, a.group, a.resource, a.subresource, a.namespace, a.allowed, a.required) for a in access]


def access_reviews_only(lab: Any) -> tuple[AccessCheck, ...]:
    """The reference: one SelfSubjectAccessReview per permission, as before the rules review."""
    gw = gateway(lab)
    gw.rules_review = lambda namespace: None  # type: ignore[method-assign]
    with gw:
        return collect_facts(gw, SwitchOptions()).access


def test_rules_allow_matches_as_rbac_does() -> None:
    admin = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
    assert rules_allow(admin, "update", "apps", "deployments", "scale")
    scale_any = [{"verbs": ["patch"], "apiGroups": ["apps"], "resources": ["*/scale"]}]
    assert rules_allow(scale_any, "patch", "apps", "deployments", "scale")
    assert not rules_allow(scale_any, "patch", "apps", "deployments")  # the object itself: no
    assert not rules_allow(scale_any, "update", "apps", "deployments", "scale")
    named = [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["coredns"]}]
    assert not rules_allow(named, "get", "", "configmaps")  # one name is not every object
    pods = [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]
    assert rules_allow(pods, "list", "", "pods") and not rules_allow(pods, "list", "apps", "pods")
    assert not rules_allow(pods, "get", "", "pods", "log")  # a subresource needs its own rule


@pytest.mark.lab_options(deny={("update", "deployments/scale"), ("delete", "configmaps")})
def test_the_lab_lists_rules_as_rbac_and_kubectl_reads_them(lab: Any) -> None:
    with gateway(lab) as gw:
        status = gw.rules_review(NS)
    assert status is not None and status["incomplete"] is False
    rules = status["resourceRules"]
    assert not rules_allow(rules, "update", "apps", "deployments", "scale")
    assert rules_allow(rules, "patch", "apps", "deployments", "scale")
    assert not rules_allow(rules, "delete", "", "configmaps")
    assert rules_allow(rules, "create", "", "configmaps")
    assert rules_allow(rules, "watch", "", "pods")
    listed = kubectl(lab, "auth", "can-i", "--list", "-n", NS).stdout  # kubectl sends protobuf
    row = next(line.split() for line in listed.splitlines() if line.startswith("deployments.apps/scale "))
    assert "update" not in " ".join(row) and "patch" in " ".join(row)


def test_a_rules_review_needs_a_namespace(lab: Any, tmp_path: Path) -> None:
    body = tmp_path / "review.json"
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {}}
    body.write_text(json.dumps(review))
    path = f"/apis/authorization.k8s.io/v1{SSRR}"
    refused = kubectl(lab, "create", "--raw", path, "-f", str(body), check=False)
    assert refused.returncode != 0 and "no namespace on request" in refused.stderr


DENIED = {("update", "deployments/scale"), ("create", "clusterroles"), ("delete", "configmaps")}


@pytest.mark.lab_options(deny=DENIED)
def test_permissions_from_the_rules_review_match_one_access_review_each(lab: Any) -> None:
    seen: list[RequestEvent] = []
    lock = threading.Lock()

    def record(event: RequestEvent) -> None:
        with lock:
            seen.append(event)

    with gateway(lab, on_request=record) as gw:
        facts = collect_facts(gw, SwitchOptions())
    access = facts.access
    reference = access_reviews_only(lab)
    assert decided(access) == decided(reference)  # same answers, same order
    denied = {(a.verb, a.resource, a.subresource) for a in access if not a.allowed}
    assert denied == {
        ("update", "deployments", "scale"), ("create", "clusterroles", ""), ("delete", "configmaps", "")
    }
    reviews = [e for e in seen if e.path.endswith(SSAR)]
    rules_reviews = [e for e in seen if e.path.endswith(SSRR)]
    cluster_scoped = sum(1 for a in access if not a.namespace)
    # access reviews only for what the namespace's rules cannot settle: the cluster-scoped
    # permissions and the two namespaced ones the rules leave out
    assert len(rules_reviews) == 1 and len(reviews) == cluster_scoped + 2, (len(reviews), cluster_scoped)
    assert {a.source for a in access if a.namespace and a.allowed} == {"rules"}
    assert all(a.source == "access-review" for a in access if not a.allowed or not a.namespace)
    # the report says which review decided how many, never "all with access reviews"
    by_rules = sum(1 for a in access if a.source == "rules")
    finding = check_access(facts)
    assert finding.evidence[0] == (f"41 permissions checked: {by_rules} from a SelfSubjectRulesReview, "
                                   f"{41 - by_rules} with SelfSubjectAccessReview")
    reference_finding = check_access(replace(facts, access=reference))
    assert reference_finding.evidence[0] == "41 permissions checked: each with SelfSubjectAccessReview"


def test_without_a_rules_review_every_permission_gets_an_access_review(lab: Any) -> None:
    reference = access_reviews_only(lab)
    assert len(reference) == 41 and all(a.source == "access-review" for a in reference)
    with gateway(lab) as gw:
        assert decided(collect_facts(gw, SwitchOptions()).access) == decided(reference)


def test_preflight_lists_pods_by_label_only(lab: Any) -> None:
    selectors: list[str | None] = []
    with gateway(lab) as gw:
        real = gw.list_pods

        def spy(namespace: str, label_selector: str | None = None, *args: Any, **kwargs: Any) -> Any:
            selectors.append(label_selector)
            return real(namespace, label_selector, *args, **kwargs)

        gw.list_pods = spy  # type: ignore[method-assign]
        facts = collect_facts(gw, SwitchOptions())
    assert selectors and all(selectors), f"a pod list without a label selector: {selectors}"
    assert len(facts.dns_pods) == 3


def test_an_addon_manager_pod_is_found_by_its_label(lab: Any) -> None:
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kube-addon-manager-node-1", "namespace": NS,
                     "labels": {"component": "kube-addon-manager"}},
        "spec": {"containers": [{"name": "manager", "image": "k8s.gcr.io/kube-addon-manager:v9.1.1"}]},
    }
    lab.store.create("pods", pod)
    with gateway(lab) as gw:
        facts = collect_facts(gw, SwitchOptions())
    assert facts.addon_manager_pods == ("kube-addon-manager-node-1",)
    assert len(facts.dns_pods) == 3


def test_reads_overlap_but_stay_bounded(lab: Any) -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()
    with gateway(lab) as gw:
        real = gw._send

        def slow_send(op: Any, read_timeout: float | None) -> Any:
            nonlocal in_flight, peak
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            try:
                time.sleep(0.02)  # a round trip, so that reads can overlap at all
                return real(op, read_timeout)
            finally:
                with lock:
                    in_flight -= 1

        gw._send = slow_send  # type: ignore[method-assign]
        report = run_preflight(gw, SwitchOptions())
    assert report.plan is not None
    assert 1 < peak <= READ_WORKERS, peak


def test_the_lab_can_add_a_round_trip_to_every_request() -> None:
    with Lab(LabOptions(speed=20.0, dns_port=0, api_rtt_ms=100.0, start_timeout=60.0)) as lab:
        with gateway(lab) as gw:
            gw.server_version()  # the connection is open: what is left is one round trip a request
            began = time.monotonic()
            for _ in range(3):
                gw.server_version()
            spent = time.monotonic() - began
        assert lab.api_url in lab.kubeconfig_path.read_text()  # clients go through the relay
    assert spent >= 0.3, f"3 requests over a 100 ms round trip took {spent:.3f} s"
