"""Benchmark: `coredns-wizard plan` against the equivalent kubectl reads, 20 ms from the API server.

Not collected by default (the name does not match `test_*.py`). Run it explicitly:

    python3 -m pytest tests/bench_plan_rtt.py -p no:cacheprovider --benchmark-only -s

The lab runs with `api_rtt_ms=20` (wizard.lab.api.latency: every byte between a client and the
API server waits 10 ms each way, handshakes included). Timed from process start to exit:
 - `python3 -m wizard plan -o json` (what `coredns-wizard plan` runs), and in-process
   `run_preflight` alone (the same reads without interpreter start-up and imports);
 - the kubectl commands that read what pre-flight reads (version, `auth can-i --list` for the
   permissions, the kube-system lists, nodes, DaemonSets, the pod and Service counts, the
   kubernetes Service, and `apply --dry-run=server` of switch2coredns.yaml), one after another
   as an operator types or scripts them, and all at once in the background (`&` and `wait`).
kubectl's discovery cache is warm (a first untimed round fills it), as on an operator's machine.
Goal: plan at most 0.5x the sequential kubectl reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_clients import KUBECTL

from wizard.k8s.connection import resolve_connection
from wizard.k8s.gateway import Gateway, RequestEvent
from wizard.lab.cluster import Lab, LabOptions
from wizard.migration.preflight.run import run_preflight
from wizard.options import SwitchOptions

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parent.parent
RTT_MS = 20.0
ROUNDS = 5
RESULTS: dict[str, float] = {}  # label -> best wall time (s)
NOTES: list[str] = []


class Bench:
    def __init__(self, lab: Lab, workdir: Path) -> None:
        self.lab = lab
        self.workdir = workdir
        self.env = {
            **os.environ,
            "KUBECONFIG": str(lab.kubeconfig_path),
            "KUBECACHEDIR": str(workdir / "kube-cache"),
            "PYTHONPATH": str(ROOT),
            "XDG_STATE_HOME": str(workdir / "state"),
        }
        self.manifest = workdir / "switch2coredns.yaml"

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(list(argv), capture_output=True, text=True, env=self.env, timeout=120, cwd=ROOT)
        assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr[-500:]}"
        return done

    def kubectl_reads(self) -> list[list[str]]:
        k, ns = str(KUBECTL), "kube-system"
        return [
            [k, "version", "-o", "json"],
            [k, "auth", "can-i", "--list", "-n", ns],
            [k, "get", "deployments,configmaps,services,replicasets,horizontalpodautoscalers,"
             "poddisruptionbudgets", "-n", ns, "-o", "json"],
            [k, "get", "pods", "-n", ns, "-l", "k8s-app=kube-dns", "-o", "json"],
            [k, "get", "nodes", "-o", "json"],
            [k, "get", "daemonsets", "-A", "-o", "json"],
            [k, "get", "--raw", "/api/v1/pods?limit=1"],
            [k, "get", "--raw", "/api/v1/services?limit=50"],
            [k, "get", "service", "kubernetes", "-n", "default", "-o", "json"],
            [k, "apply", "--server-side", "--dry-run=server", "-f", str(self.manifest)],
        ]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    workdir = tmp_path_factory.mktemp("plan-rtt")
    with Lab(LabOptions(speed=20.0, dns_port=0, api_rtt_ms=RTT_MS, start_timeout=120.0)) as lab:
        b = Bench(lab, workdir)
        for kind, name in (("cm", "kube-dns"), ("deploy", "kube-dns")):
            text = b.run(str(KUBECTL), "get", kind, name, "-n", "kube-system", "-o", "yaml").stdout
            (workdir / f"{kind}.yaml").write_text(text)
        rendered = b.run(
            sys.executable, "-m", "wizard", "render", "--k8s-version", "1.20",
            "--kube-dns-configmap", str(workdir / "cm.yaml"),
            "--kube-dns-deployment", str(workdir / "deploy.yaml"),
        )
        b.manifest.write_text(rendered.stdout)
        for argv in b.kubectl_reads():  # fills kubectl's discovery cache, untimed
            b.run(*argv)
        yield b
    _print_table()


PLAN = "coredns-wizard plan (python3 -m wizard plan -o json)"
PREFLIGHT = "run_preflight in-process (no start-up, new connections)"
KUBECTL_SEQ = "kubectl reads, one after another"
KUBECTL_PAR = "kubectl reads, all at once (& and wait)"
RATIOS: list[float] = []  # plan / sequential kubectl, per round


def _print_table() -> None:
    print(f"\n\nplan vs kubectl reads, {RTT_MS:g} ms round trip to the lab API server, best of {ROUNDS}")
    for label, seconds in RESULTS.items():
        print(f"  {label:<56} {seconds:6.2f} s")
    for note in NOTES:
        print(f"  {note}")
    plan, kubectl = RESULTS.get(PLAN), RESULTS.get(KUBECTL_SEQ)
    if plan and kubectl:
        per_round = ", ".join(f"{r:.2f}" for r in RATIOS)
        print(f"  plan / sequential kubectl reads: {plan / kubectl:.2f}x best to best; per round {per_round}"
              " (goal <= 0.50)")


def test_plan_against_kubectl_reads(benchmark: Any, bench: Bench) -> None:
    """Paired rounds (each path once per round), so load from other processes hits all alike."""
    connection = resolve_connection(kubeconfig=str(bench.lab.kubeconfig_path), environ={})
    events: list[RequestEvent] = []
    times: dict[str, list[float]] = {PLAN: [], PREFLIGHT: [], KUBECTL_SEQ: [], KUBECTL_PAR: []}

    def plan() -> None:
        bench.run(sys.executable, "-m", "wizard", "plan", "-o", "json")

    def preflight() -> None:
        events.clear()
        with Gateway(connection, "read-only", on_request=events.append) as gw:
            assert run_preflight(gw, SwitchOptions()).plan is not None

    def kubectl_one_after_another() -> None:
        for argv in bench.kubectl_reads():
            bench.run(*argv)

    def kubectl_all_at_once() -> None:
        procs = [
            subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=bench.env)
            for argv in bench.kubectl_reads()
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err

    runs = {PLAN: plan, PREFLIGHT: preflight, KUBECTL_SEQ: kubectl_one_after_another,
            KUBECTL_PAR: kubectl_all_at_once}

    def paired_round() -> None:
        for label, run in runs.items():
            began = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - began)
        RATIOS.append(times[PLAN][-1] / times[KUBECTL_SEQ][-1])

    benchmark.pedantic(paired_round, rounds=ROUNDS, warmup_rounds=1)
    del RATIOS[0]  # the warm-up round
    for label, spent in times.items():
        RESULTS[label] = min(spent[1:])
    NOTES.append(f"pre-flight sends {len(events)} requests")


def test_the_relay_adds_a_round_trip(bench: Bench) -> None:
    """One `kubectl get --raw /version` pays at least one round trip."""
    began = time.monotonic()
    bench.run(str(KUBECTL), "get", "--raw", "/version")
    assert time.monotonic() - began >= RTT_MS / 1000
