"""The one verdict function, case by case: what a right answer is for each purpose of a question."""

from __future__ import annotations

from typing import Any

import pytest

from wizard.migration.probes import ProbeQuery, ProbeResult
from wizard.migration.verdicts import Expected, expected_records, judge, rcode_class

DOMAIN = "corp.example"
K8S = f"kubernetes.default.svc.{DOMAIN}"
NGINX = f"nginx.default.svc.{DOMAIN}"
CLUSTER = ProbeQuery(K8S, "A", "cluster", service="default/kubernetes")
BUSINESS = ProbeQuery(NGINX, "A", "business", service="default/nginx")
OUTSIDE = ProbeQuery("www.baidu.com", "A", "external")
STUB = ProbeQuery("abc.com", "A", "stub", zone="abc.com")
REVERSE = ProbeQuery("1.0.96.10.in-addr.arpa", "PTR", "reverse", service="default/kubernetes")
K8S_IP = Expected(frozenset({"10.96.0.1"}), "Service default/kubernetes ClusterIP 10.96.0.1")
NGINX_IP = Expected(frozenset({"10.96.7.7"}), "Service default/nginx ClusterIP 10.96.7.7")
PTR = Expected(frozenset({f"kubernetes.default.svc.{DOMAIN}."}), "Service default/kubernetes")


def answer(
    query: ProbeQuery,
    rcode: str = "NOERROR",
    rdata: tuple[str, ...] = (),
    *,
    who: str = "coredns-a (127.1.0.5)",
    error: str | None = None,
    soa: tuple[str, ...] = (),
) -> ProbeResult:
    lines = tuple(f"{query.name}. {query.rdtype} {r}" for r in rdata)
    return ProbeResult(who, query.name, query.rdtype, rcode, lines, 1.0, error, "udp", soa)


def kube(query: ProbeQuery, rcode: str = "NOERROR", rdata: tuple[str, ...] = (), **kw: Any) -> ProbeResult:
    return answer(query, rcode, rdata, who="kube-dns-a (127.1.0.2)", **kw)


# ---- cluster and business names: the API's record, exactly ----------------------------------------


@pytest.mark.parametrize(
    ("query", "want", "ip"), [(CLUSTER, K8S_IP, "10.96.0.1"), (BUSINESS, NGINX_IP, "10.96.7.7")]
)
def test_service_name_passes_only_with_the_api_record(query: ProbeQuery, want: Expected, ip: str) -> None:
    right = judge(query, answer(query, rdata=(ip,)), kube(query, rdata=(ip,)), want)
    assert right.passed and right.conclusive and right.mark == "yes"
    assert ip in right.reason
    wrong = judge(query, answer(query, rdata=("10.9.9.9",)), kube(query, rdata=(ip,)), want)
    assert not wrong.passed and wrong.mark == "NO"
    assert "10.9.9.9" in wrong.reason and ip in wrong.reason
    extra = judge(query, answer(query, rdata=(ip, "10.9.9.9")), kube(query, rdata=(ip,)), want)
    assert not extra.passed  # exact set: one stale extra record fails too


@pytest.mark.parametrize("query", [CLUSTER, BUSINESS])
def test_nxdomain_for_an_existing_service_fails_on_either_side(query: ProbeQuery) -> None:
    want = K8S_IP if query is CLUSTER else NGINX_IP
    ip = next(iter(want.records or ()))
    assert not judge(query, answer(query, "NXDOMAIN"), kube(query, rdata=(ip,)), want).passed
    both = judge(query, answer(query, "NXDOMAIN"), kube(query, "NXDOMAIN"), want)
    assert not both.passed and "NXDOMAIN" in both.reason
    kube_wrong = judge(query, answer(query, rdata=(ip,)), kube(query, "NXDOMAIN"), want)
    assert not kube_wrong.passed and "cluster domain" in kube_wrong.reason
    assert not judge(query, answer(query, "NXDOMAIN"), None, want).passed


def test_service_name_without_kube_dns_is_judged_by_the_api_alone() -> None:
    assert judge(CLUSTER, answer(CLUSTER, rdata=("10.96.0.1",)), None, K8S_IP).passed
    assert not judge(CLUSTER, answer(CLUSTER, rdata=("10.96.0.2",)), None, K8S_IP).passed
    timeout = kube(CLUSTER, "", error="no answer within 2s")
    assert judge(CLUSTER, answer(CLUSTER, rdata=("10.96.0.1",)), timeout, K8S_IP).passed


def test_no_answer_or_servfail_fails() -> None:
    assert not judge(CLUSTER, answer(CLUSTER, "", error="no answer within 2s"), None, K8S_IP).passed
    assert not judge(CLUSTER, answer(CLUSTER, "SERVFAIL"), kube(CLUSTER, "SERVFAIL"), K8S_IP).passed


def test_unknown_api_record_fails_with_its_reason() -> None:
    missing = Expected(None, "Service shop/web", "Service shop/web does not exist")
    query = ProbeQuery("web.shop.svc.corp.example", "A", "business", service="shop/web")
    verdict = judge(query, answer(query, "NXDOMAIN"), kube(query, "NXDOMAIN"), missing)
    assert not verdict.passed and verdict.reason == "Service shop/web does not exist"


def test_a_business_name_that_is_no_service_must_match_kube_dns_exactly() -> None:
    query = ProbeQuery("db.corp.internal", "A", "business")
    assert judge(query, answer(query, rdata=("10.1.1.1",)), kube(query, rdata=("10.1.1.1",))).passed
    assert not judge(query, answer(query, rdata=("10.1.1.2",)), kube(query, rdata=("10.1.1.1",))).passed
    assert not judge(query, answer(query, "NXDOMAIN"), kube(query, "NXDOMAIN")).passed


