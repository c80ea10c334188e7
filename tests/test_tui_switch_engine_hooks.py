"""The two small engine additions the switch screen relies on: pausing between steps
(wizard.migration.step_gate) and the live feed of
DNS pods, endpoints and Events (wizard.migration.live_view)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from switch_support import NS, Recorder, fast_options, gateway_for

from wizard.migration.live_view import ClusterEventSeen, LiveDnsFeed, is_dns_object_event
from wizard.migration.plan import Step
from wizard.migration.progress import EndpointsChanged, Note, PodsChanged, StepFinished, StepStarted
from wizard.migration.step_gate import StepGate

STEP = Step("r1.scale-coredns", "scale-coredns", 1, "Scale CoreDNS 0 → 1", (),
            "deployment kube-system/coredns", 1, True)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


def emit_in_thread(sink: Callable[[Any], None], event: Any) -> threading.Thread:
    thread = threading.Thread(target=sink, args=(event,), daemon=True)
    thread.start()
    return thread


def test_paused_gate_holds_the_engine_after_a_finished_step_until_resumed() -> None:
    recorder = Recorder()
    gate = StepGate()
    sink = gate.wrap(recorder)
    sink(StepStarted(STEP))
    assert recorder.of(StepStarted)  # passes through untouched
    gate.pause()
    engine = emit_in_thread(sink, StepFinished(STEP, "done", "ok"))
    wait_for(lambda: gate.holding, 5, "the gate to hold")
    assert engine.is_alive()
    assert any("paused after step r1.scale-coredns" in n.message for n in recorder.of(Note))
    gate.resume()
    engine.join(5)
    assert not engine.is_alive() and not gate.holding
    assert recorder.of(Note)[-1].message == "continuing"


def test_cancel_releases_a_held_engine_and_failed_steps_are_never_held() -> None:
    cancel = threading.Event()
    gate = StepGate(cancel)
    sink = gate.wrap(None)
    gate.pause()
    sink(StepFinished(STEP, "failed", "boom"))  # returns at once: a failure ends the run anyway
    engine = emit_in_thread(sink, StepFinished(STEP, "done", "ok"))
    wait_for(lambda: gate.holding, 5, "the gate to hold")
    cancel.set()
    engine.join(5)
    assert not engine.is_alive()
    assert gate.toggle() is False and not gate.paused  # toggle resumes a paused gate


def test_only_events_about_the_dns_deployments_are_followed() -> None:
    options = fast_options()

    def event(kind: str, name: str) -> dict[str, Any]:
        return {"involvedObject": {"kind": kind, "name": name}}

    assert is_dns_object_event(event("Pod", "coredns-7d9f-abcde"), options)
    assert is_dns_object_event(event("Deployment", "kube-dns"), options)
    assert is_dns_object_event(event("ReplicaSet", "kube-dns-79dd595d95"), options)
    assert not is_dns_object_event(event("Pod", "kube-proxy-x2"), options)
    assert not is_dns_object_event(event("Node", "coredns-node"), options)


@pytest.mark.lab_options(nodes=3, kube_dns_replicas=3)
def test_live_feed_follows_pods_endpoints_and_events_as_they_change(lab: Any) -> None:
    gateway = gateway_for(lab)
    recorder = Recorder()
    feed = LiveDnsFeed(gateway, fast_options(), recorder, min_interval_s=0.05).start()
    try:
        def latest_pods() -> list[Any]:
            pods = recorder.of(PodsChanged)
            return list(pods[-1].pods) if pods else []

        wait_for(lambda: len([p for p in latest_pods() if p.ready]) == 3, 20, "three Ready kube-dns pods")
        assert {p.owner for p in latest_pods()} == {"kube-dns"}  # by ownerReferences
        wait_for(lambda: any(len(e.ready) == 3 for e in recorder.of(EndpointsChanged)), 20, "three endpoints")
        gateway.scale_deployment(NS, "kube-dns", 2)
        wait_for(lambda: len([p for p in latest_pods() if p.phase != "Terminating"]) == 2, 30,
                 "a kube-dns pod to leave")
        wait_for(lambda: any(len(e.ready) == 2 for e in recorder.of(EndpointsChanged)), 30, "two endpoints")
        wait_for(lambda: any(e.reason == "ScalingReplicaSet" for e in recorder.of(ClusterEventSeen)), 30,
                 "the scaling Event")
    finally:
        feed.stop()
    assert feed.stopped and feed.threads_alive == 0  # nothing can report after stop()
