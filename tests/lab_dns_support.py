"""Shared set-up for the lab DNS tests: an event loop in a thread (as the lab runs), a free
loopback address plan and DNS port, and a Store seeded with a small cluster."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import dns.message
import dns.query
import dns.rdatatype

from wizard.lab.addresses import AddressPlan
from wizard.lab.api.store import Store

T = TypeVar("T")

GUIDE_COREFILE_184 = """\
.:53 {
    template ANY HINFO . {
        rcode NXDOMAIN
    }
    errors
    health {
        lameduck 30s
    }
    ready
    kubernetes cluster.local. in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . /etc/resolv.conf {
        prefer_udp
    }
    cache 30
    reload
    loadbalance
}
"""

GUIDE_KUBEDNS_DATA = {
    "federations": '{"foo" : "foo.feddomain.com"}\n',
    "stubDomains": '{"abc.com" : ["1.2.3.4"], "my.cluster.local" : ["2.3.4.5"]}\n',
    "upstreamNameservers": '["8.8.8.8", "8.8.4.4"]\n',
}


class LoopThread:
    """One asyncio loop in a daemon thread, like the lab loop; `run()` waits for a coroutine."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _free(host: str, port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def free_plan_and_port() -> tuple[AddressPlan, int]:
    """A lab address plan whose second octet is unused here, and a DNS port free on it."""
    for _ in range(200):
        octet = random.randint(2, 250)
        port = random.randint(20000, 60000)
        if _free(f"127.{octet}.0.1", port) and _free(f"127.{octet}.128.1", port):
            return AddressPlan(octet), port
    raise RuntimeError("no free loopback octet/port found")


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll until `condition()` holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def query(
    name: str, rdtype: str, server: str, port: int, tcp: bool = False, timeout: float = 3.0, **kw: Any
) -> dns.message.Message:
    q = dns.message.make_query(name, dns.rdatatype.from_text(rdtype))
    if tcp:
        return dns.query.tcp(q, server, port=port, timeout=timeout, **kw)
    return dns.query.udp(q, server, port=port, timeout=timeout, **kw)


def addresses_of(msg: dns.message.Message, rdtype: str = "A") -> list[str]:
    wanted = dns.rdatatype.from_text(rdtype)
    return sorted(r.to_text() for rrset in msg.answer if rrset.rdtype == wanted for r in rrset)


# ---- a small cluster ------------------------------------------------------------------------------
def seed_cluster(store: Store, plan: AddressPlan) -> dict[str, str]:
    """Namespaces, the kubernetes and kube-dns Services, a business Service `web` in `shop`, a
    headless Service, an ExternalName Service and their pods; returns the addresses used."""
    o = plan.octet
    ips = {
        "kubernetes": f"127.{o}.0.1",
        "kube-dns": plan.dns_service_ip,
        "web": f"127.{o}.0.20",
        "web-pod-1": f"127.{o}.128.11",
        "web-pod-2": f"127.{o}.128.12",
        "db-0": f"127.{o}.128.21",
        "db-1": f"127.{o}.128.22",
    }
    for ip in (ips["kubernetes"], ips["kube-dns"], ips["web"]):
        plan.services.take(ip)
    for key in ("web-pod-1", "web-pod-2", "db-0", "db-1"):
        plan.pods.take(ips[key])
    for ns in ("default", "kube-system", "shop"):
        store.create("namespaces", {"metadata": {"name": ns}})

    def service(ns: str, name: str, ip: str | None, ports: list[dict[str, Any]], **spec: Any) -> None:
        body: dict[str, Any] = {"ports": ports, "selector": {"app": name}, **spec}
        if ip is not None:
            body["clusterIP"] = ip
        store.create("services", {"metadata": {"name": name, "namespace": ns}, "spec": body})

    service("default", "kubernetes", ips["kubernetes"], [{"name": "https", "port": 443, "protocol": "TCP"}])
    service(
        "kube-system",
        "kube-dns",
        ips["kube-dns"],
        [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}],
    )
    service("shop", "web", ips["web"], [{"name": "http", "port": 80, "protocol": "TCP"}])
    service("shop", "db", "None", [{"name": "pg", "port": 5432, "protocol": "TCP"}])
    service("shop", "search", None, [], type="ExternalName", externalName="search.example.com")
    store.create(
        "endpoints",
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "subsets": [
                {
                    "addresses": [{"ip": ips["web-pod-1"]}, {"ip": ips["web-pod-2"]}],
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                }
            ],
        },
    )
    store.create(
        "endpoints",
        {
            "metadata": {"name": "db", "namespace": "shop"},
            "subsets": [
                {
                    "addresses": [{"ip": ips["db-0"], "hostname": "db-0"}, {"ip": ips["db-1"]}],
                    "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
                }
            ],
        },
    )
    for name, key in (("web-1", "web-pod-1"), ("web-2", "web-pod-2"), ("db-0", "db-0"), ("db-1", "db-1")):
        store.create(
            "pods",
            {"metadata": {"name": name, "namespace": "shop"}, "spec": {}, "status": {"podIP": ips[key]}},
        )
    return ips


