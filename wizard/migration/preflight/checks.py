"""The pre-flight checks that need nothing but the facts: each returns one Finding.

Why pure functions: every check can be tested with a hand-made ClusterFacts, and the TUI can
re-run them without touching the cluster. Checks that send requests (the server-side dry-run)
live in wizard.migration.preflight.run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from wizard.i18n import msg, tr
from wizard.k8s.objects import ConfigMapView, DeploymentView, ServiceView, labels_of, mapping_at, name_of
from wizard.migration.facts import ClusterDomain, ClusterFacts, wizard_annotations
from wizard.migration.journal import ANNOTATION_PHASE, ANNOTATION_ROUND

if TYPE_CHECKING:
    from wizard.k8s.objects import Obj
    from wizard.migration.manifests import RenderResult
    from wizard.migration.preflight.proxy import ProxySetup
    from wizard.migration.scheduling import OrderDecision
    from wizard.options import SwitchOptions

Status = Literal["ok", "warn", "block"]
DNS_SELECTOR = {"k8s-app": "kube-dns"}


@dataclass(frozen=True)
class Finding:
    """One pre-flight result: what was checked, the evidence read, and what to do about it."""

    id: str
    title: str
    status: Status
    evidence: tuple[str, ...]
    advice: str


def finding(id: str, title: str, status: Status, evidence: Sequence[str], advice: str = "") -> Finding:
    return Finding(id, title, status, tuple(evidence), advice)


def check_kubernetes_version(facts: ClusterFacts) -> Finding:
    from wizard.dns.versions import MIN_KUBERNETES, parse_kubernetes_version
    from wizard.errors import InputError

    title = msg("preflight.kubernetes-version.title", "Kubernetes version")
    try:
        version = parse_kubernetes_version(facts.k8s_version).release
    except InputError as err:
        return finding(
            "kubernetes-version",
            title,
            "block",
            [str(err)],
            msg("preflight.kubernetes-version.unparsed-advice",
                "check that the kubeconfig points at a Kubernetes API server"),
        )
    evidence = [msg("preflight.kubernetes-version.reported", "the API server reports {version}",
                    version=facts.k8s_version)]
    if version < MIN_KUBERNETES:
        return finding(
            "kubernetes-version",
            title,
            "block",
            evidence,
            msg("preflight.kubernetes-version.too-old",
                "the switch procedure needs Kubernetes 1.12 or newer; upgrade the cluster first"),
        )
    return finding("kubernetes-version", title, "ok",
                   [*evidence, msg("preflight.kubernetes-version.new-enough",
                                       "1.12 or newer, as the procedure needs")])


def check_kube_dns_deployment(facts: ClusterFacts, options: SwitchOptions, domain: ClusterDomain) -> Finding:
    from wizard.dns.versions import registry_host
    from wizard.errors import InputError

    name = f"Deployment {options.namespace}/{options.kube_dns_deployment}"
    title = msg("preflight.kube-dns-deployment.title", "kube-dns {name}", name=name)
    deployment = facts.kube_dns_deployment
    if deployment is None:
        return finding(
            "kube-dns-deployment",
            title,
            "block",
            [msg("preflight.kube-dns-deployment.not-found", "{name} not found in context {context}",
                 name=name, context=repr(facts.context))],
            msg("preflight.kube-dns-deployment.not-found-advice",
                "nothing to switch here: check --context and that kube-dns runs in this namespace"),
        )
    replicas = facts.kube_dns_replicas
    containers = DeploymentView.from_obj(deployment).containers
    images = [c.image for c in containers]
    evidence = [
        msg("preflight.kube-dns-deployment.replicas", "replicas: {replicas}", replicas=replicas),
        msg("preflight.kube-dns-deployment.containers", "containers: {names}",
            names=", ".join(c.name for c in containers)),
    ]
    for image in images:
        try:
            host = registry_host(image)
        except InputError:
            host = None
        evidence.append(
            msg("preflight.kube-dns-deployment.image", "image {image} (registry {host})",
                image=image, host=host)
            if host else
            msg("preflight.kube-dns-deployment.image-docker-hub", "image {image} (registry Docker Hub)",
                image=image)
        )
    if domain.domain is None:
        return finding(
            "kube-dns-deployment",
            title,
            "block",
            [*evidence, msg("preflight.kube-dns-deployment.domain-unknown", "cluster domain unknown: {why}",
                            why=domain.why)],
            msg("preflight.kube-dns-deployment.domain-advice",
                "the probes must ask names under the cluster's own domain: give it with --cluster-domain "
                "(the kubelet's --cluster-domain, e.g. corp.example)"),
        )
    evidence.append(msg("preflight.kube-dns-deployment.domain", "cluster domain {domain} ({why})",
                        domain=domain.domain, why=domain.why))
    if facts.switch_in_progress:
        evidence.append(msg("preflight.kube-dns-deployment.original-replicas",
                            "original replicas {replicas} (recorded by the wizard)",
                            replicas=facts.original_kube_dns_replicas))
        return finding("kube-dns-deployment", title, "ok", evidence)
    if not replicas:
        return finding(
            "kube-dns-deployment",
            title,
            "block",
            evidence,
            msg("preflight.kube-dns-deployment.zero-replicas",
                "{name} has 0 replicas: nothing to switch (scale it up first if DNS should run on it)",
                name=name),
        )
    return finding("kube-dns-deployment", title, "ok", evidence)


def check_translation(
    facts: ClusterFacts, options: SwitchOptions, rendered: RenderResult | None, render_error: str | None
) -> Finding:
    title = msg("preflight.kube-dns-config.title", "kube-dns ConfigMap {name} carried into the Corefile",
                name=f"{options.namespace}/{options.kube_dns_configmap}")
    evidence: list[str] = []
    data = ConfigMapView.from_obj(facts.kube_dns_configmap).data
    if facts.kube_dns_configmap is None:
        evidence.append(msg("preflight.kube-dns-config.none",
                            "no kube-dns ConfigMap: kube-dns runs with its defaults, nothing to carry over"))
    else:
        evidence += [f"{key}: {value.strip()}" for key, value in sorted(data.items())]
    if render_error is not None:
        return finding(
            "kube-dns-config",
            title,
            "block",
            [*evidence, render_error],
            msg("preflight.kube-dns-config.render-error-advice",
                "fix the value named above, or choose another CoreDNS version (--coredns-version)"),
        )
    assert rendered is not None
    evidence += [n for n in rendered.notes if not tr(n, "en").startswith(("image ", "memory limit "))]
    if rendered.warnings:
        return finding(
            "kube-dns-config",
            title,
            "warn",
            evidence + rendered.warnings,
            msg("preflight.kube-dns-config.warnings-advice",
                "read the warnings: the Corefile behaves differently there; edit it if that matters"),
        )
    return finding("kube-dns-config", title, "ok", evidence)


def check_service(facts: ClusterFacts, options: SwitchOptions) -> Finding:
    name = f"Service {options.namespace}/{options.dns_service}"
    title = msg("preflight.dns-service.title", "DNS {name}", name=name)
    service = facts.dns_service
    if service is None:
        return finding(
            "dns-service",
            title,
            "block",
            [msg("preflight.dns-service.not-found", "{name} not found", name=name)],
            msg("preflight.dns-service.not-found-advice",
                "every pod's resolv.conf points at this Service's ClusterIP; without it there is "
                "nothing to switch behind (check the namespace and --context)"),
        )
    svc = ServiceView.from_obj(service)
    selector = dict(svc.selector)
    ports = ", ".join(f"{p.port}/{p.protocol}" for p in svc.ports)
    evidence = [
        msg("preflight.dns-service.selector", "selector {selector}", selector=selector),
        msg("preflight.dns-service.cluster-ip", "ClusterIP {ip}", ip=svc.cluster_ip)
        if svc.cluster_ip else msg("preflight.dns-service.no-cluster-ip", "ClusterIP (none)"),
        msg("preflight.dns-service.ports", "ports {ports}", ports=ports),
    ]
    if selector != DNS_SELECTOR:
        return finding(
            "dns-service",
            title,
            "block",
            evidence,
            msg("preflight.dns-service.selector-advice",
                "CoreDNS pods join the Service only through the label k8s-app: kube-dns; {name} "
                "selects {selector}. Set its spec.selector back to exactly {{k8s-app: kube-dns}} "
                "(patch, never re-create the Service: its ClusterIP must stay)",
                name=name, selector=selector),
        )
    if not svc.has_cluster_ip:
        return finding(
            "dns-service",
            title,
            "block",
            evidence,
            msg("preflight.dns-service.headless-advice",
                "{name} has no ClusterIP; pods resolve through a ClusterIP, so this is not the DNS "
                "Service the cluster uses", name=name),
        )
    return finding("dns-service", title, "ok", evidence)


def _coredns_image(deployment: DeploymentView) -> str:
    return deployment.containers[0].image if deployment.containers else ""


def check_existing_coredns(
    facts: ClusterFacts, options: SwitchOptions, rendered: RenderResult | None
) -> Finding:
    ns = options.namespace
    dep_name = f"Deployment {ns}/{options.coredns_deployment}"
    cm_name = f"ConfigMap {ns}/coredns"
    title = msg("preflight.coredns-objects.title", "CoreDNS objects already in the cluster")
    deployment = facts.coredns_deployment
    configmap = facts.coredns_configmap
    if deployment is None and configmap is None:
        return finding("coredns-objects", title, "ok", [
            msg("preflight.coredns-objects.none", "no {deployment} and no {configmap} yet",
                deployment=dep_name, configmap=cm_name)])
    evidence: list[str] = []
    corefile = ConfigMapView.from_obj(configmap).data.get("Corefile", "")
    same_corefile = rendered is not None and corefile.strip() == rendered.corefile_text.strip()
    if configmap is not None:
        evidence.append(
            msg("preflight.coredns-objects.corefile-matches",
                "{configmap} exists; its Corefile matches the one this plan renders", configmap=cm_name)
            if same_corefile
            else msg("preflight.coredns-objects.corefile-differs",
                     "{configmap} exists; its Corefile differs from the one this plan renders",
                     configmap=cm_name)
        )
    if deployment is None:
        status: Status = "ok" if same_corefile else "warn"
        return finding(
            "coredns-objects",
            title,
            status,
            evidence,
            ""
            if same_corefile
            else msg("preflight.coredns-objects.corefile-replaced",
                     "the deploy step replaces the Corefile in {configmap}; "
                     "compare it with `coredns-wizard render` output if someone edited it on purpose",
                     configmap=cm_name),
        )
    return _existing_coredns_deployment_finding(deployment, evidence, same_corefile, options, rendered)


def _existing_coredns_deployment_finding(
    deployment: Obj,
    evidence: list[str],
    same_corefile: bool,
    options: SwitchOptions,
    rendered: RenderResult | None,
) -> Finding:
    """Judge a CoreDNS Deployment already there: the wizard's own (resume), a leftover, or foreign."""
    ns = options.namespace
    dep_name = f"Deployment {ns}/{options.coredns_deployment}"
    title = msg("preflight.coredns-objects.title", "CoreDNS objects already in the cluster")
    view = DeploymentView.from_obj(deployment)
    image = _coredns_image(view)
    evidence.append(msg("preflight.coredns-objects.deployment",
                        "{deployment} exists: image {image}, replicas {replicas}",
                        deployment=dep_name, image=image, replicas=view.replicas))
    marks = wizard_annotations(deployment)
    if marks:
        evidence.append(
            msg("preflight.coredns-objects.annotations",
                "carries the wizard's annotations (round {round}, phase {phase})",
                round=marks.get(ANNOTATION_ROUND, "?"), phase=marks.get(ANNOTATION_PHASE, "?"))
        )
        if rendered is not None and image != rendered.image:
            evidence.append(msg("preflight.coredns-objects.other-image",
                                "this plan would apply image {image} instead: check --coredns-version",
                                image=rendered.image))
        return finding(
            "coredns-objects",
            title,
            "warn",
            evidence,
            msg("preflight.coredns-objects.in-progress",
                "a switch is in progress: resume it with `coredns-wizard switch` (finished steps are "
                "skipped) or undo it with `coredns-wizard rollback`"),
        )
    same_image = rendered is not None and image == rendered.image
    if same_image and same_corefile:
        return finding(
            "coredns-objects",
            title,
            "ok",
            [*evidence, msg("preflight.coredns-objects.identical",
                            "identical to what this plan renders (a leftover the deploy step re-applies)")],
        )
    return finding(
        "coredns-objects",
        title,
        "block",
        evidence,
        msg("preflight.coredns-objects.foreign",
            "{deployment} was not created by the wizard and differs from what it would deploy. If it is a "
            "leftover with no pods serving, delete it (`kubectl -n {namespace} delete deployment "
            "{name}`) and run pre-flight again; if it serves DNS, the cluster "
            "already runs CoreDNS and must not be switched again",
            deployment=dep_name, namespace=ns, name=options.coredns_deployment),
    )


