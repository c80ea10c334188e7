"""Executing a switch plan against a live cluster, one verified step at a time, resumable.

Why this shape: a switch runs for a long time on a production cluster and may be interrupted
anywhere. Every change is journaled before and after it is sent and its result is recorded on the
CoreDNS Deployment, so a restarted wizard (here or on another machine) continues exactly where the
last one stopped. kube-dns is only ever scaled down after CoreDNS has proved itself: Ready, in the
Service's endpoints, answering like kube-dns, and quiet through the observation window before;
every serving CoreDNS pod is probed again right before each kube-dns scale-down. A verification that
fails after a change is contained before the switch stops (wizard.migration.containment).
The engine never prints and never asks: it reports through `on_event` and asks through `confirm`.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from wizard.durations import human_duration
from wizard.errors import WizardError
from wizard.k8s.gateway import Gateway, Obj
from wizard.k8s.watch import WaitProgress, WaitTimeout, pod_is_ready, wait_for
from wizard.migration import autoscaler
from wizard.migration.autoscaler import AutoscalerRecord
from wizard.migration.containment import Containment, is_contained_failure
from wizard.migration.dns_pods import DnsPods, endpoint_membership, list_dns_pods, slice_ready_ips
from wizard.migration.ipvs_gate import IpvsGateTracker, acknowledge
from wizard.migration.journal import (
    ANNOTATION_AUTOSCALER,
    ANNOTATION_CONTAINMENT,
    ANNOTATION_LAST_KUBE_DNS_SCALE_DOWN,
    ANNOTATION_ORDER,
    ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS,
    ANNOTATION_PHASE,
    ANNOTATION_ROUND,
    Journal,
    now_rfc3339,
)
from wizard.migration.pending_pods import StuckScheduling
from wizard.migration.plan import Plan, Step
from wizard.migration.probes import (
    ObservationStats,
    PinnedSocket,
    ProbeQuery,
    ProbeResult,
    ProbeTarget,
    Transport,
    TunnelPool,
    choose_transport,
    probe,
)
from wizard.migration.progress import (
    Confirm,
    EndpointsChanged,
    Event,
    EventSink,
    Note,
    ObservationTick,
    Outcome,
    PodsChanged,
    ProbeBatch,
    Problem,
    StepFinished,
    StepStarted,
    SwitchCompleted,
    SwitchStopped,
    Waiting,
)
from wizard.migration.switch_state import (
    ANNOTATION_ROLLBACK_STEP,
    PHASE_COMPLETED,
    PHASE_ROLLED_BACK,
    ROLLBACK_STEP,
    done_plan_steps,
    read_cluster_record,
    ready_replicas,
)
from wizard.migration.verdicts import Expected, Verdict, expected_records, judge
from wizard.options import SwitchOptions
from wizard.textsafety import escape_control

T = TypeVar("T")
ROLLBACK_ADVICE = (
    "roll back with `coredns-wizard rollback` (kube-dns back first), or fix the cause and run "
    "`coredns-wizard switch` again to resume"
)
ENDPOINT_PROPAGATION_TIMEOUT_S = 60.0
OBSERVE_QUERY_INTERVAL_S = 0.25
PROBE_TIMEOUT_S = 2.0
PINNED_SOCKETS = 3
"""Long-lived sockets the observation also asks through, as clients that keep theirs do."""
PINNED_TIMEOUT_S = 1.0
AUTOSCALER_MIN_OBSERVE_S = 1.0
"""The shortest watch that kube-dns stays at 0 after the retarget (the observation window, when
longer): at the lab's test speed, two of the autoscaler's polls."""
CRASH_LOOP_RESTARTS = 3
"""Restarts after which a crash-looping CoreDNS pod stops the wait early (its logs say why)."""


class SwitchStop(Exception):
    """Ends the switch between steps, with what happened and what the operator should do."""

    def __init__(self, reason: str, advice: str = ROLLBACK_ADVICE, evidence: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.advice = advice
        self.evidence = evidence
        self.failed_step: Step | None = None
        """The plan step whose run raised it (None: declined, cancelled, or outside a step)."""


class Cancelled(Exception):
    """The caller asked the engine to stop (TUI button, Ctrl-C handler) during a wait."""


@dataclass(frozen=True)
class SwitchOutcome:
    """completed: CoreDNS at the original replica count and Ready, kube-dns at 0."""

    completed: bool
    reason: str
    advice: str
    steps_run: tuple[str, ...]
    dry_run: bool = False
    stopped_at: str | None = None


class Switcher:
    """Runs (or resumes) one plan. `confirm` is None when the operator passed --yes."""

    def __init__(
        self,
        gateway: Gateway,
        plan: Plan,
        journal: Journal | None,
        options: SwitchOptions,
        on_event: EventSink | None = None,
        confirm: Confirm | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.gateway = gateway
        self.plan = plan
        self.journal = journal
        self.options = options
        self.on_event = on_event
        self.confirm = None if options.assume_yes else confirm
        self.cancel = cancel or threading.Event()
        self.dry_run = gateway.dry_run or options.mode == "dry-run"
        self.ns = options.namespace
        self.dns_port = options.dns_port or gateway.connection.dns_port
        self._transports: dict[str, Transport] = {}
        self._ran: list[str] = []
        self._pinned: list[PinnedSocket] = []
        self.tunnels = TunnelPool(gateway)
        """Port-forwards to the pods this host cannot reach directly, one per pod, kept for the run."""
        self.ipvs_gate: IpvsGateTracker | None = None
        """The IPVS gate checked before every kube-dns scale-down (the TUI may hand its own)."""
        self._ipvs_acknowledged = False

    # ---- public -------------------------------------------------------------------------
    def run(self, stop_after: str | None = None) -> SwitchOutcome:
        """Run the plan's remaining steps. With `stop_after`, end successfully once that step is
        done (run now or earlier) without the end-of-switch check: a partial run by design, such
        as the TUI's deploy stage, which applies the manifests and leaves the rounds for later."""
        if stop_after is not None and stop_after not in self.plan.ids():
            raise ValueError(
                f"the plan has no step {stop_after!r}; its steps are {', '.join(self.plan.ids())}"
            )
        current: Step | None = None
        try:
            Containment(self).finish_interrupted()
            done = self._done_steps()
            for step in self.plan.steps:
                current = step
                if step.id not in done:
                    self._check_cancel()
                    self._run_step(step)
                if step.id == stop_after:
                    return self._stopped_as_asked(step)
            current = None
            return self._finish()
        except SwitchStop as stop:
            return self._stopped(current, self._contained(stop))
        except Cancelled:
            where = f" during step {current.id}" if current else ""
            return self._stopped(
                current,
                SwitchStop(
                    f"stopped on request{where}",
                    "resume with `coredns-wizard switch`, or roll back with `coredns-wizard rollback`",
                ),
            )
        except WizardError as err:
            return self._stopped(current, SwitchStop(str(err)))
        finally:
            self._close_pinned()
            self.tunnels.close()

    # ---- resume -------------------------------------------------------------------------
    def _done_steps(self) -> set[str]:
        """Steps already finished, from the journal and the CoreDNS Deployment's annotations."""
        record = read_cluster_record(self.gateway, self.options)
        original = record.original_kube_dns_replicas
        if (
            original is not None
            and record.phase != PHASE_ROLLED_BACK
            and original != self.plan.original_kube_dns_replicas
        ):
            raise SwitchStop(
                f"Deployment {self.ns}/{self.options.coredns_deployment} records that kube-dns had "
                f"{original} replicas when this switch began ({ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS}), "
                f"but the plan was made for {self.plan.original_kube_dns_replicas}",
                "the plan must be rebuilt from the recorded count: run `coredns-wizard plan` and "
                "`coredns-wizard switch` again, or roll back with `coredns-wizard rollback`",
            )
        ids = self.plan.ids()
        if record.phase == PHASE_COMPLETED:
            annotated = list(ids)
        elif record.phase in ids:
            annotated = ids[: ids.index(record.phase) + 1]
        else:
            annotated = []
        journal_done = self._journal_done(record.phase)
        done = set(annotated)
        if record.coredns is None:
            # nothing after deploy can have happened without the CoreDNS Deployment (deleted by hand?)
            done = {"pause-autoscaler"} & journal_done
        elif annotated:
            # the journal is written just before the annotation: it may be one step ahead, never more
            following = ids[len(annotated)] if len(annotated) < len(ids) else None
            if following in journal_done:
                done.add(following)
        else:
            # no phase annotation yet: killed between applying the manifests and annotating them
            for step_id in ids[: ids.index("deploy") + 1] if "deploy" in ids else []:
                if step_id not in journal_done:
                    break
                done.add(step_id)
        if done:
            first = next((i for i in ids if i not in done), None)
            self._emit(
                Note(
                    f"resuming: {len(done)} of {len(ids)} steps already done"
                    + (f"; continuing at {first}" if first else "")
                )
            )
        return done

    def _contained(self, stop: SwitchStop) -> SwitchStop:
        """A verification that failed after a change is contained first (wizard.migration.containment)."""
        step = stop.failed_step
        if step is None or not is_contained_failure(step):
            return stop
        try:
            return Containment(self).after_failure(step, stop)
        except WizardError as err:
            return SwitchStop(
                f"{stop.reason}. Containment could not start: {err}",
                "check `coredns-wizard status`: a failing CoreDNS pod may still serve; run "
                "`coredns-wizard switch` again to contain it, or `coredns-wizard rollback`",
                stop.evidence,
            )

    def _journal_done(self, phase: str | None) -> set[str]:
        """Steps this machine's journal finished in the current attempt. After a rollback the
        journal counts only if it saw that rollback (it may have been run from another machine)."""
        if self.journal is None:
            return set()
        if phase == PHASE_ROLLED_BACK:
            entries = self.journal.read().entries
            if not any(e.step == ROLLBACK_STEP and e.status == "done" and not e.dry_run for e in entries):
                return set()
        return done_plan_steps(self.journal, self.plan.ids())

    # ---- one step -----------------------------------------------------------------------
    def _run_step(self, step: Step) -> None:
        self._emit(StepStarted(step))
        runner: Callable[[Step], tuple[Outcome, str]] = {
            "pause-autoscaler": self._pause_autoscaler,
            "deploy": self._deploy,
            "scale-coredns": self._scale_coredns,
            "wait-ready": self._wait_ready,
            "probe": self._probe,
            "check-endpoints": self._check_endpoints,
            "scale-kube-dns": self._scale_kube_dns,
            "observe": self._observe,
            "finish-autoscaler": self._finish_autoscaler,
        }[step.kind]
        if step.changes_cluster and not self.dry_run and self.confirm is not None:
            what = f"{step.description}: {step.target} in context {self.gateway.connection.context!r}" + (
                f" ({'; '.join(step.kubectl)})" if step.kubectl else ""
            )
            if not self.confirm(step, what):
                self._emit(StepFinished(step, "declined", "the operator declined"))
                raise SwitchStop(
                    f"the operator declined step {step.id} ({step.description})",
                    "nothing was changed by this step; run `coredns-wizard switch` again to resume, "
                    "or `coredns-wizard rollback`",
                )
        self._intent(step)
        try:
            outcome, detail = runner(step)
        except SwitchStop as stop:
            self._failed(step, stop.reason)
            self._emit(StepFinished(step, "failed", stop.reason))
            stop.failed_step = step
            raise
        except WizardError as err:
            self._failed(step, str(err))
            self._emit(StepFinished(step, "failed", str(err)))
            failed = SwitchStop(f"step {step.id} ({step.description}) failed: {err}")
            failed.failed_step = step
            raise failed from None
        self._done(step, detail)
        self._ran.append(step.id)
        shown: Outcome = "dry-run" if self.dry_run and outcome == "done" else outcome
        self._emit(StepFinished(step, shown, detail))

    def _intent(self, step: Step) -> None:
        if self.journal is not None and not self.dry_run:
            self.journal.intent(step.id, step.description, step.target, self._from_value(step), step.replicas)

    def _done(self, step: Step, detail: str) -> None:
        if self.dry_run:
            return
        if self.journal is not None:
            self.journal.done(
                step.id, step.description, step.target, self._from_value(step), step.replicas, detail or None
            )
        if step.kind != "pause-autoscaler" and self._coredns_exists():
            notes: dict[str, str | None] = {ANNOTATION_PHASE: step.id, ANNOTATION_ROUND: str(step.round)}
            notes[ANNOTATION_ROLLBACK_STEP] = None  # a switch resumed after a partial rollback
            if step.kind == "scale-kube-dns":
                notes[ANNOTATION_LAST_KUBE_DNS_SCALE_DOWN] = now_rfc3339()
            self.gateway.annotate_deployment(self.ns, self.options.coredns_deployment, notes)

    def _from_value(self, step: Step) -> int | None:
        """The deploy entry carries the original kube-dns size, for a rollback without annotations."""
        return self.plan.original_kube_dns_replicas if step.kind == "deploy" else None

    def _failed(self, step: Step, reason: str) -> None:
        if self.journal is not None and not self.dry_run:
            self.journal.failed(step.id, step.description, step.target, reason, None, step.replicas)

    def _coredns_exists(self) -> bool:
        return self.gateway.try_get("Deployment", self.ns, self.options.coredns_deployment) is not None

    # ---- changes ------------------------------------------------------------------------
    def _pause_autoscaler(self, step: Step) -> tuple[Outcome, str]:
        info = self.plan.autoscaler
        if info is None:
            return "skipped", "no kube-dns autoscaler"
        live = self.gateway.get_deployment(info.namespace, info.name)
        record, scaled = autoscaler.pause(self.gateway, live)
        if not scaled:
            return (
                "already-done",
                f"autoscaler {info.namespace}/{info.name} already at 0 (was {record.replicas})",
            )
        return (
            "done",
            f"autoscaler {info.namespace}/{info.name} scaled {record.replicas} → 0 (target {record.target})",
        )

    def _autoscaler_record(self) -> AutoscalerRecord | None:
        """The record on the CoreDNS Deployment, else the one on the autoscaler itself."""
        info = self.plan.autoscaler
        if info is None:
            return None
        record = read_cluster_record(self.gateway, self.options).autoscaler
        if record is not None:
            return record
        deployment = self.gateway.try_get("Deployment", info.namespace, info.name)
        if deployment is None:
            return None
        return autoscaler.recorded_on(deployment) or autoscaler.record_of(deployment)

    def _deploy(self, step: Step) -> tuple[Outcome, str]:
        existing = self.gateway.try_get("Deployment", self.ns, self.options.coredns_deployment)
        objects = [copy.deepcopy(o) for o in self.plan.manifests.objects]
        if existing is not None and _spec_replicas(existing) > 0:
            for obj in objects:  # re-applying must not undo the scale-ups already made
                if obj.get("kind") == "Deployment":
                    (obj.get("spec") or {}).pop("replicas", None)
        results = self.gateway.apply(objects)
        if not self.dry_run:
            notes: dict[str, str | None] = {
                ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS: str(self.plan.original_kube_dns_replicas),
                ANNOTATION_ORDER: self.plan.order,
                ANNOTATION_CONTAINMENT: None,  # one of an earlier, rolled-back attempt is void
            }
            record = self._autoscaler_record()
            if record is not None:
                notes[ANNOTATION_AUTOSCALER] = record.to_json()
            self.gateway.annotate_deployment(self.ns, self.options.coredns_deployment, notes)
        names = ", ".join(r.action.removeprefix("apply ") for r in results)
        return "done", f"applied {names}"

    def _scale(self, step: Step, deployment_name: str) -> tuple[Outcome, str]:
        assert step.replicas is not None, f"scale step {step.id} has no replica count"
        current = self.gateway.try_get("Deployment", self.ns, deployment_name)
        if current is None:
            if self.dry_run:
                return (
                    "done",
                    f"would scale Deployment {self.ns}/{deployment_name} to {step.replicas} "
                    "(not created in a dry run)",
                )
            raise SwitchStop(
                f"Deployment {self.ns}/{deployment_name} does not exist",
                "someone deleted it mid-switch: run `coredns-wizard rollback`",
            )
        before = _spec_replicas(current)
        if before == step.replicas:
            return "already-done", f"Deployment {self.ns}/{deployment_name} already has {before} replicas"
        self.gateway.scale_deployment(self.ns, deployment_name, step.replicas)
        return "done", f"Deployment {self.ns}/{deployment_name} {before} → {step.replicas}"

    def _scale_coredns(self, step: Step) -> tuple[Outcome, str]:
        return self._scale(step, self.options.coredns_deployment)

    def _scale_kube_dns(self, step: Step) -> tuple[Outcome, str]:
        assert step.replicas is not None
        if self.dry_run:
            return self._scale(step, self.options.kube_dns_deployment)
        self._check_ipvs_gate(step)
        self._check_safe_to_shrink(step)
        self._pin_clients()
        if self._pods().ready("coredns"):  # every serving CoreDNS pod answers again, right before
            self._probe(step)
        result = self._scale(step, self.options.kube_dns_deployment)
        self._wait_scaled_down(step.replicas)
        return result

    def _check_ipvs_gate(self, step: Step) -> None:
        """No kube-dns scale-down while clients may stay pinned to the removed pod (IPVS timeout
        not short, not in effect, or its wait not over), unless the operator gave a reason."""
        if self.ipvs_gate is None:
            self.ipvs_gate = IpvsGateTracker(
                self.gateway, self.ns, self.options.ipvs_wait_seconds, self.options.ipvsadm_set_at)
        gate = self.ipvs_gate.check()
        if not gate.blocks:
            return
        if self.options.ipvs_ack is None:
            raise SwitchStop(
                f"refusing to scale kube-dns to {step.replicas}: IPVS gate closed: {gate.summary}",
                f"{gate.action[:1].upper()}{gate.action[1:]}; then run `coredns-wizard switch` again "
                "(it resumes here). To go on anyway, pass --ipvs-ack \"REASON\" (journaled)",
            )
        if not self._ipvs_acknowledged:
            self._emit(Note(acknowledge(self.options.ipvs_ack, gate, self.journal)))
            self._ipvs_acknowledged = True

    def _check_safe_to_shrink(self, step: Step) -> None:
        """Never scale kube-dns down unless CoreDNS already serves as planned, and never to
        zero ready endpoints."""
        assert step.replicas is not None
        want_coredns = self._coredns_count_before(step)
        pods = self._pods()
        members = endpoint_membership(self.gateway, self.options, pods)
        self._emit(EndpointsChanged(members.ready, members.not_ready))
        serving = len(members.coredns_ready)
        kube_left = min(step.replicas, len(members.kube_dns_ready))
        if serving < want_coredns or serving + kube_left < 1:
            raise SwitchStop(
                f"refusing to scale kube-dns to {step.replicas}: the Service {self.ns}/"
                f"{self.options.dns_service} has {serving} ready CoreDNS endpoint(s) "
                f"({', '.join(members.coredns_ready) or 'none'}), {want_coredns} needed, and "
                f"{len(members.kube_dns_ready)} kube-dns",
                "wait until the CoreDNS pods are Ready and in the endpoints, then run "
                "`coredns-wizard switch` again; or `coredns-wizard rollback`",
            )

    def _coredns_count_before(self, step: Step) -> int:
        count = 0
        for other in self.plan.steps:
            if other.id == step.id:
                break
            if other.kind == "scale-coredns" and other.replicas is not None:
                count = other.replicas
        return count

    def _finish_autoscaler(self, step: Step) -> tuple[Outcome, str]:
        info = self.plan.autoscaler
        if info is None:
            return "skipped", "no kube-dns autoscaler"
        record = self._autoscaler_record()
        if record is None:
            return "skipped", f"autoscaler {info.namespace}/{info.name} is gone"
        policy = self.options.autoscaler_policy
        if policy == "leave-paused":
            return (
                "done",
                f"autoscaler {record.namespace}/{record.name} left at 0 replicas (policy leave-paused)",
            )
        if policy == "retarget":
            autoscaler.retarget(self.gateway, record, self.options.coredns_deployment)
        else:
            self._emit(
                Note(
                    f"autoscaler {record.namespace}/{record.name} restored with --target={record.target}: "
                    "it will "
                    "scale kube-dns up again; scale it to 0 or retarget it to the CoreDNS Deployment"
                )
            )
        self.gateway.scale_deployment(record.namespace, record.name, record.replicas)
        if policy != "retarget":
            return "done", f"autoscaler {record.namespace}/{record.name} scaled back to {record.replicas}"
        if self.dry_run:
            return "done", f"autoscaler {record.namespace}/{record.name} retargeted and scaled back (dry-run)"
        verified = autoscaler.verify_retargeted(
            self.gateway,
            record,
            self.options.coredns_deployment,
            self.options.kube_dns_deployment,
            max(self.options.observe_seconds, AUTOSCALER_MIN_OBSERVE_S),
            self.options.ready_timeout_seconds,
            lambda what, elapsed, total: self._emit(Waiting(what, elapsed, total)),
        )
        return (
            "done",
            f"autoscaler {record.namespace}/{record.name} retargeted to the CoreDNS Deployment and scaled "
            f"back to {record.replicas}; {verified}",
        )

    # ---- checks -------------------------------------------------------------------------
    def _expected_coredns(self, step: Step) -> int:
        return step.replicas if step.replicas is not None else self._coredns_count_before(step)

    def _wait_ready(self, step: Step) -> tuple[Outcome, str]:
        want = self._expected_coredns(step)
        what = f"{want} Ready pod(s) of Deployment {self.ns}/{self.options.coredns_deployment}"
        if self.dry_run:
            self._emit(Waiting(f"dry-run: would wait for {what}", 0.0, 0.0))
            return "skipped", (
                f"dry-run: would wait up to {human_duration(self.options.ready_timeout_seconds)} for {what}"
            )
        rs_cache: dict[str, DnsPods] = {}
        stuck = StuckScheduling()
        refusal: list[str] = []

        def ready(pods: list[Obj]) -> DnsPods | None:
            classified = list_dns_pods(self.gateway, self.options, pods)
            rs_cache["last"] = classified
            self._emit(PodsChanged(classified.views))
            if len(classified.ready("coredns")) >= want or _crash_looping(classified.coredns):
                return classified
            message = stuck.check(classified.coredns, pods)
            if message is not None:
                refusal.append(message)
                return classified
            return None

        try:
            found = self._wait(
                "Pod", ready, self.options.ready_timeout_seconds, what, label_selector="k8s-app=kube-dns"
            )
            if len(found.ready("coredns")) >= want:
                failure = ""
            elif refusal:
                failure = f"{refusal[0]} (while waiting for {what})"
            else:
                failure = (
                    f"a CoreDNS pod keeps crashing ({CRASH_LOOP_RESTARTS}+ restarts) while waiting for {what}"
                )
        except WaitTimeout as err:
            found = rs_cache.get("last") or self._pods()
            failure = str(err)
        if failure:
            evidence = self._pod_evidence([p for p in found.coredns if not pod_is_ready(p)])
            self._emit(Problem(failure, ROLLBACK_ADVICE, evidence))
            raise SwitchStop(f"CoreDNS did not become ready: {failure}", ROLLBACK_ADVICE, evidence)
        names = ", ".join(p["metadata"]["name"] for p in found.ready("coredns"))
        return "done", f"Ready: {names}"

    def _pod_evidence(self, pods: list[Obj]) -> tuple[str, ...]:
        lines: list[str] = []
        for pod in pods:
            name = str(pod["metadata"]["name"])
            status = pod.get("status") or {}
            lines.append(
                f"pod {self.ns}/{name}: phase {status.get('phase')}"
                + (f", reason {status['reason']}" if status.get("reason") else "")
            )
            for cond in status.get("conditions") or []:
                if cond.get("status") != "True" and cond.get("message"):
                    lines.append(f"  {cond.get('type')}={cond.get('status')}: {cond.get('message')}")
            for cs in status.get("containerStatuses") or []:
                waiting = (cs.get("state") or {}).get("waiting") or {}
                if waiting:
                    lines.append(
                        f"  container {cs.get('name')} waiting: {waiting.get('reason')} "
                        f"{waiting.get('message') or ''}".rstrip()
                        + f" (restarts {cs.get('restartCount', 0)})"
                    )
            try:
                for event in self.gateway.events_for("Pod", self.ns, name)[-5:]:
                    lines.append(f"  event {event.get('type')} {event.get('reason')}: {event.get('message')}")
            except WizardError as err:
                lines.append(f"  events unavailable: {err}")
            for previous in (False, True):
                try:
                    text = self.gateway.pod_logs(self.ns, name, tail_lines=10, previous=previous)
                except WizardError:
                    continue
                label = "previous container log" if previous else "log"
                lines.extend(f"  {label}: {line}" for line in text.strip().splitlines()[-10:])
        return tuple(escape_control(line) for line in lines)  # cluster text, bound for terminals

    def _probe(self, step: Step) -> tuple[Outcome, str]:
        if self.dry_run:
            self._emit(Waiting("dry-run: would probe the new CoreDNS pods and a kube-dns pod", 0.0, 0.0))
            return "skipped", "dry-run: no pods to probe"
        pods = self._pods()
        coredns = pods.ready("coredns")
        kube_dns = [p for p in pods.ready("kube-dns") if not p["metadata"].get("deletionTimestamp")]
        if not coredns:
            raise SwitchStop("no Ready CoreDNS pod to probe")
        queries = self._questions()
        baseline = self._target(kube_dns[0]) if kube_dns else None
        targets = [self._target(p) for p in coredns]
        verdicts: list[Verdict] = []
        for query in queries:
            expected = expected_records(self.gateway, query, self.plan.cluster_domain)
            base = self._ask(baseline, query.name, query.rdtype) if baseline else None
            for target in targets:
                got = self._ask(target, query.name, query.rdtype)
                verdicts.append(judge(query, got, base, expected))
        used = [t.label for t in targets] + ([baseline.label] if baseline else [])
        transports = tuple(
            f"{label}: {self._transports[label]}" for label in used if label in self._transports
        )
        self._emit(ProbeBatch(tuple(verdicts), transports))
        failures = [v for v in verdicts if not v.passed]
        if failures:
            evidence = tuple(v.line for v in failures)
            self._emit(Problem("CoreDNS answered wrongly or not at all", ROLLBACK_ADVICE, evidence))
            raise SwitchStop(f"probe failed: {failures[0].line}", ROLLBACK_ADVICE, evidence)
        against = (
            f" compared with {baseline.label}" if baseline else " (no kube-dns pod left to compare with)"
        )
        unsure = [v for v in verdicts if not v.conclusive]
        doubt = f"; inconclusive: {unsure[0].reason}" if unsure else ""
        return (
            "done",
            f"{len(queries)} question(s) to {len(targets)} CoreDNS pod(s){against}: all right{doubt}",
        )

    def _questions(self) -> tuple[ProbeQuery, ...]:
        """The plan's probe questions: the TUI and the command show and ask the same ones."""
        if not self.plan.probes or not self.plan.cluster_domain:
            raise SwitchStop(
                "the plan has no probe questions or no cluster domain, so CoreDNS cannot be verified",
                "rebuild the plan with `coredns-wizard plan` (it reads the domain from kube-dns's --domain)",
            )
        return self.plan.probes

    def _cluster_question(self) -> ProbeQuery:
        """The plan's cluster name (kubernetes.default.svc.DOMAIN): what the observation asks."""
        for query in self._questions():
            if query.purpose == "cluster":
                return query
        raise SwitchStop("the plan has no cluster-name probe", "rebuild the plan with `coredns-wizard plan`")

    def _target(self, pod: Obj) -> ProbeTarget:
        name = str(pod["metadata"]["name"])
        ip = str((pod.get("status") or {}).get("podIP") or "") or None
        return ProbeTarget(f"{name} ({ip})", ip, self.dns_port, name, self.ns)

    def _ask(self, target: ProbeTarget, name: str, rdtype: str) -> ProbeResult:
        transport = self._transports.get(target.label)
        if transport is None:
            choice = choose_transport(
                target, self.gateway, name=self._cluster_question().name, tunnels=self.tunnels
            )
            transport = choice.transport
            self._transports[target.label] = transport
            self._emit(Note(f"probing {target.label} over {transport}: {choice.reason}"))
        return probe(
            target, name, rdtype, transport, timeout=PROBE_TIMEOUT_S, gateway=self.gateway,
            tunnels=self.tunnels,
        )

    def _check_endpoints(self, step: Step) -> tuple[Outcome, str]:
        if self.dry_run:
            self._emit(
                Waiting("dry-run: would wait for the CoreDNS pod IPs in the kube-dns endpoints", 0.0, 0.0)
            )
            return "skipped", "dry-run"
        pods = self._pods()
        want = {
            str(p["status"]["podIP"]) for p in pods.ready("coredns") if (p.get("status") or {}).get("podIP")
        }
        if not want:
            raise SwitchStop("no Ready CoreDNS pod whose endpoints could be checked")
        service = self.options.dns_service

        def in_endpoints(objs: list[Obj]) -> Obj | None:
            from wizard.k8s.watch import endpoint_ips

            ep = next((o for o in objs if o["metadata"].get("name") == service), None)
            if ep is None:
                return None
            self._emit(
                EndpointsChanged(tuple(sorted(endpoint_ips(ep))), tuple(sorted(endpoint_ips(ep, False))))
            )
            return ep if want <= endpoint_ips(ep) else None

        what = f"{', '.join(sorted(want))} among the ready endpoints of Service {self.ns}/{service}"
        try:
            self._wait(
                "Endpoints",
                in_endpoints,
                ENDPOINT_PROPAGATION_TIMEOUT_S,
                what,
                field_selector=f"metadata.name={service}",
            )
            self._wait(
                "EndpointSlice",
                lambda _objs: True if want <= slice_ready_ips(self.gateway, self.options) else None,
                ENDPOINT_PROPAGATION_TIMEOUT_S,
                what.replace("endpoints", "EndpointSlices"),
                label_selector=f"kubernetes.io/service-name={service}",
            )
        except WaitTimeout as err:
            raise SwitchStop(f"CoreDNS pods did not join the Service: {err}") from None
        return (
            "done",
            f"{', '.join(sorted(want))} ready in Endpoints and EndpointSlices of {self.ns}/{service}",
        )

    def _observe(self, step: Step) -> tuple[Outcome, str]:
        total = self.options.observe_seconds
        if self.dry_run:
            self._emit(Waiting(f"dry-run: would observe DNS for {human_duration(total)}", 0.0, 0.0))
            return "skipped", f"dry-run: would observe for {human_duration(total)}"
        query = self._cluster_question()
        expected = expected_records(self.gateway, query, self.plan.cluster_domain)
        if expected.problem is not None:
            raise SwitchStop(f"cannot observe: {expected.problem}")
        targets, service_target = self._observation_targets(query)
        pinned = self._pinned_sockets(service_target)
        return self._observe_through(query, expected, targets, pinned, total)

    def _pinned_sockets(self, service_target: ProbeTarget | None) -> list[PinnedSocket]:
        """The long-lived sockets, opened once per run and kept across rounds, so that like real
        clients they are pinned before a kube-dns scale-down and show what it does to them."""
        if service_target is None:
            return []
        if not self._pinned:
            self._pinned = [PinnedSocket(service_target) for _ in range(PINNED_SOCKETS)]
        return self._pinned

    def _pin_clients(self) -> None:
        """Before a kube-dns scale-down: send once through each pinned socket (opening them on the
        first round), so they hold a session to a backend as the workload's clients do."""
        if self.dry_run:
            return
        svc = self.gateway.try_get("Service", self.ns, self.options.dns_service)
        service_ip = str(((svc or {}).get("spec") or {}).get("clusterIP") or "")
        if not service_ip or service_ip == "None":
            return
        label = f"Service {self.ns}/{self.options.dns_service} ({service_ip})"
        query = self._cluster_question()
        self._ask_pinned(self._pinned_sockets(ProbeTarget(label, service_ip, self.dns_port)), query)

    def _ask_pinned(self, pinned: list[PinnedSocket], query: ProbeQuery) -> list[ProbeResult]:
        """One question through every pinned socket at once: a silent one costs its timeout
        once per pass, not once per socket."""
        if not pinned:
            return []
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(pinned)) as pool:
            return list(
                pool.map(lambda sock: sock.ask(query.name, query.rdtype, timeout=PINNED_TIMEOUT_S), pinned)
            )

    def _close_pinned(self) -> None:
        for sock in self._pinned:
            sock.close()
        self._pinned = []

    def _observe_through(
        self,
        query: ProbeQuery,
        expected: Expected,
        targets: list[ProbeTarget],
        pinned: list[PinnedSocket],
        total: float,
    ) -> tuple[Outcome, str]:
        stats = ObservationStats()
        pinned_stats = ObservationStats()
        retried = 0
        started = time.monotonic()
        last_tick = -1.0

        def stop(verdict: Verdict, counted: ObservationStats) -> SwitchStop:
            evidence = (verdict.line, counted.summary())
            message = f"DNS failed during observation: {verdict.line}"
            self._emit(Problem(message, ROLLBACK_ADVICE, evidence))
            return SwitchStop(message, ROLLBACK_ADVICE, evidence)

        def tick(elapsed: float) -> None:
            self._emit(
                ObservationTick(
                    min(elapsed, total), total, stats.failures, stats.total, stats.p50, stats.p95,
                    pinned_stats.failures, pinned_stats.total,
                )
            )

        clients = _PinnedClients(pinned, query, expected, pinned_stats)
        with clients:
            while time.monotonic() - started < total:
                retried += self._observe_pass(query, expected, targets, stats, stop)
                if clients.wrong:  # answered, wrongly: CoreDNS's fault, as for a fresh socket
                    raise stop(clients.wrong[0], pinned_stats)
                if clients.first_error is not None and not clients.noted:
                    clients.noted = True
                    self._emit(
                        Note(
                            f"{clients.first_error.target}: {clients.first_error.error}: clients that keep "
                            "their socket are pinned to one backend of the Service (IPVS/conntrack "
                            "session), which may have left it"
                        )
                    )
                elapsed = time.monotonic() - started
                if elapsed - last_tick >= 1.0:
                    last_tick = elapsed
                    tick(elapsed)
                left = total - (time.monotonic() - started)  # the window ends on time, not a pause later
                if self.cancel.wait(min(OBSERVE_QUERY_INTERVAL_S, max(left, 0.0))):
                    raise Cancelled()
        tick(total)
        again = f"; {retried} unanswered first tries answered on retry" if retried else ""
        window = human_duration(total)
        through_pinned = (
            f"; {len(pinned)} pinned socket(s): {pinned_stats.summary()}"
            if pinned
            else "; no pinned sockets (the Service IP is not reachable from this host)"
        )
        return (
            "done",
            f"observed {window} through {len(targets)} target(s): {stats.summary()}{again}{through_pinned}",
        )

    def _observe_pass(
        self,
        query: ProbeQuery,
        expected: Expected,
        targets: list[ProbeTarget],
        stats: ObservationStats,
        stop: Callable[[Verdict, ObservationStats], SwitchStop],
    ) -> int:
        """One question to every observed target through fresh sockets; returns the retries."""
        retried = 0
        for target in list(targets):
            result = self._ask(target, query.name, query.rdtype)
            if result.error is not None:  # a resolver tries again before the workload notices
                retried += 1
                result = self._ask(target, query.name, query.rdtype)
            verdict = judge(query, result, None, expected)
            if verdict.passed:
                stats.record(result, True)
                continue
            if target.pod and self._pod_leaving(target.pod):
                targets.remove(target)
                self._emit(Note(f"{target.label} is being removed; no longer observed"))
                continue
            stats.record(result, False)
            raise stop(verdict, stats)
        return retried

    def _observation_targets(self, query: ProbeQuery) -> tuple[list[ProbeTarget], ProbeTarget | None]:
        """Every DNS pod that stays, the Service IP too when this host reaches it (returned
        second as well: the pinned sockets go through it)."""
        svc = self.gateway.get_service(self.ns, self.options.dns_service)
        service_ip = str((svc.get("spec") or {}).get("clusterIP") or "")
        label = f"Service {self.ns}/{self.options.dns_service} ({service_ip})"
        service_target: ProbeTarget | None = ProbeTarget(label, service_ip, self.dns_port)
        targets: list[ProbeTarget] = []
        assert service_target is not None
        check = probe(service_target, query.name, query.rdtype, "udp", timeout=PROBE_TIMEOUT_S)
        if check.error is None:
            targets.append(service_target)
            self._transports[label] = "udp"
        else:
            self._emit(
                Note(f"{label} is not reachable from this host ({check.error}); observing the pods only")
            )
            service_target = None
        pods = self._pods()
        for pod in pods.ready("coredns") + pods.ready("kube-dns"):
            if not pod["metadata"].get("deletionTimestamp"):
                targets.append(self._target(pod))
        return targets, service_target

    def _pod_leaving(self, name: str) -> bool:
        pod = self.gateway.try_get("Pod", self.ns, name)
        return pod is None or bool((pod.get("metadata") or {}).get("deletionTimestamp"))

    def _wait_scaled_down(self, replicas: int) -> None:
        """After a kube-dns scale-down, wait until only `replicas` kube-dns pods remain that are
        not terminating, so the observation watches the pods that stay."""

        def settled(pods: list[Obj]) -> bool | None:
            classified = list_dns_pods(self.gateway, self.options, pods)
            self._emit(PodsChanged(classified.views))
            staying = [p for p in classified.kube_dns if not p["metadata"].get("deletionTimestamp")]
            return True if len(staying) <= replicas else None

        what = f"kube-dns {self.ns}/{self.options.kube_dns_deployment} down to {replicas} pod(s)"
        try:
            self._wait(
                "Pod", settled, ENDPOINT_PROPAGATION_TIMEOUT_S, what, label_selector="k8s-app=kube-dns"
            )
        except WaitTimeout as err:
            raise SwitchStop(
                f"kube-dns did not scale down: {err}",
                "something scales kube-dns back up (an autoscaler? an addon manager?): check "
                "`coredns-wizard status`, then resume or roll back",
            ) from None

    # ---- helpers ------------------------------------------------------------------------
    def _pods(self) -> DnsPods:
        pods = list_dns_pods(self.gateway, self.options)
        self._emit(PodsChanged(pods.views))
        return pods

    def _wait(
        self,
        kind: str,
        predicate: Callable[[list[Obj]], T | None],
        timeout: float,
        what: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> T:
        def progress(p: WaitProgress) -> None:
            self._emit(Waiting(p.waiting_for, p.elapsed_s, timeout))
            self._check_cancel()

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

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _finish(self) -> SwitchOutcome:
        if self.dry_run:
            summary = f"dry-run: {len(self._ran)} step(s) checked; nothing in the cluster was changed"
            self._emit(SwitchCompleted(summary))
            return SwitchOutcome(True, summary, "run without --dry-run to switch", tuple(self._ran), True)
        record = read_cluster_record(self.gateway, self.options)
        want = self.plan.original_kube_dns_replicas
        core_ready = ready_replicas(record.coredns)
        if record.coredns_replicas != want or core_ready < want or record.kube_dns_replicas != 0:
            raise_reason = (
                "the plan ran to its end but the cluster shows CoreDNS "
                f"{core_ready}/{record.coredns_replicas} "
                f"ready (want {want}) and kube-dns {record.kube_dns_replicas} replicas (want 0)"
            )
            return self._stopped(
                None, SwitchStop(raise_reason, "check `coredns-wizard status`, then resume or roll back")
            )
        if record.phase != PHASE_COMPLETED:
            self.gateway.annotate_deployment(
                self.ns, self.options.coredns_deployment, {ANNOTATION_PHASE: PHASE_COMPLETED}
            )
        summary = (
            f"CoreDNS {self.ns}/{self.options.coredns_deployment} serves with {core_ready}/{want} Ready "
            f"replicas; kube-dns is at 0. Clean-up (deleting kube-dns objects) is allowed 72 h after the "
            "last scale-down: `coredns-wizard cleanup`"
        )
        self._emit(SwitchCompleted(summary))
        return SwitchOutcome(True, summary, "", tuple(self._ran))

    def _stopped_as_asked(self, step: Step) -> SwitchOutcome:
        what = "checked" if self.dry_run else "done"
        ran = ", ".join(self._ran) or "none (already done)"
        summary = f"stopped as asked after step {step.id} ({what}); steps run: {ran}"
        return SwitchOutcome(True, summary, "", tuple(self._ran), self.dry_run)

    def _stopped(self, step: Step | None, stop: SwitchStop) -> SwitchOutcome:
        self._emit(SwitchStopped(stop.reason, stop.advice))
        return SwitchOutcome(
            False, stop.reason, stop.advice, tuple(self._ran), self.dry_run, step.id if step else None
        )


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


def _crash_looping(pods: tuple[Obj, ...]) -> bool:
    """A pod in CrashLoopBackOff after several restarts will not heal by waiting longer."""
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if (
                waiting.get("reason") == "CrashLoopBackOff"
                and int(cs.get("restartCount") or 0) >= CRASH_LOOP_RESTARTS
            ):
                return True
    return False


def _spec_replicas(deployment: Obj) -> int:
    return int((deployment.get("spec") or {}).get("replicas") or 0)
