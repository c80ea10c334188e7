"""Runs the lab API server alone (no kubelet, controllers or DNS) for the tests/test_lab_api_* files.

The server runs on its own asyncio loop in a thread, exactly as the lab runs it; a fake
PodRuntime serves canned logs, a scripted exec and a real TCP echo socket for port-forward and
an HTTP socket for the pod proxy.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import socketserver
import subprocess
import sysconfig
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import dns.message
import dns.rrset
from kubernetes import client, config

from wizard.lab.addresses import AddressPlan
from wizard.lab.api.apiserver import APIServer, APIServerConfig
from wizard.lab.api.kubeconfig import write_kubeconfig
from wizard.lab.api.store import ApiError, Obj, Store
from wizard.lab.faults import Faults

T = TypeVar("T")
TOKEN = "lab-test-token"
KUBECTL = str(Path(sysconfig.get_path("scripts")) / "kubectl")


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _DNSOverTCP(socketserver.BaseRequestHandler):
    """Answers every A query with 10.0.0.1: enough to prove dnspython works over port-forward."""

    def handle(self) -> None:
        while header := self.request.recv(2):
            size = int.from_bytes(header, "big")
            wire = b""
            while len(wire) < size:
                wire += self.request.recv(size - len(wire))
            query = dns.message.from_wire(wire)
            reply = dns.message.make_response(query)
            reply.answer.append(dns.rrset.from_text(query.question[0].name, 30, "IN", "A", "10.0.0.1"))
            answer = reply.to_wire()
            self.request.sendall(len(answer).to_bytes(2, "big") + answer)


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"# path {self.path}\ncoredns_dns_requests_total 42\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


class FakeRuntime:
    """A PodRuntime with canned logs per (pod, container), scripted exec and real sockets."""

    def __init__(self) -> None:
        self.logs_by_container: dict[tuple[str, str], str] = {}
        self.exec_calls: list[tuple[str, str, str | None, list[str], bytes]] = []
        self.echo = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
        self.echo.daemon_threads = True
        self.dns = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _DNSOverTCP)
        self.dns.daemon_threads = True
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
        self.http.daemon_threads = True
        for server in (self.echo, self.dns, self.http):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.lock = threading.Lock()

    def close(self) -> None:
        for server in (self.echo, self.dns, self.http):
            server.shutdown()
            server.server_close()

    def append_log(self, pod: str, container: str, text: str) -> None:
        with self.lock:
            key = (pod, container)
            self.logs_by_container[key] = self.logs_by_container.get(key, "") + text

    def logs(
        self, namespace: str, pod: str, container: str | None, tail_lines: int | None, previous: bool
    ) -> str:
        with self.lock:
            text = self.logs_by_container.get((pod, container or ""))
        if text is None:
            raise ApiError(400, "BadRequest", f'container "{container}" in pod "{pod}" is waiting to start')
        if previous:
            return "previous run\n"
        if tail_lines is not None:
            lines = text.splitlines(keepends=True)
            return "".join(lines[-tail_lines:]) if tail_lines > 0 else ""
        return text

    def exec(
        self, namespace: str, pod: str, container: str | None, command: list[str], stdin: bytes
    ) -> tuple[int, bytes, bytes]:
        self.exec_calls.append((namespace, pod, container, command, stdin))
        if command[:1] == ["cat"]:
            return 0, stdin or b"contents of " + command[1].encode() + b"\n", b""
        if command[:1] == ["fail"]:
            return int(command[1]), b"", b"it failed\n"
        return 127, b"", f"{command[0]}: not found\n".encode()

    def resolve_port(self, namespace: str, pod: str, port: int) -> tuple[str, int]:
        if port == 53:
            return "127.0.0.1", int(self.dns.server_address[1])
        if port == 7:
            return "127.0.0.1", int(self.echo.server_address[1])
        if port == 9153:
            return "127.0.0.1", int(self.http.server_address[1])
        if port == 9999:  # declared but nothing listens there
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                free = int(probe.getsockname()[1])
            return "127.0.0.1", free
        raise ApiError(404, "NotFound", f"pod {pod} has no port {port}")


class LabAPI:
    """A started APIServer with its store, faults and kubeconfig, driven from test threads."""

    def __init__(self, tmp: Path, deny: set[tuple[str, str]] | None = None, **extra: Any) -> None:
        self.store = Store()
        self.faults = Faults()
        self.runtime = FakeRuntime()
        self.addresses = AddressPlan(250)
        self.config = APIServerConfig(
            token=TOKEN, cert_dir=tmp / "pki", deny=deny or set(), addresses=self.addresses, **extra
        )
        self.server = APIServer(self.store, self.config, self.runtime, self.faults)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="lab-loop", daemon=True)
        self.thread.start()
        self.run(self.server.start())
        self.kubeconfig = write_kubeconfig(
            tmp / "kubeconfig", self.server.url, self.server.ca_pem, TOKEN, extensions={"dnsPort": 1053}
        )
        self.store.create("namespaces", {"metadata": {"name": "default"}})
        self.store.create("namespaces", {"metadata": {"name": "kube-system"}})

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.runtime.close()

    def api_client(self) -> client.ApiClient:
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.kubeconfig.parent)}
        done = subprocess.run(
            [KUBECTL, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)


@contextmanager
def running_lab_api(tmp: Path, **kwargs: Any) -> Iterator[LabAPI]:
    lab = LabAPI(tmp, **kwargs)
    try:
        yield lab
    finally:
        lab.close()


def deployment(
    name: str, replicas: int = 2, namespace: str = "kube-system", labels: dict[str, str] | None = None
) -> Obj:
    labels = labels or {"k8s-app": "kube-dns"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {
                            "name": "coredns",
                            "image": "registry.k8s.io/coredns/coredns:v1.7.0",
                            "ports": [
                                {"containerPort": 53, "protocol": "UDP", "name": "dns"},
                                {"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"},
                            ],
                            "env": [{"name": "A", "value": "1"}],
                        },
                    ]
                },
            },
        },
    }


def pod(
    name: str,
    containers: tuple[str, ...] = ("coredns",),
    namespace: str = "kube-system",
    labels: dict[str, str] | None = None,
    node: str | None = "node-1",
    phase: str = "Running",
) -> Obj:
    spec: Obj = {
        "containers": [
            {
                "name": c,
                "image": f"example/{c}:1.0",
                "ports": [{"containerPort": 53}, {"containerPort": 9153, "name": "metrics"}],
            }
            for c in containers
        ]
    }
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"k8s-app": "kube-dns"}},
        "spec": spec,
        "status": {"phase": phase},
    }


__all__ = ["KUBECTL", "TOKEN", "FakeRuntime", "LabAPI", "deployment", "pod", "running_lab_api"]
