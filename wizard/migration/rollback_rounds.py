"""Bringing kube-dns back to its original size without ever leaving the kube-dns Service without
a ready endpoint, whether or not a node has room for a kube-dns pod.

Why: the CoreDNS pods' required anti-affinity on `k8s-app: kube-dns` repels kube-dns pods too.
After a shrink-first switch every node runs a CoreDNS pod, so kube-dns pods scaled up first stay
Pending and the rollback would wait out its timeout. The rollback therefore mirrors the switch:
kube-dns grows first onto nodes that run no DNS pod (no capacity lost); for the rest each round
swaps one CoreDNS pod for one kube-dns pod on the node it frees, and only while another ready
endpoint remains. That also spreads kube-dns over distinct nodes (it has no anti-affinity of its
own: grown onto one free node, every replica would land there); where the nodes cannot hold them
apart the rollback says so. The steps are planned once, from the cluster as it is when the
rollback starts (terminating pods waited out, starting kube-dns pods waited for); every step is an
absolute replica count checked against the plan, so a rollback run again after an interruption
plans afresh and continues safely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wizard.i18n import Message, msg
from wizard.k8s.gateway import Gateway
from wizard.k8s.objects import Obj, endpoint_ips, spec_replicas
from wizard.k8s.watch import WaitProgress, WaitTimeout, wait_for
from wizard.migration.dns_pods import DnsPods, endpoint_membership, list_dns_pods
from wizard.migration.facts import node_info
from wizard.migration.pending_pods import StuckScheduling
from wizard.migration.plan import Step
from wizard.migration.progress import EndpointsChanged, Event, PodsChanged, Waiting
from wizard.migration.scheduling import KubeDnsRoom, kube_dns_room, node_names
from wizard.migration.step_runner import SwitchStop
from wizard.options import SwitchOptions


@dataclass(frozen=True)
class Planned:
    """One rollback step as previewed, and the action that carries it out."""

    step: Step
    action: Callable[[], str]


RollbackStop = SwitchStop
"""Ends the rollback between steps, with what happened and what the operator should do: the
step runner's one stop exception (every rollback stop names its advice)."""


def _rerun() -> Message:
    return msg("rollback.rerun", "run `coredns-wizard rollback` again")


@dataclass(frozen=True)
class StartingPoint:
    """The DNS Deployments and pods as the rollback finds them, terminating pods left out: the
    rollback waits for them to be gone before its first swap (a terminating CoreDNS pod still
    repels a kube-dns pod, and counting it as serving would remove a second DNS pod)."""

    kube_dns_replicas: int
    coredns_replicas: int
    pods: DnsPods
    room: KubeDnsRoom
    unplaced_kube_dns: int
    """kube-dns pods waiting for a node (e.g. left Pending by an earlier rollback)."""
    placed_kube_dns: int
    terminating: tuple[str, ...]
    """DNS pods being deleted (a killed rollback's removed CoreDNS pod, for one)."""
    spread_free: tuple[str, ...]
    """Nodes that accept a kube-dns pod and run no DNS pod at all: a kube-dns pod placed there
    does not share a node with another kube-dns pod."""
    kube_dns_nodes: tuple[str, ...]


