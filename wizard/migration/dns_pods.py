"""Which DNS pod belongs to which Deployment, and what the kube-dns Service routes to.

Why ownerReferences: the CoreDNS Deployment selects `k8s-app: kube-dns` like kube-dns does, so
labels cannot tell the two apart; Pod -> ReplicaSet -> Deployment can.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from wizard.k8s import objects
from wizard.k8s.gateway import Gateway
from wizard.k8s.objects import Obj, endpoint_ips, name_of, owner_uids, owners_of, pod_is_ready, uid_of
from wizard.migration.progress import Owner, PodView
from wizard.options import SwitchOptions


def deployment_of_replicasets(gateway: Gateway, namespace: str) -> dict[str, str]:
    """ReplicaSet uid -> the name of the Deployment that owns it."""
    owners: dict[str, str] = {}
    for rs in gateway.list_replicasets(namespace):
        for ref in owners_of(rs, "Deployment"):
            owners[uid_of(rs)] = ref.name
    return owners


def pod_owner(pod: Obj, rs_owners: dict[str, str], options: SwitchOptions) -> Owner:
    for uid in owner_uids(pod, "ReplicaSet"):
        name = rs_owners.get(uid)
        if name == options.coredns_deployment:
            return "coredns"
        if name == options.kube_dns_deployment:
            return "kube-dns"
    return "other"


def pod_view(pod: Obj, owner: Owner, now: datetime | None = None) -> PodView:
    seen = objects.PodView.from_obj(pod)
    phase = "Terminating" if seen.terminating else seen.waiting_reason or seen.phase
    return PodView(
        name=seen.name,
        owner=owner,
        node=seen.node,
        ip=seen.ip,
        phase=phase,
        ready=seen.ready,
        restarts=seen.restarts,
        age_s=_age(seen.created, now),
    )


def _age(stamp: str, now: datetime | None) -> float:
    if not stamp:
        return 0.0
    try:
        created = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, ((now or datetime.now(UTC)) - created).total_seconds())


@dataclass(frozen=True)
class DnsPods:
    """The DNS pods of the kube-dns Service's selector, split by owning Deployment."""

    coredns: tuple[Obj, ...]
    kube_dns: tuple[Obj, ...]
    views: tuple[PodView, ...]

    def ready(self, owner: Owner) -> list[Obj]:
        pods = self.coredns if owner == "coredns" else self.kube_dns
        return [p for p in pods if pod_is_ready(p)]

    def ips(self, owner: Owner, ready_only: bool = True) -> set[str]:
        pods = (
            self.ready(owner) if ready_only else list(self.coredns if owner == "coredns" else self.kube_dns)
        )
        return {ip for p in pods if (ip := objects.PodView.from_obj(p).ip)}


def list_dns_pods(gateway: Gateway, options: SwitchOptions, pods: list[Obj] | None = None) -> DnsPods:
    """Every pod labelled k8s-app=kube-dns, classified by owner (one RS list per call)."""
    rs_owners = deployment_of_replicasets(gateway, options.namespace)
    if pods is None:
        pods = gateway.list_pods(options.namespace, "k8s-app=kube-dns")
    coredns: list[Obj] = []
    kube_dns: list[Obj] = []
    views: list[PodView] = []
    for pod in sorted(pods, key=name_of):
        owner = pod_owner(pod, rs_owners, options)
        if owner == "coredns":
            coredns.append(pod)
        elif owner == "kube-dns":
            kube_dns.append(pod)
        views.append(pod_view(pod, owner))
    return DnsPods(tuple(coredns), tuple(kube_dns), tuple(views))


@dataclass(frozen=True)
class EndpointMembership:
    """The Service's ready and not-ready endpoint IPs, and which owner each ready IP belongs to."""

    ready: tuple[str, ...]
    not_ready: tuple[str, ...]
    coredns_ready: tuple[str, ...]
    kube_dns_ready: tuple[str, ...]
    other_ready: tuple[str, ...]


def endpoint_membership(gateway: Gateway, options: SwitchOptions, pods: DnsPods) -> EndpointMembership:
    endpoints = gateway.try_get("Endpoints", options.namespace, options.dns_service) or {}
    ready = sorted(endpoint_ips(endpoints, True))
    not_ready = sorted(endpoint_ips(endpoints, False))
    core = pods.ips("coredns", ready_only=False)
    kube = pods.ips("kube-dns", ready_only=False)
    return EndpointMembership(
        tuple(ready),
        tuple(not_ready),
        tuple(ip for ip in ready if ip in core),
        tuple(ip for ip in ready if ip in kube),
        tuple(ip for ip in ready if ip not in core and ip not in kube),
    )


def slice_ready_ips(gateway: Gateway, options: SwitchOptions) -> set[str]:
    """Ready addresses across the Service's EndpointSlices (what kube-proxy 1.19+ routes to)."""
    return objects.slice_ready_ips(gateway.list_endpointslices(options.namespace, options.dns_service))
