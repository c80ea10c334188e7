"""kube-proxy's mode, its IPVS UDP timeout and the node kernels: will a kube-dns scale-down drop lookups?

Why: in IPVS mode a client that keeps its UDP source port stays pinned to a removed kube-dns pod
for the IPVS UDP timeout (300 s by default) unless the kernel expires such flows quickly
(`expire_nodest_conn` work: mainline 5.9+, TencentOS 3.1 from 0009.23). The guide's stage 2 asks
to shorten the timeout first; this module decides whether that is needed and says exactly how.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wizard.i18n import msg
from wizard.k8s.objects import ConfigMapView, containers_of
from wizard.migration.facts import ClusterFacts, NodeInfo, flag_value

KERNEL_DEFAULT_UDP_TIMEOUT_S = 300.0
SHORT_ENOUGH_UDP_TIMEOUT_S = 5.0
MAINLINE_FIXED = (5, 9)
TENCENTOS_FIXED = (9, 23)
"""TencentOS 3.1 kernels are numbered like 5.4.119-19-0009.28; the fix arrived in 0009.23."""
IPVS_DEPRECATED_SINCE = (1, 35)


def ipvs_advice() -> str:
    """What to do when IPVS keeps sessions to a removed kube-dns pod for too long."""
    return msg(
        "preflight.ipvs-advice",
        "Shorten the IPVS UDP timeout before the switch: `kubectl -n kube-system edit cm kube-proxy`, "
        "set `ipvs.udpTimeout: 5s` in config.conf and restart the kube-proxy pods "
        "(`kubectl -n kube-system rollout restart daemonset kube-proxy`), or run "
        "`ipvsadm --set 900 120 5` on each node; then wait 5 minutes so sessions opened with the old "
        "timeout expire, and run pre-flight again",
    )


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


@dataclass(frozen=True)
class ProxySetup:
    """What kube-proxy does, and where each value was read."""

    mode: str | None
    """"ipvs", "iptables", "nftables", ...; None when no kube-proxy configuration was found."""
    mode_source: str
    udp_timeout_s: float | None
    """The configured IPVS UDP timeout; None or 0 keeps the kernel's (300 s)."""
    udp_timeout_text: str
    notes: tuple[str, ...]


