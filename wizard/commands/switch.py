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
    from wizard.commands._options import (
        add_change_arguments,
        add_common_arguments,
        add_plan_arguments,
        add_switch_run_arguments,
    )

    add_common_arguments(parser)
    add_change_arguments(parser, "send every change with dryRun=All and skip the waits: nothing changes")
    add_plan_arguments(parser)
    add_switch_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import signal
    import threading

    from wizard.commands._options import change_mode, plan_options, with_switch_run_options
    from wizard.commands._progress import (
        TextProgress,
        open_gateway,
        open_journal,
        require_terminal_or_yes,
        terminal_confirm,
    )
    from wizard.commands.plan import report_json, report_text
    from wizard.migration.preflight.run import run_preflight
    from wizard.migration.switch import Switcher

    mode = change_mode(args)
    options = with_switch_run_options(plan_options(args, mode), args)  # bad durations: exit 2 first
    require_terminal_or_yes(args.yes, args.dry_run, "coredns-wizard switch")
    connection, gateway = open_gateway(args, mode)
    options = dataclasses.replace(options, assume_yes=args.yes, dns_port=connection.lab_dns_port)
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
        journal = open_journal(args, gateway)
        cancel = threading.Event()

        confirm = None if args.yes else terminal_confirm(connection.context)

        def on_sigint(signum: int, frame: Any) -> None:
            if cancel.is_set() or (confirm is not None and confirm.asking):
                raise KeyboardInterrupt  # at the y/N prompt: answer no now, not after Enter
            cancel.set()
            print("\nstopping at the next safe point (Ctrl-C again to interrupt at once)…", file=sys.stderr)

        previous = signal.signal(signal.SIGINT, on_sigint)
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
    else:  # the outcome on stdout too (progress, stopped lines included, went to stderr)
        print(outcome_text(outcome, str(journal.path)), flush=True)
    return 0 if outcome.completed else 1


def outcome_text(outcome: Any, journal: str) -> str:
    """The final outcome of `switch` for stdout: what happened, and what to do when it stopped."""
    if outcome.completed:
        head = "dry run complete: nothing was changed" if outcome.dry_run else "switch complete"
        return f"coredns-wizard switch: {head}: {outcome.reason}\njournal: {journal}"
    return (f"coredns-wizard switch: stopped: {outcome.reason}\nwhat to do: {outcome.advice}\n"
            f"journal: {journal}")


def _dump(data: dict[str, Any]) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
