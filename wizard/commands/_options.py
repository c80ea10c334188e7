"""Command-line options that several faces of the wizard share, defined once.

Why: `plan` promises that `switch` with the same options carries its plan out, and the terminal
wizard takes the same choices; flags defined (and turned into SwitchOptions) in one place cannot
drift apart in name, choices, default or meaning. Stdlib only at module level: `coredns-wizard
--help` imports every command module.
"""

from __future__ import annotations

import argparse

from wizard.i18n import t

TYPE_CHECKING = False  # typing itself costs `--help` ~2 ms to import; mypy reads this as typing's

if TYPE_CHECKING:
    from wizard.options import Mode, SwitchOptions

# argparse's common base of parsers and argument groups (the TUI entry adds to a group).
ArgumentContainer = argparse._ActionsContainer


def add_language_argument(parser: ArgumentContainer) -> None:
    """--lang, on the wizard and every command (read early by `wizard.i18n.language_from_argv`)."""
    from wizard.i18n import LANGUAGES

    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=None,
        help=t("language of messages: en or zh (default: from LC_ALL, LC_MESSAGES or LANG; else en)"),
    )


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """--kubeconfig/--context/--request-timeout, -o, --state-dir: every command that opens the journal."""
    from wizard.k8s.flags import add_connection_arguments

    add_connection_arguments(parser)
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help=t("result format on stdout (progress always goes to stderr)"),
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help=t("where the journal and backups live (default: $XDG_STATE_HOME/coredns-wizard/CLUSTER)"),
    )


def add_coredns_choice_arguments(parser: ArgumentContainer) -> None:
    """--coredns-version (optional: the recommended one) and --image | --image-host."""
    parser.add_argument(
        "--coredns-version", metavar="V", help=t("the CoreDNS version (default: the recommended one)")
    )
    image = parser.add_mutually_exclusive_group()
    image.add_argument("--image", metavar="IMAGE", help=t("the whole CoreDNS image reference"))
    image.add_argument("--image-host", metavar="HOST", help=t("pull CoreDNS from this registry host"))


def add_drop_federations_argument(parser: ArgumentContainer) -> None:
    parser.add_argument(
        "--drop-federations",
        action="store_true",
        help=t("switch without kube-dns federations when CoreDNS (1.7.0+) has no federation plugin"),
    )


def add_cluster_domain_argument(parser: ArgumentContainer) -> None:
    parser.add_argument(
        "--cluster-domain", metavar="D", help=t("override the cluster domain (default: kube-dns's --domain)")
    )


def add_change_arguments(
    parser: ArgumentContainer, dry_run_help: str, yes_help: str | None = None
) -> None:
    """--yes and --dry-run of the commands that change the cluster (see `change_mode`); `yes_help`
    None: "do not ask before each change"."""
    if yes_help is None:
        yes_help = t("do not ask before each change")
    parser.add_argument("--yes", "-y", action="store_true", help=yes_help)
    parser.add_argument("--dry-run", action="store_true", help=dry_run_help)


def change_mode(args: argparse.Namespace) -> Mode:
    """The gateway mode `add_change_arguments`' --dry-run selects."""
    return "dry-run" if args.dry_run else "live"


def add_plan_arguments(parser: ArgumentContainer) -> None:
    """Everything that shapes the plan: version and image, federations, round order, autoscaler."""
    add_coredns_choice_arguments(parser)
    add_drop_federations_argument(parser)
    parser.add_argument(
        "--order",
        choices=("auto", "grow-first", "shrink-first"),
        default="auto",
        help=t("round order (default auto: grow-first when a node is free for a CoreDNS pod)"),
    )
    parser.add_argument(
        "--autoscaler-policy",
        choices=("retarget", "restore", "leave-paused"),
        default="retarget",
        help=t("what happens to a kube-dns autoscaler at the end (default: retarget it to CoreDNS)"),
    )


def add_switch_run_arguments(parser: ArgumentContainer) -> None:
    """How the switch verifies each round: probed names, observation time, readiness timeout."""
    parser.add_argument(
        "--probe-name",
        action="append",
        default=[],
        metavar="NAME",
        help=t("a business name to probe, NAME.NAMESPACE (repeatable; default: a few real Services)"),
    )
    parser.add_argument(
        "--observe",
        metavar="DURATION",
        default="5m",
        help=t("how long to watch DNS after each kube-dns scale-down (default 5m, the guide's)"),
    )
    parser.add_argument(
        "--ready-timeout",
        metavar="DURATION",
        default="5m",
        help=t("how long a new CoreDNS pod may take to become Ready (default 5m)"),
    )
    parser.add_argument(
        "--on-failure",
        choices=("contain", "stop"),
        default="contain",
        help=t(
            "when a check fails after a change: contain (default: scale back to the round's last "
            "verified state and wait until the failing pod has left the kube-dns Service, then "
            "stop) or stop (stop at once, leaving the failing pod in place, possibly serving)"
        ),
    )


def plan_options(args: argparse.Namespace, mode: Mode, dns_port: int | None = None) -> SwitchOptions:
    """SwitchOptions from the flags of `add_plan_arguments` (the rest keep their defaults)."""
    from wizard.options import SwitchOptions

    return SwitchOptions(
        coredns_version=args.coredns_version,
        image=args.image,
        image_host=args.image_host,
        drop_federations=args.drop_federations,
        order=args.order,
        autoscaler_policy=args.autoscaler_policy,
        mode=mode,
        dns_port=dns_port,
    )


def with_switch_run_options(options: SwitchOptions, args: argparse.Namespace) -> SwitchOptions:
    """`options` plus the flags of `add_switch_run_arguments`; InputError names a bad duration."""
    import dataclasses

    from wizard.commands._progress import parse_duration

    return dataclasses.replace(
        options,
        probe_names=tuple(args.probe_name),
        observe_seconds=parse_duration(args.observe, "--observe"),
        ready_timeout_seconds=parse_duration(args.ready_timeout, "--ready-timeout"),
        on_failure=args.on_failure,
    )
