"""The kubectl-compatible flags that choose the cluster (--kubeconfig, --context,
--request-timeout).

Why apart from `connection.py`: every command line is built with these flags, `--help` included,
and building it should not load kubeconfig resolution (dataclasses, YAML); the flags are read by
`wizard.k8s.connection.connection_from_args`.
"""

from __future__ import annotations

import argparse

from wizard.i18n import t


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """The kubectl-compatible flags every command that talks to a cluster accepts."""
    parser.add_argument(
        "--kubeconfig", metavar="FILE", help=t("kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    )
    parser.add_argument("--context", metavar="NAME", help=t("kubeconfig context (default: current-context)"))
    parser.add_argument(
        "--request-timeout", metavar="DURATION", default=None,
        help=t("timeout of one API request, e.g. 30s, 1m, 0 for none (default: 30s)"),
    )
