"""`coredns-wizard plan`: pre-flight findings and the numbered step plan, without changing anything.

Read-only by construction: the gateway runs in read-only mode, which refuses every write before
sending it; the one exception is Gateway.validate_apply, a server-side apply that always carries
dryRun=All (the API server validates and stores nothing), plus SelfSubjectAccessReviews.
Exit 0 when nothing blocks, 1 when something does, 2 on bad input or an unreachable cluster.
"""

from __future__ import annotations

import argparse
import sys

from wizard.i18n import N_
from wizard.textsafety import escape_control

TYPE_CHECKING = False  # typing itself costs `--help` ~2 ms to import; mypy reads this as typing's
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:
    from wizard.migration.plan import Plan
    from wizard.migration.preflight.run import PreflightReport

HELP = N_("Pre-flight checks and the step-by-step switch plan, read-only (nothing in the cluster changes).")
MARKS = {"ok": "✔", "warn": "!", "block": "✖"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from wizard.commands._options import add_plan_arguments
    from wizard.i18n import t
    from wizard.k8s.flags import add_connection_arguments

    add_connection_arguments(parser)
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help=t("output format"))
    add_plan_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from wizard.commands._options import plan_options
    from wizard.commands._progress import open_gateway
    from wizard.i18n import t, with_message_ids
    from wizard.migration.preflight.run import run_preflight

    if args.coredns_version is not None:  # bad input is exit 2 before any request, not a finding
        from wizard.dns.checker import checked_version

        checked_version(args.coredns_version)
    connection, gateway = open_gateway(args, "read-only")
    options = plan_options(args, "read-only", connection.lab_dns_port)
    progress = _progress if args.output == "text" and sys.stderr.isatty() else None
    with gateway:
        report = run_preflight(gateway, options, progress)
    if progress is not None:
        sys.stderr.write("\r\033[K")
    if args.output == "json":
        import json

        json.dump(with_message_ids(report_json(report)), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report_text(report))
        if report.plan is not None:
            sys.stdout.write(
                "\n"
                + t(
                    "Nothing was changed. Run `coredns-wizard switch` with the same options to carry this "
                    "plan out."
                )
                + "\n"
            )
    return 1 if report.blocked else 0


def _progress(text: str) -> None:
    sys.stderr.write(f"\r\033[K{escape_control(text)}…")
    sys.stderr.flush()


def report_json(report: PreflightReport) -> dict[str, Any]:
    from wizard.migration.preflight.run import FINDING_GROUPS

    group_of = {fid: group for group, ids in FINDING_GROUPS.items() for fid in ids}
    facts = report.facts
    return {
        "context": facts.context,
        "server": facts.server,
        "kubernetes_version": facts.k8s_version,
        "blocked": report.blocked,
        "findings": [
            {
                "id": f.id,
                "group": group_of.get(f.id, "Other"),
                "title": f.title,
                "status": f.status,
                "evidence": list(f.evidence),
                "advice": f.advice,
            }
            for f in report.findings
        ],
        "plan": None if report.plan is None else plan_json(report.plan),
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    autoscaler = plan.autoscaler
    return {
        "order": plan.order,
        "order_reason": plan.order_reason,
        "original_kube_dns_replicas": plan.original_kube_dns_replicas,
        "coredns_version": plan.coredns_version,
        "image": plan.manifests.image,
        "autoscaler": None
        if autoscaler is None
        else {
            "name": autoscaler.name,
            "namespace": autoscaler.namespace,
            "replicas": autoscaler.replicas,
            "target": autoscaler.target,
            "configmap": autoscaler.configmap,
        },
        "steps": [
            {
                "number": number,
                "id": step.id,
                "kind": step.kind,
                "round": step.round,
                "description": step.description,
                "kubectl": list(step.kubectl),
                "target": step.target,
                "replicas": step.replicas,
                "changes_cluster": step.changes_cluster,
            }
            for number, step in enumerate(plan.steps, start=1)
        ],
        "manifests_yaml": plan.manifests.yaml_text,
    }


def report_text(report: PreflightReport) -> str:
    from wizard.i18n import t
    from wizard.migration.preflight.run import FINDING_GROUPS

    facts = report.facts
    lines = [
        t(
            "Pre-flight for context {context} ({server}), Kubernetes {version}",
            context=escape_control(facts.context),
            server=escape_control(facts.server),
            version=escape_control(facts.k8s_version),
        ),
        "",
    ]
    by_id = {f.id: f for f in report.findings}
    grouped = {fid for ids in FINDING_GROUPS.values() for fid in ids}
    groups = [(name, [by_id[i] for i in ids if i in by_id]) for name, ids in FINDING_GROUPS.items()]
    others = [f for f in report.findings if f.id not in grouped]
    if others:
        groups.append((N_("Other"), others))
    for name, findings in groups:
        if not findings:
            continue
        lines.append(t(name))
        for f in findings:
            lines.append(f"  {MARKS[f.status]} {escape_control(f.title)}")
            lines += [f"      {escape_control(e)}" for e in f.evidence]
            if f.advice:
                lines.append(f"      → {escape_control(f.advice)}")
        lines.append("")
    blocks = sum(f.status == "block" for f in report.findings)
    warns = sum(f.status == "warn" for f in report.findings)
    if report.blocked:
        lines.append(
            t(
                "✖ {blocks} blocking finding(s), {warns} warning(s): fix the ✖ items, then run plan again.",
                blocks=blocks,
                warns=warns,
            )
        )
        return "\n".join(lines) + "\n"
    lines.append(t("{warns} warning(s), nothing blocks.", warns=warns))
    plan = report.plan
    if plan is None:
        return "\n".join(lines) + "\n"
    lines += [
        "",
        t(
            "Plan: {steps} steps, CoreDNS {version} replacing {replicas} kube-dns replica(s), order {order}",
            steps=len(plan.steps),
            version=escape_control(plan.coredns_version),
            replicas=plan.original_kube_dns_replicas,
            order=plan.order,
        ),
        f"  ({escape_control(plan.order_reason)})",
        "",
    ]
    width = len(str(len(plan.steps)))
    for number, step in enumerate(plan.steps, start=1):
        change = "" if step.changes_cluster else "  " + t("(check, no change)")
        lines.append(f"{number:>{width}}. [{step.id}] {escape_control(step.description)}{change}")
        lines += [f"{' ' * width}      $ {escape_control(cmd)}" for cmd in step.kubectl]
    return "\n".join(lines) + "\n"
