"""The kubeconfig the lab hands to the wizard, kubectl and tests.

The cluster entry carries an extension named `coredns-wizard.lab` with the lab's DNS port, because
lab DNS pods cannot all listen on port 53 when the lab runs unprivileged, and the wizard must
learn where to send its probe queries from the kubeconfig alone.
"""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

LAB_EXTENSION_NAME = "coredns-wizard.lab"


def kubeconfig_document(
    server_url: str,
    ca_pem: bytes,
    token: str,
    context_name: str = "lab",
    extensions: dict[str, Any] | None = None,
    namespace: str = "default",
) -> dict[str, Any]:
    """The kubeconfig as a dict: one cluster, one user (bearer token) and one current context."""
    cluster: dict[str, Any] = {
        "server": server_url,
        "certificate-authority-data": base64.b64encode(ca_pem).decode("ascii"),
    }
    if extensions:
        cluster["extensions"] = [{"name": LAB_EXTENSION_NAME, "extension": dict(extensions)}]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": context_name, "cluster": cluster}],
        "users": [{"name": f"{context_name}-operator", "user": {"token": token}}],
        "contexts": [
            {
                "name": context_name,
                "context": {
                    "cluster": context_name,
                    "user": f"{context_name}-operator",
                    "namespace": namespace,
                },
            }
        ],
        "current-context": context_name,
    }


def write_kubeconfig(
    path: Path,
    server_url: str,
    ca_pem: bytes,
    token: str,
    context_name: str = "lab",
    extensions: dict[str, Any] | None = None,
) -> Path:
    """Write the kubeconfig atomically with mode 0600 (it holds a token), replacing any old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(
        kubeconfig_document(server_url, ca_pem, token, context_name, extensions), sort_keys=False
    )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def lab_extension(config: dict[str, Any], context_name: str | None = None) -> dict[str, Any]:
    """The `coredns-wizard.lab` extension of the cluster the context uses ({} when absent,
    e.g. for a real cluster)."""
    context_name = context_name or config.get("current-context")
    context = next(
        (c.get("context") or {} for c in config.get("contexts") or [] if c.get("name") == context_name),
        {},
    )
    cluster = next(
        (c.get("cluster") or {} for c in config.get("clusters") or []
         if c.get("name") == context.get("cluster")),
        {},
    )
    for item in cluster.get("extensions") or []:
        if item.get("name") == LAB_EXTENSION_NAME and isinstance(item.get("extension"), dict):
            return dict(item["extension"])
    return {}
