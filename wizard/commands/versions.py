"""`coredns-wizard versions --k8s-version V`: which CoreDNS to install, from which table, and why.

The recommendation always names its source table so the operator can check it; the alternatives
are what the other tables say, for an operator who prefers one of them (--coredns-version on the
other commands takes any of them).
"""

from __future__ import annotations

import argparse

from wizard.i18n import N_, t

HELP = N_("Recommend a CoreDNS version for a Kubernetes version, naming the table it comes from.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--k8s-version", required=True, metavar="V", help=t("the cluster's Kubernetes version, e.g. 1.22")
    )
    parser.add_argument(
        "--kube-dns-image",
        metavar="IMAGE",
        help=t("the running kube-dns image; a TKE registry (*.tencentyun.com) selects the TKE table"),
    )
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help=t("output format"))


def run(args: argparse.Namespace) -> int:
    from wizard.dns.versions import parse_kubernetes_version, recommend, registry_host
    from wizard.i18n import tr, with_message_ids

    rec = recommend(args.k8s_version, args.kube_dns_image)
    k8s = parse_kubernetes_version(args.k8s_version)
    host = registry_host(args.kube_dns_image) if args.kube_dns_image else None
    if args.output == "json":
        import json

        document = {
            "kubernetes": f"{k8s.major}.{k8s.minor}",
            "kube_dns_registry": host,
            "version": rec.version,
            "source": rec.source,
            "reason": rec.reason,
            "alternatives": [{"version": v, "source": s} for v, s in rec.alternatives],
        }
        print(json.dumps(with_message_ids(document), indent=2, ensure_ascii=False))
        return 0
    print(t("CoreDNS {version} for Kubernetes {kubernetes}", version=rec.version,
            kubernetes=f"{k8s.major}.{k8s.minor}"))
    print("  " + t("source: {source}", source=tr(rec.source)))
    print("  " + t("reason: {reason}", reason=tr(rec.reason)))
    if rec.alternatives:
        print("  " + t("alternatives:"))
        width = max(len(v) for v, _ in rec.alternatives)
        for version, source in rec.alternatives:
            print(f"    {version:<{width}}  {tr(source)}")
    else:
        print("  " + t("alternatives: none (the other tables agree or have no row for this version)"))
    return 0