def check_proxy(facts: ClusterFacts) -> Finding:
    from wizard.migration.preflight.proxy import read_proxy_setup

    setup = read_proxy_setup(facts)
    title = msg("preflight.kube-proxy.title", "kube-proxy and stale UDP flows during kube-dns scale-downs")
    evidence = [setup.mode_source] if setup.mode_source else []
    evidence += setup.notes
    if setup.mode is None:
        unlisted = [u for u in facts.unreadable if tr(u, "en").startswith("DaemonSets")]
        return finding(
            "kube-proxy",
            title,
            "warn",
            [*evidence, msg("preflight.kube-proxy.none", "no kube-proxy ConfigMap or DaemonSet found"),
             *unlisted],
            msg("preflight.kube-proxy.none-advice",
                "without kube-proxy (e.g. Cilium's kube-proxy replacement) connected UDP sockets can "
                "stay pinned to a deleted kube-dns pod; check your dataplane's behaviour before the switch"),
        )
    if setup.mode != "ipvs":
        return finding(
            "kube-proxy",
            title,
            "ok",
            [
                *evidence,
                msg("preflight.kube-proxy.conntrack",
                    "{mode} mode: kube-proxy clears the UDP conntrack entries of a removed kube-dns "
                    "endpoint; "
                    "a few lookups in flight may still time out and be retried by the client",
                    mode=setup.mode),
            ],
        )
    return _ipvs_proxy_finding(facts, setup, title, evidence)


