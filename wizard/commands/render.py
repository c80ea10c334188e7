"""`coredns-wizard render`: switch2coredns.yaml (stage 3) for one cluster, to stdout or a file.

Without --coredns-version the recommended version is used, and stderr says which and why, so the
choice is never silent. The file is written atomically: a half-written manifest must never be
applied.
"""

from __future__ import annotations

import argparse
import os
import sys

from wizard.i18n import N_

TYPE_CHECKING = False  # `--help` imports this module for HELP: pathlib loads when it renders
if TYPE_CHECKING:
    from pathlib import Path

HELP = N_("Render switch2coredns.yaml: CoreDNS RBAC, ConfigMap and a 0-replica Deployment (never a Service).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from wizard.commands._options import (
        add_cluster_domain_argument,
        add_coredns_choice_arguments,
        add_drop_federations_argument,
    )
    from wizard.i18n import t

    parser.add_argument(
        "--k8s-version", metavar="V", required=True, help=t("the cluster's Kubernetes version")
    )
    add_coredns_choice_arguments(parser)
    parser.add_argument(
        "--kube-dns-configmap",
        metavar="FILE",
        help=t("{command} output", command="`kubectl get cm kube-dns -n kube-system -o yaml`"),
    )
    parser.add_argument(
        "--kube-dns-deployment",
        metavar="FILE",
        help=t("{command} output", command="`kubectl get deploy kube-dns -n kube-system -o yaml`"),
    )
    parser.add_argument("-o", "--output", metavar="FILE", help=t("write here (atomically) instead of stdout"))
    add_cluster_domain_argument(parser)
    add_drop_federations_argument(parser)
    parser.add_argument(
        "--translate-written-config",
        action="store_true",
        help=t(
            "carry over what the ConfigMap says instead of what kube-dns served: when kube-dns ignores "
            "it (e.g. JSON federations), or stubDomains on a kube-dns without dnsmasq "
            "(which never served them)"
        ),
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from wizard.dns.kubedns_config import KubeDNSConfig, read_kube_dns_files
    from wizard.errors import InputError
    from wizard.i18n import t, tr
    from wizard.migration.manifests import RenderOptions, render_manifests

    cfg: KubeDNSConfig | None = None
    if args.kube_dns_configmap is not None or args.kube_dns_deployment is not None:
        cfg = read_kube_dns_files(
            args.kube_dns_configmap, args.kube_dns_deployment, written=args.translate_written_config
        )
    result = render_manifests(
        RenderOptions(
            k8s_version=args.k8s_version,
            coredns_version=args.coredns_version,
            kube_dns=cfg,
            image_host=args.image_host,
            image=args.image,
            cluster_domain=args.cluster_domain,
            drop_federations=args.drop_federations,
        )
    )
    if args.output is None:
        sys.stdout.write(result.yaml_text)
    else:
        try:
            _write_atomically(Path(args.output), result.yaml_text)
        except OSError as err:
            raise InputError(
                t(
                    "-o {path}: cannot write the manifest ({error})",
                    path=args.output,
                    error=err.strerror or err,
                )
            ) from None
    rec = result.recommendation
    if rec is not None:
        print(
            t("CoreDNS {version} (recommended: {reason})", version=rec.version, reason=tr(rec.reason)),
            file=sys.stderr,
        )
        if rec.alternatives:
            others = ", ".join(f"{v} ({tr(source)})" for v, source in rec.alternatives)
            print(
                "  " + t("other choices: {others}; pick one with --coredns-version", others=others),
                file=sys.stderr,
            )
    for note in result.notes:
        print(tr(note), file=sys.stderr)
    for warning in result.warnings:
        print(t("warning: {warning}", warning=tr(warning)), file=sys.stderr)
    if args.output is not None:
        print(t("wrote {path}", path=args.output), file=sys.stderr)
    return 0


def _write_atomically(path: Path, text: str) -> None:
    """Write beside the target, then rename over it: readers see the old file or the whole new one."""
    import tempfile
    from pathlib import Path

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or Path("."))
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """Keep an existing file's mode; a new file gets the usual 0666 less the umask (mkstemp's 0600
    would surprise whoever applies the manifest)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
