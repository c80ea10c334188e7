"""One CoreDNS pod of the lab: its Corefile, read from the ConfigMap it mounts, served for real.

The pod's image tag is its CoreDNS version, and the lab's own reading of that release's setup
rules (coredns_setup) decides whether it would refuse the Corefile: if so the pod exits at start
with CoreDNS's error line, exactly the failure the wizard must show an operator (`kubectl logs`).
Otherwise each server block becomes a plugin chain (dns_coredns_config, dns_coredns_plugins), all blocks of a
port share one listener on (pod IP, dns_port), and the most specific zone among the blocks takes
each query. Reload, lameduck, readiness (including the RBAC the kubernetes plugin needs) and
metrics behave as the pod's CoreDNS version does.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from wizard.lab.api.store import Obj
from wizard.lab.dns import coredns_plugins as p
from wizard.lab.dns.coredns_config import (
    Block,
    Compiler,
    Config,
    ConfigRejected,
    image_version,
    load_corefile,
)
from wizard.lab.dns.coredns_metrics import BUILDS, Metrics, version_text
from wizard.lab.dns.http import HTTPEndpoints, Route
from wizard.lab.dns.pods import DNSPod, DNSPodStartError, is_coredns_image
from wizard.lab.dns.transport import Client, DNSListener, WireHandler

# ---- RBAC, as the kubernetes plugin meets it ---------------------------------------------------------
ASSUMED_KUBERNETES = (1, 20)
"""The lab's Kubernetes version when the pod's node does not say."""


def _allowed(rules: list[Obj], group: str, resource: str) -> bool:
    for rule in rules:
        groups, resources, verbs = (
            rule.get("apiGroups") or [],
            rule.get("resources") or [],
            rule.get("verbs") or [],
        )
        group_ok = group in groups or "*" in groups
        resource_ok = resource in resources or "*" in resources
        if group_ok and resource_ok and ("*" in verbs or {"list", "watch"} <= set(verbs)):
            return True
    return False


def _forbidden_line(namespace: str, account: str, group: str, resource: str) -> str:
    kind = {
        "endpointslices": "EndpointSlice",
        "endpoints": "Endpoints",
        "services": "Service",
        "namespaces": "Namespace",
        "pods": "Pod",
    }[resource]
    version = "v1beta1" if group else "v1"
    in_group = f'"{resource}" in API group "{group}"'
    qualified = f"{resource}.{group}" if group else resource
    return (
        f"[ERROR] plugin/kubernetes: pkg/mod/k8s.io/client-go/tools/cache/reflector.go:167: Failed to watch "
        f"*{version}.{kind}: failed to list *{version}.{kind}: {qualified} is forbidden: User "
        f'"system:serviceaccount:{namespace}:{account}" cannot list resource {in_group} at the cluster scope'
    )


# ---- the pod -----------------------------------------------------------------------------------------
class CoreDNSPod(DNSPod):
    kind = "coredns"
    exits_on_sigterm = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        container: Obj = next(
            (
                c
                for c in self.pod.get("spec", {}).get("containers", [])
                if is_coredns_image(str(c.get("image", "")))
            ),
            {},
        )
        self.container: Obj = container
        self.version = image_version(str(container.get("image", "")))
        self.config: Config | None = None
        self.metrics = Metrics(self.version)
        self._listeners: dict[int, DNSListener] = {}
        self._http: dict[int, HTTPEndpoints] = {}
        self._terminating = False
        self._was_ready = False
        self._reported_forbidden: set[tuple[str, str]] = set()
        self._tasks: list[asyncio.Task[None]] = []

    # ---- where the Corefile comes from ----------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The container's plain `env` values: what `{$VAR}` in the Corefile sees."""
        return {str(e.get("name")): str(e.get("value", "")) for e in self.container.get("env") or []
                if "valueFrom" not in e}

    def conf_path(self) -> str | None:
        args = [str(a) for a in self.container.get("args") or []] + [
            str(a) for a in self.container.get("command") or []
        ]
        for i, arg in enumerate(args):
            if arg in ("-conf", "--conf") and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(("-conf=", "--conf=")):
                return arg.split("=", 1)[1]
        return None

    def read_corefile(self) -> str | None:
        """The Corefile text the container sees, None when there is no -conf (CoreDNS then runs
        its built-in default); ConfigRejected when the file does not exist."""
        path = self.conf_path()
        if path is None:
            return None
        missing = ConfigRejected(f"open {path}: no such file or directory")
        for mount in self.container.get("volumeMounts") or []:
            mount_path = str(mount.get("mountPath", "")).rstrip("/")
            if not path.startswith(mount_path + "/"):
                continue
            relative = path[len(mount_path) + 1 :]
            volume = next(
                (
                    v
                    for v in self.pod.get("spec", {}).get("volumes") or []
                    if v.get("name") == mount.get("name")
                ),
                None,
            )
            source = (volume or {}).get("configMap")
            if not source:
                raise missing
            key = relative
            items = source.get("items")
            if items:
                found = [i.get("key") for i in items if i.get("path") == relative]
                if not found:
                    raise missing
                key = str(found[0])
            cm = self.store.try_get("configmaps", self.namespace, str(source.get("name", "")))
            text = ((cm or {}).get("data") or {}).get(key)
            if text is None:
                raise missing
            return str(text)
        raise missing

    # ---- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        path = self.conf_path() or "Corefile"
        try:
            text = self.read_corefile()
            if text is None:
                text = ".:53 {\n    whoami\n    log\n}\n"
            corefile = load_corefile(text, self.version, path, self.env())
            config = Compiler(self).compile(corefile, text)
        except ConfigRejected as err:
            self.log(f"[FATAL] {err}" if str(err).startswith("open ") else str(err))
            raise DNSPodStartError(self.log_lines()) from err
        except Exception as err:  # a malformed number, name or regex inside a directive: CoreDNS exits
            self.log(f"{path} - Error during parsing: {err}")
            raise DNSPodStartError(self.log_lines()) from err
        if self.faults.is_on("coredns-crashloop") or config.looped:
            self._log_startup(config)
            zone, upstream = (
                config.looped[0] if config.looped else (".", f"127.0.0.1:{random.randint(30000, 60000)}")
            )
            self.log(
                f'[FATAL] plugin/loop: Loop ({upstream} -> :53) detected for zone "{zone}", see '
                f"https://coredns.io/plugins/loop#troubleshooting. Query: "
                f'"HINFO {random.getrandbits(63)}.{random.getrandbits(63)}.{zone.rstrip(".")}."'
            )
            raise DNSPodStartError(self.log_lines())
        try:
            await self._bind(config)
        except OSError as err:
            await self._close()
            self.log(f"[FATAL] listen: {err}")
            raise DNSPodStartError(self.log_lines()) from err
        self.config = config
        self._log_startup(config)
        self.running = True
        if config.reload is not None:
            self._tasks.append(asyncio.get_running_loop().create_task(self._reload_loop()))

    def _log_startup(self, config: Config) -> None:
        for block in config.blocks:
            self.log(block.key_text if ":" in block.key_text else f"{block.key_text}:{block.port}")
        digest = "MD5" if self.version < (1, 9, 0) else "SHA512"
        value = (hashlib.md5 if digest == "MD5" else hashlib.sha512)(config.text.encode()).hexdigest()
        self.log(f"[INFO] plugin/reload: Running configuration {digest} = {value}")
        go, revision = BUILDS.get(self.version, ("go1.20", "lab"))
        self.log(f"CoreDNS-{version_text(self.version)}")
        self.log(f"linux/amd64, {go}, {revision}")

    async def _bind(self, config: Config) -> None:
        wanted = {port: (self.dns_port if port == 53 else port) for port in config.ports()}
        for port in [p_ for p_ in self._listeners if p_ not in wanted]:
            await self._listeners.pop(port).stop()
        for port, real in wanted.items():
            if port not in self._listeners:
                listener = DNSListener(self.ip, real, self._handler(port))
                await listener.start()
                self._listeners[port] = listener
        routes = {port: sorted(paths) for port, paths in config.http_routes().items()}
        current = {port: sorted(server._routes) for port, server in self._http.items()}
        if routes != current:
            for server in self._http.values():
                await server.stop()
            self._http.clear()
            for port, paths in routes.items():
                handlers: dict[str, Route] = {path: self._route(path) for path in paths}
                server = HTTPEndpoints(self.ip, port, handlers)
                await server.start()
                self._http[port] = server

    def _route(self, path: str) -> Route:
        if path == "/health":
            return lambda: (200, "OK")
        if path == "/ready":
            return self._ready
        return lambda: (200, self.metrics.render(self._cache_sizes()))

    def _ready(self) -> tuple[int, str]:
        """CoreDNS's ready plugin: 200 once every plugin is ready, and from then on without asking
        again (a startup gate, not a health check); 503 during lameduck."""
        if self._terminating or not self.running:
            return 503, "kubernetes"
        if not self._was_ready:
            missing = self.missing_permissions() if self._has_kubernetes() else []
            for group, resource in missing:
                if (group, resource) not in self._reported_forbidden:
                    self._reported_forbidden.add((group, resource))
                    self.log(_forbidden_line(self.namespace, self._service_account(), group, resource))
            if missing:
                return 503, "kubernetes"
            self._was_ready = True
        return 200, "OK"

    def _has_kubernetes(self) -> bool:
        config = self.config
        return config is not None and any("kubernetes" in b.names for b in config.blocks)

    def _service_account(self) -> str:
        spec = self.pod.get("spec") or {}
        return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")

    def _kubernetes_version(self) -> tuple[int, int]:
        node = self.store.try_get("nodes", "", str((self.pod.get("spec") or {}).get("nodeName") or ""))
        text = str(((node or {}).get("status") or {}).get("nodeInfo", {}).get("kubeletVersion") or "")
        found = re.match(r"v?(\d+)\.(\d+)", text)
        return (int(found.group(1)), int(found.group(2))) if found else ASSUMED_KUBERNETES

    def needed_permissions(self) -> list[tuple[str, str]]:
        """(API group, resource) the kubernetes plugin lists and watches at this version."""
        needed = [("", "services"), ("", "namespaces")]
        slices = self.version >= (1, 11, 0) or (
            self.version >= (1, 8, 1) and self._kubernetes_version() >= (1, 19)
        )
        needed.append(("discovery.k8s.io", "endpointslices") if slices else ("", "endpoints"))
        config = self.config
        verified = config is not None and any(
            isinstance(plugin, p.KubernetesPlugin) and plugin.records.pods == "verified"
            for block in config.blocks
            for plugin in block.plugins
        )
        if verified:
            needed.append(("", "pods"))
        return needed

    def missing_permissions(self) -> list[tuple[str, str]]:
        """What RBAC denies this pod's service account. A Store without any ClusterRoleBinding
        does not model RBAC at all, and then nothing is missing."""
        bindings = self.store.list("clusterrolebindings.rbac.authorization.k8s.io")[0]
        if not bindings:
            return []
        account = self._service_account()
        rules: list[Obj] = []
        for binding in bindings:
            subjects = binding.get("subjects") or []
            if not any(
                s.get("kind") == "ServiceAccount"
                and s.get("name") == account
                and s.get("namespace", self.namespace) == self.namespace
                for s in subjects
            ):
                continue
            ref = binding.get("roleRef") or {}
            role = self.store.try_get("clusterroles.rbac.authorization.k8s.io", "", str(ref.get("name", "")))
            rules.extend((role or {}).get("rules") or [])
        return [(g, r) for g, r in self.needed_permissions() if not _allowed(rules, g, r)]

    def _cache_sizes(self) -> list[int]:
        config = self.config
        if config is None:
            return []
        return [
            plugin.size for b in config.blocks for plugin in b.plugins if isinstance(plugin, p.CachePlugin)
        ]

    async def terminate_requested(self) -> None:
        if self._terminating or self.exited:
            return
        self._terminating = True
        self.log("[INFO] SIGTERM: Shutting down servers then terminating")
        lameduck = self.config.lameduck if self.config else 0.0
        if lameduck > 0 and self.running:
            self.log(f"[INFO] plugin/health: Going into lameduck mode for {lameduck:g}s")
            self._tasks.append(asyncio.get_running_loop().create_task(self._finish_lameduck(lameduck)))
        else:
            await self.kill()

    async def _finish_lameduck(self, lameduck: float) -> None:
        await asyncio.sleep(lameduck / self.speed)
        await self._close()
        self._exited.set()

    async def kill(self) -> None:
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        await self._close()
        self._exited.set()

    async def _close(self) -> None:
        self.running = False
        for listener in self._listeners.values():
            await listener.stop()
        self._listeners.clear()
        for server in self._http.values():
            await server.stop()
        self._http.clear()

    # ---- reload -----------------------------------------------------------------------------------
    async def _reload_loop(self) -> None:
        while self.running and not self._terminating:
            config = self.config
            if config is None or config.reload is None:
                return
            interval, jitter = config.reload
            await asyncio.sleep((interval + random.uniform(0, jitter)) / self.speed)
            await self.reload_now()

    async def reload_now(self) -> bool:
        """Re-read the Corefile; apply it when it changed and is valid. True when applied."""
        current = self.config
        if current is None or self._terminating:
            return False
        path = self.conf_path() or "Corefile"
        try:
            text = self.read_corefile() or current.text
            if text == current.text:
                return False
            config = Compiler(self).compile(load_corefile(text, self.version, path, self.env()), text)
            if config.looped:
                raise ConfigRejected(f'plugin/loop: a forwarding loop for zone "{config.looped[0][0]}"')
            self.log("[INFO] Reloading")
            await self._bind(config)
        except Exception as err:  # whatever the new Corefile breaks, the old one keeps running
            self.metrics.reload_failed += 1
            self.log(f"[ERROR] Restart failed: {err}")
            return False
        self.config = config
        digest = "MD5" if self.version < (1, 9, 0) else "SHA512"
        value = (hashlib.md5 if digest == "MD5" else hashlib.sha512)(text.encode()).hexdigest()
        self.log(f"[INFO] plugin/reload: Running configuration {digest} = {value}")
        self.log("[INFO] Reloading complete")
        return True

    # ---- queries ----------------------------------------------------------------------------------
    def _handler(self, port: int) -> WireHandler:
        async def handle(wire: bytes, client: Client, proto: str) -> bytes | None:
            return await self.answer(wire, client, proto, port)

        return handle

    def _select(self, qname: dns.name.Name, port: int) -> tuple[Block, dns.name.Name] | None:
        config = self.config
        if config is None:
            return None
        best: tuple[Block, dns.name.Name] | None = None
        for block in config.blocks:
            if block.port != port:
                continue
            for zone in block.zones:
                if qname.is_subdomain(zone) and (best is None or len(zone) > len(best[1])):
                    best = (block, zone)
        return best

    async def answer(self, wire: bytes, client: Client, proto: str, port: int = 53) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return p.rcode_reply(query, dns.rcode.FORMERR).to_wire()
        question = query.question[0]
        selected = self._select(question.name, port)
        zone_text = selected[1].to_text() if selected else "dropped"
        if self.faults.is_on("coredns-servfail"):
            result = p.Reply(p.rcode_reply(query, dns.rcode.SERVFAIL), "")
        elif selected is None:
            result = p.Reply(p.rcode_reply(query, dns.rcode.REFUSED), "")
        else:
            result = await selected[0].chain(p.Request(query, client, proto, selected[1]))
        msg = result.msg
        family = "2" if ":" in client[0] else "1"
        qtype = dns.rdatatype.to_text(question.rdtype)
        rcode = dns.rcode.to_text(msg.rcode()) if msg is not None else "SERVFAIL"
        self.metrics.record(f"dns://:{port}", zone_text, proto, family, qtype, rcode, result.plugin)
        if msg is None:
            return None
        return _encode(msg, query, proto)


def _encode(msg: dns.message.Message, query: dns.message.Message, proto: str) -> bytes:
    limit = 65535 if proto == "tcp" else max(512, query.payload if query.edns >= 0 else 512)
    try:
        return msg.to_wire(max_size=limit)
    except dns.exception.TooBig:
        msg.answer, msg.authority, msg.additional = [], [], []
        msg.flags |= dns.flags.TC
        return msg.to_wire()
