"""Benchmark: how smooth is the switch for the cluster's DNS clients, beside the one-shot cutover.

Not collected by default (the name does not match `test_*.py`). Run it explicitly:

    python3 -m pytest tests/bench_smoothness.py -p no:cacheprovider -s

On each node kernel of the lab (`old`: without the IPVS expire_nodest_conn fix, `fixed`: with
it; the IPVS UDP timeout is left at the seeded 300 s) the same DNS load (tests/dns_load.py, a
separate process: ~120 lookups/s from clients that open a fresh socket per lookup and ~120/s
from clients that keep their socket and retry on it like glibc, 1 s timeout, 2 tries) runs
through the kube-dns Service IP while one of these happens:
- `switch`: the wizard's Switcher on a plan (as tests/switch_support.py builds it, fast options,
  2 s observation; `ipvs_ack` given, as the old kernel's IPVS gate would otherwise refuse);
- `rollback`: the wizard's rollback of that switch, on the same lab;
- `cutover`: what kubeadm does, with plain HTTP requests to the lab's API server: the same
  CoreDNS objects created at N replicas, and once they are Ready, kube-dns scaled to 0 at once.
Per phase (before, during, after) it counts lookups, lost answers (tries that timed out),
failed lookups (every try lost), wrong answers (not NOERROR with exactly the `kubernetes`
Service's ClusterIP) and latency percentiles of the answered lookups. One table at the end.

It also measures a switch's overhead (issue 15, item 4): the switch's wall time against the sum
of its unavoidable waits (each round's CoreDNS pod start and readiness, seen by the lab's store,
and each observation window), with a time line of the engine's events.
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
import yaml
from switch_support import Recorder, fast_options, gateway_for, make_test_plan

from wizard.k8s.connection import resolve_connection
from wizard.lab.cluster import Lab, LabOptions
from wizard.migration.journal import Journal
from wizard.migration.progress import Event, StepFinished, StepStarted
from wizard.migration.rollback import rollback
from wizard.migration.switch import Switcher

pytestmark = pytest.mark.timeout(1800)

NS = "kube-system"
LOAD = Path(__file__).with_name("dns_load.py")
RATE_PER_KIND = 120.0
BEFORE_S = 4.0
AFTER_S = 6.0
WARMUP_S = 1.0
OBSERVE_S = 2.0
LAB = {"nodes": 6, "speed": 20.0, "dns_port": 0, "start_timeout": 120.0}
PHASES = ("before", "during", "after")
ROWS: list[str] = []
OVERHEAD: list[str] = []
LOSSES: list[str] = []


# ---- the load ------------------------------------------------------------------------------------
@dataclass
class PhaseStats:
    lookups: int = 0
    lost_tries: int = 0
    failed: int = 0
    wrong: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    wrong_examples: list[str] = field(default_factory=list)

    def cell(self) -> str:
        rate = self.lookups / self.seconds if self.seconds else 0.0
        if self.latencies:
            cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
            pct = f"{cuts[49]:5.1f}/{cuts[94]:6.1f}/{cuts[98]:6.1f}"
        else:
            pct = f"{'-':>19}"
        return f"{self.lookups:5d} {rate:4.0f}/s {self.lost_tries:4d} {self.failed:4d} {self.wrong:4d} {pct}"


class Load:
    """tests/dns_load.py running in its own process against the Service IP."""

    def __init__(self, lab: Lab, expected: str, domain: str) -> None:
        self.out = Path(tempfile.mkstemp(prefix="dns-load-", suffix=".jsonl")[1])
        self.args = [sys.executable, str(LOAD), lab.dns_service_ip, str(lab.dns_port),
                     f"kubernetes.default.svc.{domain}", expected, str(self.out),
                     "--rate-per-kind", str(RATE_PER_KIND)]
        self.process: subprocess.Popen[str] | None = None
        self.marks: dict[str, float] = {}
        self.lookups: list[dict[str, Any]] = []

    def __enter__(self) -> Load:
        self.process = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "STARTED"
        self.marks["start"] = time.time() + WARMUP_S
        time.sleep(WARMUP_S + BEFORE_S)
        self.marks["op"] = time.time()
        return self

    def operation_done(self) -> None:
        self.marks["done"] = time.time()
        time.sleep(AFTER_S)
        self.marks["end"] = time.time()

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)
        self.lookups = [json.loads(line) for line in self.out.read_text(encoding="utf-8").splitlines()]
        self.out.unlink(missing_ok=True)

    def phases(self, kind: str) -> dict[str, PhaseStats]:
        bounds = {"before": ("start", "op"), "during": ("op", "done"), "after": ("done", "end")}
        stats = {name: PhaseStats(seconds=self.marks[b] - self.marks[a]) for name, (a, b) in bounds.items()}
        for lookup in self.lookups:
            if lookup["kind"] != kind:
                continue
            phase = next((name for name, (a, b) in bounds.items()
                          if self.marks[a] <= lookup["started"] < self.marks[b]), None)
            if phase is None:
                continue
            s = stats[phase]
            s.lookups += 1
            s.lost_tries += lookup["lost_tries"]
            s.failed += lookup["outcome"] == "lost"
            if lookup["outcome"] == "wrong":
                s.wrong += 1
                if len(s.wrong_examples) < 3:
                    s.wrong_examples.append(lookup["detail"])
            if lookup["latency_ms"] is not None:
                s.latencies.append(lookup["latency_ms"])
        return stats


class EndpointClock:
    """When the kube-dns Service's ready endpoints changed (from the lab's store), to place each
    lost answer beside the backend change nearest to it."""

    def __init__(self, lab: Lab) -> None:
        self.changes: list[tuple[float, set[str], set[str]]] = []  # (wall time, added, removed)
        self._last: set[str] = self._ips(lab.store.get("endpoints", NS, "kube-dns"))
        self._unwatch = lab.store.watch("endpoints", self._changed, namespace=NS)

    @staticmethod
    def _ips(obj: dict[str, Any]) -> set[str]:
        return {a["ip"] for s in obj.get("subsets") or [] for a in s.get("addresses") or []}

    def _changed(self, kind: str, obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] != "kube-dns":
            return
        now = self._ips(obj) if kind != "DELETED" else set()
        if now != self._last:
            self.changes.append((time.time(), now - self._last, self._last - now))
            self._last = now

    def close(self) -> None:
        self._unwatch()


def loss_lines(load: Load, endpoints: EndpointClock, scenario: str, kernel: str) -> list[str]:
    """Each lookup that lost a try, with the endpoint change nearest to it (at most 12 lines)."""
    lines: list[str] = []
    lossy = sorted((lk for lk in load.lookups if lk["lost_tries"] and load.marks["start"] <= lk["started"]),
                   key=lambda lk: lk["started"])
    for lookup in lossy[:12]:
        change = "no endpoint change"
        if endpoints.changes:
            at, added, removed = min(endpoints.changes, key=lambda c: abs(c[0] - lookup["started"]))
            change = (f"nearest endpoint change {at - lookup['started']:+.3f} s from its first send: "
                      f"+{sorted(added)} -{sorted(removed)}")
        at_op = lookup["started"] - load.marks["op"]
        lines.append(f"    {scenario}/{kernel}/{lookup['kind']}: lookup at op{at_op:+.3f} s "
                     f"lost {lookup['lost_tries']} tr{'y' if lookup['lost_tries'] == 1 else 'ies'}"
                     f" ({lookup['outcome']}); {change}")
    if len(lossy) > 12:
        lines.append(f"    ... and {len(lossy) - 12} more lookups with lost tries")
    return lines


def proxy_counts(lab: Lab) -> tuple[int, int, int]:
    """(forwarded, answered, dropped) of the lab's kube-proxy for the kube-dns Service."""
    from wizard.lab.dns.service_proxy import ServiceProxy

    proxy = next(part for part in lab._components if isinstance(part, ServiceProxy))
    c = proxy.counters_for(NS, "kube-dns")
    return c.forwarded, c.answered, c.dropped


