"""Probes off the pod network: one API server port-forward per pod and port, kept for the run.

Against the lab over real HTTPS/WebSocket and real DNS over TCP. The "not on the pod network"
path is forced two ways: a target without an IP (only the tunnel is left), and a switch told the
pods listen on port 53 (direct UDP to the lab's loopback pod IPs on 53 is refused; the lab's
kubelet maps a port-forward to 53 onto its real DNS port). Every test checks that a kept tunnel
never answers for another pod than the one asked, and that closing leaves no thread or socket."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from lab_clients import kubectl, render_switch_manifest
from switch_support import NS, Recorder, deployment_replicas, fast_options, journal_in, make_test_plan

from wizard.k8s.connection import resolve_connection
from wizard.k8s.gateway import Gateway, RequestEvent
from wizard.migration.probes import ProbeTarget, TunnelPool, probe
from wizard.migration.progress import Note
from wizard.migration.switch import Switcher

K8S_NAME = "kubernetes.default.svc.cluster.local"
PROXY_THREAD = "Kubernetes port forward proxy"


class Counted:
    """A gateway whose port-forward requests are counted (the API server sees each tunnel)."""

    def __init__(self, lab: Any) -> None:
        self.events: list[RequestEvent] = []
        kubeconfig = str(lab.kubeconfig_path)
        connection = resolve_connection(kubeconfig=kubeconfig, environ={}, request_timeout="10s")
        self.gateway = Gateway(connection, "live", retry_budget_s=30.0, on_request=self.events.append)

    @property
    def tunnels_opened(self) -> int:
        return sum(1 for e in self.events if e.path.endswith("/portforward") and e.status == 101)


def tunnel_target(pod: dict[str, Any], port: int) -> ProbeTarget:
    """The pod by name only: the host cannot route to it, the API server's tunnel can."""
    name = str(pod["metadata"]["name"])
    return ProbeTarget(name, None, port, pod=name, namespace=NS)


def proxy_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(PROXY_THREAD) and t.is_alive()]


def open_sockets() -> set[str]:
    """`socket:[inode]` of every socket this process holds (inodes are not reused like fd numbers,
    so sockets the in-process lab opens and closes meanwhile do not blur the picture)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:"):
                found.add(target)
    return found


def tunnel_sockets(pool: TunnelPool) -> set[str]:
    """The sockets behind the pool's tunnels: our end, the proxy's end, the WebSocket's TCP."""
    fds = []
    for slot in pool._slots.values():
        assert slot.forward is not None
        forward = slot.forward._forward
        fds.append(slot.forward.socket.fileno())
        fds += [port.python.fileno() for port in forward.local_ports.values()]
        fds.append(forward.websocket.sock.fileno())
    return {os.readlink(f"/proc/self/fd/{fd}") for fd in fds}


def pods_named(lab: Any, prefix: str) -> list[dict[str, Any]]:
    pods = lab.store.list("pods", NS)[0]
    return [
        p for p in pods
        if p["metadata"]["name"].startswith(prefix) and (p.get("status") or {}).get("podIP")
        and not p["metadata"].get("deletionTimestamp")
    ]


def test_one_tunnel_per_pod_reused_then_closed_without_leaks(lab: Any) -> None:
    counted = Counted(lab)
    with counted.gateway as gw:
        targets = [tunnel_target(p, gw.connection.dns_port) for p in gw.list_pods(NS, "k8s-app=kube-dns")]
        assert len(targets) == 3
        threads_before = proxy_threads()
        pool = TunnelPool(gw)
        results = [
            probe(t, K8S_NAME, "A", "port-forward", timeout=5, tunnels=pool)
            for _ in range(5) for t in targets
        ]
        assert pool.open_count == 3 and len(proxy_threads()) == 3
        ours = tunnel_sockets(pool)
        assert len(ours) == 9 and ours <= open_sockets()
        pool.close()
        assert not proxy_threads() and not threads_before
        leaked = ours & open_sockets()
        assert not leaked, f"sockets left open: {sorted(leaked)}"
    assert all(r.error is None and r.rcode == "NOERROR" and r.transport == "port-forward" for r in results), [
        r.summary() for r in results if r.error or r.rcode != "NOERROR"
    ]
    assert pool.opened == 3 and counted.tunnels_opened == 3  # 15 questions, one tunnel per pod
    assert {r.target for r in results} == {t.label for t in targets}


