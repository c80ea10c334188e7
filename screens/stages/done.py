"""Stage 6: how the switch ended, what the cluster looks like now, and when clean-up may start.

Why it reads the status again: the title and numbers must be what the cluster says now
(wizard.migration.status, the same answer `coredns-wizard status` prints), not what the screen remembers;
the switch screen only adds what the cluster cannot know (durations, probe counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from screens.stages.base import StageScreen
from wizard.i18n import N_, t, tr
from wizard.migration.change_record import local_and_utc

if TYPE_CHECKING:
    from screens.context import WizardContext
    from screens.stages.switch import SwitchResult
    from wizard.migration.status import SwitchStatus

CLEANUP_COMMAND = "coredns-wizard cleanup"


def default_record_path(context_name: str) -> str:
    """coredns-wizard-change-CONTEXT-YYYYmmddTHHMMSS.html in the working directory."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in context_name) or "cluster"
    return f"coredns-wizard-change-{safe}-{datetime.now().astimezone():%Y%m%dT%H%M%S}.html"


def write_change_record(context: WizardContext, outcome: str, path: Path, k8s_version: str = "?") -> None:
    """Build the record from the engine's data (the journal read now) and write the HTML."""
    from wizard.migration.change_record import record_of_run
    from wizard.migration.change_record import write_change_record as write_record

    record = record_of_run(
        report=context.report, plan=context.plan, journal=context.journal,
        observations=context.observations, outcome=outcome, context=context.connection.context,
        server=context.connection.server, namespace=context.options.namespace,
        coredns_version=context.options.coredns_version or "", k8s_version=k8s_version,
    )
    write_record(record, path)


def done_kind(result: SwitchResult | None, status: SwitchStatus | None) -> str:
    """How the switch ended: completed, rolled-back, dry-run or stopped (the cluster's phase first,
    the switch screen's outcome second); the title and its colour follow from it."""
    phase = status.phase if status is not None else None
    if phase == "completed":
        return "completed"
    if phase == "rolled-back" or (result is not None and result.kind == "rolled-back"):
        return "rolled-back"
    if result is not None and result.kind in ("dry-run", "completed"):
        return result.kind
    return "stopped"


def done_title(result: SwitchResult | None, status: SwitchStatus | None) -> str:
    """The screen's title: the cluster's phase first, the switch screen's outcome second."""
    kind = done_kind(result, status)
    if kind == "completed":
        return t("Switch complete")
    if kind == "rolled-back":
        return t("Rolled back")
    if kind == "dry-run":
        return t("Dry run complete: nothing was changed")
    phase = status.phase if status is not None else None
    reason = (tr(result.summary) if result is not None and result.summary
              else t("phase {phase}", phase=phase or t("unknown")))
    return t("Stopped: {reason}", reason=reason)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return t("{hours} h {minutes:02d} m", hours=hours, minutes=minutes)
    if minutes:
        return t("{minutes} m {seconds:02d} s", minutes=minutes, seconds=secs)
    return t("{seconds} s", seconds=secs)


def cleanup_text(status: SwitchStatus | None, elapsed_since_read_s: float) -> Text:
    """The 72-hour countdown from the last kube-dns scale-down and the exact command."""
    text = Text()
    if status is None:
        return Text(t("clean-up: status not read yet"), style="dim")
    if status.cleanup_allowed_at is None:
        text.append(t("Clean-up is not due: "), style="bold")
        text.append(t("kube-dns still has replicas or was never scaled down; nothing to delete."))
        return text
    now = status.now + timedelta(seconds=elapsed_since_read_s)
    left = (status.cleanup_allowed_at - now).total_seconds()
    if left <= 0:
        text.append(t("Clean-up is allowed now: "), style="bold green")
    else:
        text.append(t("Clean-up allowed in "), style="bold")
        text.append(format_duration(left), style="bold yellow")
        text.append(t(" (from {at}, 72 h after the last kube-dns scale-down).",
                      at=local_and_utc(status.cleanup_allowed_at)) + "\n" + t("Then run: "))
    text.append(CLEANUP_COMMAND, style="bold cyan")
    text.append("\n" + t("It backs up and deletes the kube-dns Deployment, ConfigMap and ServiceAccount; "
                         "the kube-dns Service stays (CoreDNS serves behind it)."), style="dim")
    return text