def under_load(lab: Lab, scenario: str, kernel: str, operation: Callable[[], Any]) -> Any:
    """Run `operation` between the before and after windows of the load; record its table rows."""
    expected = lab.store.get("services", "default", "kubernetes")["spec"]["clusterIP"]
    endpoints = EndpointClock(lab)
    with Load(lab, expected, lab.options.cluster_domain) as load:
        counted = proxy_counts(lab)
        result = operation()
        load.operation_done()
        after = proxy_counts(lab)
    endpoints.close()
    forwarded, answered, dropped = (b - a for a, b in zip(counted, after, strict=True))
    LOSSES.append(f"  {scenario}/{kernel}: kube-proxy during+after: {forwarded} forwarded, "
                  f"{answered} replies relayed, {dropped} dropped (no endpoint or stale session)")
    LOSSES.extend(loss_lines(load, endpoints, scenario, kernel))
    for kind in ("fresh", "glibc"):
        stats = load.phases(kind)
        during = load.marks["done"] - load.marks["op"]
        cells = " | ".join(stats[p].cell() for p in PHASES)
        ROWS.append(f"{scenario:<8} {kernel:<5} {kind:<5} {during:6.1f}s | {cells}")
        for phase in PHASES:
            if stats[phase].wrong_examples:
                examples = stats[phase].wrong_examples
                ROWS.append(f"    wrong answers {scenario}/{kernel}/{kind}/{phase}: {examples}")
    return result


