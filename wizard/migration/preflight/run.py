"""Pre-flight: everything that must hold before the switch touches the cluster, with the evidence.

Why: an operator on a production cluster needs to know before the first change whether the
switch can succeed, what it will do, and what to fix otherwise. Pre-flight reads the cluster
once (wizard.migration.facts), renders the manifests, asks the API server to validate them with a
server-side dry-run, runs every check and, when nothing blocks, builds the step plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wizard.errors import WizardError
from wizard.i18n import N_, msg, tr
from wizard.migration.facts import READ_WORKERS, ClusterFacts, cluster_domain, collect_facts
from wizard.migration.plan import Plan, choose_order, make_plan, render_for_cluster
from wizard.migration.preflight.checks import (
    Finding,
    Status,
    check_access,
    check_addon_manager,
    check_autoscaler,
    check_coredns_version,
    check_existing_coredns,
    check_hpa,
    check_kube_dns_deployment,
    check_kubernetes_version,
    check_memory,
    check_node_local_dns,
    check_pdbs,
    check_proxy,
    check_scheduling,
    check_service,
    check_translation,
    finding,
)

if TYPE_CHECKING:
    from wizard.k8s.gateway import Gateway
    from wizard.migration.manifests import RenderResult
    from wizard.migration.scheduling import OrderDecision
    from wizard.options import SwitchOptions

__all__ = [
    "FINDING_GROUPS",
    "Finding",
    "PreflightReport",
    "Status",
    "evaluate",
    "render_or_error",
    "run_preflight",
    "server_dry_run",
]

FINDING_GROUPS: dict[str, tuple[str, ...]] = {
    N_("Cluster and access"): ("kubernetes-version", "permissions", "server-dry-run"),
    N_("kube-dns today"): ("kube-dns-deployment", "kube-dns-config", "dns-service"),
    N_("CoreDNS to deploy"): ("coredns-version", "coredns-objects", "memory", "scheduling", "plan"),
    N_("Network data path"): ("kube-proxy", "node-local-dns"),
    N_("Controllers that could undo the switch"): ("autoscaler", "hpa", "addon-manager", "pdb"),
}
"""How the command and the TUI group the findings (every finding id appears exactly once). The
names are English (the `group` of `plan -o json`); show them with `t(name)`."""


@dataclass(frozen=True)
class PreflightReport:
    facts: ClusterFacts
    findings: tuple[Finding, ...]
    plan: Plan | None
    """None when a finding blocks: no plan is offered for a switch that cannot succeed."""

    @property
    def blocked(self) -> bool:
        return any(f.status == "block" for f in self.findings)

    def finding(self, finding_id: str) -> Finding:
        for candidate in self.findings:
            if candidate.id == finding_id:
                return candidate
        raise KeyError(finding_id)


def server_dry_run(gateway: Gateway, rendered: RenderResult | None) -> Finding:
    """Apply the rendered objects with dryRun=All: admission webhooks, pod security and schema
    validation answer as they would for the real apply, and nothing is stored."""
    from wizard.k8s.gateway import GatewayError

    title = msg("preflight.server-dry-run.title", "Server-side dry-run of switch2coredns.yaml")
    if rendered is None:
        return finding(
            "server-dry-run",
            title,
            "block",
            [msg("preflight.server-dry-run.not-sent", "not sent: the manifests could not be rendered")],
            msg("preflight.fix-render-first", "fix the blocking kube-dns configuration finding first"),
        )
    try:
        results = gateway.validate_apply(rendered.objects, workers=READ_WORKERS)
    except GatewayError as err:
        reason = err.api_message or str(err)
        evidence = [
            msg("preflight.server-dry-run.refused", "the API server refused: {reason}", reason=reason),
            *err.causes,
        ]
        return finding(
            "server-dry-run",
            title,
            "block",
            evidence,
            msg(
                "preflight.server-dry-run.refused-advice",
                "the real apply would fail the same way: fix what the server names (an admission "
                "policy, a field owned by another manager, a missing API) and run pre-flight again",
            ),
        )
    return finding(
        "server-dry-run",
        title,
        "ok",
        [
            msg(
                "preflight.server-dry-run.accepted",
                "accepted with dryRun=All: {object}",
                object=tr(r.action, "en").removeprefix("validate (server-side dry-run) "),
            )
            for r in results
        ],
    )


def render_or_error(facts: ClusterFacts, options: SwitchOptions) -> tuple[RenderResult | None, str | None]:
    """The manifests, or the one-line reason they cannot be rendered (a blocking finding)."""
    try:
        return render_for_cluster(facts, options), None
    except WizardError as err:
        return None, str(err)


def evaluate(
    facts: ClusterFacts,
    options: SwitchOptions,
    dry_run: Finding | None = None,
    rendering: tuple[RenderResult | None, str | None] | None = None,
) -> tuple[tuple[Finding, ...], Plan | None, RenderResult | None]:
    """Every fact-only check, plus the plan when nothing blocks. Pure: no requests.
    `rendering` is render_or_error's result when the caller already has it."""
    rendered, render_error = rendering if rendering is not None else render_or_error(facts, options)
    domain = cluster_domain(facts, options.cluster_domain)
    decision: OrderDecision | None = None
    replicas = facts.original_kube_dns_replicas or 0
    if rendered is not None:
        decision = choose_order(facts, options, rendered)
    findings = [
        check_kubernetes_version(facts),
        check_kube_dns_deployment(facts, options, domain),
        check_translation(facts, options, rendered, render_error),
        check_coredns_version(rendered, options),
        check_service(facts, options),
        check_existing_coredns(facts, options, rendered),
        check_access(facts),
    ]
    if dry_run is not None:
        findings.append(dry_run)
    findings += [
        check_scheduling(facts, decision, replicas),
        check_proxy(facts),
        check_autoscaler(facts, options),
        check_hpa(facts, options),
        check_addon_manager(facts, options),
        check_pdbs(facts, options),
        check_memory(facts, rendered),
        check_node_local_dns(facts),
    ]
    plan: Plan | None = None
    if rendered is not None and not any(f.status == "block" for f in findings):
        try:
            plan = make_plan(facts, options, rendered)
        except WizardError as err:  # a check above should have caught it; never hide it
            findings.append(
                finding(
                    "plan",
                    msg("preflight.plan.title", "Step plan"),
                    "block",
                    [str(err)],
                    msg("preflight.plan.advice", "fix the problem named above"),
                )
            )
    return tuple(findings), plan, rendered


def run_preflight(
    gateway: Gateway,
    options: SwitchOptions,
    on_progress: Callable[[str], None] | None = None,
) -> PreflightReport:
    """Read the cluster, validate the manifests server-side, run every check, build the plan.

    Sends only reads, SelfSubjectAccessReviews and one dryRun=All apply, so it is safe with a
    read-only gateway. GatewayError (exit 2) when the cluster cannot be read at all."""
    say = on_progress or (lambda _text: None)
    facts = collect_facts(gateway, options, say)
    say(msg("preflight.progress.rendering", "rendering the manifests"))
    rendering = render_or_error(facts, options)
    say(msg("preflight.progress.dry-run", "validating the manifests with a server-side dry-run"))
    dry_run = server_dry_run(gateway, rendering[0])
    say(msg("preflight.progress.checking", "checking"))
    findings, plan, _ = evaluate(facts, options, dry_run, rendering)
    return PreflightReport(facts=facts, findings=findings, plan=plan)
