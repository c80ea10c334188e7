"""The lab: a whole simulated cluster (API server, controllers, kubelet, DNS, kube-proxy) in-process.

Everything runs on ONE asyncio event loop in a daemon thread, so the parts share the Store without
races and a test or the `lab` command can start and stop the whole cluster with one object. Each
lab claims its own second octet of 127.0.0.0/8 (by holding a socket on 127.N.0.1), so several labs
(parallel tests) never collide on an address.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from wizard.errors import InputError
from wizard.lab.addresses import AddressPlan
from wizard.lab.api.store import Obj, Store
from wizard.lab.faults import FAULTS, Faults
from wizard.lab.node.kubelet import Kubelet
from wizard.lab.presets import DEFAULT_PRESET, PRESETS
from wizard.lab.seed import GUIDE_KUBE_DNS_DATA, KERNELS, SeedOptions, load_kube_dns_configmap, seed

T = TypeVar("T")

CLAIM_PORT = 47253
"""The port a lab holds on 127.N.0.1 for its lifetime: its claim on the octet N."""

PROXY_MODES = ("ipvs", "iptables")
FAULT_BLOCKS_START_SECONDS = 5.0
"""With a fault injected, kube-dns Unschedulable this long means the fault keeps the lab from starting."""


def default_dns_port() -> int:
    """53 when we may bind it (root), else 1053."""
    return 53 if os.geteuid() == 0 else 1053


@dataclass
class LabOptions:
    """What lab to build. Delays are real-world seconds divided by `speed`."""

    k8s_version: str = "1.20.15"
    nodes: int = 3
    kube_dns_replicas: int = 3
    proxy_mode: str = "ipvs"
    udp_timeout: int = 300
    kube_dns_configmap: Path | None = None  # a ConfigMap manifest replacing the default one
    guide_configmap: bool = False  # the guide's full ConfigMap, federations included
    faults: tuple[str, ...] = ()
    speed: float = 1.0
    dns_port: int | None = None  # None: 53 as root, 1053 otherwise; 0: pick a free port
    extra_pods: int = 0
    extra_services: int = 0
    deny: set[tuple[str, str]] = field(default_factory=set)
    kernel: str = "old"  # "old" (0009.11) or "fixed" (≥ 0009.23, flushes stale IPVS flows)
    cluster_domain: str = "cluster.local"  # kube-dns --domain, the kubelet's --cluster-domain
    preset: str = DEFAULT_PRESET  # the cluster's shape (wizard.lab.presets): kube-dns, autoscaler, nodes
    wait_ready: bool = True  # start() returns once every kube-dns replica is Ready
    start_timeout: float = 120.0
    kubeconfig_path: Path | None = None  # default: a file in the lab's temporary directory
    api_rtt_ms: float = 0.0
    """A round trip added between clients and the API server (wizard.lab.api.latency), as over a
    WAN: the kubeconfig then points at a relay that delays each direction by half of it."""

    def validate(self) -> None:
        """Raise InputError naming the option and its value for anything the lab cannot build."""
        if not _version_ok(self.k8s_version):
            raise InputError(
                f"--k8s-version {self.k8s_version!r}: expected MAJOR.MINOR[.PATCH], e.g. 1.20.15")
        if not 0 <= self.api_rtt_ms <= 10_000:
            raise InputError(f"--api-rtt-ms {self.api_rtt_ms:g}: must be 0..10000 (milliseconds)")
        if not 1 <= self.nodes <= 5000:
            raise InputError(f"--nodes {self.nodes}: must be 1..5000")
        if not 0 <= self.kube_dns_replicas <= 100:
            raise InputError(f"--kube-dns-replicas {self.kube_dns_replicas}: must be 0..100")
        if self.proxy_mode not in PROXY_MODES:
            raise InputError(f"--proxy-mode {self.proxy_mode!r}: must be ipvs or iptables")
        if self.speed < 0.01:
            raise InputError(f"--speed {self.speed}: must be at least 0.01")
        if self.dns_port is not None and not 0 <= self.dns_port <= 65535:
            raise InputError(f"--dns-port {self.dns_port}: must be 0..65535 (0 picks a free port)")
        if self.dns_port is not None and 0 < self.dns_port < 1024 and os.geteuid() != 0:
            raise InputError(f"--dns-port {self.dns_port}: ports below 1024 need root; use 1053 or 0")
        for name in self.faults:
            if name not in FAULTS:
                raise InputError(f"--fault {name!r}: unknown; known faults: {', '.join(sorted(FAULTS))}")
        if self.kernel not in KERNELS:
            raise InputError(f"kernel {self.kernel!r}: must be one of {', '.join(KERNELS)}")
        check_cluster_domain(self.cluster_domain)
        if self.preset not in PRESETS:
            raise InputError(f"--preset {self.preset!r}: unknown; known presets: {', '.join(PRESETS)} "
                             "(see --list-presets)")
        if self.extra_pods < 0:
            raise InputError(f"--extra-pods {self.extra_pods}: must not be negative")
        if self.extra_services < 0:
            raise InputError(f"--extra-services {self.extra_services}: must not be negative")


_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def check_cluster_domain(domain: str) -> str:
    """The domain without its trailing dot; InputError unless it is a DNS name kube-dns accepts
    (lower-case RFC 1123 labels, at most 253 characters)."""
    name = domain.rstrip(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise InputError(
            f"--cluster-domain {domain!r}: expected a DNS domain of lower-case labels, e.g. cluster.local")
    return name


def _version_ok(version: str) -> bool:
    parts = version.lstrip("v").split(".")
    return 2 <= len(parts) <= 3 and all(p.isdigit() for p in parts)


def _claim_octet() -> tuple[int, socket.socket]:
    """A free second octet, and the socket that keeps it ours until the lab stops."""
    candidates = list(range(2, 250))
    random.shuffle(candidates)
    for octet in candidates:
        claim = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            claim.bind((f"127.{octet}.0.1", CLAIM_PORT))
            claim.listen(1)
            return octet, claim
        except OSError:
            claim.close()
    raise InputError("no free lab address range in 127.0.0.0/8: stop other labs and retry")


def _port_free(host: str, port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True


def _pick_dns_port(octet: int, wanted: int | None) -> int:
    """The lab-wide DNS port; 0 picks one free on the lab's addresses (UDP and TCP)."""
    if wanted is None:
        wanted = default_dns_port()
    probe_hosts = (f"127.{octet}.0.10", f"127.{octet}.128.1", f"127.{octet}.96.1")
    if wanted:
        if not _port_free(probe_hosts[0], wanted):
            raise InputError(
                f"--dns-port {wanted}: already in use on {probe_hosts[0]}; pass 0 for a free one")
        return wanted
    for _ in range(200):
        port = random.randint(20000, 60000)
        if all(_port_free(host, port) for host in probe_hosts):
            return port
    raise InputError("--dns-port 0: found no free port; pass one explicitly")