def _ipvs_proxy_finding(facts: ClusterFacts, setup: ProxySetup, title: str, evidence: list[str]) -> Finding:
    """Judge IPVS mode, where sessions to a removed kube-dns pod linger for the UDP timeout."""
    from wizard.migration.preflight.proxy import (
        IPVS_DEPRECATED_SINCE,
        KERNEL_DEFAULT_UDP_TIMEOUT_S,
        SHORT_ENOUGH_UDP_TIMEOUT_S,
        ipvs_advice,
        kernel_flushes_quickly,
        kernel_summary,
    )

    timeout = setup.udp_timeout_s
    effective = timeout if timeout else KERNEL_DEFAULT_UDP_TIMEOUT_S
    shown = setup.udp_timeout_text or "(unset)"
    evidence.append(
        msg("preflight.kube-proxy.udp-timeout",
            "ipvs.udpTimeout {timeout}: sessions to a removed pod linger up to {effective:g} s",
            timeout=shown, effective=effective)
        if timeout else
        msg("preflight.kube-proxy.udp-timeout-kernel",
            "ipvs.udpTimeout {timeout}: sessions to a removed pod linger up to {effective:g} s "
            "(0/unset keeps the kernel's 300 s)", timeout=shown, effective=effective)
    )
    evidence += kernel_summary(facts.nodes)
    version = re.match(r"v?(\d+)\.(\d+)", facts.k8s_version)
    if version is not None and (int(version.group(1)), int(version.group(2))) >= IPVS_DEPRECATED_SINCE:
        evidence.append(msg(
            "preflight.kube-proxy.ipvs-deprecated",
            "note: IPVS mode is deprecated from Kubernetes 1.35 (KEP-5495); plan a move to nftables"
        ))
    else:
        evidence.append(msg("preflight.kube-proxy.ipvs-deprecated-later",
                            "note: IPVS mode is deprecated from Kubernetes 1.35; mind it when upgrading"))
    if effective <= SHORT_ENOUGH_UDP_TIMEOUT_S:
        return finding("kube-proxy", title, "ok",
                       [*evidence, msg("preflight.kube-proxy.short-timeout",
                                       "the UDP timeout is already short")])
    if facts.nodes and all(kernel_flushes_quickly(n) for n in facts.nodes):
        return finding(
            "kube-proxy",
            title,
            "ok",
            [*evidence, msg("preflight.kube-proxy.kernels-fixed",
                            "every node's kernel expires flows to removed backends quickly")],
        )
    slow = [n.name for n in facts.nodes if not kernel_flushes_quickly(n)]
    evidence.append(
        msg("preflight.kube-proxy.slow-nodes", "{count} node(s) without the expire_nodest_conn fix: {nodes}",
            count=len(slow), nodes=", ".join(slow[:5]) + (" ..." if len(slow) > 5 else ""))
    )
    return finding("kube-proxy", title, "warn", evidence, ipvs_advice())


