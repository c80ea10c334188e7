"""`coredns-wizard rollback`: the autoscaler paused, kube-dns back to its original size (Ready,
spread over distinct nodes where the scheduler allows), then CoreDNS to 0, then the autoscaler
restored. Lists the exact steps first; safe to run again after an interruption (every step is
absolute and the next run plans again from the cluster as it is).

Exit 0 when kube-dns serves again with its original replicas, 1 when the rollback stopped.
"""

from __future__ import annotations

import argparse
import sys

from wizard.i18n import N_

TYPE_CHECKING = False  # typing itself costs `--help` ~2 ms to import; mypy reads this as typing's
if TYPE_CHECKING:
    from typing import Any

HELP = N_(
    "Roll a switch back: kube-dns to its original replicas (Ready first), then CoreDNS to 0, "
    "autoscaler restored."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from wizard.commands._options import add_change_arguments, add_common_arguments
    from wizard.i18n import t

    add_common_arguments(parser)
    add_change_arguments(parser, t("send every change with dryRun=All: nothing changes"))
    parser.add_argument(
        "--kube-dns-replicas",
        type=int,
        metavar="N",
        help=t("kube-dns's original replicas, when neither the cluster nor the journal recorded it"),
    )
    parser.add_argument(
        "--ready-timeout",
        metavar="DURATION",
        default="5m",
        help=t("how long kube-dns may take to be Ready and in the endpoints again (default 5m)"),
    )


def run(args: argparse.Namespace) -> int:
    from wizard.commands._options import change_mode
    from wizard.commands._progress import (
        TextProgress,
        open_gateway,
        open_journal,
        parse_duration,
        require_terminal_or_yes,
        terminal_confirm,
    )
    from wizard.errors import InputError
    from wizard.i18n import msg, t, tr, with_message_ids
    from wizard.migration.rollback import preview_rollback, rollback
    from wizard.migration.rollback_rounds import RollbackStop
    from wizard.options import SwitchOptions

    if args.kube_dns_replicas is not None and args.kube_dns_replicas < 1:
        raise InputError(msg(
            "rollback.cli-replicas-at-least-one", "--kube-dns-replicas {replicas}: must be at least 1",
            replicas=args.kube_dns_replicas,
        ))
    ready_timeout = parse_duration(args.ready_timeout, "--ready-timeout")
    require_terminal_or_yes(args.yes, args.dry_run, "coredns-wizard rollback")
    mode = change_mode(args)
    connection, gateway = open_gateway(args, mode)
    options = SwitchOptions(
        mode=mode, assume_yes=args.yes, ready_timeout_seconds=ready_timeout, dns_port=connection.lab_dns_port
    )
    with gateway:
        journal = open_journal(args, gateway)
        try:
            steps = preview_rollback(gateway, journal, options, args.kube_dns_replicas)
        except RollbackStop:
            steps = []  # the rollback itself stops with the same reason and says what to do
        if steps and args.output == "text":
            print(
                t("The rollback will run these {count} step(s), in order:", count=len(steps)), file=sys.stderr
            )
            for number, step in enumerate(steps, 1):
                kubectl = f"  ({'; '.join(step.kubectl)})" if step.kubectl and step.changes_cluster else ""
                print(f"  {number}. {tr(step.description)}{kubectl}", file=sys.stderr)
        confirm = None if args.yes else _numbered(terminal_confirm(connection.context), steps)
        outcome = rollback(gateway, journal, options, TextProgress(), confirm, args.kube_dns_replicas)
    if args.output == "json":
        import json

        json.dump(
            with_message_ids({
                "completed": outcome.completed,
                "reason": outcome.reason,
                "advice": outcome.advice,
                "kube_dns_replicas": outcome.kube_dns_replicas,
                "planned_steps": [
                    {"id": s.id, "description": s.description, "changes_cluster": s.changes_cluster}
                    for s in steps
                ],
            }),
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    if outcome.completed:
        return 0
    print(
        t(
            "coredns-wizard rollback: stopped: {reason}. {advice}",
            reason=tr(outcome.reason), advice=tr(outcome.advice),
        ),
        file=sys.stderr,
    )
    return 1


def _numbered(confirm: Any, steps: list[Any]) -> Any:
    """Each question says which of the listed steps it is."""
    ids = [s.id for s in steps]

    def ask(step: Any, what: str) -> bool:
        from wizard.i18n import t

        where = (
            t("Rollback step {number} of {count}: ", number=ids.index(step.id) + 1, count=len(ids))
            if step.id in ids
            else t("Rollback: ")
        )
        return bool(confirm(step, where + what))

    return ask