class Lab:
    """A running lab cluster. Use as a context manager, or call start() and stop()."""

    def __init__(self, options: LabOptions | None = None) -> None:
        self.options = options or LabOptions()
        self.options.validate()
        self.store = Store()
        self.faults = Faults(self.options.faults)
        self.token = secrets.token_urlsafe(24)
        self.addresses: AddressPlan | None = None
        self.dns_port = 0
        self.api_url = ""
        self.kubeconfig_path = Path()
        self.kubelet: Kubelet | None = None
        self.startup_seconds = 0.0
        self._claim: socket.socket | None = None
        self._tmp: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._components: list[Any] = []  # started parts, stopped in reverse order

    # ---- public surface -----------------------------------------------------------------
    @property
    def dns_service_ip(self) -> str:
        assert self.addresses is not None, "the lab is not started"
        return self.addresses.dns_service_ip

    def run_coroutine(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        """Run `coro` on the lab loop and return its result (from any other thread)."""
        assert self._loop is not None, "the lab is not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- start and stop -----------------------------------------------------------------
    def start(self) -> Lab:
        """Build and start every part; with wait_ready, return once kube-dns serves."""
        began = time.monotonic()
        options = self.options
        kube_dns_data = dict(GUIDE_KUBE_DNS_DATA) if options.guide_configmap else None
        if options.kube_dns_configmap is not None:
            kube_dns_data = load_kube_dns_configmap(options.kube_dns_configmap)
        octet, self._claim = _claim_octet()
        try:
            self.addresses = AddressPlan(octet)
            self.dns_port = _pick_dns_port(octet, options.dns_port)
            self._tmp = Path(tempfile.mkdtemp(prefix="coredns-wizard-lab-"))
            self.kubeconfig_path = options.kubeconfig_path or self._tmp / "kubeconfig"
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="lab-loop", daemon=True)
            self._thread.start()
            seed_options = SeedOptions(
                k8s_version=options.k8s_version, nodes=options.nodes,
                kube_dns_replicas=options.kube_dns_replicas, proxy_mode=options.proxy_mode,
                udp_timeout=options.udp_timeout, kernel=options.kernel,
                cluster_domain=options.cluster_domain.rstrip("."), preset=options.preset,
                autoscaler="autoscaler" in options.faults,
                extra_pods=options.extra_pods, extra_services=options.extra_services,
            )
            if kube_dns_data is not None:
                seed_options.kube_dns_data = kube_dns_data
            self.run_coroutine(self._start_parts(seed_options), timeout=options.start_timeout)
            if options.wait_ready:
                self.wait_kube_dns_ready(options.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    async def _start_parts(self, seed_options: SeedOptions) -> None:
        from wizard.lab.api.apiserver import APIServer, APIServerConfig
        from wizard.lab.api.kubeconfig import write_kubeconfig
        from wizard.lab.controllers.controllers import Controllers
        from wizard.lab.dns.pods import make_dns_pod
        from wizard.lab.dns.world import VirtualNetwork

        assert self.addresses is not None and self._tmp is not None
        options, store, faults, addresses = self.options, self.store, self.faults, self.addresses
        speed = options.speed
        net = VirtualNetwork(addresses, self.dns_port)

        def dns_pod_factory(pod: Obj) -> Any:
            return make_dns_pod(pod, store, net, self.dns_port, faults, speed)

        self.kubelet = Kubelet(
            store, faults, speed, addresses, dns_port=self.dns_port,
            dns_service_ip=addresses.dns_service_ip, net=net, dns_pod_factory=dns_pod_factory,
            k8s_version=options.k8s_version, cluster_domain=options.cluster_domain,
        )
        config = APIServerConfig(
            k8s_version=options.k8s_version, token=self.token, cert_dir=self._tmp / "pki",
            deny=set(options.deny), addresses=addresses,
            flaky_hang_seconds=3.0 / speed,  # a hung request is a delay too: scaled like the rest
        )
        api = APIServer(store, config, self.kubelet, faults)
        await api.start()
        self._components.append(api)
        self.api_url = str(api.url)
        seed_options.api_port = int(api.port)
        if options.api_rtt_ms > 0:
            from wizard.lab.api.latency import LatencyRelay

            relay = LatencyRelay(api.config.host, api.config.host, int(api.port), options.api_rtt_ms / 1000.0)
            await relay.start()
            self._components.append(relay)
            self.api_url = f"https://{api.config.host}:{relay.port}"
        seed(store, addresses, seed_options)
        await net.start(store)
        self._components.append(net)
        await self._start_service_proxy()
        controllers = Controllers(store, faults, speed, addresses)
        await controllers.start()
        self._components.append(controllers)
        await self.kubelet.start()
        self._components.append(self.kubelet)
        write_kubeconfig(self.kubeconfig_path, self.api_url, api.ca_pem, self.token,
                         extensions={"dnsPort": self.dns_port})

    async def _start_service_proxy(self) -> None:
        from wizard.lab.dns.service_proxy import ServiceProxy

        assert self.addresses is not None
        options = self.options
        proxy = ServiceProxy(
            self.store, self.addresses, self.dns_port, mode=options.proxy_mode,
            udp_timeout=options.udp_timeout, speed=options.speed,
            # kube-proxy sets expire_nodest_conn; only fixed kernels then flush stale flows quickly
            expire_nodest_conn=options.kernel == "fixed",
        )
        await proxy.start()
        self._components.append(proxy)

    def wait_kube_dns_ready(self, timeout: float = 60.0) -> None:
        """Block until every kube-dns replica is Ready and the Service has them as endpoints."""
        wanted = self.options.kube_dns_replicas
        deadline = time.monotonic() + timeout
        unschedulable_since: float | None = None
        while not self._kube_dns_ready(wanted):
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(
                    f"kube-dns did not become ready within {timeout:.0f}s; {self._kube_dns_summary()}"
                )
            if self.options.faults and self._kube_dns_unschedulable():
                unschedulable_since = unschedulable_since or now
                if now - unschedulable_since > FAULT_BLOCKS_START_SECONDS:
                    raise TimeoutError(
                        f"fault {', '.join(self.options.faults)} stops start-up: the scheduler places no "
                        f"kube-dns pod; start the lab without it. {self._kube_dns_summary()}"
                    )
            else:
                unschedulable_since = None
            time.sleep(0.02)

    def _kube_dns_unschedulable(self) -> bool:
        """A kube-dns pod the scheduler reported as Unschedulable (no node takes it)."""
        for pod in self.store.list("pods", "kube-system", _is_kube_dns_pod)[0]:
            for cond in (pod.get("status") or {}).get("conditions") or []:
                if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
                    return True
        return False

    def _kube_dns_summary(self) -> str:
        """What the kube-dns pods, their Endpoints and the latest Events look like: the evidence
        a failed start needs."""
        parts: list[str] = []
        pods = self.store.list("pods", "kube-system", _is_kube_dns_pod)[0]
        for pod in pods:
            status = pod.get("status") or {}
            states = [
                f"{c.get('name')}:{next(iter(c.get('state') or {}), '?')}/r{c.get('restartCount', 0)}"
                for c in status.get("containerStatuses") or []
            ]
            parts.append(
                f"pod {pod['metadata']['name']} node={pod.get('spec', {}).get('nodeName')} "
                f"phase={status.get('phase')} ip={status.get('podIP')} ready={_ready(pod)} "
                f"containers={','.join(states) or '-'}{self._last_crash(pod)}"
            )
        endpoints = self.store.try_get("endpoints", "kube-system", "kube-dns")
        subsets = (endpoints or {}).get("subsets") or []
        ready = [a.get("ip") for s in subsets for a in s.get("addresses") or []]
        not_ready = [a.get("ip") for s in subsets for a in s.get("notReadyAddresses") or []]
        parts.append(f"endpoints ready={ready} notReady={not_ready}")
        names = {pod["metadata"]["name"] for pod in pods}
        events = self.store.list("events", "kube-system")[0]
        about_kube_dns = [e for e in events if (e.get("involvedObject") or {}).get("name") in names]
        parts.extend(f"event {e.get('reason')}: {e.get('message')}" for e in (about_kube_dns or events)[-5:])
        return "; ".join(parts)

    def _last_crash(self, pod: Obj) -> str:
        """The last log line of a crashed kube-dns container (e.g. why it could not listen)."""
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if self.kubelet is None or not any(c.get("restartCount") for c in statuses):
            return ""
        try:
            lines = self.kubelet.logs("kube-system", pod["metadata"]["name"], "kubedns", 1, True)
        except Exception:  # no previous container (yet): the summary goes on without it
            return ""
        return f" last-crash={lines.strip()!r}" if lines.strip() else ""

    def _kube_dns_ready(self, wanted: int) -> bool:
        # The Endpoints object first: one lookup, where listing pods sorts every pod of a big lab.
        endpoints = self.store.try_get("endpoints", "kube-system", "kube-dns")
        ready = sum(len(s.get("addresses") or []) for s in (endpoints or {}).get("subsets") or [])
        if ready < wanted:
            return False
        pods, _ = self.store.list("pods", "kube-system", lambda p: _is_kube_dns_pod(p) and _ready(p))
        return len(pods) >= wanted

    def stop(self) -> None:
        """Stop every part (sockets closed), join the loop thread, remove temporary files."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(Exception):
                self.run_coroutine(self._stop_parts(), timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        if self._loop is not None and not self._loop.is_running():
            self._loop.close()
        self._loop = None
        self._thread = None
        if self._claim is not None:
            self._claim.close()
            self._claim = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    async def _stop_parts(self) -> None:
        while self._components:
            part = self._components.pop()
            with contextlib.suppress(Exception):
                await part.stop()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_default_executor()  # exec/log worker threads


def _is_kube_dns_pod(pod: Obj) -> bool:
    from wizard.lab.dns.pods import is_kubedns_image

    images = [str(c.get("image", "")) for c in pod.get("spec", {}).get("containers", [])]
    return any(is_kubedns_image(image) for image in images)


def _ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
