"""The wizard's App: global keys, stage navigation, the connection light, safe quit and rollback.

Why the App owns these: they must behave the same on every stage. Stage screens own their own
keys (pause, logs, apply); the App asks the current stage whether `n` may go on, so a blocking
finding or an unchecked Corefile can never be skipped from the keyboard.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from screens.localize import localize_bindings
from screens.messages import (
    ConnectionChanged,
    EngineEvent,
    LinkState,
    RollbackFinished,
    RollbackPreviewRead,
    ServerVersionRead,
)
from screens.resume import offer_resume
from screens.stages.base import StageScreen
from screens.widgets.header import WizardHeader
from wizard.i18n import N_, current_language, set_language, t, tr

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from textual.notifications import SeverityLevel

    from screens.context import WizardContext
    from screens.widgets.quit import QuitChoice
    from wizard.k8s.gateway import RequestEvent
    from wizard.migration.progress import Event

log = logging.getLogger("coredns_wizard.tui")


@dataclass(frozen=True)
class StageInfo:
    """One stage. Its screen classes come from loader functions that import them (statically, but
    when first asked): the stages pull in most of the engine (~0.15 s of imports on top of the
    App's), which is loaded after the first frame, not before it."""

    id: str
    title: str
    """English, marked with N_: shown through t()."""
    load: Callable[[], type[StageScreen]]
    """Returns the stage's screen class."""
    load_live: Callable[[], type[StageScreen]] | None = None
    """Returns the class used instead outside read-only mode (it binds the keys that change things)."""

    @property
    def screen(self) -> type[StageScreen]:
        return self.load()

    @property
    def live_screen(self) -> type[StageScreen] | None:
        return self.load_live() if self.load_live is not None else None


def _preconditions() -> type[StageScreen]:
    from screens.stages.preconditions import PreconditionsScreen

    return PreconditionsScreen


def _ipvs() -> type[StageScreen]:
    from screens.stages.ipvs import IpvsScreen

    return IpvsScreen


def _migration() -> type[StageScreen]:
    from screens.stages.migration import MigrationScreen

    return MigrationScreen


def _deploy() -> type[StageScreen]:
    from screens.stages.deploy import DeployScreen

    return DeployScreen


def _apply_deploy() -> type[StageScreen]:
    from screens.stages.deploy import ApplyDeployScreen

    return ApplyDeployScreen


def _switch() -> type[StageScreen]:
    from screens.stages.switch import SwitchScreen

    return SwitchScreen


def _done() -> type[StageScreen]:
    from screens.stages.done import DoneScreen

    return DoneScreen


STAGES: tuple[StageInfo, ...] = (
    StageInfo("preconditions", N_("Preconditions"), _preconditions),
    StageInfo("ipvs", N_("IPVS advice"), _ipvs),
    StageInfo("migration", N_("Config migration"), _migration),
    StageInfo("deploy", N_("Deploy"), _deploy, _apply_deploy),
    StageInfo("switch", N_("Switch"), _switch),
    StageInfo("done", N_("Done"), _done),
)
STAGE_IDS = tuple(s.id for s in STAGES)
BACK_ALLOWED_FROM = ("ipvs", "migration", "deploy")
"""Stages after which nothing in the cluster changed yet, so going back is safe."""


def link_state_of(event: RequestEvent) -> tuple[LinkState, str]:
    """The connection light for one request attempt."""
    if event.will_retry:
        return "retrying", event.error or f"HTTP {event.status}"
    if event.status is None:
        return "unreachable", event.error or t("no response")
    if event.status >= 500:
        return "unreachable", f"HTTP {event.status}"
    return "ok", ""


class WizardApp(App[int]):
    """The wizard, read-only flavour: no key that changes the cluster is bound.
    `LiveWizardApp` adds them; `build_app` picks by mode."""

    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    """Ctrl+P: the palette offers only the wizard's own safe commands (see get_system_commands)."""
    TITLE = "coredns-wizard"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", N_("Help"), id="app.help"),
        Binding("n", "advance", N_("Next"), id="app.advance"),
        Binding("b", "go_back", N_("Back"), id="app.back"),
        Binding("q", "quit_safely", N_("Quit"), id="app.quit"),
        Binding("ctrl+q", "quit_safely", N_("Quit"), id="app.quit-ctrl", show=False, priority=True),
        Binding("ctrl+c", "quit_safely", N_("Quit"), id="app.quit-interrupt", show=False, priority=True),
        # in both languages on purpose: whoever cannot read the one shown finds the other
        Binding("f2", "switch_language", "English/中文", id="app.language", show=False),
    ]

    def __init__(
        self, context: WizardContext, *, start_stage: str = "preconditions", offer_resume: bool = True
    ) -> None:
        super().__init__()
        if start_stage not in STAGE_IDS:
            raise ValueError(f"unknown stage {start_stage!r}; stages: {', '.join(STAGE_IDS)}")
        self.context = context
        self.start_stage = start_stage
        self.offer_resume = offer_resume and start_stage == STAGE_IDS[0]
        self.stage_stack: list[int] = []
        self.link: LinkState = "unknown"
        self.link_detail = ""
        self.k8s_version = "?"
        self.change_in_flight: str | None = None
        self.quit_pending = False
        self.deployed = False
        """Set once the CoreDNS objects were applied (here, or found by the resume offer)."""
        self.exit_code = 0
        self.quit_summary = ""
        """Printed on the terminal after the wizard exits (quitting mid-switch: the mixed state)."""
        self._name_the_palette_key()
        localize_bindings(self)

    def _name_the_palette_key(self) -> None:
        """Textual's ctrl+p binding gets an id (for the keymap and the help) and says what the
        wizard's palette holds."""
        import dataclasses

        table = self._bindings.key_to_bindings
        for key, bindings in table.items():
            table[key] = [
                dataclasses.replace(b, id="app.palette", description=N_("Palette: language, help"))
                if b.action == "command_palette" else b
                for b in bindings
            ]

    def push_screen(  # type: ignore[override]
        self, screen: Any, callback: Any = None, wait_for_dismiss: bool = False
    ) -> Any:
        """Every screen's key descriptions in the operator's language (see screens.localize)."""
        if isinstance(screen, Screen):
            localize_bindings(screen)
        return super().push_screen(screen, callback, wait_for_dismiss)  # type: ignore[call-overload]

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications often carry text from the cluster (API errors): plain text by default."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # ---- start ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        """The screen under the stages, seen only while looking for a switch in progress."""
        yield self.make_header(N_("start"))
        yield Static(Text(t("Looking for a switch already in progress on this cluster…"), style="dim"),
                     id="start-message")

    def on_mount(self) -> None:
        self._hook_gateway()
        if not self.offer_resume:
            self._read_server_version()
            self._enter(STAGE_IDS.index(self.start_stage))
            return
        # the first frame first: reading the cluster and loading the stages start once it is painted
        self.call_after_refresh(self._after_first_frame)

    def _after_first_frame(self) -> None:
        self._read_server_version()
        self._load_stage_screens()
        offer_resume(self, self.context, self._resume_chosen)

    @work(thread=True, exit_on_error=False, group="load-stages", description=N_("load the stages"))
    def _load_stage_screens(self) -> None:
        """Import the stage screens while the resume check reads the cluster, so the first stage
        opens without waiting for them."""
        for stage in STAGES:
            _ = stage.live_screen, stage.screen

    def _resume_chosen(self, choice: str | None) -> None:
        """A switch in progress: resume or roll back on the Switch stage; nothing: start fresh."""
        if choice == "quit":
            self.exit(self.exit_code)
            return
        if choice not in ("resume", "rollback"):
            self._enter(STAGE_IDS.index(self.start_stage))
            return
        self.deployed = True
        if not self._enter(STAGE_IDS.index("switch")):
            return
        if choice == "rollback":
            self.call_after_refresh(self._rollback_on_stage)

    def _rollback_on_stage(self) -> None:
        stage = self._stage_screen()
        if stage is not None and stage.handles_rollback():
            stage.start_rollback()
        else:
            self.request_rollback()

    def _hook_gateway(self) -> None:
        gateway = self.context.gateway
        previous = gateway.on_request
        last: list[tuple[LinkState, str]] = []

        def hook(event: RequestEvent) -> None:  # runs on worker threads
            if previous is not None:
                previous(event)
            state = link_state_of(event)
            if not last or last[-1] != state:
                last[:] = [state]
                self.post_message(ConnectionChanged(*state))

        gateway.on_request = hook

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="server-version",
        description=N_("read the server version"),
    )
    def _read_server_version(self) -> None:
        version = self.context.gateway.server_version()
        self.post_message(ServerVersionRead(str(version.get("gitVersion") or "?")))

    # ---- header -----------------------------------------------------------------------------
    def make_header(self, stage_title: str) -> WizardHeader:
        """A header prefilled with what the App knows; every stage screen yields one."""
        c = self.context.connection
        header = WizardHeader(c.context, c.cluster, c.server, self.context.options.mode, stage_title)
        header.k8s_version = self.k8s_version
        header.link, header.link_detail = self.link, self.link_detail
        return header

    def _headers(self) -> list[WizardHeader]:
        return [h for screen in self.screen_stack for h in screen.query(WizardHeader)]

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        self.link, self.link_detail = message.state, message.detail
        log.info("connection %s %s", message.state, message.detail)
        for header in self._headers():
            header.set_link(message.state, message.detail)

    def on_server_version_read(self, message: ServerVersionRead) -> None:
        self.k8s_version = message.version
        for header in self._headers():
            header.set_version(message.version)

    # ---- stages -----------------------------------------------------------------------------
    @property
    def stage_id(self) -> str | None:
        return STAGE_IDS[self.stage_stack[-1]] if self.stage_stack else None

    def _stage_screen(self) -> StageScreen | None:
        """The current stage's screen (not a modal above it)."""
        stages = [screen for screen in self.screen_stack if isinstance(screen, StageScreen)]
        return stages[-1] if stages else None

    def _open_stage(self) -> StageScreen | None:
        """The current stage once its widgets exist: a stage pushed by `n` is composed on the
        loop's next turn, and a key pressed before then must not ask it anything."""
        screen = self._stage_screen()
        return screen if screen is not None and screen.is_mounted else None

    def _enter(self, index: int) -> bool:
        """Open a stage; not while the app exits (a screen pushed then is never composed)."""
        if self.return_code is not None:
            return False
        stage = STAGES[index]
        screen_class = stage.live_screen if stage.live_screen and not self.context.read_only else stage.screen
        self.stage_stack.append(index)
        self.push_screen(screen_class(self.context))
        log.info("stage %s", stage.id)
        return True

    def advance_blocked(self) -> str | None:
        screen = self._stage_screen()
        if screen is None:
            return t("no stage is open")
        if not screen.is_mounted:
            return t("the stage is still opening")
        if self.stage_stack and self.stage_stack[-1] == len(STAGES) - 1:
            return t("this is the last stage")
        return screen.advance_blocked()

    def advance(self) -> None:
        """Go to the next stage if the current one allows it (else say why)."""
        screen = self._open_stage()
        # A stage whose next step is a change (Deploy: apply) lets `n` start it behind its
        # confirmation, so the whole wizard can be driven with `n` and `y` alone.
        if screen is not None and screen.change_ready_on_advance():
            screen.start_change_on_advance()
            return
        reason = self.advance_blocked()
        if reason or screen is None:
            self.notify(reason or t("no stage is open"), title=t("Cannot go on yet"), severity="warning")
            return
        screen.commit()
        index = self.stage_stack[-1] + 1
        if STAGE_IDS[index] == "ipvs" and not self.ipvs_wait_needed():
            note = t("IPVS advice skipped: no IPVS UDP-timeout risk per the pre-flight kube-proxy finding")
            self.context.notes.append(note)
            self.notify(note, title="IPVS")
            index += 1
        self._enter(index)

    def ipvs_wait_needed(self) -> bool:
        report = self.context.report
        from screens.stages.ipvs import ipvs_risk

        return report is not None and ipvs_risk(report)

    def go_back(self) -> None:
        if not self._back_allowed():
            self.notify(t("Going back is not possible here: the cluster has changed since."),
                        severity="warning")
            return
        self.stage_stack.pop()
        self.pop_screen()

    def _back_allowed(self) -> bool:
        if not self.stage_stack or self.stage_id not in BACK_ALLOWED_FROM:
            return False
        if self.deployed or self.change_in_flight:
            return False
        screen = self._open_stage()
        return screen is not None and screen.can_go_back()

    # ---- changes in flight, quitting ---------------------------------------------------------
    def begin_change(self, what: str) -> None:
        """A stage is about to change the cluster; quitting waits for it."""
        self.change_in_flight = what
        log.info("change in flight: %s", what)

    def end_change(self) -> None:
        self.change_in_flight = None
        if self.quit_pending:
            self.exit(self.exit_code)

    def action_quit_safely(self) -> None:
        """`q`, ctrl+q, ctrl+c. Before anything was deployed (or in read-only mode) the wizard
        quits at once; afterwards the cluster may run half on CoreDNS, so a dialog shows how it
        stands and offers stay / quit (resumable) / roll back."""
        from screens.widgets.quit import QuitScreen

        if isinstance(self.screen, QuitScreen):
            return
        stage = self._stage_screen()
        mixed = stage.leaves_cluster_mixed() if stage is not None else self.deployed
        if not mixed or self.context.read_only:
            self._quit_after_change()
            return
        self.push_screen(QuitScreen(self.context, self.change_in_flight), self._quit_chosen)

    def _quit_chosen(self, choice: QuitChoice | None) -> None:
        if choice is None or choice.action == "stay":
            return
        if choice.action == "rollback":
            self._rollback_on_stage()
            return
        self.quit_summary = choice.summary
        stage = self._stage_screen()
        if stage is not None:
            stage.stop_for_quit()
        self._quit_after_change()

    def _quit_after_change(self) -> None:
        """Quit now, or as soon as the change in flight has finished (never in the middle)."""
        if self.change_in_flight:
            self.quit_pending = True
            self.notify(
                t("{what} is in flight: the wizard quits as soon as it finishes. "
                  "The switch is resumable: start the wizard (or `coredns-wizard switch`) again.",
                  what=self.change_in_flight),
                title=t("Quitting after the current change"), severity="warning", timeout=10,
            )
            return
        self.exit(self.exit_code)

    # ---- global actions ---------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "advance":
            if self.stage_stack and self.stage_stack[-1] == len(STAGES) - 1:
                return False
            return None if self.advance_blocked() and not self._advance_starts_change() else True
        if action == "go_back":
            return self._back_allowed()
        if action == "rollback":
            if not self.deployed:
                return False
            return None if self.change_in_flight else True
        return True

    def _advance_starts_change(self) -> bool:
        screen = self._open_stage()
        return screen is not None and screen.change_ready_on_advance()

    def action_advance(self) -> None:
        self.advance()

    def action_go_back(self) -> None:
        self.go_back()

    def help_rows(self) -> list[tuple[str, str, str]]:
        """(keys, binding id, description) of the App's and the current screen's own keys, as the
        keymap left them (a binding on several keys shows them all); the keys of the focused
        widget (scrolling, editing) are standard and left out."""
        rows: dict[str, tuple[list[str], str]] = {}
        for active in self.active_bindings.values():
            binding = active.binding
            if not isinstance(active.node, App | Screen) or binding.id is None:
                continue
            if binding.id.startswith(("app.focus", "screen.", "app.command")):
                continue
            if binding.id in rows:
                rows[binding.id][0].append(self.get_key_display(binding))
                continue
            description = binding.description or binding.action
            if not active.enabled:
                description = t("{description} (not now)", description=description)
            rows[binding.id] = ([self.get_key_display(binding)], description)
        return [(", ".join(keys), binding_id, text) for binding_id, (keys, text) in rows.items()]

    def key_label(self, binding_id: str, default: str) -> str:
        """The key(s) of a binding as the operator's keymap set them, for hints in prose."""
        from textual.keys import format_key

        keys = self._keymap.get(binding_id)
        return "/".join(format_key(k) for k in keys.split(",")) if keys else default

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette's entries: the language and help. Textual's own (quit, theme,
        screenshot…) are left out: quitting must go through `quit_safely`, which asks mid-switch."""
        yield SystemCommand(t("Language: English / 中文"),
                            t("Show the wizard in the other language; nothing else changes"),
                            self.action_switch_language)
        yield SystemCommand(t("Help"), t("The keys and what this stage does"), self.action_help)

    def action_switch_language(self) -> None:
        """English ⇄ 中文 while the wizard runs: keys, headers and every stage's texts render
        again in the other language. The engine's work, the cluster and what was typed stay."""
        language = set_language("en" if current_language() == "zh" else "zh")
        localize_bindings(self)
        for screen in self.screen_stack:
            localize_bindings(screen)
            for header in screen.query(WizardHeader):
                header.update(header.render_text())
            if isinstance(screen, StageScreen) and screen.is_mounted:
                screen.relocalize()
        self.refresh_bindings()
        log.info("language %s", language)
        self.notify(t("Language: English") if language == "en" else t("Language: 中文"))

    def action_help(self) -> None:
        from screens.widgets.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        if not self.stage_stack:  # the start screen: a stage will open above, leaving help underneath
            self.notify(t("Looking for a switch in progress; help opens on the first stage."), timeout=3)
            return
        screen = self._stage_screen()
        stage = t(STAGES[self.stage_stack[-1]].title) if self.stage_stack else t("start")
        about = screen.help_text() if screen is not None else None
        self.push_screen(HelpScreen(self.help_rows(), stage, about))

    def request_rollback(self) -> None:
        """Ask, then roll back with the engine (kube-dns back first, then CoreDNS to 0)."""
        if self.context.read_only:
            self.notify(t("Read-only mode: rolling back is not possible."), severity="error")
            return
        if self.change_in_flight:
            self.notify(t("{what} is in flight: pause or let it finish, then roll back.",
                          what=self.change_in_flight), severity="warning")
            return
        self.notify(t("Reading what a rollback would change…"), timeout=2)
        self._prepare_rollback()

    @work(thread=True, exclusive=True, exit_on_error=False, group="rollback-read",
          description=N_("read what a rollback would change"))
    def _prepare_rollback(self) -> None:
        from screens.widgets.rollback_preview import read_rollback_preview

        self.post_message(RollbackPreviewRead(read_rollback_preview(self.context)))

    def on_rollback_preview_read(self, message: RollbackPreviewRead) -> None:
        preview = message.preview
        if preview.error:
            if preview.advice:
                text = t("Cannot roll back: {error}. {advice}", error=tr(preview.error),
                         advice=tr(preview.advice))
            else:
                text = t("Cannot roll back: {error}.", error=tr(preview.error))
            self.notify(text, severity="error", timeout=10)
            return
        if self.change_in_flight:
            return  # a change began while the cluster was read; `r` again once it is done

        def answered(yes: bool | None) -> None:
            if yes:
                self.begin_change(t("the rollback"))
                self._run_rollback()

        from screens.widgets.rollback_preview import rollback_confirmation

        self.push_screen(rollback_confirmation(preview, self.context), answered)

    def action_rollback(self) -> None:
        self._rollback_on_stage()

    @work(thread=True, exclusive=True, exit_on_error=False, group="rollback", description=N_("roll back"))
    def _run_rollback(self) -> None:
        from wizard.errors import WizardError
        from wizard.migration.rollback import rollback

        try:
            outcome = rollback(
                self.context.gateway, self.context.journal_or_open(), self.context.options,
                on_event=self._post_engine_event,
            )
        except WizardError as err:
            self.post_message(RollbackFinished(False, str(err)))
            return
        summary = (tr(outcome.reason) if outcome.completed
                   else t("{reason}. {advice}", reason=outcome.reason, advice=outcome.advice))
        self.post_message(RollbackFinished(outcome.completed, summary))

    def _post_engine_event(self, event: Event) -> None:
        """Engine events arrive on the worker thread; post_message is thread-safe."""
        self.post_message(EngineEvent(event))

    def on_engine_event(self, message: EngineEvent) -> None:
        log.info("engine event: %s", message.event)

    def on_rollback_finished(self, message: RollbackFinished) -> None:
        self.end_change()
        if message.ok:
            self.deployed = False
            self.context.notes.append(t("rolled back: {summary}", summary=message.summary))
            self.notify(message.summary, title=t("Rolled back to kube-dns"), timeout=15)
        else:
            self.notify(message.summary, title=t("Rollback stopped"), severity="error", timeout=30)
        self.refresh_bindings()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Failures of the App's own workers; a screen's workers are reported by that screen."""
        if event.state != WorkerState.ERROR or event.worker.error is None or event.worker.node is not self:
            return
        error = event.worker.error
        log.error("worker %s failed", event.worker.description, exc_info=error)
        if event.worker.group == "rollback":
            self.end_change()
        first = (str(error).splitlines() or [type(error).__name__])[0]
        if event.worker.group == "server-version":
            return  # the connection light already says what is wrong
        self.notify(t("{task}: {error}", task=t(event.worker.description), error=first), title=t("Error"),
                    severity="error", timeout=20)


class LiveWizardApp(WizardApp):
    """live and dry-run modes: the keys that change the cluster are bound."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "rollback", N_("Roll back"), id="app.rollback")]


def build_app(
    context: WizardContext, *, start_stage: str = "preconditions", offer_resume: bool = True,
    keymap: Mapping[str, str] | None = None,
) -> WizardApp:
    """The App for this context, without the command line (tests use it directly). Read-only
    contexts get an App on which no destructive key is bound at all. Starting at the first
    stage, a switch already in progress is offered for resuming or rolling back first."""
    app_class = WizardApp if context.read_only else LiveWizardApp
    app = app_class(context, start_stage=start_stage, offer_resume=offer_resume)
    if keymap:
        app.set_keymap(dict(keymap))  # checked by screens.keymap.load_keymap
    return app
