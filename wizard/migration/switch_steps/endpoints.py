"""Waiting until every Ready CoreDNS pod is a ready endpoint of the kube-dns Service, in its
Endpoints and its EndpointSlices (kube-proxy reads one or the other)."""

from __future__ import annotations

from wizard.i18n import msg
from wizard.k8s.objects import Obj, endpoint_ips
from wizard.k8s.watch import WaitTimeout
from wizard.migration.dns_pods import slice_ready_ips
from wizard.migration.plan import Step
from wizard.migration.progress import EndpointsChanged, Outcome, Waiting
from wizard.migration.step_runner import SwitchStop
from wizard.migration.switch_steps.context import ENDPOINT_PROPAGATION_TIMEOUT_S, SwitchContext


def check_endpoints(ctx: SwitchContext, step: Step) -> tuple[Outcome, str]:
    if ctx.dry_run:
        ctx.emit(Waiting(msg(
            "switch.dry-run-endpoints-wait",
            "dry-run: would wait for the CoreDNS pod IPs in the kube-dns endpoints"
        ), 0.0, 0.0))
        return "skipped", msg("switch.dry-run", "dry-run")
    pods = ctx.pods()
    want = {
        str(p["status"]["podIP"]) for p in pods.ready("coredns") if (p.get("status") or {}).get("podIP")
    }
    if not want:
        raise SwitchStop(
            msg("switch.no-ready-pod-for-endpoints", "no Ready CoreDNS pod whose endpoints could be checked")
        )
    service = ctx.options.dns_service

    def in_endpoints(objs: list[Obj]) -> Obj | None:
        ep = next((o for o in objs if o["metadata"].get("name") == service), None)
        if ep is None:
            return None
        ctx.emit(EndpointsChanged(tuple(sorted(endpoint_ips(ep))), tuple(sorted(endpoint_ips(ep, False)))))
        return ep if want <= endpoint_ips(ep) else None

    ips = ", ".join(sorted(want))
    what = msg(
        "switch.wait-ips-in-endpoints", "{ips} among the ready endpoints of Service {service}",
        ips=ips, service=f"{ctx.ns}/{service}",
    )
    what_slices = msg(
        "switch.wait-ips-in-endpointslices", "{ips} among the ready EndpointSlices of Service {service}",
        ips=ips, service=f"{ctx.ns}/{service}",
    )
    try:
        ctx.wait(
            "Endpoints",
            in_endpoints,
            ENDPOINT_PROPAGATION_TIMEOUT_S,
            what,
            field_selector=f"metadata.name={service}",
        )
        ctx.wait(
            "EndpointSlice",
            lambda _objs: True if want <= slice_ready_ips(ctx.gateway, ctx.options) else None,
            ENDPOINT_PROPAGATION_TIMEOUT_S,
            what_slices,
            label_selector=f"kubernetes.io/service-name={service}",
        )
    except WaitTimeout as err:
        raise SwitchStop(
            msg("switch.pods-did-not-join", "CoreDNS pods did not join the Service: {error}", error=str(err))
        ) from None
    return (
        "done",
        msg(
            "switch.endpoints-ready", "{ips} ready in Endpoints and EndpointSlices of {service}",
            ips=ips, service=f"{ctx.ns}/{service}",
        ),
    )