def coredns_pod(
    store: Store, plan: AddressPlan, corefile: str, version: str = "1.8.4", name: str = "coredns-1"
) -> dict[str, Any]:
    """The ConfigMap kube-system/coredns holding `corefile` and a pod mounting it, as the guide's
    Deployment does; the pod dict has its status.podIP set."""
    if store.try_get("configmaps", "kube-system", "coredns") is None:
        store.create(
            "configmaps",
            {"metadata": {"name": "coredns", "namespace": "kube-system"}, "data": {"Corefile": corefile}},
        )
    return {
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {
            "containers": [
                {
                    "name": "coredns",
                    "image": f"ccr.ccs.tencentyun.com/tkeimages/coredns:{version}",
                    "args": ["-conf", "/etc/coredns/Corefile"],
                    "volumeMounts": [
                        {"mountPath": "/etc/coredns", "name": "config-volume", "readOnly": True}
                    ],
                }
            ],
            "volumes": [
                {
                    "name": "config-volume",
                    "configMap": {
                        "name": "coredns",
                        "optional": True,
                        "items": [{"key": "Corefile", "path": "Corefile"}],
                    },
                }
            ],
        },
        "status": {"podIP": plan.pods.take()},
    }


def kubedns_pod(
    plan: AddressPlan, extra_dnsmasq_args: list[str] | None = None, name: str = "kube-dns-1",
    version: str = "1.14.13",
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {
            "containers": [
                {
                    "name": "kubedns",
                    "image": f"ccr.ccs.tencentyun.com/library/kubedns-amd64:{version}",
                    "args": [
                        "--domain=cluster.local.",
                        "--dns-port=10053",
                        "--config-dir=/kube-dns-config",
                        "--v=2",
                    ],
                },
                {
                    "name": "dnsmasq",
                    "image": f"ccr.ccs.tencentyun.com/library/k8s-dns-dnsmasq-nanny-amd64:{version}",
                    "args": [
                        "-v=2",
                        "-logtostderr",
                        "-configDir=/etc/k8s/dns/dnsmasq-nanny",
                        "-restartDnsmasq=true",
                        "--",
                        "-k",
                        "--cache-size=1000",
                        "--no-negcache",
                        "--log-facility=-",
                        "--server=/cluster.local/127.0.0.1#10053",
                        "--server=/in-addr.arpa/127.0.0.1#10053",
                        "--server=/ip6.arpa/127.0.0.1#10053",
                        *(extra_dnsmasq_args or []),
                    ],
                },
                {"name": "sidecar", "image": "ccr.ccs.tencentyun.com/library/k8s-dns-sidecar-amd64:1.14.13"},
            ]
        },
        "status": {"podIP": plan.pods.take()},
    }
