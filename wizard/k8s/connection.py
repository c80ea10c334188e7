"""Which cluster, context and credentials the wizard talks to, resolved exactly as kubectl does.

Operators switch DNS on production clusters from the same shell they run kubectl in, so the
wizard must pick the same cluster kubectl would: `--kubeconfig`, else `$KUBECONFIG` (a
colon-separated list merged with kubectl's first-wins rules), else `~/.kube/config`, else the
in-cluster service account. Every problem becomes one InputError naming the file, context or key
and what to do, because a traceback here would be the first thing an operator sees.

This module reads files only; the kubernetes ApiClient is built from `Connection.kubeconfig` in
`wizard.k8s.gateway`, the one module that talks to the API server.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.errors import InputError
from wizard.i18n import msg
from wizard.k8s.flags import add_connection_arguments as add_connection_arguments
from wizard.textsafety import short_quote

LAB_EXTENSION_NAME = "coredns-wizard.lab"
"""Name of the kubeconfig cluster extension the lab writes; it carries `dnsPort`."""

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

# Keys of kubeconfig entries that name files; kubectl resolves relative ones against the
# directory of the file that defined them.
_CLUSTER_FILE_KEYS = ("certificate-authority",)
_USER_FILE_KEYS = ("client-certificate", "client-key", "tokenFile")
_DATA_KEYS = {
    "clusters": ("certificate-authority-data",),
    "users": ("client-certificate-data", "client-key-data"),
}


@dataclass(frozen=True)
class Connection:
    """One resolved kubeconfig context: what the wizard talks to and with which credentials.

    `kubeconfig` is a minimal kubeconfig (one cluster, user and context, file paths made
    absolute) that `wizard.k8s.gateway` turns into an ApiClient; treat it as read-only.
    """

    context: str
    cluster: str
    server: str
    user: str
    namespace: str
    source_files: tuple[str, ...]
    lab_dns_port: int | None
    request_timeout: float | None
    in_cluster: bool = False
    kubeconfig: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def source_label(self) -> str:
        """Where the settings came from, for error messages."""
        if self.in_cluster:
            return msg("cli.source-in-cluster", "the in-cluster service account")
        return ", ".join(self.source_files) or msg("cli.source-empty-kubeconfig", "an empty kubeconfig")

    @property
    def dns_port(self) -> int:
        """The port DNS pods listen on: the lab's, or 53 on a real cluster."""
        return self.lab_dns_port if self.lab_dns_port is not None else 53


def connection_from_args(args: argparse.Namespace) -> Connection:
    """Resolve the connection from the flags added by `add_connection_arguments`."""
    return resolve_connection(
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
        request_timeout=getattr(args, "request_timeout", None),
    )


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|m|s)?)+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)?")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, None: 1.0}
DEFAULT_REQUEST_TIMEOUT = 30.0


def parse_request_timeout(value: str | float | None) -> float | None:
    """kubectl's `--request-timeout`: `30s`, `1m`, `1m30s`, a bare number of seconds; 0 = none."""
    if value is None:
        return DEFAULT_REQUEST_TIMEOUT
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        if not text or not _DURATION.match(text):
            raise InputError(msg(
                "cli.request-timeout-not-duration",
                "--request-timeout {value} is not a duration: use e.g. 30s, 1m or 0 for no timeout",
                value=short_quote(value),
            ))
        parts = _DURATION_PART.findall(text)
        seconds = sum(float(num) * _UNIT_SECONDS[unit or None] for num, unit in parts)
    if seconds < 0:
        raise InputError(msg("cli.request-timeout-negative",
                             "--request-timeout {value} is negative: use e.g. 30s, or 0 for no timeout",
                             value=short_quote(value)))
    return None if seconds == 0 else seconds


