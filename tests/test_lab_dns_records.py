"""The cluster records both DNS emulators serve, computed from the Store and kept current."""

from __future__ import annotations

import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from lab_dns_support import seed_cluster

from wizard.lab.addresses import AddressPlan
from wizard.lab.api.store import Store
from wizard.lab.dns.kubedns_records import KubeDNSRecords, hash_label
from wizard.lab.dns.records import COREDNS, Answer, ClusterIndex, ClusterRecords

ZONE = dns.name.from_text("cluster.local.")


def ask(records: ClusterRecords, name: str, rdtype: str = "A", zone: dns.name.Name = ZONE) -> Answer:
    return records.lookup(dns.name.from_text(name), dns.rdatatype.from_text(rdtype), zone)


def values(answer: Answer, rdtype: str = "A") -> list[str]:
    wanted = dns.rdatatype.from_text(rdtype)
    return sorted(r.to_text() for rrset in answer.answer if rrset.rdtype == wanted for r in rrset)


@pytest.fixture
def cluster() -> tuple[Store, AddressPlan, dict[str, str]]:
    store = Store()
    plan = AddressPlan(77)
    return store, plan, seed_cluster(store, plan)


def test_services_headless_endpoints_and_external_names(
    cluster: tuple[Store, AddressPlan, dict[str, str]],
) -> None:
    store, _, ips = cluster
    records = ClusterRecords(ClusterIndex(store))
    assert values(ask(records, "web.shop.svc.cluster.local")) == [ips["web"]]
    assert values(ask(records, "db.shop.svc.cluster.local")) == sorted([ips["db-0"], ips["db-1"]])
    assert values(ask(records, "db-0.db.shop.svc.cluster.local")) == [ips["db-0"]]
    assert values(ask(records, "127-77-128-22.db.shop.svc.cluster.local")) == [ips["db-1"]]
    assert values(ask(records, "search.shop.svc.cluster.local"), "CNAME") == ["search.example.com."]
    assert ask(records, "web.shop.svc.cluster.local").answer[0].ttl == 5


def test_nxdomain_nodata_and_empty_non_terminals(cluster: tuple[Store, AddressPlan, dict[str, str]]) -> None:
    store, _, _ = cluster
    records = ClusterRecords(ClusterIndex(store))
    for name, rdtype, rcode in (
        ("nosuch.shop.svc.cluster.local", "A", dns.rcode.NXDOMAIN),
        ("web.nosuchns.svc.cluster.local", "A", dns.rcode.NXDOMAIN),
        ("web.shop.svc.cluster.local", "AAAA", dns.rcode.NOERROR),
        ("web.shop.svc.cluster.local", "TXT", dns.rcode.NOERROR),
        ("shop.svc.cluster.local", "A", dns.rcode.NOERROR),
        ("svc.cluster.local", "A", dns.rcode.NOERROR),
        ("foo.cluster.local", "A", dns.rcode.NXDOMAIN),
    ):
        answer = ask(records, name, rdtype)
        assert (answer.rcode, answer.answer) == (rcode, []), name
        assert answer.authority[0].rdtype == dns.rdatatype.SOA
    assert values(ask(records, "dns-version.cluster.local", "TXT"), "TXT") == ['"1.1.0"']


def test_srv_records_differ_between_coredns_and_kube_dns(
    cluster: tuple[Store, AddressPlan, dict[str, str]],
) -> None:
    store, _, ips = cluster
    index = ClusterIndex(store)
    core = values(ask(ClusterRecords(index, COREDNS), "_pg._tcp.db.shop.svc.cluster.local", "SRV"), "SRV")
    assert core == [
        "0 50 5432 127-77-128-22.db.shop.svc.cluster.local.",
        "0 50 5432 db-0.db.shop.svc.cluster.local.",
    ]
    kube_dns = KubeDNSRecords(store, dns.name.from_text("cluster.local."))
    kube_dns.start()
    srv = kube_dns.answer(dns.name.from_text("_pg._tcp.db.shop.svc.cluster.local."), dns.rdatatype.SRV, {})
    kube = sorted(str(r) for rrset in srv.answer for r in rrset)
    assert f"10 50 5432 {hash_label(ips['db-1'])}.db.shop.svc.cluster.local." in kube
    assert "10 50 5432 db-0.db.shop.svc.cluster.local." in kube
    kube_answer = kube_dns.answer(dns.name.from_text("web.shop.svc.cluster.local."), dns.rdatatype.A, {})
    assert kube_answer.answer[0].ttl == 30
    kube_dns.stop()
    assert (
        ask(ClusterRecords(index), "_http._udp.web.shop.svc.cluster.local", "SRV").rcode == dns.rcode.NXDOMAIN
    )


