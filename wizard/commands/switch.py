"""`coredns-wizard switch`: pre-flight, the plan, then the switch itself (or its resumption).

Exit 0 when CoreDNS has the original replica count and kube-dns 0; 1 when pre-flight blocks or
the switch stopped (the reason and what to do are printed); 2 on bad input (an unwritable
--report file among it, refused before anything connects). The first Ctrl-C stops cleanly at the
next safe point (the journal makes the switch resumable); a second one interrupts at once.
With --report FILE the run's change record (the same HTML the terminal wizard's Done stage
writes, built by `wizard.migration.change_record`) is written once the run ends, however it ends.
"""

from __future__ import annotations

import argparse
import sys

from wizard.i18n import N_, t, tr, with_message_ids

TYPE_CHECKING = False  # typing itself costs `--help` ~2 ms to import; mypy reads this as typing's
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:
    from wizard.commands._progress import TextProgress
    from wizard.k8s.connection import Connection
    from wizard.k8s.gateway import Gateway
    from wizard.migration.change_record import ObservationRecorder, ObservationSample
    from wizard.migration.ipvs_gate import IpvsGate, IpvsGateTracker
    from wizard.migration.journal import Journal
    from wizard.migration.plan import Plan
    from wizard.migration.preflight.run import PreflightReport
    from wizard.migration.switch import SwitchOutcome
    from wizard.options import SwitchOptions

HELP = N_(
    "Switch kube-dns to CoreDNS one replica at a time, verifying each step (resumes an interrupted switch)."
)
"""Marked, untranslated: the parser translates it with `t()` where it is shown."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from wizard.commands._options import (
        add_change_arguments,
        add_common_arguments,
        add_plan_arguments,
        add_switch_run_arguments,
    )

    add_common_arguments(parser)
    add_change_arguments(parser, t("send every change with dryRun=All and skip the waits: nothing changes"))
    add_plan_arguments(parser)
    add_switch_run_arguments(parser)
    parser.add_argument(
        "--report", metavar="FILE", default=None,
        help=t("write the run's change record to FILE (self-contained HTML: cluster, versions, pre-flight "
               "findings, Corefile diff, every step, DNS charts, rollback and clean-up commands)"),
    )
    ipvs = parser.add_argument_group(
        t("IPVS gate (kube-proxy in IPVS mode on kernels that keep stale flows)")
    )
    ipvs.add_argument(
        "--ipvs-ack", metavar="REASON", default=None,
        help=t("scale kube-dns down even while the IPVS gate is closed (timeout long, not in effect, or its "
               "wait not over); the reason is journaled"),
    )
    ipvs.add_argument(
        "--ipvs-wait", metavar="DURATION", default="5m",
        help=t("the old IPVS UDP timeout to wait out once the short one is in effect, when the wizard did "
               "not read it itself (default 5m: the kernel's 300 s)"),
    )
    ipvs.add_argument(
        "--ipvsadm-set-at", metavar="TIME", default=None,
        help=t("you ran `ipvsadm --set 900 120 5` on every node at TIME (`now` or e.g. 2026-12-03T22:40:00Z) "
               "instead of restarting kube-proxy"),
    )


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from wizard.commands._options import change_mode, plan_options, with_switch_run_options
    from wizard.commands._progress import TextProgress, open_gateway, open_journal, require_terminal_or_yes
    from wizard.migration.change_record import ObservationRecorder
    from wizard.migration.ipvs_gate import IpvsGateTracker

    mode = change_mode(args)
    options = with_switch_run_options(plan_options(args, mode), args)  # bad durations: exit 2 first
    options = _with_ipvs_options(options, args)
    _check_report_path(args.report)
    require_terminal_or_yes(args.yes, args.dry_run, "coredns-wizard switch")
    connection, gateway = open_gateway(args, mode)
    options = replace(options, assume_yes=args.yes, dns_port=connection.lab_dns_port)
    progress = TextProgress()
    recorder = ObservationRecorder(progress)  # keeps the observation ticks for --report

    with gateway:
        report = _preflight(gateway, options, progress, args.output)
        record = _RunRecord(args.report, connection, options, report, recorder)
        if report.blocked or report.plan is None:
            return _stop_blocked(args.output, report, record)
        if not options.probe_names:  # probe the business names the plan shows the operator
            options = replace(options, probe_names=report.facts.sample_services)
            record.options = options
        # primed with what pre-flight read, so the gate knows the timeout before an edit
        ipvs_gate = IpvsGateTracker.from_facts(gateway, report.facts, options)
        refusal = _start_refusal(ipvs_gate, report, options, mode)
        if refusal:
            return _stop_refused(args.output, refusal, report, record)
        journal = open_journal(args, gateway)
        record.journal = journal
        outcome = _switch_until_done_or_interrupted(
            args.yes, connection, gateway, report.plan, journal, options, recorder, ipvs_gate, record
        )
        if outcome is None:
            return 130
        record.write(outcome_title(outcome))
    _print_outcome(args.output, outcome, journal, report)
    return 0 if outcome.completed else 1


class _RunRecord:
    """What --report needs, kept in one place so every way the run ends writes the same record.
    (A plain class: `dataclasses` would cost every `--help` its import.)"""

    def __init__(self, path: str | None, connection: Connection, options: SwitchOptions,
                 report: PreflightReport, recorder: ObservationRecorder,
                 journal: Journal | None = None) -> None:
        self.path = path
        self.connection = connection
        self.options = options
        self.report = report
        self.recorder = recorder
        self.journal = journal

    def write(self, outcome: str) -> None:
        """Write the change record for this outcome when --report asked for one."""
        if self.path:
            _write_report(self.path, self.connection, self.options, self.report, self.journal,
                          self.recorder.samples, outcome)


def _preflight(gateway: Gateway, options: SwitchOptions, progress: TextProgress,
               output: str) -> PreflightReport:
    """Run pre-flight with its progress on stderr, and show its report first when output is text."""
    from wizard.commands.plan import report_text
    from wizard.migration.preflight.run import run_preflight

    report = run_preflight(gateway, options, progress.say)
    progress.end_line()
    if output == "text":
        sys.stdout.write(report_text(report))
        sys.stdout.flush()
    return report


def _stop_blocked(output: str, report: PreflightReport, record: _RunRecord) -> int:
    """Pre-flight blocks: say so (JSON or stderr), record the stop, and exit 1."""
    from wizard.commands.plan import report_json

    if output == "json":
        _dump(
            {
                "completed": False,
                "reason": t("pre-flight blocks the switch"),
                "preflight": report_json(report),
            }
        )
    else:
        print(
            "coredns-wizard switch: " + t("pre-flight blocks the switch; fix the findings marked ✖ above"),
            file=sys.stderr,
        )
    record.write(t("Stopped: pre-flight blocks the switch"))
    return 1


def _start_refusal(ipvs_gate: IpvsGateTracker, report: PreflightReport, options: SwitchOptions,
                   mode: str) -> str:
    """The IPVS gate's refusal to start, checked only while kube-dns still has replicas to scale down."""
    kube_dns = ((report.facts.kube_dns_deployment or {}).get("spec") or {}).get("replicas")
    return _ipvs_refusal(ipvs_gate.check(), options, mode) if kube_dns != 0 else ""


