"""`coredns-wizard status`: where the switch stands, read-only.

Phase and round, both Deployments' replicas and ready counts, the Service's endpoints split by
owner, the autoscaler, the journal's last entries, and when clean-up becomes allowed.
"""

from __future__ import annotations

import argparse
import sys

from wizard.i18n import N_

HELP = N_("Show where the switch stands (read-only): phase, replicas, endpoints by owner, clean-up time.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from wizard.commands._options import add_common_arguments

    add_common_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from wizard.commands._progress import open_gateway, open_journal
    from wizard.i18n import with_message_ids
    from wizard.migration.status import read_status, status_lines
    from wizard.options import SwitchOptions

    _, gateway = open_gateway(args, "read-only")
    with gateway:
        journal = open_journal(args, gateway)
        status = read_status(gateway, journal, SwitchOptions(mode="read-only"))
    if args.output == "json":
        import json

        json.dump(with_message_ids(status.to_dict()), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("\n".join(status_lines(status)) + "\n")
    return 0