def resolve_connection(
    kubeconfig: str | None = None,
    context: str | None = None,
    request_timeout: str | float | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> Connection:
    """Resolve like kubectl: flag, $KUBECONFIG (merged), ~/.kube/config, then in-cluster.

    `environ`, `home` and `service_account_dir` exist so tests can describe a machine without
    touching the real one.
    """
    env = os.environ if environ is None else environ
    timeout = parse_request_timeout(request_timeout)
    if kubeconfig:
        path = Path(kubeconfig).expanduser()
        if not path.exists():
            raise InputError(msg(
                "cli.kubeconfig-not-found",
                "kubeconfig {path}: file not found; pass an existing file with --kubeconfig",
                path=kubeconfig,
            ))
        files = [path]
    elif env.get("KUBECONFIG"):
        files = _unique_paths(env["KUBECONFIG"])
    else:
        files = [(home if home is not None else Path.home()) / ".kube" / "config"]

    loaded = [(p, _load_file(p)) for p in files if kubeconfig or p.exists()]
    merged = _merge([(p, doc) for p, doc in loaded if doc])
    if not merged["contexts"] and not context and _in_cluster_available(env, service_account_dir):
        return _in_cluster_connection(env, service_account_dir, timeout)
    if not loaded:
        tried = ", ".join(str(p) for p in files)
        raise InputError(msg(
            "cli.no-kubeconfig",
            "no kubeconfig found (looked at {tried}) and not running inside a cluster: "
            "pass --kubeconfig FILE or set KUBECONFIG",
            tried=tried,
        ))
    return _connection_from_merged(merged, [str(p) for p, _ in loaded], context, timeout)


def _unique_paths(kubeconfig_env: str) -> list[Path]:
    """kubectl skips empty entries and repeats in $KUBECONFIG."""
    seen: list[Path] = []
    for part in kubeconfig_env.split(os.pathsep):
        if part and Path(part).expanduser() not in seen:
            seen.append(Path(part).expanduser())
    return seen


def _load_file(path: Path) -> dict[str, Any]:
    from wizard.safe_load import load_yaml, read_text

    text = read_text(path, "kubeconfig")
    doc = load_yaml(text, f"kubeconfig {path}")
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError(msg(
            "cli.kubeconfig-not-mapping",
            "kubeconfig {path}: expected a mapping with clusters/users/contexts, got {type}",
            path=path, type=type(doc).__name__,
        ))
    for section in ("clusters", "users", "contexts"):
        entries = doc.get(section)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise InputError(msg(
                "cli.kubeconfig-section-not-list", "kubeconfig {path}: key {key} must be a list, got {type}",
                path=path, key=short_quote(section), type=type(entries).__name__,
            ))
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
                raise InputError(msg(
                    "cli.kubeconfig-entry-no-name",
                    "kubeconfig {path}: {section}[{index}] has no name; every entry needs `name:`",
                    path=path, section=section, index=i,
                ))
    _absolutise(doc, path.parent.resolve())
    return doc


def _absolutise(doc: dict[str, Any], base: Path) -> None:
    """Make file references absolute against the defining file's directory, as kubectl does."""
    sections = (("clusters", "cluster", _CLUSTER_FILE_KEYS), ("users", "user", _USER_FILE_KEYS))
    for section, inner, keys in sections:
        for entry in doc.get(section) or []:
            body = entry.get(inner)
            if not isinstance(body, dict):
                continue
            for key in keys:
                value = body.get(key)
                if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                    body[key] = str(base / value)
                elif isinstance(value, str) and value:
                    body[key] = str(Path(value).expanduser())


def _merge(docs: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """kubectl's merge: the first file that defines a cluster/user/context name or
    current-context wins; later files only add names not seen before. Each entry remembers
    which file it came from, for error messages."""
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": ""}
    for path, doc in docs:
        if not merged["current-context"] and isinstance(doc.get("current-context"), str):
            merged["current-context"] = doc["current-context"]
        for section in ("clusters", "users", "contexts"):
            for entry in doc.get(section) or []:
                merged[section].setdefault(entry["name"], (path, entry))
    return merged


def _connection_from_merged(
    merged: dict[str, Any], sources: list[str], context: str | None, timeout: float | None
) -> Connection:
    """The Connection for the chosen context, every reference and file in it checked first."""
    where = ", ".join(sources)
    name, ctx_path, ctx = _chosen_context(merged, where, context)
    cluster_name, cluster_path, cluster = _context_cluster(merged, where, name, ctx_path, ctx)
    user_name, user = _context_user(merged, where, name, ctx_path, ctx)
    owner = msg("cli.kubeconfig-owner-cluster", "cluster {name}", name=short_quote(cluster_name))
    _check_files(cluster_path, owner, cluster, _CLUSTER_FILE_KEYS)
    _check_base64(cluster_path, owner, cluster, _DATA_KEYS["clusters"])
    minimal = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": name,
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user_name, "user": user}] if user_name else [],
        "contexts": [{"name": name, "context": ctx}],
    }
    return Connection(
        context=name,
        cluster=cluster_name,
        server=cluster["server"].rstrip("/"),
        user=user_name,
        namespace=str(ctx.get("namespace") or "default"),
        source_files=tuple(sources),
        lab_dns_port=_lab_dns_port(cluster_path, cluster_name, cluster),
        request_timeout=timeout,
        kubeconfig=minimal,
    )