def test_a_kept_tunnel_closed_by_the_pod_is_reopened(lab: Any) -> None:
    """The DNS server closing the connection (idle timeout, restart) costs one new tunnel, not a
    failed probe: the question never got an answer, so it is asked again on a fresh one."""
    counted = Counted(lab)
    with counted.gateway as gw, TunnelPool(gw) as pool:
        target = tunnel_target(gw.list_pods(NS, "k8s-app=kube-dns")[0], gw.connection.dns_port)
        first = probe(target, K8S_NAME, "A", "port-forward", timeout=5, tunnels=pool)
        slot = next(iter(pool._slots.values()))
        assert slot.forward is not None
        slot.forward.socket.close()  # as if the far end had gone: the next send fails
        again = probe(target, K8S_NAME, "A", "port-forward", timeout=5, tunnels=pool)
    assert first.rcode == again.rcode == "NOERROR" and again.error is None
    assert pool.opened == 2 and counted.tunnels_opened == 2
    assert not proxy_threads()


@pytest.mark.lab_options(nodes=4, faults=("coredns-servfail",))
def test_a_kept_tunnel_reaches_exactly_the_pod_asked(lab: Any, tmp_path: Path) -> None:
    """Interleaved questions to a good kube-dns pod and a SERVFAIL CoreDNS pod, through the same
    pool: each answer is its own pod's, and the CoreDNS pod's follows its fault as it changes."""
    manifest = render_switch_manifest(lab, tmp_path)
    kubectl(lab, "apply", "--server-side", "--validate=false", "-f", str(manifest))
    kubectl(lab, "scale", "deployment/coredns", "-n", NS, "--replicas=1")
    kubectl(lab, "rollout", "status", "deployment/coredns", "-n", NS, "--timeout=60s")
    counted = Counted(lab)
    with counted.gateway as gw, TunnelPool(gw) as pool:
        good = tunnel_target(pods_named(lab, "kube-dns-")[0], gw.connection.dns_port)
        bad = tunnel_target(pods_named(lab, "coredns-")[0], gw.connection.dns_port)

        def ask(target: ProbeTarget) -> str:
            result = probe(target, K8S_NAME, "A", "port-forward", timeout=5, tunnels=pool)
            assert result.error is None, result.summary()
            return result.rcode

        seen = [(ask(good), ask(bad)) for _ in range(4)]
        lab.faults.off("coredns-servfail")
        healed = [(ask(good), ask(bad)) for _ in range(2)]
        lab.faults.on("coredns-servfail")
        broken_again = ask(bad)
    assert seen == [("NOERROR", "SERVFAIL")] * 4
    assert healed == [("NOERROR", "NOERROR")] * 2
    assert broken_again == "SERVFAIL"
    assert pool.opened == 2 and counted.tunnels_opened == 2  # the same two tunnels throughout


def switch_off_the_pod_network(lab: Any, tmp_path: Path) -> tuple[Any, Recorder, Counted]:
    counted = Counted(lab)
    recorder = Recorder()
    with counted.gateway as gw:
        plan = make_test_plan(gw)
        # the pods listen on the lab's DNS port; on 53 only the API server's tunnel reaches them
        options = fast_options(observe_seconds=1.0, dns_port=53)
        outcome = Switcher(gw, plan, journal_in(tmp_path), options, recorder).run()
    return outcome, recorder, counted


def tunnel_notes(recorder: Recorder) -> list[str]:
    return [e.message for e in recorder.of(Note) if "over port-forward" in e.message]


@pytest.mark.lab_options(nodes=4)
def test_a_switch_off_the_pod_network_keeps_one_tunnel_per_pod(lab: Any, tmp_path: Path) -> None:
    outcome, recorder, counted = switch_off_the_pod_network(lab, tmp_path)
    assert outcome.completed, outcome.reason
    notes = tunnel_notes(recorder)
    assert notes and all("API server port-forward to pod kube-system/" in n for n in notes)
    probed = {n.split(" ")[1] for n in notes}  # "probing NAME (IP) over port-forward: ..."
    # one tunnel per pod probed (the transport choice's included), never one per question
    assert counted.tunnels_opened == len(probed), (counted.tunnels_opened, sorted(probed))
    asked = sum(1 for e in counted.events if e.path.endswith("/portforward"))
    assert asked == counted.tunnels_opened
    assert not proxy_threads()
    assert deployment_replicas(lab, "kube-dns") == 0


@pytest.mark.lab_options(nodes=4, faults=("coredns-servfail",))
def test_a_switch_off_the_pod_network_still_fails_a_servfail_pod(lab: Any, tmp_path: Path) -> None:
    outcome, recorder, counted = switch_off_the_pod_network(lab, tmp_path)
    assert not outcome.completed
    assert "SERVFAIL" in outcome.reason or "SERVFAIL" in " ".join(str(e) for e in recorder.events)
    assert tunnel_notes(recorder) and counted.tunnels_opened >= 1
    assert deployment_replicas(lab, "kube-dns") == 3  # contained: nothing of kube-dns went
    assert not proxy_threads()