def go_duration_seconds(text: str) -> float | None:
    """A Go duration (`5s`, `1m30s`, `0s`) or plain seconds; None when unreadable."""
    cleaned = text.strip()
    if not cleaned:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", cleaned):
        return float(cleaned)
    parts = _DURATION_PART.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _kube_proxy_config(configmap: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
    """The KubeProxyConfiguration document of the kube-proxy ConfigMap, and the key it was under."""
    from wizard.errors import InputError
    from wizard.safe_load import load_yaml

    data = ConfigMapView.from_obj(configmap).data
    keys = ["config.conf", *sorted(k for k in data if k != "config.conf")]
    for key in keys:
        text = data.get(key)
        if text is None:
            continue
        try:
            doc = load_yaml(text, f"kube-proxy ConfigMap key {key}")
        except InputError:
            continue
        if isinstance(doc, dict) and (doc.get("kind") == "KubeProxyConfiguration" or "mode" in doc):
            return doc, key
    return None, ""


def _daemonset_words(daemonset: Mapping[str, Any] | None) -> list[str]:
    return [word for container in containers_of(daemonset) for word in container.command + container.args]


def read_proxy_setup(facts: ClusterFacts) -> ProxySetup:
    """Mode from the ConfigMap's config.conf `mode:`, else the DaemonSet's --proxy-mode=."""
    return proxy_setup(facts.namespace, facts.kube_proxy_configmap, facts.kube_proxy_daemonset)


def proxy_setup(
    ns: str, configmap: Mapping[str, Any] | None, daemonset: Mapping[str, Any] | None
) -> ProxySetup:
    """`read_proxy_setup` from the kube-proxy ConfigMap and DaemonSet themselves (the IPVS gate
    re-reads them while it waits)."""
    config, key = _kube_proxy_config(configmap)
    words = _daemonset_words(daemonset)
    flag_mode = flag_value(words, "proxy-mode")
    flag_timeout = flag_value(words, "ipvs-udp-timeout")
    notes: list[str] = []
    mode: str | None = None
    source = ""
    timeout_text = ""
    if config is not None:
        mode = str(config.get("mode") or "").strip() or "iptables"
        source = (
            f"ConfigMap {ns}/kube-proxy {key} mode: {config.get('mode')}"
            if config.get("mode")
            else msg(
                "preflight.proxy.mode-empty",
                "ConfigMap {name} {key} mode: (empty: iptables)",
                name=f"{ns}/kube-proxy",
                key=key,
            )
        )
        ipvs = config.get("ipvs") or {}
        timeout_text = str(ipvs.get("udpTimeout") or "") if isinstance(ipvs, dict) else ""
        if flag_mode and flag_mode != mode:
            notes.append(
                msg(
                    "preflight.proxy.mode-disagrees",
                    "DaemonSet {name} passes --proxy-mode={mode}, which disagrees with the ConfigMap; "
                    "check which one the running kube-proxy uses (`kubectl logs` shows the proxier)",
                    name=f"{ns}/kube-proxy",
                    mode=flag_mode,
                )
            )
    elif flag_mode is not None:
        mode = flag_mode.strip() or "iptables"
        source = f"DaemonSet {ns}/kube-proxy --proxy-mode={flag_mode}"
    elif daemonset is not None:
        mode = "iptables"
        source = msg(
            "preflight.proxy.no-mode",
            "DaemonSet {name} without a mode (the default: iptables)",
            name=f"{ns}/kube-proxy",
        )
    if not timeout_text and flag_timeout:
        timeout_text = flag_timeout
    timeout = go_duration_seconds(timeout_text) if timeout_text else None
    if timeout_text and timeout is None:
        notes.append(
            msg(
                "preflight.proxy.bad-timeout",
                "ipvs.udpTimeout {timeout} is not a duration this check understands",
                timeout=repr(timeout_text),
            )
        )
    return ProxySetup(mode, source, timeout, timeout_text, tuple(notes))


def kernel_flushes_quickly(node: NodeInfo) -> bool:
    """TencentOS 3.1 from 0009.23, or a mainline kernel from 5.9: expire_nodest_conn drops flows
    to removed backends at once."""
    if "tencentos" in node.os_image.lower():
        match = re.search(r"-(\d{4})\.(\d+)", node.kernel_version)
        if match is not None:
            return (int(match.group(1)), int(match.group(2))) >= TENCENTOS_FIXED
    match = re.match(r"(\d+)\.(\d+)", node.kernel_version)
    if match is None:
        return False
    return (int(match.group(1)), int(match.group(2))) >= MAINLINE_FIXED


def kernel_summary(nodes: Sequence[NodeInfo]) -> list[str]:
    """One evidence line per distinct (osImage, kernel), with how many nodes run it."""
    groups: dict[tuple[str, str], list[str]] = {}
    for node in nodes:
        groups.setdefault((node.os_image, node.kernel_version), []).append(node.name)
    lines: list[str] = []
    for (os_image, kernel), names in sorted(groups.items()):
        os_text = os_image or msg("preflight.proxy.unknown-os", "(unknown OS)")
        if kernel_flushes_quickly(NodeInfo("", True, False, (), {}, kernel, os_image)):
            lines.append(
                msg(
                    "preflight.proxy.kernel-flushes",
                    "{count} node(s) {os} kernel {kernel}: flushes stale IPVS flows",
                    count=len(names),
                    os=os_text,
                    kernel=kernel or "?",
                )
            )
        else:
            lines.append(
                msg(
                    "preflight.proxy.kernel-keeps",
                    "{count} node(s) {os} kernel {kernel}: keeps stale IPVS flows until the timeout",
                    count=len(names),
                    os=os_text,
                    kernel=kernel or "?",
                )
            )
    return lines
