"""Helpers for the switch tests: a plan built from the lab's real objects, exactly in the shape
of the plan contract, so the executor is tested independently of the plan builder."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.dns.kubedns_config import read_kube_dns_config
from wizard.k8s.connection import resolve_connection
from wizard.k8s.gateway import Gateway
from wizard.migration.facts import AutoscalerInfo, cluster_domain, collect_facts
from wizard.migration.journal import Journal
from wizard.migration.manifests import RenderOptions, render_manifests
from wizard.migration.plan import Plan, Step, plan_probes
from wizard.migration.progress import Event
from wizard.options import SwitchOptions

NS = "kube-system"


def gateway_for(lab: Any, mode: str = "live") -> Gateway:
    connection = resolve_connection(kubeconfig=str(lab.kubeconfig_path), context=None, request_timeout="10s")
    return Gateway(connection, mode, retry_budget_s=30.0)  # type: ignore[arg-type]


def _scale(step_id: str, deployment: str, rnd: int, before: int, after: int) -> Step:
    kind = "scale-coredns" if deployment == "coredns" else "scale-kube-dns"
    return Step(
        step_id,
        kind,
        rnd,
        f"Scale {deployment} {NS}/{deployment} {before} → {after}",
        (f"kubectl scale deployment {deployment} -n {NS} --replicas={after}",),
        f"deployment {NS}/{deployment}",
        after,
        True,
    )


def _check(step_id: str, kind: str, rnd: int, replicas: int | None = None) -> Step:
    return Step(step_id, kind, rnd, f"{kind} (round {rnd})", (), f"deployment {NS}/coredns", replicas)  # type: ignore[arg-type]


def build_steps(n: int, order: str, autoscaler: bool) -> tuple[Step, ...]:
    steps: list[Step] = []
    if autoscaler:
        steps.append(
            Step(
                "pause-autoscaler",
                "pause-autoscaler",
                0,
                "Pause the kube-dns autoscaler",
                (),
                f"deployment {NS}/kube-dns-autoscaler",
                0,
                True,
            )
        )
    steps.append(
        Step(
            "deploy",
            "deploy",
            0,
            "Apply switch2coredns.yaml",
            ("kubectl apply -f switch2coredns.yaml",),
            "deployment kube-system/coredns",
            None,
            True,
        )
    )
    for k in range(1, n + 1):
        grow = _scale(f"r{k}.scale-coredns", "coredns", k, k - 1, k)
        shrink = _scale(f"r{k}.scale-kube-dns", "kube-dns", k, n - k + 1, n - k)
        checks = [
            _check(f"r{k}.wait-ready", "wait-ready", k, k),
            _check(f"r{k}.probe", "probe", k),
            _check(f"r{k}.check-endpoints", "check-endpoints", k),
        ]
        observe = _check(f"r{k}.observe", "observe", k)
        if order == "grow-first":
            steps += [grow, *checks, shrink, observe]
        else:
            steps += [shrink, grow, *checks, observe]
    if autoscaler:
        steps.append(
            Step(
                "finish-autoscaler",
                "finish-autoscaler",
                0,
                "Finish the autoscaler",
                (),
                f"deployment {NS}/kube-dns-autoscaler",
                None,
                True,
            )
        )
    return tuple(steps)


def make_test_plan(
    gateway: Gateway, order: str = "grow-first", n: int | None = None, options: SwitchOptions | None = None
) -> Plan:
    """The probe questions and cluster domain come from the plan builder itself (one home)."""
    cm = gateway.get_configmap(NS, "kube-dns")
    dep = gateway.get_deployment(NS, "kube-dns")
    facts = collect_facts(gateway, options or SwitchOptions())
    domain = cluster_domain(facts, (options or SwitchOptions()).cluster_domain).domain
    assert domain is not None
    n = n if n is not None else int(dep["spec"]["replicas"])
    version = gateway.server_version()["gitVersion"]
    manifests = render_manifests(RenderOptions(k8s_version=version, kube_dns=read_kube_dns_config(cm, dep)))
    autoscaler = None
    scaler = gateway.try_get("Deployment", NS, "kube-dns-autoscaler")
    if scaler is not None:
        autoscaler = AutoscalerInfo(
            "kube-dns-autoscaler",
            NS,
            int(scaler["spec"]["replicas"]),
            "Deployment/kube-dns",
            "kube-dns-autoscaler",
        )
    return Plan(
        build_steps(n, order, autoscaler is not None),
        order,
        "test",
        n,  # type: ignore[arg-type]
        manifests.coredns_version,
        manifests,
        autoscaler,
        plan_probes(facts, options or SwitchOptions(), domain),
        domain,
    )


@dataclass
class Recorder:
    """Collects events (thread-safe) for assertions."""

    events: list[Event] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]


def fast_options(**overrides: Any) -> SwitchOptions:
    base: dict[str, Any] = {"observe_seconds": 2.0, "ready_timeout_seconds": 30.0, "assume_yes": True,
                            "ipvs_ack": "switch tests: the IPVS gate has its own (test_ipvs_gate*)"}
    base.update(overrides)
    return SwitchOptions(**base)


def journal_in(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "state" / "journal.jsonl", operator="test@host")


def deployment_replicas(lab: Any, name: str) -> int:
    return int(lab.store.get("deployments.apps", NS, name)["spec"].get("replicas") or 0)


def _main(argv: list[str]) -> int:
    """`python tests/switch_support.py KUBECONFIG JOURNAL N`: run a switch, printing
    `FINISHED <step> <outcome>` per step, so a test can kill it at a step boundary."""
    import sys

    from wizard.migration.progress import StepFinished
    from wizard.migration.switch import Switcher

    kubeconfig, journal_path, n = argv[0], Path(argv[1]), int(argv[2])
    connection = resolve_connection(kubeconfig=kubeconfig, context=None, request_timeout="10s")
    gateway = Gateway(connection, "live", retry_budget_s=30.0)
    plan = make_test_plan(gateway, n=n)

    def report(event: Event) -> None:
        if isinstance(event, StepFinished):
            sys.stdout.write(f"FINISHED {event.step.id} {event.outcome}\n")
            sys.stdout.flush()

    options = fast_options(observe_seconds=1.0, dns_port=connection.dns_port)
    outcome = Switcher(gateway, plan, Journal(journal_path, operator="test@host"), options, report).run()
    sys.stdout.write(f"OUTCOME {outcome.completed}\n")
    return 0


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(_main(sys.argv[1:]))
