"""What a kube-proxy process reads when it starts: its IPVS UDP timeout, from its own pod.

Why at start only: kube-proxy reads `--config` (the file its pod mounts from the `kube-proxy`
ConfigMap) once, when the container starts, and sets the node's IPVS timeouts then
(`ipvsadm --set` equivalent; 0 keeps the kernel's). A later ConfigMap edit changes the projected
file behind a `..data` symlink swap, which kube-proxy's file watch does not see as a write to its
file, so the running process keeps the old value until its pod or container restarts. The kernel
keeps the last value set when kube-proxy stops. Written from kube-proxy's behaviour, not shared
with the wizard (the lab checks the wizard).
"""

from __future__ import annotations

import posixpath
import re

import yaml

from wizard.lab.api.store import Obj

KUBE_PROXY_LABEL = ("k8s-app", "kube-proxy")
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class UnreadableConfig(ValueError):
    """kube-proxy would refuse to start with this configuration (the message says why)."""


def go_duration(text: str) -> float:
    """Seconds of a Go `time.ParseDuration` string (`5s`, `1m30s`, `0`); raises on anything else,
    as kube-proxy's config decoding does (`300` without a unit is an error)."""
    value = text.strip()
    if value in ("0", "+0", "-0"):
        return 0.0
    if re.fullmatch(r"\d+(?:\.\d*)?", value):
        raise UnreadableConfig(f'time: missing unit in duration "{text}"')
    parts = _GO_DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise UnreadableConfig(f'time: invalid duration "{text}"')
    return sum(float(n) * _GO_UNITS[u] for n, u in parts)


def is_kube_proxy_pod(pod: Obj) -> bool:
    key, value = KUBE_PROXY_LABEL
    meta = pod.get("metadata") or {}
    return meta.get("namespace") == "kube-system" and (meta.get("labels") or {}).get(key) == value


def container_started_at(pod: Obj) -> str | None:
    """When the kube-proxy container's current run started (None while it is not running)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == "kube-proxy":
            running = (status.get("state") or {}).get("running")
            return str(running.get("startedAt") or "") or None if isinstance(running, dict) else None
    return None


def _words(pod: Obj) -> list[str]:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == "kube-proxy":
            return [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
    return []


def _flag(words: list[str], name: str) -> str | None:
    for index, word in enumerate(words):
        if word.startswith(f"--{name}="):
            return word.split("=", 1)[1]
        if word == f"--{name}" and index + 1 < len(words):
            return words[index + 1]
    return None


def configmap_source(pod: Obj) -> tuple[str, str] | None:
    """(ConfigMap name, key) behind the pod's `--config` file: the volume mounted at its directory."""
    path = _flag(_words(pod), "config")
    if not path:
        return None
    directory, key = posixpath.split(path)
    spec = pod.get("spec") or {}
    container: Obj = next((c for c in spec.get("containers") or [] if c.get("name") == "kube-proxy"), {})
    volume_name = next((m.get("name") for m in container.get("volumeMounts") or []
                        if posixpath.normpath(str(m.get("mountPath", ""))) == posixpath.normpath(directory)),
                       None)
    for volume in spec.get("volumes") or []:
        if volume.get("name") == volume_name and isinstance(volume.get("configMap"), dict):
            return str(volume["configMap"].get("name", "")), key
    return None


def udp_timeout_at_start(pod: Obj, configmap: Obj | None) -> float:
    """The IPVS UDP timeout a kube-proxy starting now in `pod` sets (0: keeps the kernel's).

    With `--config`, the file decides (kube-proxy ignores most flags then); otherwise
    `--ipvs-udp-timeout`. Raises UnreadableConfig where kube-proxy would exit."""
    words = _words(pod)
    source = configmap_source(pod)
    if source is None:
        flag = _flag(words, "ipvs-udp-timeout")
        return go_duration(flag) if flag else 0.0
    name, key = source
    if configmap is None:
        raise UnreadableConfig(f'configmap "{name}" not found')
    text = (configmap.get("data") or {}).get(key)
    if not isinstance(text, str):
        raise UnreadableConfig(f"open /var/lib/kube-proxy/{key}: no such file or directory")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UnreadableConfig(f"failed to decode {key}: {err}") from None
    ipvs = (document or {}).get("ipvs") if isinstance(document, dict) else None
    value = (ipvs or {}).get("udpTimeout") if isinstance(ipvs, dict) else None
    if value is None or value == "":
        return 0.0
    return go_duration(str(value))