def _chosen_context(
    merged: dict[str, Any], where: str, context: str | None
) -> tuple[str, Path, dict[str, Any]]:
    """The --context (or current) context's name, file and body; InputError names what is missing."""
    name = context or merged["current-context"]
    known = ", ".join(sorted(merged["contexts"])) or msg("cli.no-known-contexts", "none")
    if not name:
        raise InputError(msg(
            "cli.no-current-context",
            "kubeconfig {where}: no current-context is set; pass --context NAME (known contexts: {known})",
            where=where, known=known,
        ))
    if name not in merged["contexts"]:
        raise InputError(msg(
            "cli.context-not-found", "kubeconfig {where}: context {name} not found; known contexts: {known}",
            where=where, name=short_quote(name), known=known,
        ))
    ctx_path, ctx_entry = merged["contexts"][name]
    ctx = ctx_entry.get("context")
    if not isinstance(ctx, dict):
        raise InputError(msg(
            "cli.context-no-body", "kubeconfig {path}: context {name} has no `context:` body; fix the entry",
            path=ctx_path, name=short_quote(name),
        ))
    return name, ctx_path, ctx


def _context_cluster(
    merged: dict[str, Any], where: str, name: str, ctx_path: Path, ctx: dict[str, Any]
) -> tuple[str, Path, dict[str, Any]]:
    """The cluster the context refers to, which must exist and name a server URL."""
    cluster_name = ctx.get("cluster")
    if not isinstance(cluster_name, str) or cluster_name not in merged["clusters"]:
        raise InputError(msg(
            "cli.context-cluster-missing",
            "kubeconfig {path}: context {name} refers to cluster {cluster}, "
            "which no kubeconfig file ({where}) defines; fix the context or add the cluster",
            path=ctx_path, name=short_quote(name), cluster=short_quote(cluster_name), where=where,
        ))
    cluster_path, cluster_entry = merged["clusters"][cluster_name]
    cluster = cluster_entry.get("cluster")
    if not isinstance(cluster, dict) or not isinstance(cluster.get("server"), str) or not cluster["server"]:
        raise InputError(msg(
            "cli.cluster-no-server",
            "kubeconfig {path}: cluster {cluster} has no `server:` URL; add the API server address",
            path=cluster_path, cluster=short_quote(cluster_name),
        ))
    return cluster_name, cluster_path, cluster


