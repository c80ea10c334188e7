"""Shared by the switch, rollback, status and cleanup commands: engine events as text on stderr,
terminal confirmation, durations, and opening the gateway and the journal (their shared flags
are in `_options`).

Why here: the four commands must look and ask alike; the engine only emits events. Stdlib only
at module level, so `coredns-wizard --help` stays fast.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import IO, TYPE_CHECKING

from wizard.i18n import t, tr
from wizard.textsafety import escape_control

if TYPE_CHECKING:
    from wizard.k8s.connection import Connection
    from wizard.k8s.gateway import Gateway
    from wizard.migration.journal import Journal
    from wizard.migration.plan import Step
    from wizard.migration.progress import Event
    from wizard.options import Mode

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str, flag: str) -> float:
    """`5m`, `30s`, `2s`, `1h`, or plain seconds; InputError names the flag otherwise."""
    from wizard.errors import InputError

    parts = re.findall(r"\d+(?:\.\d+)?(?:ms|s|m|h)?", text.strip())
    if not text.strip() or "".join(parts) != text.strip():
        raise InputError(
            t("{flag} {text} is not a duration: use e.g. 30s, 5m or 1h", flag=flag, text=repr(text))
        )
    total = 0.0
    for part in parts:
        match = _DURATION.match(part)
        assert match is not None
        total += float(match.group(1)) * _UNITS[match.group(2)]
    return total


def open_gateway(args: argparse.Namespace, mode: Mode = "live") -> tuple[Connection, Gateway]:
    from wizard.k8s.connection import connection_from_args
    from wizard.k8s.gateway import Gateway

    connection = connection_from_args(args)
    return connection, Gateway(connection, mode)


def open_journal(args: argparse.Namespace, gateway: Gateway) -> Journal:
    """The cluster's journal, under --state-dir when given; dry-run entries when the gateway is."""
    from pathlib import Path

    from wizard.migration.journal import journal_for

    state_dir = Path(args.state_dir) if getattr(args, "state_dir", None) else None
    return journal_for(gateway, state_dir)


class TerminalConfirm:
    """A confirm(step, what) callback asking y/N on the terminal. Ctrl-C at the prompt answers
    no at once, with a line saying so (the step was not run); `asking` tells a SIGINT handler
    that a prompt is open, so it interrupts the read instead of waiting for Enter."""

    def __init__(
        self, context: str, stream_in: IO[str] | None = None, stream_out: IO[str] | None = None
    ) -> None:
        self.context = context
        self.stream_in = stream_in
        self.stream_out = stream_out
        self.asking = False
        self.interrupted = False

    def __call__(self, step: Step, what: str) -> bool:
        out = self.stream_out or sys.stderr
        inp = self.stream_in or sys.stdin
        question = t("Proceed in context {context}? [y/N]", context=repr(self.context))
        out.write(f"\n{tr(what)}\n{question} ")
        out.flush()
        self.asking = True
        try:
            answer = inp.readline()
        except KeyboardInterrupt:
            self.interrupted = True
            out.write(
                "\n" + t("Ctrl-C at the prompt: step {step} not run, nothing changed by it.", step=step.id)
            )
            out.write("\n")
            out.flush()
            return False
        finally:
            self.asking = False
        return answer.strip().lower() in ("y", "yes", "是")


def terminal_confirm(
    context: str, stream_in: IO[str] | None = None, stream_out: IO[str] | None = None
) -> TerminalConfirm:
    """A confirm(step, what) callback asking y/N on the terminal."""
    return TerminalConfirm(context, stream_in, stream_out)


def require_terminal_or_yes(yes: bool, dry_run: bool, command: str) -> None:
    """Refuse before anything changes when nobody can answer the questions."""
    from wizard.errors import InputError

    if yes or dry_run:
        return
    if not sys.stdin or not sys.stdin.isatty():
        raise InputError(
            t(
                "{command} asks before each change, but stdin is not a terminal: pass --yes to go ahead "
                "without questions (or --dry-run to only see what would change)",
                command=command,
            )
        )


