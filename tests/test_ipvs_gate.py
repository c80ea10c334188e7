"""The IPVS gate against the lab: a ConfigMap edit without a kube-proxy restart is "not in effect
yet" and the headless switch refuses the kube-dns scale-down (unless --ipvs-ack, journaled); after
the restart the gate waits the OLD timeout from the last kube-proxy start, then opens."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kube_proxy_support import NS, restart_kube_proxy, service_proxy, set_udp_timeout, wait_for
from switch_support import gateway_for, journal_in

from wizard.errors import InputError
from wizard.lab.cluster import Lab
from wizard.migration.facts import NodeInfo
from wizard.migration.ipvs_gate import (
    ACK_STEP_ID,
    IpvsGate,
    IpvsGateTracker,
    IpvsReading,
    KubeProxyPod,
    acknowledge,
    evaluate,
)
from wizard.migration.preflight.proxy import ProxySetup
from wizard.options import SwitchOptions

ROOT = Path(__file__).resolve().parents[1]


def tracker_for(lab: Lab, **options: Any) -> IpvsGateTracker:
    from wizard.migration.facts import collect_facts

    gateway = gateway_for(lab)
    switch_options = SwitchOptions(**options)
    return IpvsGateTracker.from_facts(gateway, collect_facts(gateway, switch_options), switch_options)


def wizard(lab: Lab, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "wizard", *args, "--kubeconfig", str(lab.kubeconfig_path),
               "--state-dir", str(tmp_path / "state")]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300,
                          stdin=subprocess.DEVNULL)


def kube_dns_replicas(lab: Lab) -> int:
    return int(lab.store.get("deployments.apps", NS, "kube-dns")["spec"]["replicas"])


@pytest.mark.lab_options(nodes=4, udp_timeout=300)
def test_edit_without_restart_is_not_in_effect_and_the_switch_refuses(lab: Lab, tmp_path: Path) -> None:
    tracker = tracker_for(lab)
    assert tracker.check().status == "timeout-long"

    set_udp_timeout(lab, "5s")
    gate = tracker.check()
    assert gate.status == "not-in-effect", gate
    assert gate.blocks and len(gate.stale_pods) == 4
    assert "not in effect yet: the ConfigMap says 5 s" in gate.summary
    assert "`kubectl -n kube-system rollout restart daemonset kube-proxy`" in gate.action
    assert gate.old_timeout_s == 300.0, "the timeout read before the edit is the one to wait out"
    assert service_proxy(lab).udp_timeout == 300.0, "the lab's kube-proxy agrees: nothing restarted"

    refused = wizard(lab, tmp_path, "switch", "--yes", "--observe", "1s", "--ready-timeout", "60s")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "refusing to start: IPVS gate closed: not in effect yet" in refused.stderr
    assert "rollout restart daemonset kube-proxy" in refused.stderr and "--ipvs-ack" in refused.stderr
    assert "Nothing was changed" in refused.stderr
    assert kube_dns_replicas(lab) == 3, "kube-dns must not have been scaled down"
    assert lab.store.try_get("deployments.apps", NS, "coredns") is None, "nothing deployed either"

    acked = wizard(lab, tmp_path, "switch", "--yes", "--observe", "1s", "--ready-timeout", "60s",
                   "--ipvs-ack", "kube-proxy restart is scheduled; risk accepted by ops")
    assert acked.returncode == 0, acked.stdout + acked.stderr
    assert "IPVS wait skipped (not-in-effect" in acked.stdout + acked.stderr
    assert kube_dns_replicas(lab) == 0
    from wizard.migration.journal import Journal

    journal = next((tmp_path / "state").rglob("*.jsonl"))
    entries = [e for e in Journal(journal, operator="test").read().entries if e.step == ACK_STEP_ID]
    assert [(e.status, e.detail, e.from_value) for e in entries] == [
        ("done", "kube-proxy restart is scheduled; risk accepted by ops", "not-in-effect")]


@pytest.mark.lab_options(nodes=3, udp_timeout=8)
def test_restart_then_the_old_timeout_must_pass(lab: Lab) -> None:
    tracker = tracker_for(lab)
    assert tracker.check().status == "timeout-long"
    set_udp_timeout(lab, "1s")
    assert tracker.check().status == "not-in-effect"

    restart_kube_proxy(lab)
    wait_for(lambda: service_proxy(lab).udp_timeout == 1.0, message="the lab's kube-proxy to apply 1 s")
    gate = tracker.check()
    assert gate.status == "waiting", gate
    assert gate.old_timeout_s == 8.0 and gate.configured_timeout_s == 1.0
    assert gate.in_effect_since is not None and gate.wait_until == gate.in_effect_since + 8.0
    seen: list[IpvsGate] = []
    deadline = time.monotonic() + 30
    while (gate := tracker.check()).status == "waiting":
        seen.append(gate)
        assert time.monotonic() < deadline, "the gate never opened"
        time.sleep(0.3)
    assert gate.status == "open", gate
    assert time.time() >= gate.in_effect_since + 8.0 if gate.in_effect_since else False
    assert seen, "the gate must wait before it opens"
    assert "have passed: sessions opened before expired" in gate.summary


@pytest.mark.lab_options(nodes=4, kube_dns_replicas=2, udp_timeout=300)
def test_the_engine_checks_the_gate_before_each_kube_dns_scale_down(lab: Lab, tmp_path: Path) -> None:
    """The TUI and a resumed run reach the scale-down through the engine alone: it refuses too."""
    from switch_support import fast_options, make_test_plan

    from wizard.migration.switch import Switcher

    set_udp_timeout(lab, "5s")
    gateway = gateway_for(lab)
    plan = make_test_plan(gateway, order="grow-first")
    outcome = Switcher(gateway, plan, journal_in(tmp_path), fast_options(ipvs_ack=None)).run()
    assert not outcome.completed and outcome.stopped_at is not None and "scale-kube-dns" in outcome.stopped_at
    assert "IPVS gate closed: not in effect yet" in outcome.reason
    assert kube_dns_replicas(lab) == 2


def test_skip_reason_is_journaled_and_read_only_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gate = IpvsGate("not-in-effect", "not in effect yet: the ConfigMap says 5 s, but …")
    journal = journal_in(tmp_path)
    note = acknowledge("changed by ipvsadm an hour ago", gate, journal)
    assert "changed by ipvsadm an hour ago" in note
    entry = journal.read().entries[-1]
    assert (entry.step, entry.status, entry.detail) == (ACK_STEP_ID, "done", "changed by ipvsadm an hour ago")
    with caplog.at_level(logging.WARNING, logger="coredns_wizard.ipvs"):
        note = acknowledge("read-only rehearsal, nothing changes", gate, None)
    assert "read-only rehearsal" in caplog.text and "read-only rehearsal" in note
    with pytest.raises(InputError, match="at least 10 characters"):
        acknowledge("because", gate, journal)


def test_a_short_ack_reason_is_bad_input(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "wizard", "switch", "--ipvs-ack", "ok", "--kubeconfig",
                           str(tmp_path / "none")], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2 and "--ipvs-ack 'ok': give the reason" in done.stderr
    assert "Traceback" not in done.stderr


# ---- the verdict itself, on readings written by hand -----------------------------------------------

OLD_KERNEL = NodeInfo("n1", True, False, (), {}, "5.4.119-19-0009.11", "TencentOS Server 3.1 (Final)")


def reading(
    timeout: str, changed: float | None, starts: list[float | None], mode: str = "ipvs"
) -> IpvsReading:
    from wizard.migration.preflight.proxy import go_duration_seconds

    setup = ProxySetup(mode, "test", go_duration_seconds(timeout), timeout, ())
    pods = tuple(KubeProxyPod(f"kube-proxy-{i}", f"n{i}", s) for i, s in enumerate(starts))
    return IpvsReading(setup, False, changed, "managedFields", "1", pods, len(pods))


def test_a_restart_in_the_same_second_as_the_change_is_not_trusted() -> None:
    gate = evaluate(reading("5s", 1000.0, [1000.0, 1001.0]), old_timeout_s=300, now=1002.0)
    assert gate.status == "not-in-effect" and gate.stale_pods == ("kube-proxy-0",)
    gate = evaluate(reading("5s", 1000.0, [1001.0, 1003.0]), old_timeout_s=300, now=1004.0)
    assert gate.status == "waiting" and gate.in_effect_since == 1003.0 and gate.wait_until == 1303.0
    assert evaluate(reading("5s", 1000.0, [1001.0, 1003.0]), old_timeout_s=300, now=1303.0).status == "open"


def test_missing_or_not_running_pods_keep_the_gate_closed() -> None:
    import dataclasses

    not_running = reading("5s", 1000.0, [1001.0, None])
    assert evaluate(not_running, old_timeout_s=300, now=2000).status == "not-in-effect"
    short = reading("5s", 1000.0, [1001.0])

    assert evaluate(dataclasses.replace(short, desired_pods=3), old_timeout_s=300, now=2000).status == (
        "not-in-effect")


def test_ipvsadm_set_counts_until_a_kube_proxy_restart_sets_the_long_value_again() -> None:
    gate = evaluate(reading("300s", 1000.0, [900.0]), old_timeout_s=300, now=1200.0, ipvsadm_set_at=1100.0)
    assert gate.status == "waiting" and gate.wait_until == 1400.0
    gate = evaluate(reading("300s", 1000.0, [1150.0]), old_timeout_s=300, now=1200.0, ipvsadm_set_at=1100.0)
    assert gate.status == "not-in-effect" and gate.stale_pods == ("kube-proxy-0",)


def test_no_risk_without_ipvs_or_on_fixed_kernels() -> None:
    import dataclasses

    iptables = reading("300s", None, [1.0], mode="iptables")
    assert evaluate(iptables, old_timeout_s=300, now=5).status == "no-risk"

    fixed = dataclasses.replace(reading("300s", None, [1.0]), kernels_flush=True)
    assert evaluate(fixed, old_timeout_s=300, now=5).status == "no-risk"
    assert OLD_KERNEL.kernel_version.endswith("0009.11")