def check_access(facts: ClusterFacts) -> Finding:
    title = msg("preflight.permissions.title", "Permissions for every request the switch makes")
    missing = [a for a in facts.access if not a.allowed and a.required]
    optional = [a for a in facts.access if not a.allowed and not a.required]
    by_rules = sum(1 for a in facts.access if a.source == "rules")
    by_review = len(facts.access) - by_rules
    checked = (
        msg("preflight.permissions.checked-rules",
            "{count} permissions checked: {rules} from a SelfSubjectRulesReview, {reviews} with "
            "SelfSubjectAccessReview", count=len(facts.access), rules=by_rules, reviews=by_review)
        if by_rules else
        msg("preflight.permissions.checked-reviews",
            "{count} permissions checked: each with SelfSubjectAccessReview",
            count=len(facts.access))
    )
    if missing:
        names = _permission_names(missing)
        return finding(
            "permissions",
            title,
            "block",
            [checked, msg("preflight.permissions.missing", "missing: {names}", names=names)],
            msg("preflight.permissions.missing-advice",
                "ask a cluster admin to grant: {names} to the credentials of context {context}, "
                "or run the wizard with an admin kubeconfig", names=names, context=repr(facts.context)),
        )
    if optional:
        names = "; ".join(a.label for a in optional)
        return finding(
            "permissions",
            title,
            "warn",
            [checked, msg("preflight.permissions.missing-clean-up", "missing for clean-up only: {names}",
                          names=names)],
            msg("preflight.permissions.clean-up-advice",
                "the switch and rollback can run; deleting kube-dns after 72 h will need these"),
        )
    return finding("permissions", title, "ok",
                   [checked, msg("preflight.permissions.all-allowed", "all allowed")])