def summary_rows(context: WizardContext, result: SwitchResult | None,
                 status: SwitchStatus | None) -> list[tuple[str, Text]]:
    """(label, value) rows of the summary, in display order."""
    rows: list[tuple[str, Text]] = []
    if status is not None:
        for label, dep in (("CoreDNS", status.coredns), ("kube-dns", status.kube_dns)):
            if dep is None:
                rows.append((label, Text(t("absent"), style="dim")))
            else:
                where = f"{context.options.namespace}/{dep.name}"
                rows.append((label, Text(t("{ready}/{replicas} ready (Deployment {where})",
                                           ready=dep.ready, replicas=dep.replicas, where=where))))
        ep = status.endpoints
        rows.append((t("Endpoints"), Text(t("CoreDNS {coredns}, kube-dns {kube_dns}, not ready {not_ready}",
                                            coredns=len(ep.coredns_ready), kube_dns=len(ep.kube_dns_ready),
                                            not_ready=len(ep.not_ready)))))
    if result is not None:
        if result.duration_s is not None:
            rows.append((t("Duration"), Text(format_duration(result.duration_s))))
        rows.append((t("Probes"), Text(t(
            "{probes} answer(s) checked, {failures} wrong; observation {queries} queries, {errors} errors",
            probes=result.probes, failures=result.probe_failures, queries=result.observed_queries,
            errors=result.observed_errors))))
        if result.pinned_queries:
            # clients that keep their socket see what fresh sockets cannot (stale IPVS flows)
            pinned = Text(t("{queries} queries through long-lived sockets, {errors} failed",
                            queries=result.pinned_queries, errors=result.pinned_errors),
                          style="bold red" if result.pinned_errors else "")
            if result.pinned_errors:
                pinned.append(t(": clients that keep their socket lost answers after kube-dns "
                                "scale-downs (stale IPVS flows until the UDP timeout)"), style="red")
            rows.append((t("Pinned"), pinned))
        if result.summary:
            rows.append((t("Engine"), Text(tr(result.summary))))
        if result.advice:
            rows.append((t("Next"), Text(tr(result.advice), style="yellow")))
    journal = context.journal
    kept = str(journal.path) if journal is not None else t("none (this run kept no journal)")
    rows.append((t("Journal"), Text(kept)))
    rows.extend((t("Note"), Text(tr(note))) for note in context.notes)
    return rows


