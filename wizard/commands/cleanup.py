"""`coredns-wizard cleanup`: the guide's step 8, deleting the kube-dns Deployment, ConfigMap and
ServiceAccount once the switch has held for 72 hours; each object is saved as YAML first.

Refused (exit 1) while kube-dns has replicas, CoreDNS is not fully ready, or the 72 hours have
not passed (unless --force). The kube-dns Service is never deleted.
"""

from __future__ import annotations

import argparse
import sys

from wizard.i18n import N_

HELP = N_(
    "Delete the kube-dns Deployment, ConfigMap and ServiceAccount 72 h after the switch (backups first)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from wizard.commands._options import add_change_arguments, add_common_arguments
    from wizard.i18n import t

    add_common_arguments(parser)
    add_change_arguments(
        parser, t("send every deletion with dryRun=All"), yes_help=t("do not ask before each deletion")
    )
    parser.add_argument("--force", action="store_true", help=t("do not wait for the 72 hours"))


def run(args: argparse.Namespace) -> int:
    from wizard.commands._options import change_mode
    from wizard.commands._progress import (
        TextProgress,
        open_gateway,
        open_journal,
        require_terminal_or_yes,
        terminal_confirm,
    )
    from wizard.i18n import t, tr, with_message_ids
    from wizard.migration.cleanup import cleanup
    from wizard.options import SwitchOptions

    require_terminal_or_yes(args.yes, args.dry_run, "coredns-wizard cleanup")
    mode = change_mode(args)
    connection, gateway = open_gateway(args, mode)
    options = SwitchOptions(mode=mode, assume_yes=args.yes)
    with gateway:
        journal = open_journal(args, gateway)
        confirm = None if args.yes else terminal_confirm(connection.context)
        result = cleanup(gateway, journal, options, TextProgress(), confirm, force=args.force)
    if args.output == "json":
        import json

        json.dump(
            with_message_ids({
                "deleted": list(result.deleted),
                "skipped": list(result.skipped),
                "backups": list(result.backups),
                "warnings": list(result.warnings),
                "dry_run": result.dry_run,
            }),
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        for line in result.deleted:
            if result.dry_run:
                print(t("would delete {object}", object=line))
            else:
                print(t("deleted {object}", object=line))
        for line in result.skipped:
            print(t("skipped {object}", object=tr(line)))
        for line in result.backups:
            print(t("backup {path}", path=line))
        for line in result.warnings:
            print(t("warning: {warning}", warning=tr(line)))
    return 0
