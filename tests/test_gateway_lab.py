"""The gateway, watcher and port-forward probes against the lab's API server over real HTTPS."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from wizard.k8s.connection import Connection, resolve_connection
from wizard.k8s.gateway import Gateway, GatewayError, ReadOnlyError, RequestEvent
from wizard.k8s.watch import (
    WaitProgress,
    WaitTimeout,
    Watcher,
    endpoint_ips,
    pod_is_ready,
    wait_for,
    wait_for_endpoint_ip,
    wait_for_ready_pod,
)
from wizard.migration.journal import journal_for
from wizard.migration.probes import ProbeTarget, choose_transport, probe

NS = "kube-system"
K8S_NAME = "kubernetes.default.svc.cluster.local"
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": NS}}


def connect(lab: Any) -> Connection:
    return resolve_connection(kubeconfig=str(lab.kubeconfig_path), environ={})


def gateway(lab: Any, mode: str = "live", **kw: Any) -> Gateway:
    kw.setdefault("backoff_base_s", 0.05)
    kw.setdefault("backoff_max_s", 0.5)
    return Gateway(connect(lab), mode, **kw)  # type: ignore[arg-type]


def replicas(lab: Any, name: str) -> int:
    return int(lab.store.get("deployments.apps", NS, name)["spec"]["replicas"])


def test_connection_carries_the_lab_dns_port(lab: Any) -> None:
    conn = connect(lab)
    assert conn.server == lab.api_url.rstrip("/")
    assert conn.lab_dns_port == lab.dns_port


def test_reads_return_the_servers_json(lab: Any) -> None:
    with gateway(lab) as gw:
        assert gw.server_version()["gitVersion"].startswith("v1.")
        pods = gw.list_pods(NS, "k8s-app=kube-dns")
        assert len(pods) == 3 and all(p["kind"] == "Pod" or "metadata" in p for p in pods)
        endpoints = gw.get_endpoints(NS, "kube-dns")
        assert endpoint_ips(endpoints) == {p["status"]["podIP"] for p in pods}
        listing = gw.get_list("Deployment", NS)
        assert listing["metadata"]["resourceVersion"]
        assert gw.get_namespace(NS)["metadata"]["uid"]
        assert gw.try_get("Deployment", NS, "no-such-thing") is None
        assert gw.can_i("get", "", "pods", namespace=NS).allowed


def test_not_found_names_verb_object_and_context(lab: Any) -> None:
    with gateway(lab) as gw, pytest.raises(GatewayError) as caught:
        gw.get_deployment(NS, "nope")
    message = str(caught.value)
    assert caught.value.status == 404
    assert "get Deployment kube-system/nope in context" in message and "not found" in message


def test_events_for_one_object(lab: Any) -> None:
    with gateway(lab) as gw:
        pod = gw.list_pods(NS, "k8s-app=kube-dns")[0]["metadata"]["name"]
        events = gw.events_for("Pod", NS, pod)
    assert events and all(e["involvedObject"]["name"] == pod for e in events)
    assert any(e["reason"] == "Scheduled" for e in events)


def test_scale_changes_the_deployment(lab: Any) -> None:
    with gateway(lab) as gw:
        result = gw.scale_deployment(NS, "kube-dns", 2)
    assert not result.dry_run
    assert replicas(lab, "kube-dns") == 2


def test_dry_run_validates_but_stores_nothing(lab: Any) -> None:
    manifest = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "wizard-test", "namespace": NS}, "data": {"a": "1"},
    }
    with gateway(lab) as live:
        created = live.apply([manifest])[0]
    rv = created.object["metadata"]["resourceVersion"]
    changed = {**manifest, "data": {"a": "2"}}
    with gateway(lab, "dry-run") as dry:
        result = dry.apply([changed])[0]
        scaled = dry.scale_deployment(NS, "kube-dns", 1)
    with gateway(lab, "dry-run") as dry:
        fresh = dry.apply([{**manifest, "metadata": {"name": "never-stored", "namespace": NS}}])[0]
    assert fresh.dry_run and lab.store.try_get("configmaps", NS, "never-stored") is None
    assert result.dry_run and scaled.dry_run
    assert result.object["data"] == {"a": "2"}  # what the server would store...
    stored = lab.store.get("configmaps", NS, "wizard-test")
    assert stored["metadata"]["resourceVersion"] == rv and stored["data"] == {"a": "1"}  # ...but did not
    assert replicas(lab, "kube-dns") == 3


def test_read_only_refuses_before_any_request(lab: Any) -> None:
    events: list[RequestEvent] = []
    with gateway(lab, "read-only", on_request=events.append) as gw:
        for write in (
            lambda: gw.scale_deployment(NS, "kube-dns", 0),
            lambda: gw.apply([CONFIGMAP]),
            lambda: gw.delete("Deployment", NS, "kube-dns"),
            lambda: gw.annotate_deployment(NS, "kube-dns", {"a": "b"}),
        ):
            with pytest.raises(ReadOnlyError, match="read-only"):
                write()
        assert events == []
        gw.get_deployment(NS, "kube-dns")  # reads still work, and are counted
        assert len(events) == 1 and events[0].status == 200
    assert replicas(lab, "kube-dns") == 3


@pytest.mark.lab_options(faults=("deny-scale",))
def test_forbidden_scale_names_the_missing_permission(lab: Any) -> None:
    with gateway(lab) as gw, pytest.raises(GatewayError) as caught:
        gw.scale_deployment(NS, "kube-dns", 2)
    message = str(caught.value)
    assert caught.value.status == 403
    assert "deployments/scale" in message and "grant patch" in message
    assert "kubectl auth can-i patch deployments.apps --subresource=scale -n kube-system" in message
    assert "\n" not in message
    with gateway(lab) as gw:
        review = gw.can_i("patch", "apps", "deployments", "scale", NS, "kube-dns")
        assert not review.allowed and review.resource_label == "deployments.apps/scale"
        assert gw.can_i("get", "apps", "deployments", namespace=NS).allowed


@pytest.mark.lab_options(faults=("flaky-api",))
def test_flaky_api_is_retried_until_it_answers(lab: Any) -> None:
    events: list[RequestEvent] = []
    with gateway(lab, on_request=events.append, retries=8) as gw:
        for _ in range(200):
            assert gw.get_deployment(NS, "kube-dns")["metadata"]["name"] == "kube-dns"
            if any(e.will_retry for e in events):
                break
        gw.scale_deployment(NS, "kube-dns", 2)
    assert any(e.will_retry and e.status in (500, 503, 504) for e in events)
    assert replicas(lab, "kube-dns") == 2


def test_unreachable_server_gives_advice(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
    }
    (tmp_path / "kc").write_text(yaml.safe_dump(doc))
    conn = resolve_connection(kubeconfig=str(tmp_path / "kc"), environ={})
    events: list[RequestEvent] = []
    with Gateway(conn, retries=2, backoff_base_s=0.01, on_request=events.append) as gw, \
            pytest.raises(GatewayError) as caught:
        gw.list_pods(NS)
    message = str(caught.value)
    assert f"cannot reach the API server at https://127.0.0.1:{port}" in message
    assert "check the VPN / kubeconfig server address" in message
    assert [e.attempt for e in events] == [1, 2, 3]


def test_watcher_relists_after_410(lab: Any) -> None:
    with gateway(lab) as gw:
        old_rv = gw.get_list("Pod", NS)["metadata"]["resourceVersion"]
        gw.annotate_deployment(NS, "kube-dns", {"example.com/touched": "yes"})
        lab.store.compact()  # the server forgets history: old_rv is now too old
        watcher = Watcher(gw, "Deployment", NS, resume_from=old_rv, timeout_s=5)
        seen: list[tuple[str, str]] = []
        for kind, obj in watcher:
            seen.append((kind, obj["metadata"]["name"]))
            if ("ADDED", "kube-dns") in seen:
                watcher.stop()
        assert watcher.relists == 1
        dep = watcher.get(NS, "kube-dns")
        assert dep is not None and dep["metadata"]["annotations"]["example.com/touched"] == "yes"


def test_watcher_stops_from_another_thread(lab: Any) -> None:
    with gateway(lab) as gw:
        watcher = Watcher(gw, "Pod", NS, "k8s-app=kube-dns", timeout_s=30)
        listed = threading.Event()
        count: list[int] = []

        def consume() -> None:
            for _ in watcher:
                count.append(1)
                if len(count) >= 3:
                    listed.set()

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()
        assert listed.wait(30)
        watcher.stop()
        thread.join(30)
        assert not thread.is_alive()
        assert len(watcher.snapshot()) == 3


def test_scale_up_then_wait_for_the_new_pod_and_its_endpoint(lab: Any) -> None:
    with gateway(lab) as gw:
        before = {p["metadata"]["name"] for p in gw.list_pods(NS, "k8s-app=kube-dns")}
        gw.scale_deployment(NS, "kube-dns", 4)
        pod = wait_for_ready_pod(gw, NS, "kube-dns", 60, ignore_pods=before)
        assert pod["metadata"]["name"] not in before
        ip = pod["status"]["podIP"]
        endpoints = wait_for_endpoint_ip(gw, NS, "kube-dns", ip, 60)
        assert ip in endpoint_ips(endpoints)


def test_dns_probe_through_port_forward(lab: Any) -> None:
    with gateway(lab) as gw:
        pod = gw.list_pods(NS, "k8s-app=kube-dns")[0]
        target = ProbeTarget(pod["metadata"]["name"], pod["status"]["podIP"], gw.connection.dns_port,
                             pod=pod["metadata"]["name"], namespace=NS)
        tunnelled = probe(target, K8S_NAME, "A", "port-forward", timeout=10, gateway=gw)
        direct = probe(target, K8S_NAME, "A", "udp", timeout=5)
    assert tunnelled.error is None, tunnelled.error
    assert tunnelled.rcode == "NOERROR" and tunnelled.transport == "port-forward"
    assert tunnelled.answers == direct.answers and tunnelled.answers


@pytest.mark.lab_options(faults=("flaky-api",))
def test_watcher_follows_changes_across_dropped_streams(lab: Any) -> None:
    with gateway(lab, retries=8) as gw:
        watcher = Watcher(gw, "Pod", NS, "k8s-app=kube-dns", backoff_base_s=0.05)
        give_up = threading.Timer(60, watcher.stop)  # a bound, not a sleep: stops a stuck test
        give_up.start()
        scaled = False
        try:
            for _ in watcher:
                if not scaled and watcher.relists == 1:  # after the first list: changes come by watch
                    gw.scale_deployment(NS, "kube-dns", 5)
                    scaled = True
                if sum(pod_is_ready(p) for p in watcher.snapshot()) == 5:
                    watcher.stop()
        finally:
            give_up.cancel()
    assert sum(pod_is_ready(p) for p in watcher.snapshot()) == 5
    assert watcher.watches_opened >= 2  # the lab drops each watch after a few events


def test_wait_for_reports_progress_and_times_out_with_what_it_saw(lab: Any) -> None:
    progress: list[WaitProgress] = []
    with gateway(lab) as gw, pytest.raises(WaitTimeout) as caught:
        wait_for(
            gw, "Pod", NS, lambda pods: None, 1.0, "a pod that never comes",
            label_selector="k8s-app=kube-dns", on_progress=progress.append,
            describe_state=lambda pods: f"{len(pods)} kube-dns pods", progress_interval_s=0.1,
        )
    expected = "timed out after 1 s waiting for a pod that never comes; last seen: 3 kube-dns pods"
    assert str(caught.value) == expected
    assert progress and all(p.waiting_for == "a pod that never comes" for p in progress)
    assert progress[-1].elapsed_s > progress[0].elapsed_s
    assert progress[-1].detail == "3 kube-dns pods"


def test_pod_logs_and_a_clean_400(lab: Any) -> None:
    with gateway(lab) as gw:
        pod = gw.list_pods(NS, "k8s-app=kube-dns")[0]["metadata"]["name"]
        text = gw.pod_logs(NS, pod, container="kubedns", tail_lines=5)
        assert isinstance(text, str) and len(text.splitlines()) <= 5
        with pytest.raises(GatewayError) as caught:
            gw.pod_logs(NS, pod)  # three containers and none named: the server refuses
    assert caught.value.status == 400
    assert f"get Pod kube-system/{pod} (log)" in str(caught.value)


def test_choose_transport_falls_back_to_port_forward(lab: Any) -> None:
    with gateway(lab) as gw:
        pod = gw.list_pods(NS, "k8s-app=kube-dns")[0]["metadata"]["name"]
        # no pod IP the host could reach: only the API server's tunnel is left
        target = ProbeTarget(pod, None, gw.connection.dns_port, pod=pod, namespace=NS)
        choice = choose_transport(target, gw, name=K8S_NAME)
    assert choice.transport == "port-forward"
    assert "no IP to reach directly" in choice.reason and f"pod kube-system/{pod}" in choice.reason


def test_journal_lives_in_a_per_cluster_directory(lab: Any, tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    with gateway(lab) as gw, gateway(lab, "dry-run") as dry:
        live = journal_for(gw, environ=env)
        again = journal_for(dry, environ=env)
        custom = journal_for(gw, state_dir=tmp_path / "mine")
    assert live.path == again.path  # same cluster, same journal, whatever the mode
    assert live.path.parent.parent == tmp_path / "coredns-wizard"
    host = lab.api_url.split("://", 1)[1].rstrip("/").replace(":", "-")
    assert live.path.parent.name.startswith(host + "-")
    assert again.dry_run and not live.dry_run
    assert custom.path == tmp_path / "mine" / "journal.jsonl"


def test_port_forward_to_a_missing_pod_is_explained(lab: Any) -> None:
    target = ProbeTarget("ghost", None, 53, pod="no-such-pod", namespace=NS)
    with gateway(lab) as gw:
        result = probe(target, K8S_NAME, "A", "port-forward", timeout=5, gateway=gw)
        with pytest.raises(GatewayError) as caught:
            gw.port_forward(NS, "no-such-pod", 53)
    assert result.error is not None and "did not open a port-forward to port 53" in result.error
    assert "create Pod kube-system/no-such-pod (portforward)" in str(caught.value)
    assert "pods/portforward" in str(caught.value)
