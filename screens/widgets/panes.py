"""The live panes of the switch screen: DNS pods, the Service's endpoints, probe answers, the
observation countdown and the events/log stream.

Why these widgets only render: every value arrives in an engine event (wizard.migration.progress or
wizard.migration.live_view) on the main thread; the panes keep the last one and draw it. Text that came
from the cluster (pod names, messages, logs) is always a rich Text, never markup. Time comes from
an injectable clock so ages and highlights are stable in snapshots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text
from textual.widgets import DataTable, RichLog, Static
from textual.widgets.data_table import CellDoesNotExist

from screens.widgets.hanging import Hanging
from wizard.i18n import N_, t
from wizard.migration.probes import ProbeResult
from wizard.migration.progress import ObservationTick, PodView, ProbeBatch

Clock = Callable[[], float]
CHANGE_HIGHLIGHT_S = 3.0
"""How long a changed pod row stays highlighted."""

OWNER_STYLE = {"coredns": "cyan", "kube-dns": "magenta", "other": "dim"}


def format_age(seconds: float) -> str:
    """kubectl's short ages: 45s, 12m, 3h, 2d."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def pod_style(pod: PodView) -> str:
    """Green Ready, red failing, yellow on the way, dim leaving."""
    if pod.phase == "Terminating":
        return "dim"
    if pod.ready:
        return "green"
    if pod.phase in ("CrashLoopBackOff", "Error", "Failed", "ImagePullBackOff", "ErrImagePull", "OOMKilled"):
        return "bold red"
    return "yellow"


@dataclass
class _Seen:
    view: PodView
    received_at: float
    changed_at: float


POD_COLUMNS = {  # key: (header, header when narrow); English, marked with N_, shown through t()
    "deployment": (N_("Deployment"), N_("Owner")), "pod": ("Pod", "Pod"), "node": (N_("Node"), N_("Node")),
    "ip": ("IP", "IP"), "status": (N_("Status"), N_("Status")), "ready": (N_("Ready"), N_("Rdy")),
    "restarts": (N_("Restarts"), N_("Rst")), "age": (N_("Age"), N_("Age")),
}
WIDE_ORDER = ("deployment", "pod", "node", "ip", "status", "ready", "restarts", "age")
NARROW_ORDER = ("pod", "ready", "node", "status", "restarts", "deployment", "age", "ip")
"""Below NARROW_BELOW columns (80x24) what tells a pod's health comes first: name, readiness,
node and status stay in view; the rest is one horizontal scroll away."""
NARROW_BELOW = 104