def _stop_refused(output: str, refusal: str, report: PreflightReport, record: _RunRecord) -> int:
    """The IPVS gate refuses the start: say why (JSON too when asked), record the stop, and exit 1."""
    from wizard.commands.plan import report_json

    if output == "json":
        _dump({"completed": False, "reason": refusal, "preflight": report_json(report)})
    print(f"coredns-wizard switch: {refusal}", file=sys.stderr)
    record.write(t("Stopped: {reason}", reason=refusal))
    return 1


def _switch_until_done_or_interrupted(
    yes: bool, connection: Connection, gateway: Gateway, plan: Plan, journal: Journal,
    options: SwitchOptions, recorder: ObservationRecorder, ipvs_gate: IpvsGateTracker, record: _RunRecord,
) -> SwitchOutcome | None:
    """Run the switch with the two-stage Ctrl-C handler in place; None when it was interrupted
    (already said on stderr and recorded), so the caller exits 130."""
    import signal
    import threading

    from wizard.commands._progress import terminal_confirm
    from wizard.migration.switch import Switcher

    cancel = threading.Event()

    confirm = None if yes else terminal_confirm(connection.context)

    def on_sigint(signum: int, frame: Any) -> None:
        if cancel.is_set() or (confirm is not None and confirm.asking):
            raise KeyboardInterrupt  # at the y/N prompt: answer no now, not after Enter
        cancel.set()
        print(
            "\n" + t("stopping at the next safe point (Ctrl-C again to interrupt at once)…"), file=sys.stderr
        )

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        switcher = Switcher(gateway, plan, journal, options, recorder, confirm, cancel)
        switcher.ipvs_gate = ipvs_gate
        return switcher.run()
    except KeyboardInterrupt:
        print(
            "coredns-wizard switch: "
            + t(
                "interrupted; the journal {journal} records the step in flight. Resume with "
                "`coredns-wizard switch`, or roll back with `coredns-wizard rollback`",
                journal=journal.path,
            ),
            file=sys.stderr,
        )
        record.write(t("Stopped: interrupted (Ctrl-C); the journal records the step in flight"))
        return None
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_outcome(output: str, outcome: SwitchOutcome, journal: Journal, report: PreflightReport) -> None:
    """The run's outcome on stdout, as JSON or as the text outcome lines."""
    from wizard.commands.plan import report_json

    if output == "json":
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