def _permission_names(missing: Sequence[Any]) -> str:
    """"verb resource in namespace; ...": each label with the namespace it is needed in."""
    parts: list[str] = []
    for a in missing:
        parts.append(
            msg("preflight.permissions.label-in", "{label} in {namespace}",
                label=a.label, namespace=a.namespace)
            if a.namespace else a.label
        )
    return _joined(parts)


def check_scheduling(facts: ClusterFacts, decision: OrderDecision | None, replicas: int) -> Finding:
    title = msg("preflight.scheduling.title", "Room for CoreDNS pods under the required anti-affinity")
    if decision is None:
        return finding(
            "scheduling",
            title,
            "block",
            [msg("preflight.scheduling.not-computed", "not computed: the manifests could not be rendered")],
            msg("preflight.fix-render-first", "fix the blocking kube-dns configuration finding first"),
        )
    free = len(decision.free_nodes)
    evidence = [
        msg("preflight.scheduling.eligible",
            "{eligible} of {nodes} node(s) accept a CoreDNS pod (Ready, schedulable, taints tolerated)",
            eligible=len(decision.eligible_nodes), nodes=len(facts.nodes)),
        msg("preflight.scheduling.free-named", "{count} of them free of DNS pods: {names}",
            count=free, names=", ".join(decision.free_nodes[:4]))
        if decision.free_nodes
        else msg("preflight.scheduling.free", "{count} of them free of DNS pods", count=free),
        msg("preflight.scheduling.order", "order {order}: {reason}",
            order=decision.order, reason=decision.reason),
    ]
    if decision.problem is not None:
        return finding("scheduling", title, "block", evidence, decision.problem)
    if decision.order == "shrink-first":
        return finding(
            "scheduling",
            title,
            "warn",
            evidence,
            msg("preflight.scheduling.shrink-first-advice",
                "each round runs with {replicas} DNS replica(s) for a while; switch at a quiet "
                "time, or free a node (add one) so the wizard can grow CoreDNS first", replicas=replicas - 1),
        )
    return finding("scheduling", title, "ok", evidence)


