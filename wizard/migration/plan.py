"""The step plan of a switch: what the switch engine will do, in order, with the kubectl for each.

Why a separate value: the operator reads (and the TUI shows) exactly the plan the engine then
executes, and a resumed switch rebuilds the same plan from the same facts and options, so step ids
are stable and the executor only skips the steps its journal marks finished.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from wizard.durations import human_duration
from wizard.errors import CheckFailed, InputError
from wizard.i18n import msg
from wizard.migration.autoscaler import container_patch, with_target
from wizard.migration.facts import AutoscalerInfo, ClusterFacts, cluster_domain, wizard_annotations
from wizard.migration.manifests import SERVER_LABEL, RenderOptions, RenderResult, render_manifests
from wizard.migration.probes import ProbeQuery, default_probe_set
from wizard.migration.scheduling import (
    OrderChoice,
    OrderDecision,
    coredns_pod_spec,
    decide_order,
    keep_recorded_order,
    recorded_order,
)

if TYPE_CHECKING:
    from wizard.options import SwitchOptions

StepKind = Literal[
    "pause-autoscaler",
    "deploy",
    "scale-coredns",
    "wait-ready",
    "probe",
    "check-endpoints",
    "scale-kube-dns",
    "observe",
    "finish-autoscaler",
]
MANIFEST_FILE = "switch2coredns.yaml"


@dataclass(frozen=True)
class Step:
    """One action or check of the switch, as an operator would do it by hand."""

    id: str
    """Stable across runs, e.g. "deploy", "r2.scale-coredns", "r2.observe"."""
    kind: StepKind
    round: int
    """0 for steps outside the rounds."""
    description: str
    """One line an operator reads: "Scale CoreDNS kube-system/coredns 1 → 2"."""
    kubectl: tuple[str, ...]
    """The kubectl command(s) that do the same, for audit."""
    target: str
    """The object it acts on or checks, "deployment kube-system/coredns"."""
    replicas: int | None = None
    """The replica count the step sets (scale steps)."""
    changes_cluster: bool = False


@dataclass(frozen=True)
class Plan:
    """Every step of one switch, in execution order, plus what the executor needs to run them."""

    steps: tuple[Step, ...]
    order: OrderChoice
    order_reason: str
    original_kube_dns_replicas: int
    coredns_version: str
    manifests: RenderResult
    """What the "deploy" step applies."""
    autoscaler: AutoscalerInfo | None
    """The kube-dns autoscaler the switch pauses, None when the cluster has none."""
    probes: tuple[ProbeQuery, ...] = ()
    """The questions every probe step asks (and the observation's cluster name): both faces show
    and ask exactly these."""
    cluster_domain: str = ""
    """From the cluster facts (kube-dns's --domain), without the trailing dot."""

    def step(self, step_id: str) -> Step:
        for candidate in self.steps:
            if candidate.id == step_id:
                return candidate
        raise KeyError(f"the plan has no step {step_id!r}; its steps are {', '.join(self.ids())}")

    def ids(self) -> list[str]:
        return [s.id for s in self.steps]


def render_for_cluster(facts: ClusterFacts, options: SwitchOptions) -> RenderResult:
    """switch2coredns.yaml for this cluster: kube-dns's own configuration translated, the image
    from kube-dns's registry, memory sized for its pods and Services. InputError when the kube-dns
    objects cannot be translated (the translator's message names the key)."""
    from wizard.dns.kubedns_config import read_kube_dns_config

    ns = options.namespace
    config = read_kube_dns_config(
        facts.kube_dns_configmap,
        facts.kube_dns_deployment,
        configmap_source=f"ConfigMap {ns}/{options.kube_dns_configmap}",
        deployment_source=f"Deployment {ns}/{options.kube_dns_deployment}",
        cluster_domain=options.cluster_domain,
    )
    rendered = render_manifests(
        RenderOptions(
            k8s_version=facts.k8s_version,
            coredns_version=options.coredns_version,
            kube_dns=config,
            image_host=options.image_host,
            image=options.image,
            drop_federations=options.drop_federations,
            pod_count=facts.pod_count,
            service_count=facts.service_count,
        )
    )
    if options.corefile_override is not None:
        rendered = with_corefile(rendered, options.corefile_override)
    return rendered


def with_corefile(rendered: RenderResult, corefile: str) -> RenderResult:
    """The rendering with the operator's edited Corefile in the ConfigMap, after checking it
    against the chosen CoreDNS version: an error CoreDNS would stop at is an InputError here,
    before anything is deployed; warnings join the rendering's warnings."""
    import copy
    import dataclasses

    from wizard.dns.checker import check_corefile_text, format_finding

    text = corefile if corefile.endswith("\n") else corefile + "\n"
    problems = check_corefile_text(text, rendered.coredns_version, "edited Corefile", env={})
    errors = [p for p in problems if p.is_error]
    if errors:
        raise InputError(
            msg(
                "preflight.edited-corefile-refused",
                "{problem} (CoreDNS {version} would refuse it); fix the Corefile",
                problem=format_finding("edited Corefile", errors[0]),
                version=rendered.coredns_version,
            )
        )
    objects = copy.deepcopy(rendered.objects)
    for obj in objects:
        if obj.get("kind") == "ConfigMap":
            obj.setdefault("data", {})["Corefile"] = text
    old_block = _indented(
        rendered.corefile_text if rendered.corefile_text.endswith("\n") else rendered.corefile_text + "\n"
    )
    yaml_text = rendered.yaml_text.replace(old_block, _indented(text), 1)
    return dataclasses.replace(
        rendered,
        objects=objects,
        yaml_text=yaml_text,
        corefile_text=text,
        warnings=[*rendered.warnings, *(format_finding("edited Corefile", p) for p in problems)],
        notes=[
            *rendered.notes,
            msg(
                "preflight.edited-corefile-note",
                "Corefile edited by the operator (not the translation of kube-dns's)",
            ),
        ],
    )


def _indented(text: str) -> str:
    """A Corefile as the ConfigMap's literal block holds it in switch2coredns.yaml."""
    return "".join(("    " + line) if line.strip() else line for line in text.splitlines(keepends=True))


def choose_order(facts: ClusterFacts, options: SwitchOptions, manifests: RenderResult) -> OrderDecision:
    """The round order for this cluster (see wizard.migration.scheduling); a switch in progress keeps the
    order recorded when it began."""
    replicas = facts.original_kube_dns_replicas or 0
    fresh = decide_order(facts, coredns_pod_spec(manifests.objects), options.order, replicas)
    recorded = (
        recorded_order(wizard_annotations(facts.coredns_deployment)) if facts.switch_in_progress else None
    )
    if recorded is None or _rolled_back(facts):
        return fresh
    spec = coredns_pod_spec(manifests.objects)
    return keep_recorded_order(fresh, recorded, options.order, facts, spec, replicas)


def _rolled_back(facts: ClusterFacts) -> bool:
    """A finished rollback ends the attempt: the next switch chooses its order afresh."""
    from wizard.migration.journal import ANNOTATION_PHASE
    from wizard.migration.switch_state import PHASE_ROLLED_BACK

    return wizard_annotations(facts.coredns_deployment).get(ANNOTATION_PHASE) == PHASE_ROLLED_BACK


def plan_probes(facts: ClusterFacts, options: SwitchOptions, domain: str) -> tuple[ProbeQuery, ...]:
    """The probe questions for this cluster: its `kubernetes` Service, the operator's business
    names (or a few application Services), the outside name, each stub domain kube-dns served
    (read with its Deployment: without dnsmasq nothing served them) and the PTR of the kubernetes
    Service IP, all under the cluster's own domain."""
    from wizard.dns.kubedns_config import read_kube_dns_config

    stubs: list[str] = []
    if facts.kube_dns_configmap is not None:
        config = read_kube_dns_config(
            facts.kube_dns_configmap,
            facts.kube_dns_deployment,
            configmap_source=f"ConfigMap {options.namespace}/{options.kube_dns_configmap}",
            deployment_source=f"Deployment {options.namespace}/{options.kube_dns_deployment}",
            cluster_domain=domain,
        )
        stubs = sorted(config.stub_domains)
    business = options.probe_names or facts.sample_services
    return tuple(
        default_probe_set(
            domain, business, "default", options.outside_name, stubs, facts.kubernetes_service_ip
        )
    )


def make_plan(facts: ClusterFacts, options: SwitchOptions, manifests: RenderResult | None = None) -> Plan:
    """Every step of the switch for this cluster, in order. The same facts and options always give
    the same step ids, so a resumed switch runs the same plan and skips what its journal finished.

    InputError when the kube-dns objects cannot be translated; CheckFailed when there is nothing
    to switch or no round order works (pre-flight reports both as blocking findings first).
    `manifests` lets pre-flight pass the rendering it already made."""
    ns = options.namespace
    n = facts.original_kube_dns_replicas
    if facts.kube_dns_deployment is None and not facts.switch_in_progress:
        raise CheckFailed(
            msg(
                "preflight.plan.no-kube-dns",
                "Deployment {name} not found in context {context}: nothing to switch; "
                "check --context and the namespace",
                name=f"{ns}/{options.kube_dns_deployment}",
                context=repr(facts.context),
            )
        )
    if not n:
        raise CheckFailed(
            msg(
                "preflight.plan.zero-replicas",
                "Deployment {name} has 0 replicas: nothing to switch",
                name=f"{ns}/{options.kube_dns_deployment}",
            )
        )
    domain = cluster_domain(facts, options.cluster_domain)
    if domain.domain is None:
        raise CheckFailed(
            msg("preflight.plan.no-domain", "the cluster domain cannot be determined: {why}", why=domain.why)
        )
    rendered = manifests if manifests is not None else render_for_cluster(facts, options)
    decision = choose_order(facts, options, rendered)
    if decision.problem is not None:
        raise CheckFailed(decision.problem)
    probes = plan_probes(facts, options, domain.domain)
    words = _StepWords(ns, options, probes)
    steps: list[Step] = []
    autoscaler = facts.autoscaler
    if autoscaler is not None:
        steps.append(words.pause_autoscaler(autoscaler))
    steps.append(words.deploy(rendered))
    for k in range(1, n + 1):
        grow = [words.scale_coredns(k), words.wait_ready(k), words.probe(k), words.check_endpoints(k)]
        shrink = words.scale_kube_dns(k, n)
        if decision.order == "grow-first":
            steps += [*grow, shrink]
        else:
            steps += [shrink, *grow]
        steps.append(words.observe(k, n))
    if autoscaler is not None:
        steps.append(words.finish_autoscaler(autoscaler))
    return Plan(
        steps=tuple(steps),
        order=decision.order,
        order_reason=decision.reason,
        original_kube_dns_replicas=n,
        coredns_version=rendered.coredns_version,
        manifests=rendered,
        autoscaler=autoscaler,
        probes=probes,
        cluster_domain=domain.domain,
    )


class _StepWords:
    """How each step reads to an operator, and the kubectl that does the same by hand."""

    def __init__(self, namespace: str, options: SwitchOptions, probes: tuple[ProbeQuery, ...]) -> None:
        self.ns = namespace
        self.options = options
        self.coredns = options.coredns_deployment
        self.kube_dns = options.kube_dns_deployment
        self.service = options.dns_service
        self.selector = f"k8s-app=kube-dns,{SERVER_LABEL}=coredns"
        self.probes = probes

    def _deployment(self, name: str) -> str:
        return f"deployment {self.ns}/{name}"

    def pause_autoscaler(self, a: AutoscalerInfo) -> Step:
        return Step(
            id="pause-autoscaler",
            kind="pause-autoscaler",
            round=0,
            description=(
                msg(
                    "preflight.step.pause-autoscaler",
                    "Pause the kube-dns autoscaler {name} ({replicas} → 0 replicas) so it "
                    "cannot scale kube-dns back up during the switch",
                    name=f"{a.namespace}/{a.name}",
                    replicas=a.replicas,
                )
            ),
            kubectl=(f"kubectl scale deployment {a.name} -n {a.namespace} --replicas=0",),
            target=f"deployment {a.namespace}/{a.name}",
            replicas=0,
            changes_cluster=True,
        )

    def deploy(self, rendered: RenderResult) -> Step:
        names = ", ".join(
            f"{o.get('kind')} {(o.get('metadata') or {}).get('name')}" for o in rendered.objects
        )
        return Step(
            id="deploy",
            kind="deploy",
            round=0,
            description=(
                msg(
                    "preflight.step.deploy",
                    "Apply {file} (CoreDNS {version}, image {image}): {objects}; "
                    "the Deployment starts at 0 replicas",
                    file=MANIFEST_FILE,
                    version=rendered.coredns_version,
                    image=rendered.image,
                    objects=names,
                )
            ),
            kubectl=(f"kubectl apply --server-side --field-manager=coredns-wizard -f {MANIFEST_FILE}",),
            target=self._deployment(self.coredns),
            replicas=None,
            changes_cluster=True,
        )

    def scale_coredns(self, k: int) -> Step:
        return Step(
            id=f"r{k}.scale-coredns",
            kind="scale-coredns",
            round=k,
            description=(
                msg(
                    "preflight.step.scale-coredns",
                    "Scale CoreDNS {name} {before} → {after}",
                    name=f"{self.ns}/{self.coredns}",
                    before=k - 1,
                    after=k,
                )
            ),
            kubectl=(f"kubectl scale deployment {self.coredns} -n {self.ns} --replicas={k}",),
            target=self._deployment(self.coredns),
            replicas=k,
            changes_cluster=True,
        )

    def wait_ready(self, k: int) -> Step:
        timeout = int(self.options.ready_timeout_seconds)
        limit = human_duration(self.options.ready_timeout_seconds)
        return Step(
            id=f"r{k}.wait-ready",
            kind="wait-ready",
            round=k,
            description=(
                msg(
                    "preflight.step.wait-ready",
                    "Wait until {count} CoreDNS pod(s) are Running and Ready (up to {limit}; on failure "
                    "read the pod's logs and events)",
                    count=k,
                    limit=limit,
                )
            ),
            kubectl=(
                f"kubectl wait --for=condition=Ready pod -l {self.selector} -n {self.ns} "
                f"--timeout={timeout}s",
                f"kubectl logs -l {self.selector} -n {self.ns} --tail=50",
            ),
            target=self._deployment(self.coredns),
        )

    def probe(self, k: int) -> Step:
        port = self.options.dns_port
        flag = f"-port={port} " if port is not None and port != 53 else ""

        def named(purpose: str) -> list[str]:
            return [q.name for q in self.probes if q.purpose == purpose]

        parts = [
            msg(
                "preflight.step.probe-cluster",
                "cluster name {names} (must be its Service's ClusterIP)",
                names=", ".join(named("cluster")),
            )
        ]
        if named("business"):
            parts.append(
                msg(
                    "preflight.step.probe-business",
                    "business name(s) {names} (their ClusterIPs)",
                    names=", ".join(named("business")),
                )
            )
        if named("stub"):
            parts.append(
                msg(
                    "preflight.step.probe-stub",
                    "stub domain(s) {names} (answered by their nameservers)",
                    names=", ".join(named("stub")),
                )
            )
        if named("reverse"):
            parts.append(
                msg("preflight.step.probe-reverse", "the PTR {names}", names=", ".join(named("reverse")))
            )
        if named("external"):
            parts.append(
                msg(
                    "preflight.step.probe-external",
                    "an outside name ({names}, same kind of answer as kube-dns)",
                    names=", ".join(named("external")),
                )
            )
        joined = parts[0]
        for part in parts[1:]:
            joined = msg("preflight.list-semicolon", "{first}; {second}", first=joined, second=part)
        return Step(
            id=f"r{k}.probe",
            kind="probe",
            round=k,
            description=(
                msg(
                    "preflight.step.probe",
                    "Query every serving CoreDNS pod directly: {questions}",
                    questions=joined,
                )
            ),
            kubectl=tuple(
                f"nslookup {flag}{'' if q.rdtype == 'A' else f'-type={q.rdtype} '}"
                f"{shlex.quote(q.name)} <pod-ip>"
                for q in self.probes
            ),
            target=f"pods {self.ns} -l {self.selector}",
        )

    def check_endpoints(self, k: int) -> Step:
        return Step(
            id=f"r{k}.check-endpoints",
            kind="check-endpoints",
            round=k,
            description=(
                msg(
                    "preflight.step.check-endpoints",
                    "Check that the new CoreDNS pod's IP is a ready endpoint of Service {name}",
                    name=f"{self.ns}/{self.service}",
                )
            ),
            kubectl=(
                f"kubectl get endpoints {self.service} -n {self.ns} "
                "-o jsonpath='{.subsets[*].addresses[*].ip}'",
            ),
            target=f"service {self.ns}/{self.service}",
        )

    def scale_kube_dns(self, k: int, n: int) -> Step:
        return Step(
            id=f"r{k}.scale-kube-dns",
            kind="scale-kube-dns",
            round=k,
            description=(
                msg(
                    "preflight.step.scale-kube-dns",
                    "Scale kube-dns {name} {before} → {after}",
                    name=f"{self.ns}/{self.kube_dns}",
                    before=n - k + 1,
                    after=n - k,
                )
            ),
            kubectl=(f"kubectl scale deployment {self.kube_dns} -n {self.ns} --replicas={n - k}",),
            target=self._deployment(self.kube_dns),
            replicas=n - k,
            changes_cluster=True,
        )

    def observe(self, k: int, n: int) -> Step:
        window = human_duration(self.options.observe_seconds)
        return Step(
            id=f"r{k}.observe",
            kind="observe",
            round=k,
            description=(
                msg(
                    "preflight.step.observe",
                    "Watch for {window} that lookups through Service {name} (fresh "
                    "sockets and a few pinned ones) keep getting the right answer "
                    "(CoreDNS {coredns}, kube-dns {kube_dns})",
                    window=window,
                    name=f"{self.ns}/{self.service}",
                    coredns=k,
                    kube_dns=n - k,
                )
            ),
            kubectl=(
                f"kubectl get pods -n {self.ns} -l k8s-app=kube-dns -o wide --watch",
                f"kubectl get events -n {self.ns} --field-selector involvedObject.kind=Pod --watch",
            ),
            target=f"service {self.ns}/{self.service}",
        )

    def finish_autoscaler(self, a: AutoscalerInfo) -> Step:
        policy = self.options.autoscaler_policy
        target = f"deployment {a.namespace}/{a.name}"
        scale = f"kubectl scale deployment {a.name} -n {a.namespace} --replicas={a.replicas}"
        if policy == "leave-paused":
            return Step(
                id="finish-autoscaler",
                kind="finish-autoscaler",
                round=0,
                description=(
                    msg(
                        "preflight.step.leave-paused",
                        "Leave the autoscaler {name} paused at 0 replicas "
                        "(--autoscaler-policy leave-paused): CoreDNS keeps a fixed size",
                        name=f"{a.namespace}/{a.name}",
                    )
                ),
                kubectl=(),
                target=target,
                replicas=0,
                changes_cluster=False,
            )
        if policy == "restore":
            return Step(
                id="finish-autoscaler",
                kind="finish-autoscaler",
                round=0,
                description=(
                    msg(
                        "preflight.step.restore-autoscaler",
                        "Restore the autoscaler {name} to {replicas} replica(s) unchanged "
                        "(--autoscaler-policy restore); it still targets {target} and will scale kube-dns "
                        "up again",
                        name=f"{a.namespace}/{a.name}",
                        replicas=a.replicas,
                        target=a.target,
                    )
                ),
                kubectl=(scale,),
                target=target,
                replicas=a.replicas,
                changes_cluster=True,
            )
        new_words = retargeted_args(a, self.coredns)
        patch = container_patch(a.container, a.args_field, new_words)
        return Step(
            id="finish-autoscaler",
            kind="finish-autoscaler",
            round=0,
            description=(
                msg(
                    "preflight.step.retarget-autoscaler",
                    "Retarget the autoscaler {name} to Deployment/{coredns} and restore "
                    "it to {replicas} replica(s) (--autoscaler-policy retarget)",
                    name=f"{a.namespace}/{a.name}",
                    coredns=self.coredns,
                    replicas=a.replicas,
                )
            ),
            kubectl=(
                f"kubectl patch deployment {a.name} -n {a.namespace} -p {shlex.quote(json.dumps(patch))}",
                scale,
            ),
            target=target,
            replicas=a.replicas,
            changes_cluster=True,
        )


def retargeted_args(autoscaler: AutoscalerInfo, coredns_deployment: str) -> list[str]:
    """The autoscaler's words with --target pointing at the CoreDNS Deployment (form kept)."""
    words = with_target(autoscaler.args, f"Deployment/{coredns_deployment}")
    if words is None:
        raise InputError(
            msg(
                "preflight.autoscaler-no-target",
                "Deployment {name}: container {container} has no "
                "--target flag to retarget; use --autoscaler-policy restore or leave-paused",
                name=f"{autoscaler.namespace}/{autoscaler.name}",
                container=repr(autoscaler.container),
            )
        )
    return words
