"""HTTP to the API server with urllib3 alone: a connection pool and the credentials a kubeconfig
context names, resolved the way the official client resolves them.

Why not the official client: importing `kubernetes` costs about 0.4 s, paid by every command
before its first request, and the gateway only needs "send these bytes, give me the response".
Static credentials (bearer token or token file, client certificate, basic auth) are handled
here; exec plugins and auth-providers need the client's helpers, which `wizard.k8s.gateway`
loads only for such users and hands in as a `CredentialSource`.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import ssl
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import urllib3

from wizard.errors import InputError
from wizard.i18n import msg
from wizard.k8s.connection import Connection
from wizard.k8s.credentials import without_inline_data

USER_AGENT = "coredns-wizard"
"""Sent with every request; API server audit logs name the tool that made a change."""
TOKEN_FILE_RECHECK_S = 60.0
"""A token file is re-read when it changed, looked at no more than once a minute (bound
service-account tokens rotate; client-go re-reads them the same way)."""


def uses_credential_helper(user: Mapping[str, Any]) -> bool:
    """Whether a kubeconfig user gets its credentials from an exec plugin or an auth-provider
    (then the official client's helpers run them); everything else is handled here."""
    return "exec" in user or "auth-provider" in user


class CredentialSource(Protocol):
    """Credentials from a helper (exec plugin, auth-provider), refreshed when they expire."""

    def authorization(self) -> str | None:
        """The Authorization header value now (refreshed if expired), or None."""

    @property
    def cert_file(self) -> str | None: ...

    @property
    def key_file(self) -> str | None: ...


@dataclass(frozen=True)
class TlsSettings:
    """What the pool needs to verify the server and present a client certificate."""

    verify: bool
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    server_name: str | None


class Transport:
    """One connection pool to one API server with the context's credentials."""

    def __init__(self, connection: Connection, helper: CredentialSource | None = None) -> None:
        self.connection = connection
        self.server = connection.server
        config = without_inline_data(connection.kubeconfig)  # *-data → in-memory files
        clusters = config.get("clusters") or [{}]
        users = config.get("users") or [{}]
        cluster: Mapping[str, Any] = clusters[0].get("cluster") or {}
        user: Mapping[str, Any] = users[0].get("user") or {}
        self._helper = helper
        self._static_authorization = None if helper is not None else _static_authorization(user)
        self._token_file = None
        if helper is None and _token_file_only(user):
            self._token_file = _TokenFile(user["tokenFile"])
        tls = _tls_settings(self.server, cluster, user, helper)
        self._pool = _pool_manager(self.server, cluster, tls)

    def request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | tuple[float, float] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send one request; the response body is not read yet (stream it or read `.data`).
        Transport errors are urllib3's (never retried here: the gateway owns retries)."""
        url = self.server + path
        if query:
            url += "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query)
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        authorization = self._authorization()
        if authorization:
            sent["Authorization"] = authorization
        return self._pool.request(
            method, url, body=body, headers=sent, timeout=_timeout(timeout), retries=False,
            redirect=False, preload_content=False,
        )

    def close(self) -> None:
        self._pool.clear()

    def _authorization(self) -> str | None:
        if self._helper is not None:
            return self._helper.authorization()
        if self._token_file is not None:
            return self._token_file.authorization()
        return self._static_authorization


def _token_file_only(user: Mapping[str, Any]) -> bool:
    """The in-cluster user: a token file, no token (a kubeconfig's token file is read into
    `token` by `wizard.k8s.connection`)."""
    return bool(user.get("tokenFile")) and not user.get("token")


def _static_authorization(user: Mapping[str, Any]) -> str | None:
    """The official client's order: token, then username/password."""
    token = user.get("token")
    if token:
        return f"Bearer {token}"
    if "username" in user and "password" in user:
        pair = f"{user['username']}:{user['password']}".encode("latin-1", errors="replace")
        return "Basic " + base64.b64encode(pair).decode("ascii")
    return None


class _TokenFile:
    """A bearer token kept in a file that may be rotated underneath us."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._value: str | None = None
        self._checked = 0.0
        self._mtime = -1.0

    def authorization(self) -> str | None:
        import time

        with self._lock:
            now = time.monotonic()
            if self._value is None or now - self._checked >= TOKEN_FILE_RECHECK_S:
                self._checked = now
                try:
                    mtime = os.stat(self.path).st_mtime
                    if mtime != self._mtime or self._value is None:
                        with open(self.path, encoding="utf-8") as handle:
                            self._value = handle.read().strip()
                        self._mtime = mtime
                except OSError as err:
                    if self._value is None:
                        raise InputError(msg(
                            "cli.token-file-unreadable",
                            "token file {path}: cannot read it ({error}); check the "
                            "service account token volume",
                            path=self.path, error=err.strerror or err,
                        )) from None
            return f"Bearer {self._value}" if self._value else None


def _tls_settings(
    server: str, cluster: Mapping[str, Any], user: Mapping[str, Any], helper: CredentialSource | None
) -> TlsSettings:
    https = server.lower().startswith("https")
    cert_file = key_file = None
    if https:  # the official client presents a client certificate only over https
        if helper is not None and helper.cert_file:
            cert_file, key_file = helper.cert_file, helper.key_file
        else:
            cert_file, key_file = user.get("client-certificate"), user.get("client-key")
    return TlsSettings(
        verify=not cluster.get("insecure-skip-tls-verify", False),
        ca_file=cluster.get("certificate-authority") if https else None,
        cert_file=cert_file or None,
        key_file=key_file or None,
        server_name=cluster.get("tls-server-name") or None,
    )


def _pool_manager(server: str, cluster: Mapping[str, Any], tls: TlsSettings) -> urllib3.PoolManager:
    pool_args: dict[str, Any] = {
        "cert_reqs": ssl.CERT_REQUIRED if tls.verify else ssl.CERT_NONE,
        "ca_certs": tls.ca_file,
        "cert_file": tls.cert_file,
        "key_file": tls.key_file,
        "maxsize": (os.cpu_count() or 1) * 5,
    }
    if tls.server_name:
        pool_args["server_hostname"] = tls.server_name
    proxy = cluster.get("proxy-url") or _environment_proxy(server)
    if not proxy:
        return urllib3.PoolManager(**pool_args)
    if str(proxy).lower().startswith("socks"):
        try:
            from urllib3.contrib.socks import SOCKSProxyManager
        except ImportError:
            raise InputError(msg(
                "cli.socks-needs-pysocks",
                "proxy {proxy}: a SOCKS proxy needs the PySocks package (pip install pysocks)",
                proxy=proxy,
            )) from None
        return SOCKSProxyManager(str(proxy), **pool_args)
    return urllib3.ProxyManager(str(proxy), **pool_args)


def _environment_proxy(server: str) -> str | None:
    """HTTPS_PROXY / HTTP_PROXY / ALL_PROXY unless NO_PROXY covers the server (names, domain
    suffixes, `host:port`, IP addresses and CIDR ranges, `*`), as kubectl does."""
    proxies = urllib.request.getproxies()
    parts = urlsplit(server)
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or _bypassed(parts.hostname or "", parts.netloc.lower(), proxies.get("no", "")):
        return None
    return proxy


def _bypassed(host: str, host_port: str, no_proxy: str) -> bool:
    host = host.lower()
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
        entry = entry.lstrip(".")
        if host == entry or host.endswith("." + entry) or host_port == entry:
            return True
    return False


def _timeout(value: float | tuple[float, float] | None) -> urllib3.Timeout | None:
    if value is None or value == 0:
        return None
    if isinstance(value, tuple):
        return urllib3.Timeout(connect=value[0], read=value[1])
    return urllib3.Timeout(total=value)
