"""`coredns-wizard translate`: the kube-dns ConfigMap (and Deployment) → a Corefile on stdout.

Stage 3b of the guide on its own, so an operator can read and review the Corefile before any
manifest is rendered; warnings (dropped federations, deprecated options) go to stderr so the
Corefile can be redirected to a file as it is.
"""

from __future__ import annotations

import argparse
import sys

HELP = "Translate the kube-dns ConfigMap (and Deployment) into a CoreDNS Corefile."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from wizard.commands._options import add_cluster_domain_argument, add_drop_federations_argument

    parser.add_argument(
        "--kube-dns-configmap",
        metavar="FILE",
        required=True,
        help="the kube-dns ConfigMap as `kubectl get cm kube-dns -n kube-system -o yaml` prints it",
    )
    parser.add_argument(
        "--kube-dns-deployment",
        metavar="FILE",
        help="the kube-dns Deployment (`kubectl get deploy kube-dns -n kube-system -o yaml`): "
        "cluster domain, dnsmasq --server extras",
    )
    parser.add_argument(
        "--coredns-version", metavar="V", required=True, help="the CoreDNS version, e.g. 1.8.4"
    )
    add_cluster_domain_argument(parser)
    add_drop_federations_argument(parser)


def run(args: argparse.Namespace) -> int:
    from wizard.dns.kubedns_config import read_kube_dns_files
    from wizard.dns.translate import translate
    from wizard.dns.versions import Version

    version = Version.parse(args.coredns_version, "--coredns-version")
    cfg = read_kube_dns_files(
        args.kube_dns_configmap, args.kube_dns_deployment, cluster_domain=args.cluster_domain
    )
    result = translate(cfg, version, drop_federations=args.drop_federations)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    sys.stdout.write(result.text if result.text.endswith("\n") else result.text + "\n")
    return 0
