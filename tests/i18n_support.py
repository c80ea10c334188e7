"""Finding English prose left in Chinese output (names, flags, commands and cluster data allowed).

Why a heuristic: what must stay English (object names, flags, commands, CoreDNS's own error text
quoted from its sources, cluster data) is mostly single tokens with punctuation in them
(kube-system/coredns, --ipvs-ack, 10.0.0.10, forward, 1.8.4); prose is runs of ordinary words.
A run of two or more ordinary English words on a line (names in between do not break it),
outside `backticks` and after no command word, is reported.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TERMS = {
    # names of things, not prose: they stay English in the Chinese UI (as in ../shared/seed/)
    "kubernetes", "coredns", "kube-dns", "kubedns", "dnsmasq", "api", "server", "apiserver", "ipvs",
    "udp", "tcp", "dns", "service", "services", "endpoints", "endpointslice", "endpointslices",
    "deployment", "deployments", "configmap", "configmaps", "pod", "pods", "daemonset", "node", "nodes",
    "corefile", "nxdomain", "servfail", "noerror", "refused", "ready", "readiness", "kube-proxy",
    "kubectl", "kubeconfig", "clusterip", "namespace", "rbac", "clusterrole", "clusterrolebinding",
    "serviceaccount", "tke", "kubeadm", "gke", "kops", "helm", "cluster-proportional-autoscaler",
    "iptables", "glibc", "ptr", "a", "aaaa", "srv", "json", "yaml", "html", "tui", "ok", "id", "ids",
    "ctrl", "esc", "enter", "tab", "y", "n", "q", "b", "r", "e", "d", "k", "c", "w", "l", "s",
    "tencentos", "linux", "kernel", "expire_nodest_conn", "federation", "federations", "stubdomains",
    "upstreamnameservers", "forward", "proxy", "cache", "errors", "health", "loop", "reload",
    "loadbalance", "prometheus", "hosts", "rewrite", "template", "log", "bind", "autopath", "fallthrough",
}
_WORD = re.compile(r"^[A-Za-z][a-z]*[.,;:!?)]*$")
_COMMAND = re.compile(r"\b(kubectl|coredns-wizard|ipvsadm)\b.*$")
_BACKTICKS = re.compile(r"`[^`]*`")
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def english_prose(text: str, allow: Iterable[str] = ()) -> list[str]:
    """Lines of `text` that hold a run of two or more ordinary English words."""
    allowed = list(allow)
    found: list[str] = []
    for line in text.splitlines():
        if any(a in line for a in allowed):
            continue
        cleaned = _BACKTICKS.sub(" ", line)
        if cleaned.count("`") == 1:  # a `command` wrapped over two lines: the code half goes
            before, after = cleaned.split("`")
            cleaned = after if _CJK.search(before) is None else before
        cleaned = _COMMAND.sub("", cleaned)
        run = 0
        for token in re.split(r"\s+", cleaned):
            bare = re.sub(r"^\W+|\W+$", "", token)
            if not token or bare.lower() in TERMS:
                continue  # a name between two words does not end the run ("the API server reports")
            if _WORD.match(token):
                run += 1
                if run >= 2:
                    found.append(line.strip())
                    break
            else:
                run = 0
    return found


COREFILE_LINE = re.compile(
    r"^[\W\d]*(\.:53|[\w.-]+:53|forward|cache|errors|health|kubernetes|prometheus|loop|reload|"
    r"loadbalance|ready|template|rcode|lameduck|pods|fallthrough|ttl|hosts|federation|log|bind|"
    r"stubDomains|upstreamNameservers|federations)\b")
"""Cluster data shown as it is: the Corefile (diff and editor) and kube-dns's ConfigMap."""
YAML_COMMENT = re.compile(r"^\W*\d+\s+#")
"""switch2coredns.yaml's own comments in the Deploy stage's YAML view: the file as it is saved."""
K8S_EVENT = re.compile(r"\bk8s (Normal|Warning) ")
"""A Kubernetes Event in the event log: its reason and message come from the cluster."""
_CONTINUED = re.compile(r"^\W?\s{5,}\S")


def screen_prose(text: str) -> list[str]:
    """english_prose of a wizard screen, its cluster data (Corefile, YAML, Events) left out."""
    lines: list[str] = []
    in_event = False
    previous = ""
    for line in text.splitlines():
        hidden_start = "█" in previous  # a dialog covers where this wrapped line began
        previous = line
        if K8S_EVENT.search(line) or (_CONTINUED.match(line) and (in_event or hidden_start)):
            in_event = True  # the event's message wraps under itself: cluster data too
            continue
        in_event = False
        if not (YAML_COMMENT.match(line) or COREFILE_LINE.match(line)):
            lines.append(line)
    return english_prose("\n".join(lines))


@contextmanager
def chinese() -> Iterator[None]:
    """Messages made inside are in Chinese (the process-wide language is restored after)."""
    from wizard.i18n import set_language

    set_language("zh")
    try:
        yield
    finally:
        set_language("en")


def wizard_zh(lab: Any, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`coredns-wizard ARGS --lang zh` against the lab, headless, its journal in tmp_path."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return subprocess.run(
        [sys.executable, "-m", "wizard", *args, "--lang", "zh",
         "--kubeconfig", str(lab.kubeconfig_path), "--state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, env=env, timeout=240, input="",
    )