class PodsPane(DataTable[Text]):
    """Pods of both Deployments, owner by ownerReferences, coloured by status, changes highlighted.
    A narrow pane (an 80-column terminal) puts name, ready, node and status first, with short
    headers."""

    def __init__(self, clock: Clock, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.clock = clock
        self._seen: dict[str, _Seen] = {}
        self.border_title = t("DNS pods")
        self.order: tuple[str, ...] = ()

    def on_mount(self) -> None:
        self._set_columns(WIDE_ORDER)
        self.set_interval(1.0, self.redraw)

    def on_resize(self) -> None:
        order = NARROW_ORDER if self.size.width < NARROW_BELOW else WIDE_ORDER
        if order != self.order:
            selected = self.selected_pod()
            self._set_columns(order)
            self.redraw(selected)

    def _set_columns(self, order: tuple[str, ...]) -> None:
        self.clear(columns=True)
        self.order = order
        narrow = order == NARROW_ORDER
        for key in order:
            self.add_column(t(POD_COLUMNS[key][1 if narrow else 0]), key=key)

    @property
    def pods(self) -> list[PodView]:
        return [s.view for s in self._seen.values()]

    def owner_of_ip(self) -> dict[str, str]:
        return {s.view.ip: s.view.owner for s in self._seen.values() if s.view.ip}

    def selected_pod(self) -> PodView | None:
        if not self._seen or self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None
        seen = self._seen.get(str(key))
        return seen.view if seen else None

    def update_pods(self, pods: tuple[PodView, ...]) -> None:
        now = self.clock()
        fresh: dict[str, _Seen] = {}
        for pod in pods:
            old = self._seen.get(pod.name)
            changed = old is not None and _visible(old.view) != _visible(pod)
            first_paint = not self._seen
            changed_at = now if (old is None and not first_paint) or changed else (
                old.changed_at if old is not None else float("-inf"))
            fresh[pod.name] = _Seen(pod, now, changed_at)
        self._seen = fresh
        self.redraw()

    def redraw(self, selected: PodView | None = None) -> None:
        selected = selected or self.selected_pod()
        now = self.clock()
        self.clear()
        order = sorted(self._seen.values(), key=lambda s: (s.view.owner, s.view.name))
        for seen in order:
            pod = seen.view
            style = pod_style(pod)
            if now - seen.changed_at < CHANGE_HIGHLIGHT_S:
                style += " reverse"
            age = pod.age_s + max(0.0, now - seen.received_at)
            cells = {
                "deployment": Text(pod.owner, style=OWNER_STYLE.get(pod.owner, "")),
                "pod": Text(pod.name, style=style),
                "node": Text(pod.node or "-", style=style),
                "ip": Text(pod.ip or "-", style=style),
                "status": Text(pod.phase, style=style),
                "ready": Text(t("yes") if pod.ready else t("no"), style=style),
                "restarts": Text(str(pod.restarts), style="bold red" if pod.restarts else style),
                "age": Text(format_age(age), style=style),
            }
            self.add_row(*(cells[key] for key in self.order), key=pod.name)
        if selected is not None and selected.name in self._seen:
            self.move_cursor(row=self.get_row_index(selected.name))


def _visible(pod: PodView) -> tuple[object, ...]:
    """What a change highlight reacts to (not the age, which changes every second)."""
    return (pod.phase, pod.ready, pod.restarts, pod.ip, pod.node)


class EndpointsPane(Static):
    """Which IPs the kube-dns Service routes to, ready and not ready, by owning Deployment."""

    def __init__(self, service: str, *, id: str | None = None) -> None:
        super().__init__(Text(t("waiting for the endpoints…"), style="dim"), id=id)
        self.border_title = t("Endpoints of Service {service}", service=service)
        self.ready: tuple[str, ...] = ()
        self.not_ready: tuple[str, ...] = ()

    def update_endpoints(
        self, ready: tuple[str, ...], not_ready: tuple[str, ...], owners: dict[str, str]
    ) -> None:
        self.ready, self.not_ready = ready, not_ready
        self.redraw(owners)

    def redraw(self, owners: dict[str, str]) -> None:
        """One line of counts, then one line per owning Deployment (fits three rows)."""
        text = Text()
        text.append(t("ready {count}", count=len(self.ready)),
                    style="bold green" if self.ready else "bold red")
        text.append("   " + t("not ready {count}", count=len(self.not_ready)) + "\n",
                    style="bold yellow" if self.not_ready else "dim")
        if not self.ready and not self.not_ready:
            text.append(t("no endpoints: the Service routes nowhere"), style="bold red")
        for owner in ("coredns", "kube-dns", "other"):
            ready = [ip for ip in self.ready if owners.get(ip, "other") == owner]
            waiting = [ip for ip in self.not_ready if owners.get(ip, "other") == owner]
            if not ready and not waiting:
                continue
            text.append(f"{owner:<9}", style=OWNER_STYLE[owner])
            text.append(", ".join(ready) or "-")
            if waiting:
                text.append("  " + t("not ready:") + " ", style="yellow")
                text.append(", ".join(waiting))
            text.append("\n")
        text.rstrip()
        self.update(text)


class ProbesPane(DataTable[Text]):
    """The last probe step's answers per target and name, with the engine's verdict on each
    CoreDNS answer (shown as it came, never judged again here)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self.border_title = t("DNS probes")

    def on_mount(self) -> None:
        for label in (t("Target"), t("Name"), t("Type"), t("Rcode"), t("Latency"), t("Verdict")):
            self.add_column(label)

    def update_batch(self, batch: ProbeBatch, owners: dict[str, str]) -> None:
        self.clear()
        for result, role, verdict in probe_rows(batch, owners):
            failed = verdict.startswith("NO")
            style = "bold red" if failed or result.error else ("green" if result.ok else "yellow")
            latency = "-" if result.error else f"{result.latency_ms:.1f} ms"
            verdict_style = {"y": "green", "-": "dim", "?": "yellow"}.get(verdict[:1], "bold red")
            self.add_row(
                Text(result.target, style=OWNER_STYLE.get(role, "")),
                Text(result.name),
                Text(result.rdtype),
                Text(result.error or result.rcode, style=style),
                Text(latency),
                Text(verdict_label(verdict), style=verdict_style),
            )


def verdict_label(verdict: str) -> str:
    """A verdict from `probe_rows` as the operator reads it: its marks ("yes", "- baseline",
    "NO: ") are compared in English by code, and translated only here, for display."""
    if verdict == "yes":
        return t("yes")
    if verdict == "- baseline":
        return "- " + t("baseline")
    if verdict.startswith("NO: "):
        return t("NO: {reason}", reason=verdict.removeprefix("NO: "))
    return verdict


def probe_rows(batch: ProbeBatch, owners: dict[str, str]) -> list[tuple[ProbeResult, str, str]]:
    """(result, owner of its target, verdict text): kube-dns's answer once per question as the
    baseline, then each CoreDNS answer with the engine's verdict ("yes", "? reason", "NO: reason")."""

    def owner(result: ProbeResult) -> str:
        ip = result.target.rsplit("(", 1)[-1].rstrip(")") if "(" in result.target else ""
        return owners.get(ip, "other")

    rows: list[tuple[ProbeResult, str, str]] = []
    shown: list[ProbeResult] = []
    for verdict in batch.verdicts:
        base = verdict.baseline
        if base is not None and base not in shown:
            shown.append(base)
            rows.append((base, owner(base), "- baseline"))
        mark = verdict.mark
        text = {"yes": "yes", "NO": f"NO: {verdict.reason}"}.get(mark, f"? {verdict.reason}")
        rows.append((verdict.result, owner(verdict.result), text))
    return rows


class ObservationPane(Static):
    """The observation window after a kube-dns scale-down: time left, errors, latency."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text(t("no observation yet"), style="dim"), id=id)
        self.border_title = t("Observation")
        self.tick: ObservationTick | None = None

    def update_tick(self, tick: ObservationTick) -> None:
        self.tick = tick
        self.update(observation_text(tick))


def observation_text(tick: ObservationTick, width: int = 12) -> Text:
    left = max(0.0, tick.total - tick.elapsed)
    done = 0.0 if tick.total <= 0 else min(1.0, tick.elapsed / tick.total)
    filled = round(done * width)
    text = Text()
    text.append("█" * filled, style="green")
    text.append("░" * (width - filled), style="dim")
    text.append(" " + t("{left:.0f}s left of {total:.0f}s", left=left, total=tick.total) + "\n")
    text.append(t("queries {count}", count=tick.queries) + "  ")
    text.append(t("errors {count}", count=tick.errors), style="bold red" if tick.errors else "green")
    rate = tick.errors / tick.queries if tick.queries else 0.0
    text.append(f" ({rate:.1%})\n")
    p50 = "-" if tick.p50_ms is None else f"{tick.p50_ms:.1f} ms"
    p95 = "-" if tick.p95_ms is None else f"{tick.p95_ms:.1f} ms"
    text.append(t("latency p50 {p50}  p95 {p95}", p50=p50, p95=p95))
    if tick.pinned_queries:
        text.append("\n" + t("pinned sockets") + " ")
        text.append(
            t("{errors}/{queries} failed", errors=tick.pinned_errors, queries=tick.pinned_queries),
            style="bold red" if tick.pinned_errors else "green",
        )
    return text


class EventLogPane(RichLog):
    """Engine events and Kubernetes Events, newest last. It follows the end only while the
    user is at the end, so scrolling back to read is never yanked away. Lines wrap at the pane's
    own width (RichLog would measure against the console's)."""

    def __init__(self, clock: Clock, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, markup=False, highlight=False, max_lines=5000, auto_scroll=False)
        self.clock = clock
        self.started = clock()
        self.border_title = t("Events")
        self.lines_written: list[str] = []

    def add(self, message: str | Text, style: str = "", hang: int | None = None) -> None:
        """One line; when it wraps, it hangs under its text after the bullet (or after the first
        `hang` characters: a label such as "probe: ")."""
        stamp = Text(f"+{self.clock() - self.started:6.1f}s ", style="dim")
        body = message if isinstance(message, Text) else Text(message, style=style)
        follow = self.max_scroll_y == 0 or self.scroll_y >= self.max_scroll_y - 1
        self.lines_written.append(body.plain)
        if self.max_lines and len(self.lines_written) > self.max_lines:
            del self.lines_written[: -self.max_lines]
        # two columns: a wrapped message hangs under its own first character, not under the stamp
        line = Table.grid()  # not expanded: short lines stay short (no horizontal scrollbar)
        line.add_column(width=cell_len(stamp.plain), no_wrap=True)
        line.add_column(overflow="fold")
        line.add_row(stamp, Hanging(body, [hang]))
        self.write(line, width=self.scrollable_content_region.width or None, scroll_end=follow)
