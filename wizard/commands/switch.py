"""`coredns-wizard switch`: pre-flight, the plan, then the switch itself (or its resumption).

Exit 0 when CoreDNS has the original replica count and kube-dns 0; 1 when pre-flight blocks or
the switch stopped (the reason and what to do are printed); 2 on bad input. The first Ctrl-C
stops cleanly at the next safe point (the journal makes the switch resumable); a second one
interrupts at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = (
    "Switch kube-dns to CoreDNS one replica at a time, verifying each step (resumes an interrupted switch)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from wizard.commands._progress import add_common_arguments

    add_common_arguments(parser)
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask before each change")
    parser.add_argument(
        "--observe",
        metavar="DURATION",
        default="5m",
        help="how long to watch DNS after each kube-dns scale-down (default 5m, the guide's)",
    )
    parser.add_argument(
        "--coredns-version", metavar="V", help="the CoreDNS version (default: the recommended one)"
    )
    image = parser.add_mutually_exclusive_group()
    image.add_argument("--image", metavar="IMAGE", help="the whole CoreDNS image reference")
    image.add_argument("--image-host", metavar="HOST", help="pull CoreDNS from this registry host")
    parser.add_argument(
        "--probe-name",
        action="append",
        default=[],
        metavar="NAME",
        help="a business name to probe, NAME.NAMESPACE (repeatable; default: a few real Services)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="send every change with dryRun=All and skip the waits: nothing changes",
    )
    parser.add_argument(
        "--ready-timeout",
        metavar="DURATION",
        default="5m",
        help="how long a new CoreDNS pod may take to become Ready (default 5m)",
    )
    parser.add_argument(
        "--order",
        choices=("auto", "grow-first", "shrink-first"),
        default="auto",
        help="round order (default auto: grow-first when a node is free for a CoreDNS pod)",
    )
    parser.add_argument(
        "--autoscaler-policy",
        choices=("retarget", "restore", "leave-paused"),
        default="retarget",
        help="what happens to a kube-dns autoscaler at the end (default: retarget it to CoreDNS)",
    )
    parser.add_argument(
        "--drop-federations",
        action="store_true",
        help="switch without kube-dns federations when CoreDNS (1.7.0+) has no federation plugin",
    )


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import signal
    import threading

    from wizard.commands._progress import (
        TextProgress,
        open_gateway,
        open_journal,
        parse_duration,
        require_terminal_or_yes,
        terminal_confirm,
    )
    from wizard.commands.plan import report_json, report_text
    from wizard.options import Mode, SwitchOptions
    from wizard.preflight import run_preflight
    from wizard.switch import Switcher

    observe = parse_duration(args.observe, "--observe")
    ready_timeout = parse_duration(args.ready_timeout, "--ready-timeout")
    require_terminal_or_yes(args.yes, args.dry_run, "coredns-wizard switch")
    mode: Mode = "dry-run" if args.dry_run else "live"
    connection, gateway = open_gateway(args, mode)
    options = SwitchOptions(
        coredns_version=args.coredns_version,
        image=args.image,
        image_host=args.image_host,
        drop_federations=args.drop_federations,
        probe_names=tuple(args.probe_name),
        observe_seconds=observe,
        ready_timeout_seconds=ready_timeout,
        order=args.order,
        autoscaler_policy=args.autoscaler_policy,
        mode=mode,
        assume_yes=args.yes,
        dns_port=connection.lab_dns_port,
    )
    progress = TextProgress()
    with gateway:
        report = run_preflight(gateway, options, progress.say)
        progress.end_line()
        if args.output == "text":
            sys.stdout.write(report_text(report))
            sys.stdout.flush()
        if report.blocked or report.plan is None:
            if args.output == "json":
                _dump(
                    {
                        "completed": False,
                        "reason": "pre-flight blocks the switch",
                        "preflight": report_json(report),
                    }
                )
            else:
                print(
                    "coredns-wizard switch: pre-flight blocks the switch; fix the findings marked ✖ above",
                    file=sys.stderr,
                )
            return 1
        if not options.probe_names:  # probe the business names the plan shows the operator
            options = dataclasses.replace(options, probe_names=report.facts.sample_services)
        journal = open_journal(args, gateway, dry_run=args.dry_run)
        cancel = threading.Event()

        def on_sigint(signum: int, frame: Any) -> None:
            if cancel.is_set():
                raise KeyboardInterrupt
            cancel.set()
            print("\nstopping at the next safe point (Ctrl-C again to interrupt at once)…", file=sys.stderr)

        previous = signal.signal(signal.SIGINT, on_sigint)
        confirm = None if args.yes else terminal_confirm(connection.context)
        try:
            outcome = Switcher(gateway, report.plan, journal, options, progress, confirm, cancel).run()
        except KeyboardInterrupt:
            print(
                "coredns-wizard switch: interrupted; the journal "
                f"{journal.path} records the step in flight. Resume with `coredns-wizard switch`, "
                "or roll back with `coredns-wizard rollback`",
                file=sys.stderr,
            )
            return 130
        finally:
            signal.signal(signal.SIGINT, previous)
    if args.output == "json":
        _dump(
            {
                "completed": outcome.completed,
                "reason": outcome.reason,
                "advice": outcome.advice,
                "steps_run": list(outcome.steps_run),
                "stopped_at": outcome.stopped_at,
                "dry_run": outcome.dry_run,
                "journal": str(journal.path),
                "preflight": report_json(report),
            }
        )
    if outcome.completed:
        return 0
    print(f"coredns-wizard switch: stopped: {outcome.reason}. {outcome.advice}", file=sys.stderr)
    return 1


def _dump(data: dict[str, Any]) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