def print_table() -> None:
    cell = f"{'n':>5} {'rate':>6} {'lost':>4} {'fail':>4} {'wrng':>4} {'p50/p95/p99 ms':>19}"
    head = f"{'scenario':<8} {'kern':<5} {'client':<5} {'took':>7} | " + " | ".join([cell] * 3)
    phases = f"{'':<29} | " + " | ".join(f"{p:^{len(cell)}}" for p in PHASES)
    print("\n\nsmoothness benchmark: lost = tries timed out (1 s), fail = lookups with every try lost (2),")
    print("wrng = answered but not NOERROR with the expected address; "
          f"~{RATE_PER_KIND:.0f} lookups/s per client kind")
    print("-" * len(head))
    print(phases)
    print(head)
    print("-" * len(head))
    for row in ROWS:
        print(row)
    print("-" * len(head))
    print("\nwhere answers were lost")
    for line in LOSSES:
        print(line)
    if OVERHEAD:
        print("\nswitch overhead (issue 15 item 4): wall time against the unavoidable waits")
        for line in OVERHEAD:
            print(line)


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    yield
    print_table()


# ---- the scenarios -------------------------------------------------------------------------------
class TimedRecorder(Recorder):
    """The engine's events with the moment each arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)
            self.times.append(time.monotonic())


class ReadyClock:
    """From the lab's store (what the kubelet and controllers did, not what the engine saw): when
    the coredns Deployment's replicas were set to each count, and when each count of CoreDNS pods
    was first Ready."""

    def __init__(self, lab: Lab) -> None:
        self.scaled_to: dict[int, float] = {}
        self.ready_count_at: dict[int, float] = {}
        self._ready: set[str] = set()
        self._lock = threading.Lock()
        self._unwatch = [lab.store.watch("deployments.apps", self._deployment, namespace=NS),
                         lab.store.watch("pods", self._pod, namespace=NS)]

    def _deployment(self, _: str, obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] == "coredns":
            replicas = int((obj.get("spec") or {}).get("replicas") or 0)
            with self._lock:
                self.scaled_to.setdefault(replicas, time.monotonic())

    def _pod(self, kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if not name.startswith("coredns-"):
            return
        ready = kind != "DELETED" and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (obj.get("status") or {}).get("conditions") or [])
        with self._lock:
            (self._ready.add if ready else self._ready.discard)(name)
            self.ready_count_at.setdefault(len(self._ready), time.monotonic())

    def close(self) -> None:
        for unwatch in self._unwatch:
            unwatch()


def timed_switch(lab: Lab, workdir: Path, kernel: str, label: str,
                 around: Callable[[Callable[[], Any]], Any]) -> tuple[Journal, Any]:
    """One switch run through `around` (under load or not); its overhead report recorded."""
    gateway = gateway_for(lab)
    connection = resolve_connection(kubeconfig=str(lab.kubeconfig_path), context=None, request_timeout="10s")
    options = fast_options(observe_seconds=OBSERVE_S, dns_port=connection.dns_port)
    plan = make_test_plan(gateway)
    recorder = TimedRecorder()
    clock = ReadyClock(lab)
    journal = Journal(workdir / "journal.jsonl", operator="bench@host")
    called: dict[str, float] = {}

    def switch() -> Any:
        called["call"] = time.monotonic()
        outcome = Switcher(gateway, plan, journal, options, recorder).run()
        called["return"] = time.monotonic()
        return outcome

    outcome = around(switch)
    clock.close()
    assert outcome.completed, outcome.reason
    OVERHEAD.extend(overhead_report(f"{label}, kernel {kernel}", plan.original_kube_dns_replicas, recorder,
                                    clock, called))
    return journal, options


def run_switch(lab: Lab, workdir: Path, kernel: str) -> None:
    journal, options = timed_switch(lab, workdir, kernel, "under load",
                                    lambda op: under_load(lab, "switch", kernel, op))
    outcome_back = under_load(lab, "rollback", kernel, lambda: rollback(gateway_for(lab), journal, options))
    assert outcome_back.completed, outcome_back


def overhead_report(label: str, rounds: int, recorder: TimedRecorder, clock: ReadyClock,
                    called: dict[str, float]) -> list[str]:
    """The switch's wall time (call to return) against the rounds' pod start + readiness (from the
    lab's store: coredns replicas set to k → k CoreDNS pods Ready) and the observation windows;
    the time line of steps shows where the rest goes."""
    timed = list(zip(recorder.events, recorder.times, strict=True))
    starts = {e.step.id: t for e, t in timed if isinstance(e, StepStarted)}
    ends = {e.step.id: t for e, t in timed if isinstance(e, StepFinished)}
    first, last = min(starts.values()), max(ends.values())
    wall = called["return"] - called["call"]
    pod_waits = {k: clock.ready_count_at[k] - clock.scaled_to[k] for k in range(1, rounds + 1)}
    unavoidable = sum(pod_waits.values()) + OBSERVE_S * rounds
    lines = [f"  {label}: switch {wall:.2f} s from call to return; unavoidable {unavoidable:.2f} s = "
             f"pod start+ready {' + '.join(f'{w:.2f}' for w in pod_waits.values())} + observe "
             f"{rounds} × {OBSERVE_S:g}; ratio {wall / unavoidable:.3f}",
             f"    before the first step {(first - called['call']) * 1000:.0f} ms, after the last "
             f"{(called['return'] - last) * 1000:.0f} ms"]
    by_kind: dict[str, float] = {}
    for step_id, start in sorted(starts.items(), key=lambda item: item[1]):
        took = ends.get(step_id, start) - start
        kind = step_id.split(".")[-1]
        extra = ""
        took_over = took
        rnd = int(step_id.split(".")[0][1:]) if step_id.startswith("r") else 0
        if kind == "scale-coredns":  # from the replicas write on, the pod's start is the wait
            took_over = clock.scaled_to[rnd] - start
        elif kind == "wait-ready":  # the wait ends when the k-th pod is Ready in the store
            took_over = ends[step_id] - clock.ready_count_at[rnd]
            extra = (f"  (scale write to Ready {pod_waits[rnd] * 1000:.0f} ms; the engine saw it "
                     f"{took_over * 1000:.0f} ms later)")
        elif kind == "observe":
            took_over = took - OBSERVE_S
            extra = f"  ({took_over * 1000:+.0f} ms past the window)"
        by_kind[kind] = by_kind.get(kind, 0.0) + took_over
        lines.append(f"    {start - first:7.3f} s  {step_id:<22} {took * 1000:8.1f} ms{extra}")
    gaps = (last - first) - sum(ends.get(s, t) - t for s, t in starts.items())
    lines.append("    overhead by step kind (beyond the unavoidable part): "
                 + ", ".join(f"{k} {v:.2f} s" for k, v in by_kind.items())
                 + f", between steps {gaps:.2f} s, outside steps {wall - (last - first):.2f} s")
    return lines


class PlainApi:
    """The lab's API server through `requests` and the kubeconfig's token and CA, nothing else."""

    PATHS: ClassVar[dict[str, str]] = {  # kind → collection path (namespaced ones get the namespace)
        "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
        "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
        "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
        "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    }

    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
        cluster = config["clusters"][0]["cluster"]
        self.server = cluster["server"]
        ca = workdir / "ca.pem"
        ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        self.session = requests.Session()
        self.session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides `verify`
        self.session.verify = str(ca)
        self.session.headers["Authorization"] = f"Bearer {config['users'][0]['user']['token']}"

    def create(self, obj: dict[str, Any]) -> None:
        path = self.PATHS[obj["kind"]].format(ns=obj["metadata"].get("namespace", NS))
        response = self.session.post(self.server + path, json=obj, timeout=10)
        assert response.status_code == 201, f"POST {path}: {response.status_code} {response.text[:200]}"

    def deployment(self, name: str) -> dict[str, Any]:
        response = self.session.get(f"{self.server}/apis/apps/v1/namespaces/{NS}/deployments/{name}",
                                    timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def scale(self, name: str, replicas: int) -> None:
        response = self.session.patch(
            f"{self.server}/apis/apps/v1/namespaces/{NS}/deployments/{name}",
            json={"spec": {"replicas": replicas}},
            headers={"Content-Type": "application/merge-patch+json"}, timeout=10)
        response.raise_for_status()

    def pods(self, selector: str) -> list[dict[str, Any]]:
        response = self.session.get(f"{self.server}/api/v1/namespaces/{NS}/pods",
                                    params={"labelSelector": selector}, timeout=10)
        response.raise_for_status()
        return list(response.json()["items"])


def cutover(lab: Lab, workdir: Path) -> None:
    """kubeadm's way: CoreDNS created at N replicas; once they are all Ready, kube-dns to 0 at once;
    done when the last kube-dns pod is gone."""
    objects = make_test_plan(gateway_for(lab)).manifests.objects  # the same CoreDNS as the switch's
    api = PlainApi(lab.kubeconfig_path, workdir)
    n = int(api.deployment("kube-dns")["spec"]["replicas"])

    def run() -> None:
        for obj in objects:
            obj = json.loads(json.dumps(obj))
            if obj["kind"] == "Deployment":
                obj["spec"]["replicas"] = n
            api.create(obj)
        deadline = time.monotonic() + 60
        while int(api.deployment("coredns").get("status", {}).get("readyReplicas") or 0) < n:
            assert time.monotonic() < deadline, "CoreDNS never became Ready"
            time.sleep(0.05)
        api.scale("kube-dns", 0)
        while any(p["metadata"]["name"].startswith("kube-dns-") for p in api.pods("k8s-app=kube-dns")):
            assert time.monotonic() < deadline + 60, "kube-dns pods never went away"
            time.sleep(0.05)

    under_load(lab, "cutover", lab.options.kernel, run)


@pytest.mark.parametrize("kernel", ["fixed", "old"])
def test_switch_and_rollback_under_load(kernel: str, tmp_path: Path) -> None:
    with Lab(LabOptions(kernel=kernel, **LAB)) as lab:  # type: ignore[arg-type]
        run_switch(lab, tmp_path, kernel)


@pytest.mark.parametrize("kernel", ["fixed", "old"])
def test_cutover_under_load(kernel: str, tmp_path: Path) -> None:
    with Lab(LabOptions(kernel=kernel, **LAB)) as lab:  # type: ignore[arg-type]
        cutover(lab, tmp_path)


def test_switch_overhead_without_load(tmp_path: Path) -> None:
    """Item 4 alone: the same switch on the fixed kernel with no DNS load sharing the CPU."""
    with Lab(LabOptions(kernel="fixed", **LAB)) as lab:  # type: ignore[arg-type]
        timed_switch(lab, tmp_path, "fixed", "no load", lambda op: op())