def check_autoscaler(facts: ClusterFacts, options: SwitchOptions) -> Finding:
    title = msg("preflight.autoscaler.title", "kube-dns autoscaler")
    found = facts.autoscalers
    if not found:
        return finding(
            "autoscaler",
            title,
            "ok",
            [msg("preflight.autoscaler.none", "no Deployment in {namespace} targets Deployment/{name}",
                 namespace=options.namespace, name=options.kube_dns_deployment)],
        )
    evidence = [
        f"Deployment {a.namespace}/{a.name}: replicas {a.replicas}, --target={a.target}, "
        f"--configmap={a.configmap or '(none)'}"
        for a in found
    ]
    policy = options.autoscaler_policy
    if policy == "retarget":
        what = msg("preflight.autoscaler.retarget", "retargeted to Deployment/{name} and restored",
                   name=options.coredns_deployment)
    elif policy == "restore":
        what = msg("preflight.autoscaler.restore",
                   "restored unchanged (it will then scale kube-dns up again)")
    else:
        what = msg("preflight.autoscaler.leave-paused", "left paused")
    advice = msg(
        "preflight.autoscaler.advice",
        "it would scale kube-dns back up after each scale-down: it will be scaled to 0 during the "
        "switch and {what} at the end (--autoscaler-policy {policy})", what=what, policy=policy,
    )
    if len(found) > 1:
        advice = msg("preflight.autoscaler.advice-several",
                     "{advice}; only the first is managed by the plan: scale the others to 0 by hand",
                     advice=advice)
    return finding("autoscaler", title, "warn", evidence, advice)


def _unlisted(fid: str, title: str, facts: ClusterFacts, what: str, kubectl: str) -> Finding:
    """A check whose objects could not be listed: say so instead of claiming there are none."""
    notes = [u for u in facts.unreadable if tr(u, "en").startswith(what)] or [
        msg("preflight.not-listed", "{what}: not listed", what=what)
    ]
    return finding(fid, title, "warn", notes, msg("preflight.unchecked-advice",
                                                   "the wizard could not check this: look with `{kubectl}`",
                                                   kubectl=kubectl))


def check_hpa(facts: ClusterFacts, options: SwitchOptions) -> Finding:
    title = msg("preflight.hpa.title", "HorizontalPodAutoscalers on kube-dns")
    if facts.hpas is None:
        return _unlisted(
            "hpa", title, facts, "HorizontalPodAutoscalers", f"kubectl -n {options.namespace} get hpa"
        )
    targeting = []
    for hpa in facts.hpas:
        ref = mapping_at(hpa, "spec", "scaleTargetRef")
        if ref.get("kind") == "Deployment" and ref.get("name") == options.kube_dns_deployment:
            targeting.append(name_of(hpa))
    if not targeting:
        return finding(
            "hpa", title, "ok", [msg("preflight.hpa.none", "no HPA in {namespace} targets {name}",
                                     namespace=options.namespace, name=options.kube_dns_deployment)]
        )
    names = ", ".join(targeting)
    return finding(
        "hpa",
        title,
        "block",
        [msg("preflight.hpa.targets", "HPA {hpa} targets Deployment/{name}",
             hpa=f"{options.namespace}/{n}", name=options.kube_dns_deployment) for n in targeting],
        msg("preflight.hpa.advice",
            "the HPA would scale kube-dns back up during the switch: delete it (`kubectl -n "
            "{namespace} delete hpa {first}`) or point it at the CoreDNS Deployment after "
            "the switch ({names})", namespace=options.namespace, first=targeting[0], names=names),
    )