def test_pod_records_by_mode(cluster: tuple[Store, AddressPlan, dict[str, str]]) -> None:
    store, _, _ = cluster
    index = ClusterIndex(store)
    existing, unknown = "127-77-128-11.shop.pod.cluster.local", "127-77-128-99.shop.pod.cluster.local"
    insecure = ClusterRecords(index, pods="insecure")
    assert values(ask(insecure, unknown)) == ["127.77.128.99"]
    verified = ClusterRecords(index, pods="verified")
    assert values(ask(verified, existing)) == ["127.77.128.11"]
    assert ask(verified, unknown).rcode == dns.rcode.NXDOMAIN
    assert ask(verified, "127-77-128-11.default.pod.cluster.local").rcode == dns.rcode.NXDOMAIN
    assert ask(ClusterRecords(index, pods="disabled"), existing).rcode == dns.rcode.NXDOMAIN
    assert ask(insecure, "not-an-ip.shop.pod.cluster.local").rcode == dns.rcode.NXDOMAIN


def test_reverse_names_for_services_and_endpoints(cluster: tuple[Store, AddressPlan, dict[str, str]]) -> None:
    store, _, _ = cluster
    records = ClusterRecords(ClusterIndex(store))
    records.cluster_zone = ZONE
    arpa = dns.name.from_text("in-addr.arpa.")
    assert values(ask(records, "20.0.77.127.in-addr.arpa", "PTR", arpa), "PTR") == [
        "web.shop.svc.cluster.local."
    ]
    assert values(ask(records, "11.128.77.127.in-addr.arpa", "PTR", arpa), "PTR") == [
        "127-77-128-11.web.shop.svc.cluster.local."
    ]
    assert values(ask(records, "21.128.77.127.in-addr.arpa", "PTR", arpa), "PTR") == [
        "db-0.db.shop.svc.cluster.local."
    ]
    assert ask(records, "9.9.9.9.in-addr.arpa", "PTR", arpa).rcode == dns.rcode.NXDOMAIN


def test_wildcards_only_when_enabled(cluster: tuple[Store, AddressPlan, dict[str, str]]) -> None:
    store, _, ips = cluster
    index = ClusterIndex(store)
    assert ips["web"] in values(ask(ClusterRecords(index, wildcards=True), "web.*.svc.cluster.local"))
    assert ask(ClusterRecords(index, wildcards=False), "web.*.svc.cluster.local").rcode == dns.rcode.NXDOMAIN


def test_index_follows_store_changes(cluster: tuple[Store, AddressPlan, dict[str, str]]) -> None:
    store, _, ips = cluster
    records = ClusterRecords(ClusterIndex.shared(store))
    assert ClusterIndex.shared(store) is records.index
    store.delete("services", "shop", "web")
    assert ask(records, "web.shop.svc.cluster.local").rcode == dns.rcode.NXDOMAIN
    store.mutate("endpoints", "shop", "db", lambda ep: ep["subsets"][0]["addresses"].pop())
    assert values(ask(records, "db.shop.svc.cluster.local")) == [ips["db-0"]]
    store.mutate("services", "default", "kubernetes", lambda s: s["spec"].update(clusterIP="127.77.0.99"))
    assert values(ask(records, "kubernetes.default.svc.cluster.local")) == ["127.77.0.99"]
    assert ask(records, "1.0.77.127.in-addr.arpa", "PTR", dns.name.from_text("in-addr.arpa.")).rcode == (
        dns.rcode.NXDOMAIN
    )


def test_large_cluster_is_indexed_and_answered_per_name() -> None:
    store = Store()
    store.create("namespaces", {"metadata": {"name": "big"}})
    for i in range(2000):
        store.create(
            "services",
            {
                "metadata": {"name": f"svc-{i}", "namespace": "big"},
                "spec": {
                    "clusterIP": f"127.9.{i // 250}.{i % 250 + 1}",
                    "ports": [{"name": "http", "port": 80}],
                },
            },
        )
    for i in range(10000):
        store.create(
            "pods",
            {
                "metadata": {"name": f"pod-{i}", "namespace": "big"},
                "spec": {},
                "status": {"podIP": f"127.9.{128 + i // 250}.{i % 250 + 1}"},
            },
        )
    records = ClusterRecords(ClusterIndex(store), pods="verified")
    assert values(ask(records, "svc-1999.big.svc.cluster.local")) == ["127.9.7.250"]
    assert values(ask(records, "127-9-167-250.big.pod.cluster.local")) == ["127.9.167.250"]
    store.create(
        "services",
        {
            "metadata": {"name": "svc-new", "namespace": "big"},
            "spec": {"clusterIP": "127.9.60.1", "ports": []},
        },
    )
    assert values(ask(records, "svc-new.big.svc.cluster.local")) == ["127.9.60.1"]