def _context_user(
    merged: dict[str, Any], where: str, name: str, ctx_path: Path, ctx: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The context's user (name and checked, token-normalised body), or ("", {}) when it has none."""
    user_name = ctx.get("user") or ""
    user: dict[str, Any] = {}
    if user_name:
        if user_name not in merged["users"]:
            raise InputError(msg(
                "cli.context-user-missing",
                "kubeconfig {path}: context {name} refers to user {user}, "
                "which no kubeconfig file ({where}) defines; fix the context or add the user",
                path=ctx_path, name=short_quote(name), user=short_quote(user_name), where=where,
            ))
        user_path, user_entry = merged["users"][user_name]
        user = user_entry.get("user") or {}
        if not isinstance(user, dict):
            raise InputError(msg(
                "cli.user-not-mapping", "kubeconfig {path}: user {user} must be a mapping; fix the entry",
                path=user_path, user=short_quote(user_name),
            ))
        owner = msg("cli.kubeconfig-owner-user", "user {name}", name=short_quote(user_name))
        _check_files(user_path, owner, user, _USER_FILE_KEYS)
        _check_base64(user_path, owner, user, _DATA_KEYS["users"])
        user = _normalised_token(user_path, owner, user)
    return user_name, user


def _check_files(path: Path, owner: str, body: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        value = body.get(key)
        if not value:
            continue
        if not isinstance(value, str):
            raise InputError(msg(
                "cli.key-not-file-path",
                "kubeconfig {path}: {owner} key {key} must be a file path, got {value}",
                path=path, owner=owner, key=short_quote(key), value=short_quote(value),
            ))
        target = Path(value)
        if not target.is_file():
            raise InputError(msg(
                "cli.key-file-missing",
                "kubeconfig {path}: {owner} key {key} names {value}, which does not exist; "
                "fix the path or regenerate the kubeconfig",
                path=path, owner=owner, key=short_quote(key), value=value,
            ))
        if not os.access(target, os.R_OK):
            raise InputError(msg(
                "cli.key-file-unreadable",
                "kubeconfig {path}: {owner} key {key} names {value}, which is not readable",
                path=path, owner=owner, key=short_quote(key), value=value,
            ))


def _normalised_token(path: Path, owner: str, user: dict[str, Any]) -> dict[str, Any]:
    """The user with its bearer token read and trimmed as client-go does (`strings.TrimSpace`: a
    token file or a pasted token ending in a newline is fine), refusing what no HTTP header can
    carry. No message ever quotes the token: it is a password."""
    token = user.get("token")
    source = "token"
    token_file = user.get("tokenFile")
    if not token and isinstance(token_file, str) and token_file:
        from wizard.safe_load import read_text

        token, source = read_text(token_file, "token file", max_bytes=64 * 1024), "tokenFile"
    if token is None or token == "":
        return user
    if not isinstance(token, str):
        raise InputError(msg(
            "cli.token-not-string", "kubeconfig {path}: {owner} key {key} must be a string; fix the entry",
            path=path, owner=owner, key=repr(source),
        ))
    trimmed = token.strip()
    if not trimmed:
        raise InputError(msg(
            "cli.token-empty",
            "kubeconfig {path}: {owner} key {key} is empty; set the token or remove the key",
            path=path, owner=owner, key=repr(source),
        ))
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F or ord(ch) > 0xFF for ch in trimmed):
        raise InputError(msg(
            "cli.token-bad-characters",
            "kubeconfig {path}: {owner} key {key} holds characters a bearer token cannot have "
            "(control or non-Latin-1 characters); paste the token again",
            path=path, owner=owner, key=repr(source),
        ))
    normalised = {k: v for k, v in user.items() if k != "tokenFile"}
    normalised["token"] = trimmed
    return normalised


def _check_base64(path: Path, owner: str, body: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        value = body.get(key)
        if value is None:
            continue
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise InputError(msg(
                "cli.key-not-base64",
                "kubeconfig {path}: {owner} key {key} is not valid base64; regenerate the "
                "kubeconfig",
                path=path, owner=owner, key=short_quote(key),
            )) from None


def _lab_dns_port(path: Path, cluster_name: str, cluster: Mapping[str, Any]) -> int | None:
    for ext in cluster.get("extensions") or []:
        if not isinstance(ext, dict) or ext.get("name") != LAB_EXTENSION_NAME:
            continue
        body = ext.get("extension")
        port = body.get("dnsPort") if isinstance(body, dict) else None
        if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
            return port
        raise InputError(msg(
            "cli.lab-dns-port-invalid",
            "kubeconfig {path}: cluster {cluster} extension {extension} has dnsPort {port}; "
            "expected a port number 1-65535",
            path=path, cluster=short_quote(cluster_name), extension=short_quote(LAB_EXTENSION_NAME),
            port=short_quote(port),
        ))
    return None


def _in_cluster_available(env: Mapping[str, str], sa_dir: Path) -> bool:
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and (sa_dir / "token").is_file()


def _in_cluster_connection(env: Mapping[str, str], sa_dir: Path, timeout: float | None) -> Connection:
    host = env["KUBERNETES_SERVICE_HOST"]
    port = env.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    server = f"https://{host}:{port}"
    ca = sa_dir / "ca.crt"
    if not ca.is_file():
        raise InputError(msg(
            "cli.in-cluster-ca-missing",
            "in-cluster service account: {ca} is missing; mount the service account token volume",
            ca=ca,
        ))
    ns_file = sa_dir / "namespace"
    namespace = ns_file.read_text(encoding="utf-8").strip() if ns_file.is_file() else "default"
    cluster = {"server": server, "certificate-authority": str(ca)}
    user = {"tokenFile": str(sa_dir / "token")}  # re-read by the client: bound tokens rotate
    minimal = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "in-cluster",
        "clusters": [{"name": "in-cluster", "cluster": cluster}],
        "users": [{"name": "service-account", "user": user}],
        "contexts": [{"name": "in-cluster", "context": {"cluster": "in-cluster", "user": "service-account"}}],
    }
    return Connection(
        context="in-cluster",
        cluster="in-cluster",
        server=server,
        user="service-account",
        namespace=namespace or "default",
        source_files=(),
        lab_dns_port=None,
        request_timeout=timeout,
        in_cluster=True,
        kubeconfig=minimal,
    )
