"""What every switch step handler shares: the cluster, the plan, the journal, the event sink,
the probe tunnels and the state kept across steps of one run (transports chosen, pinned sockets,
the IPVS gate)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from wizard.k8s.gateway import Gateway
from wizard.k8s.objects import Obj
from wizard.k8s.watch import WaitProgress, wait_for
from wizard.migration.dns_pods import DnsPods, list_dns_pods
from wizard.migration.ipvs_gate import IpvsGateTracker
from wizard.migration.journal import Journal
from wizard.migration.plan import Plan, Step
from wizard.migration.probes import PinnedSocket, Transport, TunnelPool
from wizard.migration.progress import Event, EventSink, Outcome, PodsChanged, Waiting
from wizard.migration.step_runner import Cancelled
from wizard.options import SwitchOptions

T = TypeVar("T")
Handler = Callable[["SwitchContext", Step], tuple[Outcome, str]]
"""One kind of step: acts (or checks) and verifies; (outcome, detail), or raises SwitchStop."""

ENDPOINT_PROPAGATION_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 2.0


@dataclass
class SwitchContext:
    """One run's shared state. `tunnels` are port-forwards to the pods this host cannot reach
    directly, one per pod, kept for the run and closed by `close` (the Switcher calls it in a
    `finally`)."""

    gateway: Gateway
    plan: Plan
    journal: Journal | None
    options: SwitchOptions
    on_event: EventSink | None
    cancel: threading.Event
    dry_run: bool
    tunnels: TunnelPool
    transports: dict[str, Transport] = field(default_factory=dict)
    pinned: list[PinnedSocket] = field(default_factory=list)
    ipvs_gate: IpvsGateTracker | None = None
    """The IPVS gate checked before every kube-dns scale-down (the TUI may hand its own)."""
    ipvs_acknowledged: bool = False

    @property
    def ns(self) -> str:
        return self.options.namespace

    @property
    def dns_port(self) -> int:
        return self.options.dns_port or self.gateway.connection.dns_port

    def emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    def pods(self) -> DnsPods:
        pods = list_dns_pods(self.gateway, self.options)
        self.emit(PodsChanged(pods.views))
        return pods

    def wait(
        self,
        kind: str,
        predicate: Callable[[list[Obj]], T | None],
        timeout: float,
        what: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        cancellable: bool = True,
    ) -> T:
        """A watch-based wait that reports progress and, when `cancellable`, stops on a cancel
        request (a containment's waits are not: one half done is worse than one finished)."""

        def progress(p: WaitProgress) -> None:
            self.emit(Waiting(p.waiting_for, p.elapsed_s, timeout))
            if cancellable:
                self.check_cancel()

        return wait_for(
            self.gateway,
            kind,
            self.ns,
            predicate,
            timeout,
            what,
            label_selector=label_selector,
            field_selector=field_selector,
            on_progress=progress,
        )

    def close(self) -> None:
        """The pinned sockets and the tunnels, at the end of the run."""
        try:
            for sock in self.pinned:
                sock.close()
            self.pinned.clear()
        finally:
            self.tunnels.close()

    def coredns_count_before(self, step: Step) -> int:
        """CoreDNS's planned size when `step` starts: the last scale-coredns before it."""
        count = 0
        for other in self.plan.steps:
            if other.id == step.id:
                break
            if other.kind == "scale-coredns" and other.replicas is not None:
                count = other.replicas
        return count
