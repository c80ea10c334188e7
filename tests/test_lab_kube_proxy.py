"""The lab's kube-proxy behaves as on a real node: a ConfigMap edit changes nothing until the
kube-proxy pods restart; `kubectl rollout restart ds/kube-proxy` replaces them and the new IPVS UDP
timeout is then in effect, in the Service proxy that carries the DNS traffic."""

from __future__ import annotations

import time

import pytest
from kube_proxy_support import NS, kube_proxy_pods, kubectl, service_proxy, set_udp_timeout, wait_for

from wizard.lab.cluster import Lab


@pytest.mark.lab_options(nodes=3, udp_timeout=300)
def test_configmap_edit_takes_effect_only_when_kube_proxy_restarts(lab: Lab) -> None:
    proxy = service_proxy(lab)
    wait_for(lambda: len(kube_proxy_pods(lab)) == 3, message="three kube-proxy pods")
    wait_for(lambda: len(proxy.node_udp_timeouts) == 3, message="kube-proxy applied the seeded timeout")
    assert set(proxy.node_udp_timeouts.values()) == {300.0}
    before = kube_proxy_pods(lab)

    set_udp_timeout(lab, "5s")
    configmap = lab.store.get("configmaps", NS, "kube-proxy")
    entries = configmap["metadata"]["managedFields"]
    assert any(e["operation"] == "Update" and e["manager"] == "kubectl-patch" for e in entries), entries
    time.sleep(0.5)
    assert proxy.udp_timeout == 300.0, "an edited ConfigMap must not change the running kube-proxy"
    assert kube_proxy_pods(lab) == before

    assert "restarted" in kubectl(lab, "-n", NS, "rollout", "restart", "ds/kube-proxy")
    kubectl(lab, "-n", NS, "rollout", "status", "ds/kube-proxy", "--timeout=60s", timeout=90)
    after = kube_proxy_pods(lab)
    assert set(after) == set(before) and not set(after.values()) & set(before.values()), "every pod replaced"
    wait_for(lambda: set(proxy.node_udp_timeouts.values()) == {5.0}, message="the new timeout on every node")
    assert proxy.udp_timeout == 5.0
    template = lab.store.get("daemonsets.apps", NS, "kube-proxy")["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]


@pytest.mark.lab_options(nodes=2, udp_timeout=300)
def test_a_deleted_pod_reads_the_configmap_as_it_is_then(lab: Lab) -> None:
    """One node restarted: the proxy (one for every node's clients) keeps the longest timeout in
    effect anywhere until the last node follows."""
    proxy = service_proxy(lab)
    wait_for(lambda: len(proxy.node_udp_timeouts) == 2, message="two kube-proxy pods applied the seed")
    set_udp_timeout(lab, "2s")
    first_node, first_uid = sorted(kube_proxy_pods(lab).items())[0]
    pod = next(p for p in lab.store.list("pods", NS)[0] if p["metadata"]["uid"] == first_uid)
    kubectl(lab, "-n", NS, "delete", "pod", pod["metadata"]["name"], "--wait=false")
    wait_for(lambda: proxy.node_udp_timeouts.get(first_node) == 2.0, message="the new pod applied 2 s")
    assert proxy.udp_timeout == 300.0, "the other node still runs the old kube-proxy"


def test_unreadable_duration_is_refused_like_kube_proxy() -> None:
    from wizard.lab.dns.kube_proxy import UnreadableConfig, go_duration

    assert go_duration("1m30s") == 90.0 and go_duration("0") == 0.0 and go_duration("250ms") == 0.25
    with pytest.raises(UnreadableConfig, match="missing unit"):
        go_duration("300")
    with pytest.raises(UnreadableConfig, match="invalid duration"):
        go_duration("5 s")