def check_addon_manager(facts: ClusterFacts, options: SwitchOptions) -> Finding:
    title = msg("preflight.addon-manager.title", "Addon manager and kubeadm")
    evidence: list[str] = []
    status: Status = "ok"
    advice: list[str] = []
    if facts.addon_manager_pods:
        evidence.append(msg("preflight.addon-manager.pods", "addon manager pod(s): {pods}",
                            pods=", ".join(facts.addon_manager_pods)))
    mode = labels_of(facts.kube_dns_deployment).get("addonmanager.kubernetes.io/mode")
    if mode:
        evidence.append(
            msg("preflight.addon-manager.label",
                "Deployment {name} is labelled addonmanager.kubernetes.io/mode: {mode}",
                name=f"{options.namespace}/{options.kube_dns_deployment}", mode=mode)
        )
    if facts.addon_manager_pods or mode == "Reconcile":
        status = "warn"
        advice.append(msg(
            "preflight.addon-manager.advice",
            "an addon manager re-creates the kube-dns objects it manages and prunes Reconcile-labelled "
            "objects missing from its manifest directory; switch2coredns.yaml deliberately has no "
            "addonmanager.kubernetes.io labels, so the addon manager neither manages nor prunes the "
            "CoreDNS objects (do not add those labels); the wizard only scales kube-dns, never deletes "
            "it mid-switch; before clean-up, remove the kube-dns manifests from the addon directory or "
            "the addon manager re-creates them"
        ))
    if facts.kubeadm_config_present:
        status = "warn"
        evidence.append(msg("preflight.addon-manager.kubeadm", "ConfigMap {name} exists: a kubeadm cluster",
                            name=f"{options.namespace}/kubeadm-config"))
        advice.append(msg(
            "preflight.addon-manager.kubeadm-advice",
            'do not run `kubeadm upgrade` during the switch: it fails with "{error}" while both Deployments '
            "carry k8s-app=kube-dns", error="multiple DNS addon deployments found",
        ))
    if not evidence:
        evidence.append(msg("preflight.addon-manager.none",
                            "no addon manager pod, no Reconcile label on kube-dns, no kubeadm-config"))
    return finding("addon-manager", title, status, evidence, _joined(advice))


def _selects_dns(pdb: Mapping[str, Any]) -> bool:
    selector = mapping_at(pdb, "spec", "selector")
    labels = selector.get("matchLabels") or {}
    if any(DNS_SELECTOR.get(str(k)) != str(v) for k, v in labels.items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        has = key in DNS_SELECTOR
        value = DNS_SELECTOR.get(str(key))
        if (op == "In" and value not in values) or (op == "NotIn" and value in values):
            return False
        if (op == "Exists" and not has) or (op == "DoesNotExist" and has):
            return False
    return bool(labels or selector.get("matchExpressions"))


def check_pdbs(facts: ClusterFacts, options: SwitchOptions) -> Finding:
    title = msg("preflight.pdb.title", "PodDisruptionBudgets on DNS pods")
    if facts.pdbs is None:
        return _unlisted(
            "pdb", title, facts, "PodDisruptionBudgets", f"kubectl -n {options.namespace} get pdb"
        )
    matching = [name_of(p) for p in facts.pdbs if _selects_dns(p)]
    if not matching:
        return finding(
            "pdb", title, "ok", [msg("preflight.pdb.none",
                                     "no PodDisruptionBudget in {namespace} selects k8s-app=kube-dns",
                                     namespace=options.namespace)]
        )
    evidence = [msg("preflight.pdb.selects", "PodDisruptionBudget {name} selects k8s-app=kube-dns",
                    name=f"{options.namespace}/{n}") for n in matching]
    if len(matching) == 1:
        return finding(
            "pdb",
            title,
            "ok",
            [
                *evidence,
                msg("preflight.pdb.covers-coredns",
                    "it also covers the CoreDNS pods (same label); scaling "
                    "is not an eviction, so it does not hold the switch up"),
            ],
        )
    return finding(
        "pdb",
        title,
        "warn",
        evidence,
        msg("preflight.pdb.several-advice",
            "two PodDisruptionBudgets selecting the same pods make every eviction of a DNS pod fail "
            "(node drains hang); delete all but one (`kubectl -n "
            "{namespace} delete pdb {name}`)", namespace=options.namespace, name=matching[1]),
    )


def _megabytes(quantity: str) -> float | None:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G|k)?", quantity.strip())
    if match is None:
        return None
    factor = {
        "Ki": 1024 / 1e6,
        "Mi": 1.048576,
        "Gi": 1073.741824,
        "K": 1e-3,
        "k": 1e-3,
        "M": 1.0,
        "G": 1000.0,
        None: 1e-6,
    }[match.group(2)]
    return float(match.group(1)) * factor