def summary_table(context: WizardContext, result: SwitchResult | None, status: SwitchStatus | None) -> Table:
    """The summary as label and value columns: a long value wraps under itself (hanging indent)."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(ratio=1, overflow="fold")
    for label, value in summary_rows(context, result, status):
        table.add_row(label, value)
    return table


class DoneScreen(StageScreen):
    """The last stage: title, summary and the clean-up countdown. `q` (the App's) quits."""

    STAGE_ID = "done"
    STAGE_TITLE = N_("6 Done")
    PURPOSE = N_(
        "says how the switch ended and what the cluster looks like now (read again from the "
        "cluster), and when the kube-dns objects may be cleaned up (72 h after the last scale-down)."
    )
    DEFAULT_CSS = """
    DoneScreen #done-title { height: 2; padding: 1 2 0 2; text-style: bold; }
    DoneScreen #done-body { height: 1fr; padding: 0 2; }
    DoneScreen #done-summary, DoneScreen #done-cleanup { margin: 1 0 0 0; }
    """

    @dataclass
    class StatusRead(Message):
        """The cluster's status, read for this screen (or why it could not be)."""

        status: SwitchStatus | None
        error: str = ""

    def __init__(
        self,
        context: WizardContext,
        result: SwitchResult | None = None,
        *,
        status: SwitchStatus | None = None,
    ) -> None:
        """`result`: how the switch screen ended (None: found on the screen stack, if any);
        `status`: a status already read (tests pass a fixed one); None reads it on mount."""
        super().__init__(context)
        self.result = result
        self.status = status
        self._read_at = context.clock()

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "write_record", id="done.record", description=N_("Write change record")),
    ]

    def leaves_cluster_mixed(self) -> bool:
        """The switch ended (completed, rolled back, or a dry run): quitting needs no question."""
        return False

    @property
    def title_text(self) -> str:
        return done_title(self.result, self.status)

    def compose_body(self) -> ComposeResult:
        yield Static(id="done-title")
        with VerticalScroll(id="done-body"):
            yield Static(id="done-summary")
            yield Static(id="done-cleanup")

    def on_mount(self) -> None:
        if not self.live:
            return  # pushed while the app exits: never composed, nothing to show
        if self.result is None:
            self.result = self._result_from_switch_screen()
        self.set_status(Text(t("w writes the HTML change record · q quits (the journal keeps the record)"),
                             style="dim"))
        self.redraw()
        if self.context.report_path:
            self.action_write_record()
        self.set_interval(1.0, self.redraw_countdown)
        if self.status is None:
            self.read_status()

    @work(thread=True, exclusive=True, exit_on_error=False, group="done-status",
          description=N_("read the switch status"))
    def read_status(self) -> None:
        from wizard.errors import WizardError
        from wizard.migration.status import read_status

        try:
            status = read_status(self.context.gateway, self.context.journal, self.context.options)
            self.post_message(self.StatusRead(status))
        except WizardError as err:
            self.post_message(self.StatusRead(None, str(err)))

    def on_done_screen_status_read(self, message: StatusRead) -> None:
        if not self.live:
            return  # read after the screen (or the app) went away
        self.status = message.status
        self._read_at = self.context.clock()
        self.redraw()
        if message.error:
            self.query_one("#done-cleanup", Static).update(
                Text(t("could not read the cluster's status: {error}; run `coredns-wizard status`",
                       error=tr(message.error)), style="red"))

    def action_write_record(self) -> None:
        path = Path(self.context.report_path or default_record_path(self.context.connection.context))
        self.set_status(Text("… " + t("writing the change record to {path}", path=str(path)), style="dim"))
        self.write_record(path, self.title_text, self.wizard.k8s_version)

    @work(thread=True, exclusive=True, exit_on_error=False, group="done-record",
          description=N_("write the change record"))
    def write_record(self, path: Path, outcome: str, k8s_version: str) -> None:
        from wizard.errors import WizardError

        try:
            write_change_record(self.context, outcome, path, k8s_version)
        except (WizardError, OSError) as err:
            detail = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            self.app.call_from_thread(self.set_status, Text(
                t("could not write the change record {path}: {error}; pass --report with a writable file",
                  path=str(path), error=detail),
                style="bold red"))
            return
        self.app.call_from_thread(self.set_status, Text.assemble(
            ("✔ " + t("change record written: "), "bold green"), (str(path.resolve()), "bold"),
            ("  " + t("(open it in a browser; q quits)"), "dim")))

    def _result_from_switch_screen(self) -> SwitchResult | None:
        from screens.stages.switch import SwitchScreen

        for screen in reversed(self.app.screen_stack):
            if isinstance(screen, SwitchScreen) and screen.result is not None:
                return screen.result
        return None

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and self.live:
            self.query_one("#done-cleanup", Static).update(
                Text(t("could not read the cluster's status: {error}", error=event.worker.error),
                     style="red"))

    def redraw_after_relocalize(self) -> None:
        self.set_status(Text(t("w writes the HTML change record · q quits (the journal keeps the record)"),
                             style="dim"))
        self.redraw()

    def redraw(self) -> None:
        if not self.live:
            return
        title = self.title_text
        kind = done_kind(self.result, self.status)
        style = "bold green" if kind == "completed" else (
            "bold yellow" if kind in ("rolled-back", "dry-run") else "bold red")
        self.query_one("#done-title", Static).update(Text(title, style=style))
        self.query_one("#done-summary", Static).update(summary_table(self.context, self.result, self.status))
        self.redraw_countdown()

    def redraw_countdown(self) -> None:
        if not self.live:
            return
        elapsed = self.context.clock() - self._read_at
        self.query_one("#done-cleanup", Static).update(cleanup_text(self.status, elapsed))