class TextProgress:
    """Prints events to stderr: one line per step; waits update one line in place on a TTY."""

    def __init__(self, stream: IO[str] | None = None, tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._inline = False
        self._last_plain = -10.0

    def __call__(self, event: Event) -> None:
        from wizard.migration import progress as ev

        if isinstance(event, ev.Waiting):
            self._waiting(event.what, event.elapsed_s, event.timeout_s)
        elif isinstance(event, ev.ObservationTick):
            p50 = "-" if event.p50_ms is None else f"{event.p50_ms:.1f}"
            p95 = "-" if event.p95_ms is None else f"{event.p95_ms:.1f}"
            counts = {"queries": event.queries, "errors": event.errors, "p50": p50, "p95": p95}
            if event.pinned_queries:
                observing = t(
                    "observing DNS: {queries} queries, {errors} errors, p50 {p50} ms, p95 {p95} ms; "
                    "pinned sockets {pinned_errors}/{pinned_queries} failed",
                    pinned_errors=event.pinned_errors, pinned_queries=event.pinned_queries, **counts,
                )
            else:
                observing = t(
                    "observing DNS: {queries} queries, {errors} errors, p50 {p50} ms, p95 {p95} ms", **counts
                )
            self._waiting(observing, event.elapsed, event.total)
        elif isinstance(event, ev.StepStarted):
            self._line(f"→ {tr(event.step.description)}")
        elif isinstance(event, ev.StepFinished):
            mark = {"done": "✓", "already-done": "✓", "skipped": "·", "dry-run": "○"}.get(event.outcome, "✗")
            head = f"  {mark} {event.step.id}: {ev.outcome_label(event.outcome)}"
            self._line(head + (f" — {tr(event.detail)}" if event.detail else ""))
        elif isinstance(event, ev.ProbeBatch):
            for line in event.transports:
                self._line("    " + t("transport {line}", line=tr(line)))
            for line in event.agreement:
                self._line(f"    {tr(line)}")
        elif isinstance(event, ev.Note):
            self._line("  " + t("note: {message}", message=tr(event.message)))
        elif isinstance(event, ev.Problem):
            self._line("  " + t("problem: {message}", message=tr(event.message)))
            for line in event.evidence:
                self._line(f"    {tr(line)}")
        elif isinstance(event, ev.SwitchStopped):
            self._line(t("stopped: {reason}", reason=tr(event.reason)))
            self._line(t("what to do: {advice}", advice=tr(event.advice)))
        elif isinstance(event, ev.SwitchCompleted):
            self._line(tr(event.summary))

    def say(self, text: str) -> None:
        """A short progress message (e.g. from pre-flight): in place on a TTY, a line otherwise."""
        if self.tty:
            self.stream.write("\r\x1b[2K  … " + escape_control(text[:200]))
            self.stream.flush()
            self._inline = True
        else:
            self._line(f"  … {text}")

    def end_line(self) -> None:
        if self._inline:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._inline = False

    def _waiting(self, what: str, elapsed: float, timeout: float) -> None:
        from wizard.durations import human_duration

        spent = human_duration(round(elapsed))
        if timeout:
            text = "  … " + t("{what} ({elapsed} of {timeout})", what=tr(what), elapsed=spent,
                              timeout=human_duration(timeout))
        else:
            text = "  … " + t("{what} ({elapsed})", what=tr(what), elapsed=spent)
        if self.tty:
            self.stream.write("\r\x1b[2K" + escape_control(text[:200]))
            self.stream.flush()
            self._inline = True
        elif elapsed - self._last_plain >= 10.0 or elapsed < self._last_plain or timeout == 0:
            self._last_plain = elapsed
            self._line(text)

    def _line(self, text: str) -> None:
        if self._inline:
            self.stream.write("\r\x1b[2K")
            self._inline = False
        # event text may come from the cluster: no control character reaches the terminal
        self.stream.write(escape_control(text, keep_newlines=True) + "\n")
        self.stream.flush()
