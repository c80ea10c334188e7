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
        raise InputError(f"{flag} {text!r} is not a duration: use e.g. 30s, 5m or 1h")
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
        out.write(f"\n{what}\nProceed in context {self.context!r}? [y/N] ")
        out.flush()
        self.asking = True
        try:
            answer = inp.readline()
        except KeyboardInterrupt:
            self.interrupted = True
            out.write(f"\nCtrl-C at the prompt: step {step.id} not run, nothing changed by it.\n")
            out.flush()
            return False
        finally:
            self.asking = False
        return answer.strip().lower() in ("y", "yes")


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
            f"{command} asks before each change, but stdin is not a terminal: pass --yes to go ahead "
            "without questions (or --dry-run to only see what would change)"
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
            pinned = (
                f"; pinned sockets {event.pinned_errors}/{event.pinned_queries} failed"
                if event.pinned_queries
                else ""
            )
            self._waiting(
                f"observing DNS: {event.queries} queries, {event.errors} errors, p50 {p50} ms, p95 {p95} ms"
                + pinned,
                event.elapsed,
                event.total,
            )
        elif isinstance(event, ev.StepStarted):
            self._line(f"→ {event.step.description}")
        elif isinstance(event, ev.StepFinished):
            mark = {"done": "✓", "already-done": "✓", "skipped": "·", "dry-run": "○"}.get(event.outcome, "✗")
            self._line(
                f"  {mark} {event.step.id}: {event.outcome}" + (f" — {event.detail}" if event.detail else "")
            )
        elif isinstance(event, ev.ProbeBatch):
            for line in event.transports:
                self._line(f"    transport {line}")
            for line in event.agreement:
                self._line(f"    {line}")
        elif isinstance(event, ev.Note):
            self._line(f"  note: {event.message}")
        elif isinstance(event, ev.Problem):
            self._line(f"  problem: {event.message}")
            for line in event.evidence:
                self._line(f"    {line}")
        elif isinstance(event, ev.SwitchStopped):
            self._line(f"stopped: {event.reason}")
            self._line(f"what to do: {event.advice}")
        elif isinstance(event, ev.SwitchCompleted):
            self._line(event.summary)

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

        limit = f" of {human_duration(timeout)}" if timeout else ""
        text = f"  … {what} ({human_duration(round(elapsed))}{limit})"
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