def outcome_text(outcome: Any, journal: str) -> str:
    """The final outcome of `switch` for stdout: what happened, and what to do when it stopped."""
    journal_line = t("journal: {journal}", journal=journal)
    if outcome.completed:
        if outcome.dry_run:
            head = t("dry run complete: nothing was changed: {reason}", reason=tr(outcome.reason))
        else:
            head = t("switch complete: {reason}", reason=tr(outcome.reason))
        return f"coredns-wizard switch: {head}\n{journal_line}"
    stopped = t("stopped: {reason}", reason=tr(outcome.reason))
    advice = t("what to do: {advice}", advice=tr(outcome.advice))
    return f"coredns-wizard switch: {stopped}\n{advice}\n{journal_line}"


def outcome_title(outcome: Any) -> str:
    """The record's outcome, worded as the terminal wizard's Done stage titles it."""
    if outcome.completed:
        return t("Dry run complete: nothing was changed") if outcome.dry_run else t("Switch complete")
    return t("Stopped: {reason}", reason=tr(outcome.reason))


def _check_report_path(path: str | None) -> None:
    """An unwritable --report file is bad input, named before anything connects or changes."""
    from wizard.errors import InputError
    from wizard.migration.change_record import record_path_problem

    problem = record_path_problem(path) if path else None
    if problem is not None:
        raise InputError(t("--report {path}: {problem}", path=path, problem=tr(problem)))


def _write_report(path: str, connection: Connection, options: SwitchOptions, report: PreflightReport,
                  journal: Journal | None, observations: list[ObservationSample], outcome: str) -> None:
    """Write the change record; a failure is said on stderr and does not change the exit code
    (the cluster is as the outcome says; the journal keeps every step)."""
    from pathlib import Path

    from wizard.errors import WizardError
    from wizard.migration.change_record import record_of_run, write_change_record

    try:
        record = record_of_run(
            report=report, plan=report.plan, journal=journal, observations=observations, outcome=outcome,
            context=connection.context, server=connection.server, namespace=options.namespace,
            coredns_version=options.coredns_version or "", k8s_version=report.facts.k8s_version,
        )
        write_change_record(record, Path(path).expanduser())
    except (WizardError, OSError) as err:
        detail = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        print(
            "coredns-wizard switch: "
            + t("could not write the change record {path}: {detail}", path=path, detail=tr(detail)),
            file=sys.stderr,
        )
        return
    print(t("change record: {path}", path=Path(path).expanduser().resolve()), file=sys.stderr)


def _ipvs_refusal(gate: IpvsGate, options: SwitchOptions, mode: str) -> str:
    """Why the switch must not even start (kube-dns still has replicas to scale down): the IPVS
    gate is closed and will not open by waiting (timeout long, or not in effect), and the operator
    gave no --ipvs-ack. The engine checks again before every kube-dns scale-down (a wait that is
    still running is left to that)."""
    if gate.status == "waiting":
        print(t("IPVS gate: {summary}; the switch checks again before each kube-dns scale-down",
                summary=tr(gate.summary)), file=sys.stderr)
    if gate.status not in ("timeout-long", "not-in-effect") or options.ipvs_ack is not None:
        return ""
    if mode == "dry-run":
        print(
            t("IPVS gate closed: {summary} (a live switch would refuse to start)", summary=tr(gate.summary)),
            file=sys.stderr,
        )
        return ""
    action = tr(gate.action)
    return t(
        "refusing to start: IPVS gate closed: {summary}. {action}; then run `coredns-wizard switch` again. "
        "To go on anyway, pass --ipvs-ack \"REASON\" (journaled). Nothing was changed",
        summary=tr(gate.summary), action=action[:1].upper() + action[1:],
    )


def _with_ipvs_options(options: SwitchOptions, args: argparse.Namespace) -> SwitchOptions:
    from dataclasses import replace

    """The IPVS gate's flags; InputError (exit 2) names a bad value before anything connects."""

    from wizard.commands._progress import parse_duration
    from wizard.errors import InputError
    from wizard.migration.ipvs_gate import check_reason, parse_ipvsadm_set_at

    wait = parse_duration(args.ipvs_wait, "--ipvs-wait")
    if wait < 0:
        raise InputError(t("--ipvs-wait {value}: must not be negative", value=repr(args.ipvs_wait)))
    return replace(
        options,
        ipvs_wait_seconds=wait,
        ipvs_ack=None if args.ipvs_ack is None else check_reason(args.ipvs_ack),
        ipvsadm_set_at=None if args.ipvsadm_set_at is None else parse_ipvsadm_set_at(args.ipvsadm_set_at),
    )


def _dump(data: dict[str, Any]) -> None:
    import json

    json.dump(with_message_ids(data), sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