# ---- PTR of a Service IP ----------------------------------------------------------------------------


def test_ptr_must_name_the_service() -> None:
    good = f"kubernetes.default.svc.{DOMAIN}."
    assert judge(REVERSE, answer(REVERSE, rdata=(good,)), kube(REVERSE, rdata=(good,)), PTR).passed
    other = "kubernetes.default.svc.cluster.local."
    assert not judge(REVERSE, answer(REVERSE, rdata=(other,)), kube(REVERSE, rdata=(good,)), PTR).passed
    assert not judge(REVERSE, answer(REVERSE, "NXDOMAIN"), kube(REVERSE, "NXDOMAIN"), PTR).passed


# ---- stub domains: the stub's nameserver answers ------------------------------------------------------


def test_stub_name_must_come_from_the_stub_nameserver() -> None:
    same = judge(STUB, answer(STUB, rdata=("10.1.2.3",)), kube(STUB, rdata=("10.1.2.3",)))
    assert same.passed and same.conclusive
    differ = judge(STUB, answer(STUB, rdata=("10.1.2.4",)), kube(STUB, rdata=("10.1.2.3",)))
    assert not differ.passed  # records are compared exactly for stub names
    nx = judge(STUB, answer(STUB, "NXDOMAIN"), kube(STUB, rdata=("10.1.2.3",)))
    assert not nx.passed and "stub domain abc.com." in nx.reason
    assert not judge(STUB, answer(STUB, "NXDOMAIN"), kube(STUB, "NXDOMAIN")).passed


def test_stub_nodata_counts_only_with_the_zones_soa() -> None:
    with_soa = judge(STUB, answer(STUB, soa=("abc.com.",)), kube(STUB, soa=("abc.com.",)))
    assert with_soa.passed
    from_root = judge(STUB, answer(STUB, soa=(".",)), kube(STUB, soa=("abc.com.",)))
    assert not from_root.passed
    assert judge(STUB, answer(STUB, rdata=("10.1.2.3",)), None).passed


# ---- the outside name: records may differ, the rcode class may not ------------------------------------


def test_outside_name_records_may_differ_but_not_the_rcode_class() -> None:
    rotated = judge(OUTSIDE, answer(OUTSIDE, rdata=("1.1.1.1",)), kube(OUTSIDE, rdata=("2.2.2.2",)))
    assert rotated.passed and rotated.conclusive
    assert not judge(OUTSIDE, answer(OUTSIDE, "NXDOMAIN"), kube(OUTSIDE, rdata=("2.2.2.2",))).passed
    assert not judge(OUTSIDE, answer(OUTSIDE, "SERVFAIL"), kube(OUTSIDE, rdata=("2.2.2.2",))).passed
    assert not judge(OUTSIDE, answer(OUTSIDE, rdata=("1.1.1.1",)), kube(OUTSIDE, "SERVFAIL")).passed


@pytest.mark.parametrize("rcode", ["NXDOMAIN", "SERVFAIL"])
def test_both_failing_the_outside_name_proves_nothing(rcode: str) -> None:
    verdict = judge(OUTSIDE, answer(OUTSIDE, rcode), kube(OUTSIDE, rcode))
    assert verdict.passed and not verdict.conclusive and verdict.mark == "?"
    assert "--outside-name" in verdict.reason


def test_outside_name_without_kube_dns() -> None:
    assert judge(OUTSIDE, answer(OUTSIDE, rdata=("1.1.1.1",)), None).conclusive
    assert not judge(OUTSIDE, answer(OUTSIDE, "SERVFAIL"), None).passed


def test_rcode_classes_and_ok() -> None:
    assert rcode_class(answer(OUTSIDE)) == "answer"
    assert rcode_class(answer(OUTSIDE, "NXDOMAIN")) == "negative"
    assert rcode_class(answer(OUTSIDE, "REFUSED")) == "failure"
    assert rcode_class(answer(OUTSIDE, "", error="no answer")) == "failure"
    assert not answer(CLUSTER, "NXDOMAIN").ok and answer(CLUSTER, "NXDOMAIN").answered


# ---- what the API says ---------------------------------------------------------------------------------


class _Api:
    """Just `try_get`, as the gateway answers it."""

    def __init__(self, objects: dict[tuple[str, str, str], dict[str, Any]]) -> None:
        self.objects = objects

    def try_get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))


def test_expected_records_come_from_the_service() -> None:
    api: Any = _Api(
        {
            ("Service", "default", "kubernetes"): {"spec": {"clusterIP": "10.96.0.1"}},
            ("Service", "shop", "db"): {"spec": {"clusterIP": "None"}},
            ("Endpoints", "shop", "db"): {
                "subsets": [{"addresses": [{"ip": "10.2.0.5"}, {"ip": "10.2.0.6"}]}]
            },
            ("Service", "shop", "ext"): {"spec": {"type": "ExternalName", "externalName": "x.example.org"}},
        }
    )
    assert expected_records(api, CLUSTER, DOMAIN).records == {"10.96.0.1"}
    assert expected_records(api, REVERSE, DOMAIN).records == {f"kubernetes.default.svc.{DOMAIN}."}
    headless = ProbeQuery(f"db.shop.svc.{DOMAIN}", "A", "business", service="shop/db")
    assert expected_records(api, headless, DOMAIN).records == {"10.2.0.5", "10.2.0.6"}
    gone = expected_records(api, BUSINESS, DOMAIN)
    assert gone.records is None and gone.problem and "does not exist" in gone.problem
    ext = ProbeQuery(f"ext.shop.svc.{DOMAIN}", "A", "business", service="shop/ext")
    assert "ExternalName" in (expected_records(api, ext, DOMAIN).problem or "")
    assert expected_records(api, OUTSIDE, DOMAIN).records is None