def check_memory(facts: ClusterFacts, rendered: RenderResult | None) -> Finding:
    title = msg("preflight.memory.title", "CoreDNS memory limit for the cluster's size")
    needed = math.ceil((facts.pod_count + facts.service_count) / 1000 + 54)
    evidence = [
        msg("preflight.memory.sizing",
            "{pods} pods and {services} Services: about {needed} MB "
            "((pods + services)/1000 + 54, coredns/deployment's sizing)",
            pods=facts.pod_count, services=facts.service_count, needed=needed)
    ]
    uncounted = [u for u in facts.unreadable if tr(u, "en").startswith(("pods", "Services"))]
    if uncounted:
        return finding(
            "memory",
            title,
            "warn",
            uncounted,
            msg("preflight.memory.uncounted-advice",
                "count pods and Services yourself (`kubectl get pods,svc -A --no-headers | wc -l`) and "
                "check the CoreDNS memory limit against (pods + services)/1000 + 54 MB"),
        )
    if rendered is None:
        return finding("memory", title, "ok", evidence)
    limit = _megabytes(rendered.memory_limit)
    evidence.append(msg("preflight.memory.rendered", "rendered limit {limit}", limit=rendered.memory_limit))
    if limit is not None and limit < needed:
        return finding(
            "memory",
            title,
            "warn",
            evidence,
            msg("preflight.memory.raise",
                "raise the CoreDNS memory limit to at least {needed}M before scaling up",
                needed=needed),
        )
    return finding("memory", title, "ok", evidence)


def check_coredns_version(rendered: RenderResult | None, options: SwitchOptions) -> Finding:
    title = msg("preflight.coredns-version.title", "CoreDNS version and image")
    if rendered is None:
        return finding(
            "coredns-version",
            title,
            "block",
            [msg("preflight.coredns-version.none", "no version chosen: the manifests could not be rendered")],
            msg("preflight.fix-render-first", "fix the blocking kube-dns configuration finding first"),
        )
    rec = rendered.recommendation
    evidence: list[str] = [
        msg("preflight.coredns-version.recommended", "CoreDNS {version} (recommended: {reason})",
            version=rendered.coredns_version, reason=rec.reason)
        if rec is not None else
        msg("preflight.coredns-version.chosen", "CoreDNS {version} (chosen with --coredns-version)",
            version=rendered.coredns_version)
    ]
    if rec is not None and rec.alternatives:
        evidence.append(msg("preflight.coredns-version.others", "other choices: {choices}",
                            choices=_choices(rec.alternatives)))
    evidence.append(
        msg("preflight.coredns-version.image-reason", "image {image}: {reason}",
            image=rendered.image, reason=rendered.image_reason)
        if rendered.image_reason else f"image {rendered.image}"
    )
    return finding(
        "coredns-version",
        title,
        "ok",
        evidence,
        "" if options.coredns_version else msg("preflight.coredns-version.advice",
                                               "pick another with --coredns-version if your vendor says so"),
    )


def check_node_local_dns(facts: ClusterFacts) -> Finding:
    title = msg("preflight.node-local-dns.title", "NodeLocal DNSCache")
    if not facts.node_local_dns:
        return finding("node-local-dns", title, "ok",
                       [msg("preflight.node-local-dns.none", "no node-local-dns DaemonSet")])
    return finding(
        "node-local-dns",
        title,
        "warn",
        [f"DaemonSet {d}" for d in facts.node_local_dns],
        msg("preflight.node-local-dns.advice",
            "NodeLocal DNSCache answers on the cluster DNS IP, so probes through the Service IP measure the "
            "cache, not CoreDNS (the wizard also probes each CoreDNS pod directly); it reads the kube-dns "
            "ConfigMap for its stub domains: keep that ConfigMap at clean-up"),
    )


def _choices(alternatives: Sequence[tuple[str, str]]) -> str:
    """"1.8.4 (table), 1.9.3 (table)": each version with its source (a Message when it is one)."""
    parts: list[str] = [
        msg("preflight.version-choice", "{version} ({source})", version=v, source=src)
        for v, src in alternatives
    ]
    joined = parts[0] if parts else ""
    for part in parts[1:]:
        joined = msg("preflight.list-comma", "{first}, {second}", first=joined, second=part)
    return joined


def _joined(parts: Sequence[str]) -> str:
    """Sentences joined with "; ", re-rendered in the language of the whole."""
    joined = parts[0] if parts else ""
    for part in parts[1:]:
        joined = msg("preflight.list-semicolon", "{first}; {second}", first=joined, second=part)
    return joined