def _node_of(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def _deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


class KubeDnsRestorer:
    """Plans the kube-dns part of a rollback from a starting point: grow kube-dns onto nodes
    that run no DNS pod, swap CoreDNS pods for kube-dns pods in place for the rest (so kube-dns
    ends spread over distinct nodes where the scheduler allows), then wait until `original`
    kube-dns pods are Ready and in the Service's endpoints. CoreDNS is left at whatever the
    swaps brought it to; scaling it to 0 is the caller's next step."""

    def __init__(
        self,
        gateway: Gateway,
        options: SwitchOptions,
        original: int,
        emit: Callable[[Event], None],
    ) -> None:
        self.gateway = gateway
        self.options = options
        self.original = original
        self.emit = emit
        self.dry = gateway.dry_run
        self.ns = options.namespace
        self.kd = options.kube_dns_deployment
        self.cd = options.coredns_deployment
        self.notes: list[str] = []
        """Why this order, and warnings (kube-dns pods that will share a node)."""

    # ---- the starting point -----------------------------------------------------------------
    def look(self, kube_dns: Obj, coredns: Obj | None) -> StartingPoint:
        pods = list_dns_pods(self.gateway, self.options)
        self.emit(PodsChanged(pods.views))
        template = ((kube_dns.get("spec") or {}).get("template") or {}).get("spec") or {}
        nodes = [node_info(n) for n in self.gateway.list_nodes()]
        core_nodes = {_node_of(p) for p in pods.coredns if _node_of(p) and not _deleting(p)}
        kube_nodes = [_node_of(p) for p in pods.kube_dns if _node_of(p) and not _deleting(p)]
        room = kube_dns_room(nodes, template, core_nodes, set(kube_nodes))
        unplaced = sum(1 for p in pods.kube_dns if not _node_of(p) and not _deleting(p))
        terminating = tuple(
            str(p["metadata"]["name"]) for p in [*pods.coredns, *pods.kube_dns] if _deleting(p)
        )
        spread_free = tuple(n for n in room.eligible if n not in core_nodes and n not in kube_nodes)
        return StartingPoint(
            spec_replicas(kube_dns), spec_replicas(coredns), pods, room, unplaced, len(kube_nodes),
            terminating, spread_free, tuple(sorted(kube_nodes)),
        )

    # ---- the plan ---------------------------------------------------------------------------
    def plan(self, start: StartingPoint) -> list[Planned]:
        """The steps, in order, each one a change or the wait that proves it (none a no-op)."""
        out: list[Planned] = []
        kube = start.kube_dns_replicas
        core = start.coredns_replicas
        ready = sum(1 for p in start.pods.ready("kube-dns") if not _deleting(p))
        if start.placed_kube_dns > 0 and ready < min(start.placed_kube_dns, kube, self.original):
            # an interrupted run asked for kube-dns pods that are still starting: count them only
            # once they serve, or the next swap would remove a CoreDNS pod too early
            out.append(self._wait_step("rollback.wait-started-kube-dns", min(start.placed_kube_dns, kube)))
        if start.unplaced_kube_dns and start.room.capacity() == 0 and kube > start.placed_kube_dns:
            out.append(self._drop_unplaced(kube, start.placed_kube_dns))
            kube = start.placed_kube_dns
        missing = self.original - kube
        if missing <= 0:
            if kube != self.original:  # something grew kube-dns meanwhile: back to the recorded size
                out.append(self._scale_kube_dns("rollback.scale-kube-dns", kube, self.original))
            out.append(self._wait_step("rollback.wait-kube-dns", self.original))
            return out
        spread = len(start.spread_free)
        capacity = start.room.capacity()
        if core == 0 or (spread >= missing and (capacity is None or capacity >= missing)):
            self.notes.append(self._grow_reason(start, missing))
            self._warn_sharing(start, missing if core == 0 else 0)
            out.append(self._scale_kube_dns("rollback.scale-kube-dns", kube, self.original))
            out.append(self._wait_step("rollback.wait-kube-dns", self.original))
            return out
        grow = min(missing, spread, missing if capacity is None else capacity)
        self.notes.append(self._swap_reason(start, grow))
        if grow > 0:
            out.append(self._scale_kube_dns("rollback.grow-kube-dns", kube, kube + grow))
            kube += grow
            out.append(self._wait_step("rollback.wait-grown-kube-dns", kube))
        swap = 0
        while kube < self.original and core > 0:
            swap += 1
            out.extend(self._make_room(swap, core))
            core -= 1
            out.append(self._scale_kube_dns(f"rollback.s{swap}.scale-kube-dns", kube, kube + 1))
            kube += 1
            out.append(self._wait_step(f"rollback.s{swap}.wait-kube-dns", kube))
        if kube < self.original:
            # no CoreDNS pod left to make room: kube-dns fits now, or the wait says why not
            self._warn_sharing(start, self.original - kube)
            out.append(self._scale_kube_dns("rollback.scale-kube-dns", kube, self.original))
            out.append(self._wait_step("rollback.wait-kube-dns", self.original))
        return out

    def _warn_sharing(self, start: StartingPoint, unspread: int) -> None:
        """kube-dns has no anti-affinity of its own: pods beyond the free nodes share one."""
        if unspread <= len(start.spread_free):
            return
        self.notes.append(msg(
            "rollback.warn-sharing",
            "warning: kube-dns pods will share nodes: {original} replicas, but only "
            "{eligible} node(s) accept a kube-dns pod ({nodes}) "
            "and {free} of them run no DNS pod now; a node failure will take "
            "several kube-dns pods with it (add nodes, or spread them later with "
            "`kubectl rollout restart deployment {deployment} -n {namespace}`)",
            original=self.original, eligible=len(start.room.eligible), nodes=node_names(start.room.eligible),
            free=len(start.spread_free), deployment=self.kd, namespace=self.ns,
        ))

    def _grow_reason(self, start: StartingPoint, missing: int) -> str:
        if not start.spread_free:
            return msg(
                "rollback.order-grow",
                "rollback order: grow kube-dns {before} → {after}; no CoreDNS "
                "pod is left to make room, so kube-dns comes back where the scheduler puts it",
                before=start.kube_dns_replicas, after=self.original,
            )
        return msg(
            "rollback.order-grow-first",
            "rollback order: grow kube-dns first; {nodes} accept a kube-dns pod "
            "and run no DNS pod, room for the {missing} missing one(s) on distinct nodes, so kube-dns "
            "comes back before any CoreDNS pod is removed",
            nodes=node_names(start.spread_free), missing=missing,
        )

    def _swap_reason(self, start: StartingPoint, grow: int) -> str:
        grown = (
            msg(
                "rollback.order-swap-grown",
                "{grow} kube-dns pod(s) go to node(s) that run no DNS pod ({nodes}), then ",
                grow=grow, nodes=node_names(start.spread_free),
            )
            if grow
            else ""
        )
        nodes = node_names(start.room.eligible) or msg("rollback.none", "none")
        return msg(
            "rollback.order-swap",
            "rollback order: swap in place; the nodes that accept a kube-dns pod ({nodes}) run CoreDNS "
            "pods (whose required anti-affinity repels kube-dns pods) or kube-dns pods already, so "
            "{grown}each round removes one CoreDNS pod (while another ready endpoint remains) and "
            "starts one kube-dns pod on the node it freed: kube-dns ends spread over distinct nodes",
            nodes=nodes, grown=grown,
        )

    # ---- steps ------------------------------------------------------------------------------
    def _scale_kube_dns(self, step_id: str, before: int, after: int) -> Planned:
        def scale() -> str:
            self._expect(self.kd, before, after)
            self.gateway.scale_deployment(self.ns, self.kd, after)
            return f"Deployment {self.ns}/{self.kd} {before} → {after}"

        return Planned(
            Step(
                step_id, "scale-kube-dns", 0,
                msg(
                    "rollback.step-scale-kube-dns",
                    "Scale kube-dns {namespace}/{deployment} {before} → {after}",
                    namespace=self.ns, deployment=self.kd, before=before, after=after,
                ),
                (f"kubectl scale deployment {self.kd} -n {self.ns} --replicas={after}",),
                f"deployment {self.ns}/{self.kd}", after, True,
            ),
            scale,
        )

    def _drop_unplaced(self, kube: int, placed: int) -> Planned:
        """Pods an earlier rollback asked for that no node can take only hide the real count;
        the ReplicaSet removes unscheduled pods first, so this never touches a serving pod."""

        def scale() -> str:
            self.gateway.scale_deployment(self.ns, self.kd, placed)
            return msg(
                "rollback.pending-removed",
                "Deployment {namespace}/{deployment} {before} → {after} (Pending pods removed)",
                namespace=self.ns, deployment=self.kd, before=kube, after=placed,
            )

        return Planned(
            Step(
                "rollback.drop-pending-kube-dns", "scale-kube-dns", 0,
                msg(
                    "rollback.step-drop-pending",
                    "Scale kube-dns {namespace}/{deployment} {before} → {after}: its Pending pods fit on "
                    "no node "
                    "until CoreDNS makes room",
                    namespace=self.ns, deployment=self.kd, before=kube, after=placed,
                ),
                (f"kubectl scale deployment {self.kd} -n {self.ns} --replicas={placed}",),
                f"deployment {self.ns}/{self.kd}", placed, True,
            ),
            scale,
        )

    def _make_room(self, swap: int, core: int) -> list[Planned]:
        victims: dict[str, str] = {}

        def scale() -> str:
            self._expect(self.cd, core, core - 1)
            if not self.dry:
                victims.update(self._check_another_endpoint(core))
            self.gateway.scale_deployment(self.ns, self.cd, core - 1)
            return f"Deployment {self.ns}/{self.cd} {core} → {core - 1}"

        def gone() -> str:
            if self.dry:
                self.emit(Waiting(
                    msg(
                        "rollback.dry-run-wait-gone",
                        "dry-run: would wait until the removed CoreDNS pod is gone",
                    ),
                    0.0, 0.0,
                ))
                return msg("rollback.dry-run-skipped", "dry-run: skipped")
            return self._wait_coredns_gone(core - 1, victims)

        return [
            Planned(
                Step(
                    f"rollback.s{swap}.scale-coredns", "scale-coredns", swap,
                    msg(
                        "rollback.step-scale-coredns-free",
                        "Scale CoreDNS {namespace}/{deployment} {before} → {after} to free a node for a "
                        "kube-dns "
                        "pod",
                        namespace=self.ns, deployment=self.cd, before=core, after=core - 1,
                    ),
                    (f"kubectl scale deployment {self.cd} -n {self.ns} --replicas={core - 1}",),
                    f"deployment {self.ns}/{self.cd}", core - 1, True,
                ),
                scale,
            ),
            Planned(
                Step(
                    f"rollback.s{swap}.wait-coredns-gone", "check-endpoints", swap,
                    msg(
                        "rollback.step-wait-coredns-gone",
                        "Wait until the removed CoreDNS pod has left the endpoints of Service "
                        "{namespace}/{service} and terminated",
                        namespace=self.ns, service=self.options.dns_service,
                    ),
                    (f"kubectl get pods -n {self.ns} -l k8s-app=kube-dns -o wide --watch",),
                    f"service {self.ns}/{self.options.dns_service}",
                ),
                gone,
            ),
        ]

    def _expect(self, deployment: str, before: int, after: int) -> None:
        """Each step was planned from one look at the cluster: if the Deployment now has neither
        the count the step starts from nor the one it sets, something else changed it (an
        autoscaler, another operator) and the plan no longer holds."""
        if self.dry:
            return
        now = spec_replicas(self.gateway.try_get("Deployment", self.ns, deployment))
        if now not in (before, after):
            raise RollbackStop(
                msg(
                    "rollback.unexpected-replicas",
                    "Deployment {namespace}/{deployment} has {now} replicas, but this step was planned for "
                    "{before} → {after}: something else scaled it since the rollback began",
                    namespace=self.ns, deployment=deployment, now=now, before=before, after=after,
                ),
                msg(
                    "rollback.unexpected-replicas-advice",
                    "find what scales it (`kubectl get deploy,hpa -n {namespace}`), then {rerun} (it plans "
                    "again from the cluster as it is)",
                    namespace=self.ns, rerun=_rerun(),
                ),
            )

    def _check_another_endpoint(self, core: int) -> dict[str, str]:
        """Refuse to remove a CoreDNS pod unless another ready endpoint stays; return the CoreDNS
        pods (name -> IP) as they are, to tell afterwards which one the ReplicaSet removed."""
        pods = list_dns_pods(self.gateway, self.options)
        members = endpoint_membership(self.gateway, self.options, pods)
        self.emit(EndpointsChanged(members.ready, members.not_ready))
        if len(members.ready) < 2:
            raise RollbackStop(
                msg(
                    "rollback.refuse-last-endpoint",
                    "refusing to scale CoreDNS {namespace}/{deployment} {before} → {after}: the Service "
                    "{namespace}/{service} has {count} ready endpoint(s) "
                    "({ips}) and removing one could leave it with none, while "
                    "no node has room for a kube-dns pod",
                    namespace=self.ns, deployment=self.cd, before=core, after=core - 1,
                    service=self.options.dns_service, count=len(members.ready),
                    ips=", ".join(members.ready) or msg("rollback.none", "none"),
                ),
                msg(
                    "rollback.refuse-last-endpoint-advice",
                    "make room for a kube-dns pod (uncordon or add a node that runs no CoreDNS pod), or wait "
                    "until the CoreDNS pods are Ready, then {rerun}",
                    rerun=_rerun(),
                ),
            )
        return {
            str(p["metadata"]["name"]): str((p.get("status") or {}).get("podIP") or "")
            for p in pods.coredns
            if not _deleting(p)
        }

    def _wait_step(self, step_id: str, want: int) -> Planned:
        def wait() -> str:
            if self.dry:
                self.emit(Waiting(
                    msg(
                        "rollback.dry-run-wait-kube-dns",
                        "dry-run: would wait for {want} Ready kube-dns pods in the endpoints", want=want,
                    ),
                    0.0, 0.0,
                ))
                return msg("rollback.dry-run-skipped", "dry-run: skipped")
            return self._wait_kube_dns_serving(want)

        return Planned(
            Step(
                step_id, "check-endpoints", 0,
                msg(
                    "rollback.step-wait-kube-dns",
                    "Wait for {want} kube-dns pod(s) Ready and in the Service endpoints",
                    want=want,
                ),
                (f"kubectl get endpoints {self.options.dns_service} -n {self.ns}",),
                f"service {self.ns}/{self.options.dns_service}",
            ),
            wait,
        )

    def wait_terminating_step(self, names: tuple[str, ...]) -> Planned:
        """Before the first swap: the pods an interrupted run was removing must be gone."""

        def wait() -> str:
            if self.dry:
                self.emit(Waiting(
                    msg(
                        "rollback.dry-run-wait-terminating",
                        "dry-run: would wait for the terminating DNS pods to be gone",
                    ),
                    0.0, 0.0,
                ))
                return msg("rollback.dry-run-skipped", "dry-run: skipped")
            return self._wait_terminating_gone(set(names))

        return Planned(
            Step(
                "rollback.wait-terminating", "check-endpoints", 0,
                msg(
                    "rollback.step-wait-terminating",
                    "Wait until the terminating DNS pod(s) {pods} are gone (a scale-down "
                    "before the rollback removed them; they still hold their nodes)",
                    pods=", ".join(names),
                ),
                (f"kubectl get pods -n {self.ns} -l k8s-app=kube-dns -o wide --watch",),
                f"pods {self.ns} -l k8s-app=kube-dns",
            ),
            wait,
        )

    def _wait_terminating_gone(self, names: set[str]) -> str:
        timeout = self.options.ready_timeout_seconds

        def gone(objs: list[Obj]) -> bool | None:
            present = {str(p["metadata"]["name"]) for p in objs}
            return True if not names & present else None

        try:
            wait_for(
                self.gateway, "Pod", self.ns, gone, timeout,
                msg(
                    "rollback.waiting-terminating-gone", "terminating DNS pod(s) {pods} gone",
                    pods=", ".join(sorted(names)),
                ),
                label_selector="k8s-app=kube-dns", on_progress=self._progress(timeout),
            )
        except WaitTimeout as err:
            raise RollbackStop(
                msg(
                    "rollback.terminating-stuck", "a terminating DNS pod did not go away: {error}",
                    error=str(err),
                ),
                msg(
                    "rollback.check-pods-advice",
                    "check it with `kubectl get pods -n {namespace} -l k8s-app=kube-dns -o wide`, "
                    "then {rerun}",
                    namespace=self.ns, rerun=_rerun(),
                ),
            ) from None
        return msg("rollback.pods-gone", "{pods} gone", pods=", ".join(sorted(names)))

    # ---- waits ------------------------------------------------------------------------------
    def _progress(self, timeout: float) -> Callable[[WaitProgress], None]:
        def progress(p: WaitProgress) -> None:
            self.emit(Waiting(p.waiting_for, p.elapsed_s, timeout))

        return progress

    def _wait_coredns_gone(self, want: int, before: dict[str, str]) -> str:
        """Until at most `want` CoreDNS pods exist (terminating ones count until deleted: their
        anti-affinity still repels), then until the removed pods' IPs left the endpoints."""
        timeout = self.options.ready_timeout_seconds

        def settled(pods: list[Obj]) -> DnsPods | None:
            classified = list_dns_pods(self.gateway, self.options, pods)
            self.emit(PodsChanged(classified.views))
            return classified if len(classified.coredns) <= want else None

        what = msg(
            "rollback.waiting-coredns-down",
            "CoreDNS {namespace}/{deployment} down to {want} pod(s), the removed one terminated",
            namespace=self.ns, deployment=self.cd, want=want,
        )
        try:
            left = wait_for(
                self.gateway, "Pod", self.ns, settled, timeout, what,
                label_selector="k8s-app=kube-dns", on_progress=self._progress(timeout),
            )
        except WaitTimeout as err:
            raise RollbackStop(
                msg(
                    "rollback.coredns-not-terminated", "the removed CoreDNS pod did not terminate: {error}",
                    error=str(err),
                ),
                msg(
                    "rollback.check-pods-advice",
                    "check it with `kubectl get pods -n {namespace} -l k8s-app=kube-dns -o wide`, "
                    "then {rerun}",
                    namespace=self.ns, rerun=_rerun(),
                ),
            ) from None
        remaining = {str(p["metadata"]["name"]) for p in left.coredns}
        removed = {name: ip for name, ip in before.items() if name not in remaining}
        gone_ips = {ip for ip in removed.values() if ip}

        def left_endpoints(objs: list[Obj]) -> Obj | None:
            ep = next((o for o in objs if o["metadata"].get("name") == self.options.dns_service), None)
            if ep is None:
                return None
            ready, not_ready = endpoint_ips(ep), endpoint_ips(ep, False)
            self.emit(EndpointsChanged(tuple(sorted(ready)), tuple(sorted(not_ready))))
            return ep if not gone_ips & (ready | not_ready) else None

        service = f"Service {self.ns}/{self.options.dns_service}"
        try:
            wait_for(
                self.gateway, "Endpoints", self.ns, left_endpoints, timeout,
                msg(
                    "rollback.waiting-left-endpoints", "{ips} gone from the endpoints of {service}",
                    ips=", ".join(sorted(gone_ips)) or msg("rollback.the-removed-pod", "the removed pod"),
                    service=service,
                ),
                field_selector=self._service_field(), on_progress=self._progress(timeout),
            )
        except WaitTimeout as err:
            raise RollbackStop(
                msg(
                    "rollback.coredns-stayed", "the removed CoreDNS pod stayed in the endpoints: {error}",
                    error=str(err),
                ),
                _rerun(),
            ) from None
        names = ", ".join(sorted(removed)) or msg("rollback.a-coredns-pod", "a CoreDNS pod")
        return msg(
            "rollback.coredns-pod-out", "{pods} terminated and out of the endpoints of {service}",
            pods=names, service=service,
        )

    def _wait_kube_dns_serving(self, want: int) -> str:
        timeout = self.options.ready_timeout_seconds
        stuck = StuckScheduling()
        refused: list[str] = []

        def serving(objs: list[Obj]) -> str | None:
            ep = next((o for o in objs if o["metadata"].get("name") == self.options.dns_service), None)
            if ep is None:
                return None
            pods = list_dns_pods(self.gateway, self.options)
            self.emit(PodsChanged(pods.views))
            ready_ips, not_ready_ips = endpoint_ips(ep), endpoint_ips(ep, False)
            self.emit(EndpointsChanged(tuple(sorted(ready_ips)), tuple(sorted(not_ready_ips))))
            ready = endpoint_ips(ep) & pods.ips("kube-dns")
            if len(ready) >= want:
                return ", ".join(sorted(ready))
            message = stuck.check(pods.kube_dns, [*pods.kube_dns, *pods.coredns])
            if message is not None:
                refused.append(message)
                return ""
            return None

        service = f"Service {self.ns}/{self.options.dns_service}"
        what = msg(
            "rollback.waiting-kube-dns", "{want} Ready kube-dns pod(s) in the endpoints of {service}",
            want=want, service=service,
        )
        try:
            ips = wait_for(
                self.gateway, "Endpoints", self.ns, serving, timeout, what,
                field_selector=self._service_field(), on_progress=self._progress(timeout),
            )
        except WaitTimeout as err:
            raise self._not_back(str(err)) from None
        if refused:
            raise self._not_back(
                msg(
                    "rollback.scheduler-refused", "the scheduler refused a kube-dns pod: {why}",
                    why=refused[0],
                )
            )
        return msg("rollback.kube-dns-serving", "kube-dns serving from {ips}", ips=ips)

    def _not_back(self, why: str) -> RollbackStop:
        members = endpoint_membership(self.gateway, self.options, list_dns_pods(self.gateway, self.options))
        kube = ", ".join(members.kube_dns_ready) or msg("rollback.none", "none")
        core = ", ".join(members.coredns_ready) or msg("rollback.none", "none")
        return RollbackStop(
            msg(
                "rollback.kube-dns-not-back",
                "kube-dns did not come back: {why} (ready endpoints: kube-dns {kube_dns}, CoreDNS "
                "{coredns}); "
                "CoreDNS was left serving",
                why=why, kube_dns=kube, coredns=core,
            ),
            msg(
                "rollback.kube-dns-not-back-advice",
                "check the kube-dns pods (`kubectl describe pod -n {namespace} -l k8s-app=kube-dns`), fix "
                "what "
                "keeps them from starting, then {rerun}",
                namespace=self.ns, rerun=_rerun(),
            ),
        )

    def _service_field(self) -> str:
        return f"metadata.name={self.options.dns_service}"


