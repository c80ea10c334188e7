"""Bringing kube-dns back to its original size without ever leaving the kube-dns Service without
a ready endpoint, whether or not a node has room for a kube-dns pod.

Why: the CoreDNS pods' required anti-affinity on `k8s-app: kube-dns` repels kube-dns pods too.
After a shrink-first switch every node runs a CoreDNS pod, so kube-dns pods scaled up first stay
Pending and the rollback would wait out its timeout. The rollback therefore mirrors the switch:
when a node has room, kube-dns grows first (no capacity lost); when none has, each round swaps one
CoreDNS pod for one kube-dns pod in place, and only while another ready endpoint remains.
The order is chosen once, from the cluster as it is when the rollback starts; every step is an
absolute replica count, so a rollback run again after an interruption continues safely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wizard.k8s.gateway import Gateway, Obj
from wizard.k8s.watch import WaitProgress, WaitTimeout, endpoint_ips, wait_for
from wizard.migration.dns_pods import DnsPods, endpoint_membership, list_dns_pods
from wizard.migration.facts import node_info
from wizard.migration.pending_pods import StuckScheduling
from wizard.migration.plan import StepKind
from wizard.migration.progress import EndpointsChanged, Event, Note, PodsChanged, Waiting
from wizard.migration.scheduling import KubeDnsRoom, kube_dns_room
from wizard.options import SwitchOptions

RunStep = Callable[[str, str, str, int | None, str, Callable[[], str], StepKind], None]
"""rollback's step runner: (id, description, target, replicas, kubectl, action, kind); it asks,
journals and reports each step, and lets the action's RollbackStop through."""


