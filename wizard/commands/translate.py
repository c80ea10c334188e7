"""`coredns-wizard translate`: the kube-dns ConfigMap (and Deployment) → a Corefile on stdout.

Stage 3b of the guide on its own, so an operator can read and review the Corefile before any
manifest is rendered; warnings (dropped federations, deprecated options, a ConfigMap kube-dns
ignores) go to stderr so the Corefile can be redirected to a file as it is.

The ConfigMap is read as kube-dns reads it: when kube-dns ignores it as a whole (JSON federations,
any invalid key), the Corefile keeps what was live (kube-dns's defaults) and one warning says so;
--translate-written-config carries the written configuration over instead. Likewise stubDomains
on a kube-dns without a dnsmasq container (only dnsmasq-nanny reads them) are left out, with a
warning, unless --translate-written-config asks for them. Stub nameservers that
are cluster Service names stay names (with a warning) unless --resolve-service-names looks their
ClusterIPs up through the API server (read-only; the --kubeconfig/--context flags apply).
"""

from __future__ import annotations

import argparse
import sys

from wizard.i18n import N_

HELP = N_(
    "Translate the kube-dns ConfigMap (and Deployment) into a CoreDNS Corefile."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from wizard.commands._options import add_cluster_domain_argument, add_drop_federations_argument
    from wizard.i18n import t
    from wizard.k8s.flags import add_connection_arguments

    parser.add_argument(
        "--kube-dns-configmap",
        metavar="FILE",
        required=True,
        help=t("the kube-dns ConfigMap as `kubectl get cm kube-dns -n kube-system -o yaml` prints it"),
    )
    parser.add_argument(
        "--kube-dns-deployment",
        metavar="FILE",
        help=t("the kube-dns Deployment (`kubectl get deploy kube-dns -n kube-system -o yaml`): "
               "cluster domain, dnsmasq --server extras"),
    )
    parser.add_argument(
        "--coredns-version", metavar="V", required=True, help=t("the CoreDNS version, e.g. 1.8.4")
    )
    add_cluster_domain_argument(parser)
    add_drop_federations_argument(parser)
    parser.add_argument(
        "--translate-written-config",
        action="store_true",
        help=t(
            "translate what the ConfigMap says instead of what kube-dns served: when kube-dns ignores "
            "it (e.g. JSON federations), or stubDomains on a kube-dns without dnsmasq (which never served "
            "them); DNS answers then change at the switch"
        ),
    )
    parser.add_argument(
        "--resolve-service-names",
        action="store_true",
        help=t(
            "replace stub nameservers that are cluster Service names (NAME.NS.svc.DOMAIN) with the "
            "Services' ClusterIPs, read from the cluster (read-only)"
        ),
    )
    add_connection_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from wizard.dns.kubedns_config import read_kube_dns_files
    from wizard.dns.translate import translate
    from wizard.dns.versions import Version
    from wizard.i18n import t

    version = Version.parse(args.coredns_version, "--coredns-version")
    cfg = read_kube_dns_files(
        args.kube_dns_configmap,
        args.kube_dns_deployment,
        cluster_domain=args.cluster_domain,
        written=args.translate_written_config,
    )
    if args.resolve_service_names:
        from wizard.commands._progress import open_gateway
        from wizard.migration.service_names import cluster_ip_resolver

        _, gateway = open_gateway(args, "read-only")
        with gateway:
            resolver = cluster_ip_resolver(gateway)
            result = translate(cfg, version, drop_federations=args.drop_federations, resolve_service=resolver)
    else:
        result = translate(cfg, version, drop_federations=args.drop_federations)
    for warning in result.warnings:
        print(t("warning: {warning}", warning=warning), file=sys.stderr)
    sys.stdout.write(result.text if result.text.endswith("\n") else result.text + "\n")
    return 0
