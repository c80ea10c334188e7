"""Containing a failed round: back to its last verified state before the switch stops.

Why: a check that fails after a change (a new CoreDNS pod never Ready, crash-looping, answering
wrongly, missing from the endpoints, errors while observing) means a pod the wizard just added may
be serving some of the cluster's queries. Stopping there leaves that pod in the `kube-dns`
Service until someone acts. Containment instead scales the Deployments back to the replica counts
the round started from (CoreDNS k-1, kube-dns n-k+1; kube-dns is only ever scaled *up* here),
waits until the pods that go have left the Service's Endpoints and EndpointSlices, probes the
CoreDNS pods that stay and, when one of them fails too (a fault shared by every CoreDNS pod, such
as a wrong Corefile), takes every CoreDNS pod out and kube-dns back to its original size. Only
then does the switch stop, saying what it did and why.

Like every other change it is journaled (intent before, done after: "rN.contain", with one entry
per scale) and recorded on the CoreDNS Deployment (`ANNOTATION_CONTAINMENT`, "in-progress" until
the end), so a wizard stopped half-way finishes it on the next `switch`, and the next `switch`
resumes at the contained round. With --yes it runs as part of the failed step's safety contract
(announced through events); otherwise the operator is asked first, and declining leaves the
cluster as the failure left it, with a stop message that says whether live traffic reaches the
failing pod.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wizard.durations import human_duration
from wizard.errors import WizardError
from wizard.i18n import Message, error_text, msg, tr
from wizard.k8s.objects import Obj, endpoint_ips, pod_is_ready
from wizard.k8s.watch import WaitTimeout
from wizard.migration.dns_pods import DnsPods, list_dns_pods, slice_ready_ips
from wizard.migration.journal import (
    ANNOTATION_CONTAINMENT,
    ANNOTATION_PHASE,
    ANNOTATION_ROUND,
    now_rfc3339,
)
from wizard.migration.pending_pods import StuckScheduling
from wizard.migration.plan import Step
from wizard.migration.progress import EndpointsChanged, Note, PodsChanged, Problem
from wizard.migration.switch_state import (
    CONTAIN_STEP_SUFFIX,
    PHASE_ROLLED_BACK,
    ContainmentRecord,
    read_cluster_record,
)

if TYPE_CHECKING:
    from wizard.migration.step_runner import SwitchStop
    from wizard.migration.switch import Switcher

CONTAINED_KINDS = frozenset({"wait-ready", "probe", "check-endpoints", "scale-kube-dns", "observe"})
"""The steps whose failure means a verification failed after a change of the round. A failed
scale-coredns was a refused change (nothing new serves); deploy and the autoscaler are outside the
rounds."""
LEAVE_TIMEOUT_S = 60.0
"""How long the pods scaled away may take to leave the Service's endpoints."""


@dataclass(frozen=True)
class Target:
    """The replica counts a containment returns to, and the plan step they correspond to."""

    round: int
    coredns: int
    kube_dns: int
    resume_after: str


class ContainmentFailed(Exception):
    """The containment itself could not finish (refused write, API error, timeout)."""


