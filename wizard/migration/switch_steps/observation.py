"""Observing DNS through the observation window: fresh questions to every DNS pod that stays
(and the Service IP when this host reaches it), and long-lived pinned sockets asking in the
background as clients that keep theirs do. The pause between passes is capped by the time left,
so the window ends on time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from wizard.durations import human_duration
from wizard.i18n import msg
from wizard.migration.plan import Step
from wizard.migration.probes import (
    ObservationStats,
    PinnedSocket,
    ProbeQuery,
    ProbeResult,
    ProbeTarget,
    probe,
)
from wizard.migration.progress import Note, ObservationTick, Outcome, Problem, Waiting
from wizard.migration.step_runner import Cancelled, SwitchStop, rollback_advice
from wizard.migration.switch_steps.context import PROBE_TIMEOUT_S, SwitchContext
from wizard.migration.switch_steps.probe import ask, cluster_question, target
from wizard.migration.verdicts import Expected, Verdict, expected_records, judge

OBSERVE_QUERY_INTERVAL_S = 0.25
PINNED_SOCKETS = 3
"""Long-lived sockets the observation also asks through, as clients that keep theirs do."""
PINNED_TIMEOUT_S = 1.0


def observe(ctx: SwitchContext, step: Step) -> tuple[Outcome, str]:
    total = ctx.options.observe_seconds
    if ctx.dry_run:
        window = human_duration(total)
        waiting = msg("switch.dry-run-observe-wait", "dry-run: would observe DNS for {window}", window=window)
        ctx.emit(Waiting(waiting, 0.0, 0.0))
        return "skipped", msg("switch.dry-run-observe", "dry-run: would observe for {window}", window=window)
    query = cluster_question(ctx)
    expected = expected_records(ctx.gateway, query, ctx.plan.cluster_domain)
    if expected.problem is not None:
        raise SwitchStop(msg("switch.cannot-observe", "cannot observe: {problem}", problem=expected.problem))
    targets, service_target = observation_targets(ctx, query)
    pinned = pinned_sockets(ctx, service_target)
    return _Window(ctx, query, expected, targets, pinned, total).run()


def pinned_sockets(ctx: SwitchContext, service_target: ProbeTarget | None) -> list[PinnedSocket]:
    """The long-lived sockets, opened once per run and kept across rounds, so that like real
    clients they are pinned before a kube-dns scale-down and show what it does to them."""
    if service_target is None:
        return []
    if not ctx.pinned:
        ctx.pinned.extend(PinnedSocket(service_target) for _ in range(PINNED_SOCKETS))
    return ctx.pinned


def pin_clients(ctx: SwitchContext) -> None:
    """Before a kube-dns scale-down: send once through each pinned socket (opening them on the
    first round), so they hold a session to a backend as the workload's clients do."""
    if ctx.dry_run:
        return
    svc = ctx.gateway.try_get("Service", ctx.ns, ctx.options.dns_service)
    service_ip = str(((svc or {}).get("spec") or {}).get("clusterIP") or "")
    if not service_ip or service_ip == "None":
        return
    label = f"Service {ctx.ns}/{ctx.options.dns_service} ({service_ip})"
    query = cluster_question(ctx)
    ask_pinned(pinned_sockets(ctx, ProbeTarget(label, service_ip, ctx.dns_port)), query)


def ask_pinned(pinned: list[PinnedSocket], query: ProbeQuery) -> list[ProbeResult]:
    """One question through every pinned socket at once: a silent one costs its timeout
    once per pass, not once per socket."""
    if not pinned:
        return []
    with ThreadPoolExecutor(max_workers=len(pinned)) as pool:
        return list(
            pool.map(lambda sock: sock.ask(query.name, query.rdtype, timeout=PINNED_TIMEOUT_S), pinned)
        )


def observation_targets(
    ctx: SwitchContext, query: ProbeQuery
) -> tuple[list[ProbeTarget], ProbeTarget | None]:
    """Every DNS pod that stays, the Service IP too when this host reaches it (returned
    second as well: the pinned sockets go through it)."""
    svc = ctx.gateway.get_service(ctx.ns, ctx.options.dns_service)
    service_ip = str((svc.get("spec") or {}).get("clusterIP") or "")
    label = f"Service {ctx.ns}/{ctx.options.dns_service} ({service_ip})"
    service_target: ProbeTarget | None = ProbeTarget(label, service_ip, ctx.dns_port)
    targets: list[ProbeTarget] = []
    assert service_target is not None
    check = probe(service_target, query.name, query.rdtype, "udp", timeout=PROBE_TIMEOUT_S)
    if check.error is None:
        targets.append(service_target)
        ctx.transports[label] = "udp"
    else:
        ctx.emit(Note(msg(
            "switch.service-unreachable",
            "{target} is not reachable from this host ({error}); observing the pods only",
            target=label, error=check.error,
        )))
        service_target = None
    pods = ctx.pods()
    for pod in pods.ready("coredns") + pods.ready("kube-dns"):
        if not pod["metadata"].get("deletionTimestamp"):
            targets.append(target(ctx, pod))
    return targets, service_target


def pod_leaving(ctx: SwitchContext, name: str) -> bool:
    pod = ctx.gateway.try_get("Pod", ctx.ns, name)
    return pod is None or bool((pod.get("metadata") or {}).get("deletionTimestamp"))


