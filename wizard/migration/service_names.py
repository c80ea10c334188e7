"""Cluster Service names → ClusterIPs, through the API server, for the translation's stub nameservers.

A kube-dns stub domain may name its nameserver as a Service (`consul-dns.consul.svc.cluster.local`).
CoreDNS resolves such a name once at start-up through the node's resolver, which knows no cluster
names; the translation (wizard.dns.translate, which never talks to the cluster) takes this resolver
to put the Service's ClusterIP in the Corefile instead.
"""

from __future__ import annotations

from wizard.dns.translate import ServiceResolver
from wizard.errors import InputError
from wizard.i18n import msg
from wizard.k8s.gateway import Gateway
from wizard.k8s.objects import ServiceView


def cluster_ip_resolver(gateway: Gateway) -> ServiceResolver:
    """A resolver that reads `NAME.NAMESPACE.svc.DOMAIN` as Service NAMESPACE/NAME and returns its
    ClusterIP; InputError when the Service is missing or headless (there is no single IP to use)."""

    def resolve(name: str) -> str:
        service, namespace = name.lower().rstrip(".").split(".")[:2]
        obj = gateway.try_get("Service", namespace, service)
        if obj is None:
            raise InputError(msg(
                "verify.stub-service-missing",
                "stub nameserver {name}: Service {service} does not exist; "
                "fix the name in the kube-dns ConfigMap or give the nameserver's IP",
                name=name, service=f"{namespace}/{service}",
            ))
        view = ServiceView.from_obj(obj)
        if not view.has_cluster_ip:
            raise InputError(msg(
                "verify.stub-service-headless",
                "stub nameserver {name}: Service {service} is headless (no ClusterIP); "
                "give one of its pod IPs or a Service with a ClusterIP",
                name=name, service=f"{namespace}/{service}",
            ))
        return view.cluster_ip

    return resolve