class Containment:
    """Contains one failed round of a running `Switcher` (which it drives through its gateway,
    journal, events, confirmation and probe step)."""

    def __init__(self, switcher: Switcher) -> None:
        self.sw = switcher
        self.gateway = switcher.gateway
        self.options = switcher.options
        self.ns = switcher.options.namespace
        self.plan = switcher.plan

    # ---- entry points ---------------------------------------------------------------------
    def after_failure(self, step: Step, stop: SwitchStop) -> SwitchStop:
        """The stop to report for a verification that failed in `step`: contained (default),
        or left in place with `--on-failure stop` or when the operator declines."""
        from wizard.migration.step_runner import SwitchStop

        suspects = self._suspects(step, stop)
        if self.options.on_failure == "stop":
            return SwitchStop(
                msg(
                    "switch.stopped-without-containing",
                    "Stopped without containing (--on-failure stop): {exposure}. Why: {reason}",
                    exposure=self._exposure(suspects), reason=stop.reason,
                ),
                self._stop_advice(),
                stop.evidence,
            )
        target = self._round_start(step.round)
        if self.sw.dry_run:
            self.sw._emit(Note(msg(
                "switch.dry-run-would-contain", "dry-run: would contain round {round}: {what}",
                round=step.round, what=self._describe(target),
            )))
            return SwitchStop(
                msg(
                    "switch.dry-run-live-would-contain",
                    "dry-run: a live run would contain round {round}: {what}. Why: {reason}",
                    round=step.round, what=self._describe(target), reason=stop.reason,
                ),
                stop.advice,
                stop.evidence,
            )
        try:
            done = self._contain(target, stop.reason, step)
        except ContainmentFailed as err:
            message = msg(
                "switch.containment-unfinished", "Containment of round {round} did not finish: {error}",
                round=step.round, error=error_text(err),
            )
            self.sw._emit(Problem(message, self._stop_advice(), ()))
            return SwitchStop(
                msg(
                    "switch.containment-unfinished-why", "{message}; {exposure}. Why: {reason}",
                    message=message, exposure=self._exposure(suspects), reason=stop.reason,
                ),
                self._stop_advice(),
                stop.evidence,
            )
        if done is None:  # declined
            return SwitchStop(
                msg(
                    "switch.containment-declined",
                    "The operator declined the containment: {exposure}. Why: {reason}",
                    exposure=self._exposure(suspects), reason=stop.reason,
                ),
                self._stop_advice(),
                stop.evidence,
            )
        return SwitchStop(
            msg(
                "switch.contained", "Contained round {round}: {done}. Why: {reason}",
                round=step.round, done=done, reason=stop.reason,
            ),
            msg(
                "switch.contained-advice",
                "fix the cause (see the evidence above), then run `coredns-wizard switch` to resume at "
                "round {round}, or roll back with `coredns-wizard rollback`",
                round=self._resume_round(read_cluster_record(self.gateway, self.options).containment),
            ),
            stop.evidence,
        )

    def finish_interrupted(self) -> None:
        """A containment recorded as in progress (the last wizard stopped mid-way) is finished
        before anything else, with the counts it recorded. Raises SwitchStop when it cannot."""
        from wizard.migration.step_runner import SwitchStop

        record = read_cluster_record(self.gateway, self.options)
        pending = record.containment
        if pending is None or pending.state != "in-progress" or self.sw.dry_run:
            return
        if record.phase == PHASE_ROLLED_BACK:  # a rollback ended that attempt
            return
        self.sw._emit(
            Note(
                msg(
                    "switch.containment-interrupted",
                    "a containment of round {round} was interrupted ({reason}); finishing it first",
                    round=pending.round, reason=pending.reason,
                )
            )
        )
        target = Target(pending.round, pending.coredns, pending.kube_dns, pending.resume_after)
        step = self._contain_step(target)
        try:
            done = self._contain(target, pending.reason, step)
        except ContainmentFailed as err:
            raise SwitchStop(
                msg(
                    "switch.interrupted-containment-unfinished",
                    "the interrupted containment of round {round} did not finish: {error}",
                    round=pending.round, error=error_text(err),
                ),
                self._stop_advice(),
            ) from None
        if done is None:
            raise SwitchStop(
                msg(
                    "switch.interrupted-containment-declined",
                    "the operator declined to finish the interrupted containment of round {round}",
                    round=pending.round,
                ),
                self._stop_advice(),
            )
        self.sw._emit(Note(msg(
            "switch.interrupted-containment-finished", "interrupted containment finished: {done}", done=done
        )))

    # ---- what to return to ------------------------------------------------------------------
    def _round_start(self, round_no: int) -> Target:
        n = self.plan.original_kube_dns_replicas
        ids = self.plan.ids()
        first = next(i for i, s in enumerate(self.plan.steps) if s.round == round_no)
        resume_after = ids[first - 1] if first > 0 else ids[0]
        return Target(round_no, round_no - 1, n - round_no + 1, resume_after)

    def _before_rounds(self) -> Target:
        return self._round_start(1)

    def _describe(self, target: Target) -> Message:
        record = read_cluster_record(self.gateway, self.options)
        coredns = self._scale_words(
            "CoreDNS", self.options.coredns_deployment, record.coredns_replicas, target.coredns, down=True
        )
        kube_dns = self._scale_words(
            "kube-dns",
            self.options.kube_dns_deployment,
            record.kube_dns_replicas,
            target.kube_dns,
            down=False,
        )
        return msg("switch.contain-two-parts", "{first}; {second}", first=coredns, second=kube_dns)

    def _scale_words(
        self, what: str, name: str, now: int, want: int, *, down: bool, tense: str = "plan"
    ) -> Message:
        """One Deployment's part of a containment; tense "plan" (scale), "done" (scaled) or "back"
        (scaled back)."""
        moves = (now > want) if down else (now < want)
        params = {"what": what, "deployment": f"{self.ns}/{name}", "now": now, "want": want}
        if not moves:
            return msg("switch.contain-untouched", "{what} {deployment} untouched at {now}", **params)
        if tense == "done":
            return msg("switch.contain-scaled", "scaled {what} {deployment} {now} → {want}", **params)
        if tense == "back":
            return msg(
                "switch.contain-scaled-back", "scaled back {what} {deployment} {now} → {want}", **params
            )
        return msg("switch.contain-scale", "scale {what} {deployment} {now} → {want}", **params)

    # ---- doing it -----------------------------------------------------------------------------
    def _contain(self, target: Target, reason: str, step: Step) -> Message | None:
        """Contain to `target`, widening once to no CoreDNS pod at all when one that stays fails
        its probe. Returns what was done, None when the operator declined."""
        started = time.monotonic()
        first = self._contain_to(target, reason, started)
        if first is None:
            return None
        if self._failing_survivor(step) is None:
            return first
        self.sw._emit(
            Problem(
                msg(
                    "switch.containing-survivors-fail",
                    "containing round {round}: the CoreDNS pod(s) that stay fail their probe too",
                    round=target.round,
                ),
                msg(
                    "switch.containing-survivors-fail-advice",
                    "every CoreDNS pod is taken out and kube-dns goes back to its original size",
                ),
                (),
            )
        )
        widened = msg(
            "switch.survivors-fail-reason", "{reason}; the CoreDNS pod(s) that stay fail their probe too",
            reason=reason,
        )
        second = self._contain_to(self._before_rounds(), widened, started)
        if second is None:
            return msg(
                "switch.survivors-fail-declined",
                "{first}; the CoreDNS pod(s) that stay fail their probe too and the operator "
                "declined to take "
                "every CoreDNS pod out: live traffic may still reach them",
                first=first,
            )
        return msg(
            "switch.survivors-fail-contained",
            "the CoreDNS pod(s) that stay fail their probe too, so every CoreDNS pod was taken out: {second}",
            second=second,
        )

    def _contain_to(self, target: Target, reason: str, started: float) -> Message | None:
        """Scale to `target` (kube-dns up first, CoreDNS down), journaled and announced; returns
        what was done, None when the operator declined."""
        record = read_cluster_record(self.gateway, self.options)
        coredns_before, kube_before = record.coredns_replicas, record.kube_dns_replicas
        step = self._contain_step(target)
        what = self._describe(target)
        if not self._containment_confirmed(target, reason, step, what, coredns_before, kube_before):
            return None
        self.sw._emit(
            Note(msg("switch.containing", "containing round {round}: {what}", round=target.round, what=what))
        )
        pods = list_dns_pods(self.gateway, self.options)
        leaving_from = {self._ip(p): self._name(p) for p in pods.coredns if self._ip(p)}
        journal = self.sw.journal
        to_value = {
            "coredns": target.coredns,
            "kube_dns": target.kube_dns,
            "resume_after": target.resume_after,
        }
        from_value = {"coredns": coredns_before, "kube_dns": kube_before}
        gone, left_after, kube_state = self._apply_containment(
            target, reason, started, step, leaving_from, from_value, to_value
        )
        done = self._contained_words(target, coredns_before, kube_before, gone, left_after, kube_state)
        if journal is not None:
            journal.done(
                step.id, tr(step.description, "en"), step.target, from_value, to_value, tr(done, "en")
            )
        self.sw._emit(
            Note(
                msg("switch.contained-note", "contained round {round}: {done}", round=target.round, done=done)
            )
        )
        return done

    def _containment_confirmed(
        self, target: Target, reason: str, step: Step, what: str, coredns_before: int, kube_before: int
    ) -> bool:
        """Whether to go on: asks the operator only when the containment changes something."""
        changes = coredns_before > target.coredns or kube_before < target.kube_dns
        return not (
            changes
            and self.sw.confirm is not None
            and not self.sw.confirm(
                step,
                msg(
                    "switch.confirm-containment", "{what}, because: {reason} (context {context})",
                    what=what, reason=reason, context=repr(self.gateway.connection.context),
                ),
            )
        )

    def _apply_containment(
        self, target: Target, reason: str, started: float, step: Step, leaving_from: dict[str, str],
        from_value: dict[str, int], to_value: dict[str, object],
    ) -> tuple[dict[str, str], float, str]:
        """Scale and wait between the journal's intent and its outcome, so a failure is journaled as
        failed and raised as ContainmentFailed; returns the pods gone, when, and kube-dns's state."""
        journal = self.sw.journal
        contain_id = step.id
        coredns_before, kube_before = from_value["coredns"], from_value["kube_dns"]
        try:
            if journal is not None:
                journal.intent(contain_id, tr(step.description, "en"), step.target, from_value, to_value)
            self._annotate(target, reason, "in-progress")
            kube_up = kube_before < target.kube_dns
            if kube_up:
                self._scale(
                    contain_id, "kube-dns", self.options.kube_dns_deployment, kube_before, target.kube_dns
                )
            if coredns_before > target.coredns:
                self._keep_one_endpoint(target)
                self._scale(
                    contain_id, "CoreDNS", self.options.coredns_deployment, coredns_before, target.coredns
                )
            gone = self._wait_left(target, leaving_from)
            left_after = time.monotonic() - started
            kube_state = self._wait_kube_dns(target) if kube_up else ""
            self._annotate(target, reason, "done", finished=True)
        except (WizardError, WaitTimeout) as err:
            if journal is not None:
                journal.failed(
                    contain_id,
                    tr(step.description, "en"),
                    step.target,
                    tr(error_text(err), "en"),
                    from_value,
                    to_value,
                )
            raise ContainmentFailed(error_text(err)) from None
        return gone, left_after, kube_state

    def _contained_words(
        self, target: Target, coredns_before: int, kube_before: int, gone: dict[str, str],
        left_after: float, kube_state: str,
    ) -> Message:
        """What the containment did, worded for the journal and the progress note."""
        coredns = self._scale_words(
            "CoreDNS",
            self.options.coredns_deployment,
            coredns_before,
            target.coredns,
            down=True,
            tense="done",
        )
        kube_dns = self._scale_words(
            "kube-dns",
            self.options.kube_dns_deployment,
            kube_before,
            target.kube_dns,
            down=False,
            tense="back",
        )
        if kube_state:
            kube_dns = msg(
                "switch.contain-kube-dns-state", "{scaled} ({state})", scaled=kube_dns, state=kube_state
            )
        if not gone:
            return msg("switch.contain-two-parts", "{first}; {second}", first=coredns, second=kube_dns)
        pods = msg(
            "switch.contain-pods-gone",
            "pod(s) {pods} gone, none a ready endpoint of Service {service} any more ({after} after "
            "containment began)",
            pods=", ".join(f"{name} ({ip})" for ip, name in sorted(gone.items())),
            service=f"{self.ns}/{self.options.dns_service}", after=human_duration(left_after),
        )
        return msg(
            "switch.contain-three-parts",
            "{first}; {second}; {third}", first=coredns, second=pods, third=kube_dns
        )

    def _contain_step(self, target: Target) -> Step:
        """The containment as a step, for the confirmation and the journal (not a plan step)."""
        return Step(
            id=f"r{target.round}{CONTAIN_STEP_SUFFIX}",
            kind="scale-coredns",
            round=target.round,
            description=msg(
                "switch.contain-step",
                "Contain the failed round {round}: {what}, so no failing CoreDNS pod stays in "
                "Service {service}",
                round=target.round,
                what=self._describe(target),
                service=f"{self.ns}/{self.options.dns_service}",
            ),
            kubectl=(
                f"kubectl scale deployment {self.options.kube_dns_deployment} -n {self.ns} "
                f"--replicas={target.kube_dns}",
                f"kubectl scale deployment {self.options.coredns_deployment} -n {self.ns} "
                f"--replicas={target.coredns}",
            ),
            target=f"deployment {self.ns}/{self.options.coredns_deployment}",
            replicas=target.coredns,
            changes_cluster=True,
        )

    def _scale(self, contain_id: str, what: str, name: str, before: int, after: int) -> None:
        journal = self.sw.journal
        step_id = f"{contain_id}.scale-{'coredns' if what == 'CoreDNS' else 'kube-dns'}"
        action = f"contain: scale {what} {self.ns}/{name} {before} → {after}"
        obj = f"Deployment {self.ns}/{name}"
        if journal is not None:
            journal.intent(step_id, action, obj, before, after)
        self.gateway.scale_deployment(self.ns, name, after)
        if journal is not None:
            journal.done(step_id, action, obj, before, after)

    def _annotate(self, target: Target, reason: str, state: str, finished: bool = False) -> None:
        record = ContainmentRecord(
            target.round,
            target.coredns,
            target.kube_dns,
            target.resume_after,
            state,
            tr(reason, "en")[:500],  # on the cluster: English, whatever the operator reads
            now_rfc3339(),
        )
        notes: dict[str, str | None] = {ANNOTATION_CONTAINMENT: record.to_json()}
        if finished:
            notes[ANNOTATION_PHASE] = target.resume_after
            notes[ANNOTATION_ROUND] = str(self.plan.step(target.resume_after).round)
        self.gateway.annotate_deployment(self.ns, self.options.coredns_deployment, notes)

    # ---- waits --------------------------------------------------------------------------------
    def _keep_one_endpoint(self, target: Target) -> None:
        """Taking every CoreDNS pod out must not leave the Service without a ready endpoint:
        first wait (bounded) for a ready kube-dns endpoint, unless the scheduler refuses the
        kube-dns pods (no room until the CoreDNS pods leave, as in shrink-first order)."""
        if target.coredns > 0:
            return
        stuck = StuckScheduling(grace_s=0.0)

        def has_kube_dns_endpoint(pods: list[Obj]) -> bool | None:
            classified = self._classify(pods)
            endpoints = self.gateway.try_get("Endpoints", self.ns, self.options.dns_service) or {}
            if endpoint_ips(endpoints) & classified.ips("kube-dns"):
                return True
            waiting = [p for p in classified.kube_dns if not pod_is_ready(p)]
            return True if stuck.check(waiting, pods) is not None else None

        try:
            self.sw.ctx.wait(
                "Pod",
                has_kube_dns_endpoint,
                self.options.ready_timeout_seconds,
                msg(
                    "switch.wait-kube-dns-endpoint", "a ready kube-dns endpoint before the CoreDNS pods leave"
                ),
                label_selector="k8s-app=kube-dns",
                cancellable=False,
            )
        except WaitTimeout:
            self.sw._emit(Note(msg(
                "switch.no-kube-dns-endpoint",
                "no kube-dns pod became a ready endpoint in time; containing anyway"
            )))

    def _wait_left(self, target: Target, leaving_from: dict[str, str]) -> dict[str, str]:
        """Wait until CoreDNS has at most `target.coredns` pods not being deleted and none of the
        others is a ready endpoint (Endpoints, then EndpointSlices). Returns ip -> name of the
        pods that left the Service."""
        service = self.options.dns_service
        state: dict[str, set[str]] = {"staying": set()}

        def settled(pods: list[Obj]) -> bool | None:
            classified = self._classify(pods)
            staying = [
                p for p in classified.coredns if not (p.get("metadata") or {}).get("deletionTimestamp")
            ]
            if len(staying) > target.coredns:
                return None
            state["staying"] = {self._ip(p) for p in staying if self._ip(p)}
            return True

        self.sw.ctx.wait(
            "Pod",
            settled,
            LEAVE_TIMEOUT_S,
            msg(
                "switch.wait-coredns-down", "CoreDNS {deployment} down to {count} pod(s)",
                deployment=f"{self.ns}/{self.options.coredns_deployment}", count=target.coredns,
            ),
            label_selector="k8s-app=kube-dns",
            cancellable=False,
        )
        leaving = {ip: name for ip, name in leaving_from.items() if ip not in state["staying"]}
        ips = ", ".join(sorted(leaving)) or msg("switch.no-pod", "no pod")
        what = msg(
            "switch.wait-out-of-endpoints", "{ips} out of the ready endpoints of Service {service}",
            ips=ips, service=f"{self.ns}/{service}",
        )
        what_slices = msg(
            "switch.wait-out-of-endpointslices", "{ips} out of the ready EndpointSlices of Service {service}",
            ips=ips, service=f"{self.ns}/{service}",
        )

        def out_of_endpoints(objs: list[Obj]) -> bool | None:
            ep = next((o for o in objs if o["metadata"].get("name") == service), None)
            ready = endpoint_ips(ep) if ep is not None else set()
            if ep is not None:
                self.sw._emit(EndpointsChanged(tuple(sorted(ready)), tuple(sorted(endpoint_ips(ep, False)))))
            return True if not ready & set(leaving) else None

        self.sw.ctx.wait(
            "Endpoints",
            out_of_endpoints,
            LEAVE_TIMEOUT_S,
            what,
            field_selector=f"metadata.name={service}",
            cancellable=False,
        )
        self.sw.ctx.wait(
            "EndpointSlice",
            lambda _objs: True if not slice_ready_ips(self.gateway, self.options) & set(leaving) else None,
            LEAVE_TIMEOUT_S,
            what_slices,
            label_selector=f"kubernetes.io/service-name={service}",
            cancellable=False,
        )
        return leaving

    def _wait_kube_dns(self, target: Target) -> str:
        """After scaling kube-dns back up: wait (bounded) for its pods to be Ready. Not reaching
        the count is reported, not fatal: the failing pods are already out."""
        stuck = StuckScheduling()
        refusal: list[str] = []

        def ready(pods: list[Obj]) -> int | None:
            classified = self._classify(pods)
            count = len(
                [
                    p
                    for p in classified.ready("kube-dns")
                    if not (p.get("metadata") or {}).get("deletionTimestamp")
                ]
            )
            if count >= target.kube_dns:
                return count
            message = stuck.check(classified.kube_dns, pods)
            if message is not None:
                refusal.append(message)
                return count
            return None

        try:
            count = self.sw.ctx.wait(
                "Pod",
                ready,
                self.options.ready_timeout_seconds,
                msg("switch.wait-kube-dns-ready", "{count} Ready kube-dns pod(s)", count=target.kube_dns),
                label_selector="k8s-app=kube-dns",
                cancellable=False,
            )
        except WaitTimeout:
            count = len(list_dns_pods(self.gateway, self.options).ready("kube-dns"))
        if count >= target.kube_dns:
            return msg(
                "switch.kube-dns-ready-count", "{count}/{want} Ready", count=count, want=target.kube_dns
            )
        if refusal:
            return msg(
                "switch.kube-dns-ready-so-far-refused", "{count}/{want} Ready so far; {refusal}",
                count=count, want=target.kube_dns, refusal=refusal[0],
            )
        return msg(
            "switch.kube-dns-ready-so-far", "{count}/{want} Ready so far", count=count, want=target.kube_dns
        )

    # ---- checks ---------------------------------------------------------------------------------
    def _failing_survivor(self, step: Step) -> str | None:
        """Probe the CoreDNS pods that stay (with the probe step's own verdict); the first
        failure, or None when they all pass or none stays."""
        from wizard.migration.step_runner import SwitchStop

        pods = list_dns_pods(self.gateway, self.options)
        if not pods.ready("coredns"):
            return None
        try:
            self.sw._probe(step)
        except SwitchStop as stop:
            return stop.reason
        except WizardError as err:
            self.sw._emit(Note(msg(
                "switch.survivors-probe-error", "could not probe the CoreDNS pods that stay: {error}",
                error=error_text(err),
            )))
        return None

    def _suspects(self, step: Step, stop: SwitchStop) -> tuple[list[Obj], bool]:
        """(pods, named): the CoreDNS pods the failure names (named=True); else the ones beyond
        the round's starting count (newest first), which are the ones the round added."""
        pods = list_dns_pods(self.gateway, self.options)
        text = " ".join((stop.reason, *stop.evidence))
        named = [p for p in pods.coredns if self._name(p) and self._name(p) in text]
        if named:
            return named, True
        newest = sorted(
            pods.coredns, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp")), reverse=True
        )
        extra = len(pods.coredns) - max(0, step.round - 1)
        return newest[: max(0, extra)], False

    def _exposure(self, suspects: tuple[list[Obj], bool]) -> str:
        """Whether live traffic reaches the failing pod(s) now, from the Service's endpoints.
        Pods the failure did not name are called what they are: the ones this round added."""
        pods, named = suspects
        what = (
            msg("switch.failing-pods", "the failing pod(s)")
            if named
            else msg("switch.pods-this-round-added", "the CoreDNS pod(s) this round added")
        )
        endpoints = self.gateway.try_get("Endpoints", self.ns, self.options.dns_service) or {}
        ready = endpoint_ips(endpoints) | slice_ready_ips(self.gateway, self.options)
        service = f"{self.ns}/{self.options.dns_service}"
        serving = [f"{self._name(p)} ({self._ip(p)})" for p in pods if self._ip(p) in ready]
        if serving:
            return msg(
                "switch.exposure-live",
                "live traffic is reaching {what} {pods} now: they are ready endpoints of Service {service}",
                what=what, pods=", ".join(serving), service=service,
            )
        if pods:
            return msg(
                "switch.exposure-not-ready",
                "{what} {pods} are not ready endpoints of Service {service}: no live traffic reaches them",
                what=what, pods=", ".join(self._name(p) for p in pods), service=service,
            )
        return msg(
            "switch.exposure-none",
            "no CoreDNS pod this round added is a ready endpoint of Service {service}",
            service=service,
        )

    def _stop_advice(self) -> str:
        return msg(
            "switch.contain-or-rollback-advice",
            "contain now with `coredns-wizard switch` (it checks the round again and contains a "
            "failure by default) or roll back with `coredns-wizard rollback`",
        )

    def _resume_round(self, record: ContainmentRecord | None) -> int:
        if record is None:
            return 1
        return self.plan.step(record.resume_after).round + 1

    # ---- small helpers ----------------------------------------------------------------------------
    def _classify(self, pods: list[Obj]) -> DnsPods:
        classified = list_dns_pods(self.gateway, self.options, pods)
        self.sw._emit(PodsChanged(classified.views))
        return classified

    @staticmethod
    def _ip(pod: Obj) -> str:
        return str((pod.get("status") or {}).get("podIP") or "")

    @staticmethod
    def _name(pod: Obj) -> str:
        return str((pod.get("metadata") or {}).get("name") or "")


def is_contained_failure(step: Step | None) -> bool:
    """Whether a failure of `step` is one containment answers (see CONTAINED_KINDS)."""
    return step is not None and step.round > 0 and step.kind in CONTAINED_KINDS