class RollbackStop(Exception):
    """Ends the rollback between steps, with what happened and what the operator should do."""

    def __init__(self, reason: str, advice: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.advice = advice


RERUN = "run `coredns-wizard rollback` again"


@dataclass(frozen=True)
class StartingPoint:
    """The DNS Deployments and pods as the rollback finds them."""

    kube_dns_replicas: int
    coredns_replicas: int
    pods: DnsPods
    room: KubeDnsRoom
    unplaced_kube_dns: int
    """kube-dns pods waiting for a node (e.g. left Pending by an earlier rollback)."""
    placed_kube_dns: int


def _node_of(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def _deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


class KubeDnsRestorer:
    """Runs the kube-dns part of a rollback: grow first, or swap in place, then wait until
    `original` kube-dns pods are Ready and in the Service's endpoints. CoreDNS is left at
    whatever the swaps brought it to; scaling it to 0 is the caller's next step."""

    def __init__(
        self,
        gateway: Gateway,
        options: SwitchOptions,
        original: int,
        run_step: RunStep,
        emit: Callable[[Event], None],
    ) -> None:
        self.gateway = gateway
        self.options = options
        self.original = original
        self.run_step = run_step
        self.emit = emit
        self.dry = gateway.dry_run
        self.ns = options.namespace
        self.kd = options.kube_dns_deployment
        self.cd = options.coredns_deployment

    # ---- the order --------------------------------------------------------------------------
    def look(self, kube_dns: Obj, coredns: Obj | None) -> StartingPoint:
        pods = list_dns_pods(self.gateway, self.options)
        self.emit(PodsChanged(pods.views))
        template = ((kube_dns.get("spec") or {}).get("template") or {}).get("spec") or {}
        nodes = [node_info(n) for n in self.gateway.list_nodes()]
        room = kube_dns_room(
            nodes,
            template,
            {_node_of(p) for p in pods.coredns if _node_of(p)},
            {_node_of(p) for p in pods.kube_dns if _node_of(p) and not _deleting(p)},
        )
        unplaced = sum(1 for p in pods.kube_dns if not _node_of(p) and not _deleting(p))
        placed = sum(1 for p in pods.kube_dns if _node_of(p) and not _deleting(p))
        return StartingPoint(
            _replicas(kube_dns), _replicas(coredns), pods, room, unplaced, placed
        )

    def restore(self, start: StartingPoint) -> str:
        kube = start.kube_dns_replicas
        core = start.coredns_replicas
        if start.unplaced_kube_dns and start.room.capacity() == 0 and kube > start.placed_kube_dns:
            kube = self._drop_unplaced(kube, start.placed_kube_dns)
        missing = self.original - kube
        capacity = start.room.capacity()
        if missing <= 0:
            if kube != self.original:  # something grew kube-dns meanwhile: back to the recorded size
                self._scale_kube_dns("rollback.scale-kube-dns", kube, self.original)
            return self._wait_step("rollback.wait-kube-dns", self.original)
        if capacity is None or capacity >= missing:
            self.emit(Note(self._grow_reason(start.room)))
            self._scale_kube_dns("rollback.scale-kube-dns", kube, self.original)
            return self._wait_step("rollback.wait-kube-dns", self.original)
        self.emit(Note(self._swap_reason(start.room, capacity)))
        if capacity > 0:
            self._scale_kube_dns("rollback.grow-kube-dns", kube, kube + capacity)
            kube += capacity
            self._wait_step("rollback.wait-grown-kube-dns", kube)
        swap = 0
        while kube < self.original and core > 0:
            swap += 1
            self._make_room(swap, core)
            core -= 1
            self._scale_kube_dns(f"rollback.s{swap}.scale-kube-dns", kube, kube + 1)
            kube += 1
            self._wait_step(f"rollback.s{swap}.wait-kube-dns", kube)
        if kube >= self.original:
            return f"{self.original} kube-dns pod(s) serving"  # the last round waited for them
        # no CoreDNS pod left to make room: kube-dns fits now, or the wait says why not
        self._scale_kube_dns("rollback.scale-kube-dns", kube, self.original)
        return self._wait_step("rollback.wait-kube-dns", self.original)

    def _grow_reason(self, room: KubeDnsRoom) -> str:
        return (
            f"rollback order: grow kube-dns first; node {room.free[0]} accepts a kube-dns pod and runs no "
            "CoreDNS pod, so kube-dns comes back before any CoreDNS pod is removed"
        )

    def _swap_reason(self, room: KubeDnsRoom, capacity: int) -> str:
        grown = f"{capacity} kube-dns pod(s) fit now, then " if capacity else ""
        nodes = ", ".join(room.eligible[:4]) or "none"
        return (
            f"rollback order: swap in place; every node that accepts a kube-dns pod ({nodes}) runs a "
            "CoreDNS pod whose required anti-affinity repels kube-dns pods, so "
            f"{grown}each round removes one CoreDNS pod (while another ready endpoint remains) and "
            "starts one kube-dns pod in its place"
        )

    # ---- steps ------------------------------------------------------------------------------
    def _scale_kube_dns(self, step_id: str, before: int, after: int) -> None:
        def scale() -> str:
            self.gateway.scale_deployment(self.ns, self.kd, after)
            return f"Deployment {self.ns}/{self.kd} {before} → {after}"

        self.run_step(
            step_id,
            f"Scale kube-dns {self.ns}/{self.kd} {before} → {after}",
            f"deployment {self.ns}/{self.kd}",
            after,
            f"kubectl scale deployment {self.kd} -n {self.ns} --replicas={after}",
            scale,
            "scale-kube-dns",
        )

    def _drop_unplaced(self, kube: int, placed: int) -> int:
        """Pods an earlier rollback asked for that no node can take only hide the real count;
        the ReplicaSet removes unscheduled pods first, so this never touches a serving pod."""

        def scale() -> str:
            self.gateway.scale_deployment(self.ns, self.kd, placed)
            return f"Deployment {self.ns}/{self.kd} {kube} → {placed} (Pending pods removed)"

        self.run_step(
            "rollback.drop-pending-kube-dns",
            f"Scale kube-dns {self.ns}/{self.kd} {kube} → {placed}: its Pending pods fit on no node "
            "until CoreDNS makes room",
            f"deployment {self.ns}/{self.kd}",
            placed,
            f"kubectl scale deployment {self.kd} -n {self.ns} --replicas={placed}",
            scale,
            "scale-kube-dns",
        )
        return placed

    def _make_room(self, swap: int, core: int) -> None:
        victims: dict[str, str] = {}

        def scale() -> str:
            if not self.dry:
                victims.update(self._check_another_endpoint(core))
            self.gateway.scale_deployment(self.ns, self.cd, core - 1)
            return f"Deployment {self.ns}/{self.cd} {core} → {core - 1}"

        self.run_step(
            f"rollback.s{swap}.scale-coredns",
            f"Scale CoreDNS {self.ns}/{self.cd} {core} → {core - 1} to free a node for a kube-dns pod",
            f"deployment {self.ns}/{self.cd}",
            core - 1,
            f"kubectl scale deployment {self.cd} -n {self.ns} --replicas={core - 1}",
            scale,
            "scale-coredns",
        )

        def gone() -> str:
            if self.dry:
                self.emit(Waiting("dry-run: would wait until the removed CoreDNS pod is gone", 0.0, 0.0))
                return "dry-run: skipped"
            return self._wait_coredns_gone(core - 1, victims)

        self.run_step(
            f"rollback.s{swap}.wait-coredns-gone",
            f"Wait until the removed CoreDNS pod has left the endpoints of Service "
            f"{self.ns}/{self.options.dns_service} and terminated",
            f"service {self.ns}/{self.options.dns_service}",
            None,
            f"kubectl get pods -n {self.ns} -l k8s-app=kube-dns -o wide --watch",
            gone,
            "check-endpoints",
        )

    def _check_another_endpoint(self, core: int) -> dict[str, str]:
        """Refuse to remove a CoreDNS pod unless another ready endpoint stays; return the CoreDNS
        pods (name -> IP) as they are, to tell afterwards which one the ReplicaSet removed."""
        pods = list_dns_pods(self.gateway, self.options)
        members = endpoint_membership(self.gateway, self.options, pods)
        self.emit(EndpointsChanged(members.ready, members.not_ready))
        if len(members.ready) < 2:
            raise RollbackStop(
                f"refusing to scale CoreDNS {self.ns}/{self.cd} {core} → {core - 1}: the Service "
                f"{self.ns}/{self.options.dns_service} has {len(members.ready)} ready endpoint(s) "
                f"({', '.join(members.ready) or 'none'}) and removing one could leave it with none, while "
                "no node has room for a kube-dns pod",
                "make room for a kube-dns pod (uncordon or add a node that runs no CoreDNS pod), or wait "
                f"until the CoreDNS pods are Ready, then {RERUN}",
            )
        return {
            str(p["metadata"]["name"]): str((p.get("status") or {}).get("podIP") or "")
            for p in pods.coredns
        }

    def _wait_step(self, step_id: str, want: int) -> str:
        def wait() -> str:
            if self.dry:
                self.emit(
                    Waiting(f"dry-run: would wait for {want} Ready kube-dns pods in the endpoints", 0.0, 0.0)
                )
                return "dry-run: skipped"
            return self._wait_kube_dns_serving(want)

        self.run_step(
            step_id,
            f"Wait for {want} kube-dns pod(s) Ready and in the Service endpoints",
            f"service {self.ns}/{self.options.dns_service}",
            None,
            f"kubectl get endpoints {self.options.dns_service} -n {self.ns}",
            wait,
            "check-endpoints",
        )
        return f"{want} kube-dns pod(s) serving"

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

        what = f"CoreDNS {self.ns}/{self.cd} down to {want} pod(s), the removed one terminated"
        try:
            left = wait_for(
                self.gateway, "Pod", self.ns, settled, timeout, what,
                label_selector="k8s-app=kube-dns", on_progress=self._progress(timeout),
            )
        except WaitTimeout as err:
            raise RollbackStop(
                f"the removed CoreDNS pod did not terminate: {err}",
                f"check it with `kubectl get pods -n {self.ns} -l k8s-app=kube-dns -o wide`, then {RERUN}",
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
                f"{', '.join(sorted(gone_ips)) or 'the removed pod'} gone from the endpoints of {service}",
                field_selector=self._service_field(), on_progress=self._progress(timeout),
            )
        except WaitTimeout as err:
            raise RollbackStop(f"the removed CoreDNS pod stayed in the endpoints: {err}", RERUN) from None
        names = ", ".join(sorted(removed)) or "a CoreDNS pod"
        return f"{names} terminated and out of the endpoints of {service}"

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
        what = f"{want} Ready kube-dns pod(s) in the endpoints of {service}"
        try:
            ips = wait_for(
                self.gateway, "Endpoints", self.ns, serving, timeout, what,
                field_selector=self._service_field(), on_progress=self._progress(timeout),
            )
        except WaitTimeout as err:
            raise self._not_back(str(err)) from None
        if refused:
            raise self._not_back(f"the scheduler refused a kube-dns pod: {refused[0]}")
        return f"kube-dns serving from {ips}"

    def _not_back(self, why: str) -> RollbackStop:
        members = endpoint_membership(self.gateway, self.options, list_dns_pods(self.gateway, self.options))
        kube = ", ".join(members.kube_dns_ready) or "none"
        core = ", ".join(members.coredns_ready) or "none"
        return RollbackStop(
            f"kube-dns did not come back: {why} (ready endpoints: kube-dns {kube}, CoreDNS {core}); "
            "CoreDNS was left serving",
            f"check the kube-dns pods (`kubectl describe pod -n {self.ns} -l k8s-app=kube-dns`), fix what "
            f"keeps them from starting, then {RERUN}",
        )

    def _service_field(self) -> str:
        return f"metadata.name={self.options.dns_service}"


def _replicas(deployment: Obj | None) -> int:
    if deployment is None:
        return 0
    return int((deployment.get("spec") or {}).get("replicas") or 0)