@dataclass
class _Window:
    """One observation window: passes of fresh questions until `total` seconds have gone by,
    the pinned clients asking in the background, a tick about once a second."""

    ctx: SwitchContext
    query: ProbeQuery
    expected: Expected
    targets: list[ProbeTarget]
    pinned: list[PinnedSocket]
    total: float
    stats: ObservationStats = field(default_factory=ObservationStats)
    pinned_stats: ObservationStats = field(default_factory=ObservationStats)

    def run(self) -> tuple[Outcome, str]:
        retried = 0
        started = time.monotonic()
        last_tick = -1.0
        clients = _PinnedClients(self.pinned, self.query, self.expected, self.pinned_stats)
        with clients:
            while time.monotonic() - started < self.total:
                retried += observe_pass(
                    self.ctx, self.query, self.expected, self.targets, self.stats, self.stop
                )
                self._check_pinned(clients)
                elapsed = time.monotonic() - started
                if elapsed - last_tick >= 1.0:
                    last_tick = elapsed
                    self.tick(elapsed)
                left = self.total - (time.monotonic() - started)  # the window ends on time, not a pause later
                if self.ctx.cancel.wait(min(OBSERVE_QUERY_INTERVAL_S, max(left, 0.0))):
                    raise Cancelled()
        self.tick(self.total)
        return "done", self._summary(retried)

    def _check_pinned(self, clients: _PinnedClients) -> None:
        if clients.wrong:  # answered, wrongly: CoreDNS's fault, as for a fresh socket
            raise self.stop(clients.wrong[0], self.pinned_stats)
        if clients.first_error is not None and not clients.noted:
            clients.noted = True
            self.ctx.emit(
                Note(
                    msg(
                        "switch.pinned-socket-error",
                        "{target}: {error}: clients that keep their socket are pinned to one backend of the "
                        "Service (IPVS/conntrack session), which may have left it",
                        target=clients.first_error.target, error=clients.first_error.error,
                    )
                )
            )

    def stop(self, verdict: Verdict, counted: ObservationStats) -> SwitchStop:
        evidence = (verdict.line, counted.summary())
        message = msg("switch.observation-failed", "DNS failed during observation: {line}", line=verdict.line)
        self.ctx.emit(Problem(message, rollback_advice(), evidence))
        return SwitchStop(message, rollback_advice(), evidence)

    def tick(self, elapsed: float) -> None:
        stats, pinned = self.stats, self.pinned_stats
        self.ctx.emit(
            ObservationTick(
                min(elapsed, self.total), self.total, stats.failures, stats.total, stats.p50, stats.p95,
                pinned.failures, pinned.total,
            )
        )

    def _summary(self, retried: int) -> str:
        window = human_duration(self.total)
        summary: str = msg(
            "switch.observed", "observed {window} through {targets} target(s): {stats}",
            window=window, targets=len(self.targets), stats=self.stats.summary(),
        )
        if retried:
            summary = msg(
                "switch.observed-retried", "{summary}; {retried} unanswered first tries answered on retry",
                summary=summary, retried=retried,
            )
        if self.pinned:
            return msg(
                "switch.observed-pinned", "{summary}; {sockets} pinned socket(s): {stats}",
                summary=summary, sockets=len(self.pinned), stats=self.pinned_stats.summary(),
            )
        return msg(
            "switch.observed-no-pinned",
            "{summary}; no pinned sockets (the Service IP is not reachable from this host)",
            summary=summary,
        )


def observe_pass(
    ctx: SwitchContext,
    query: ProbeQuery,
    expected: Expected,
    targets: list[ProbeTarget],
    stats: ObservationStats,
    stop: Callable[[Verdict, ObservationStats], SwitchStop],
) -> int:
    """One question to every observed target through fresh sockets; returns the retries."""
    retried = 0
    for each in list(targets):
        result = ask(ctx, each, query.name, query.rdtype)
        if result.error is not None:  # a resolver tries again before the workload notices
            retried += 1
            result = ask(ctx, each, query.name, query.rdtype)
        verdict = judge(query, result, None, expected)
        if verdict.passed:
            stats.record(result, True)
            continue
        if each.pod and pod_leaving(ctx, each.pod):
            targets.remove(each)
            ctx.emit(Note(msg("switch.target-removed", "{target} is being removed; no longer observed",
                              target=each.label)))
            continue
        stats.record(result, False)
        raise stop(verdict, stats)
    return retried


class _PinnedClients:
    """The pinned sockets asking in the background for one observation window, one thread per
    socket, so a socket stuck on a removed backend costs the fresh-socket observation nothing.
    Results are counted apart; a wrong answer is kept for the observing thread to stop on."""

    def __init__(
        self, pinned: list[PinnedSocket], query: ProbeQuery, expected: Expected, stats: ObservationStats
    ) -> None:
        self.pinned = pinned
        self.query = query
        self.expected = expected
        self.stats = stats
        self.wrong: list[Verdict] = []
        self.first_error: ProbeResult | None = None
        self.noted = False
        self._done = threading.Event()
        self._threads = [threading.Thread(target=self._keep_asking, args=(s,), daemon=True) for s in pinned]

    def __enter__(self) -> _PinnedClients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        for thread in self._threads:
            thread.join(PINNED_TIMEOUT_S + 1.0)

    def _keep_asking(self, sock: PinnedSocket) -> None:
        while not self._done.is_set():
            result = sock.ask(self.query.name, self.query.rdtype, timeout=PINNED_TIMEOUT_S)
            verdict = judge(self.query, result, None, self.expected)
            self.stats.record(result, verdict.passed)
            if result.error is None and not verdict.passed:
                self.wrong.append(verdict)
            elif result.error is not None and self.first_error is None:
                self.first_error = result
            self._done.wait(OBSERVE_QUERY_INTERVAL_S)
