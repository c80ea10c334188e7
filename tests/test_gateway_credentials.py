"""The credentials and routes a kubeconfig names reach the API server the way kubectl sends them,
now that requests go out through urllib3 (`wizard.k8s.transport`): exec plugins (through the
kubernetes client's helper, loaded only for them), token files that rotate, basic auth, and the
environment's proxy with NO_PROXY. Against the scripted loopback server of the error tests."""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_gateway_errors import Script, _Handler

import wizard.k8s.transport as transport_module
from wizard.k8s.connection import resolve_connection
from wizard.k8s.gateway import Gateway

PLUGIN = """\
import json, sys
with open(sys.argv[1], "a") as runs:
    runs.write("run\\n")
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                  "status": {"token": "from-the-plugin", "expirationTimestamp": "2999-01-01T00:00:00Z"}}))
"""


@pytest.fixture
def server() -> Iterator[tuple[Script, int]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.script = Script()  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.script, httpd.server_port  # type: ignore[attr-defined]
    httpd.shutdown()
    httpd.server_close()


def _gateway(tmp_path: Path, server_url: str, user: dict[str, Any]) -> Gateway:
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server_url}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }
    (tmp_path / "kc").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return Gateway(resolve_connection(kubeconfig=str(tmp_path / "kc"), environ={}), retries=0)


def _authorizations(script: Script) -> list[str | None]:
    return [request["headers"].get("authorization") for request in script.requests]


def test_an_exec_plugin_token_is_sent_and_reused_until_it_expires(
    tmp_path: Path, server: tuple[Script, int]
) -> None:
    script, port = server
    (tmp_path / "plugin.py").write_text(PLUGIN, encoding="utf-8")
    runs = tmp_path / "runs"
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
                     "args": [str(tmp_path / "plugin.py"), str(runs)]}}
    with _gateway(tmp_path, f"http://127.0.0.1:{port}", user) as gw:
        assert not runs.exists(), "the plugin runs with the first request, not when the gateway is built"
        gw.server_version()
        gw.server_version()
    assert _authorizations(script) == ["Bearer from-the-plugin"] * 2
    assert runs.read_text().count("run") == 1


def test_a_rotated_token_file_is_read_again(
    tmp_path: Path, server: tuple[Script, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-cluster service account's token rotates; the file is what counts, not its first read."""
    script, port = server
    monkeypatch.setattr(transport_module, "TOKEN_FILE_RECHECK_S", 0.0)
    token = tmp_path / "token"
    token.write_text("first\n", encoding="utf-8")
    gw = _gateway(tmp_path, f"http://127.0.0.1:{port}", {})
    doc = dict(gw.connection.kubeconfig)
    doc["users"] = [{"name": "u", "user": {"tokenFile": str(token)}}]  # as the in-cluster connection has it
    gw = Gateway(dataclasses.replace(gw.connection, kubeconfig=doc), retries=0)
    with gw:
        gw.server_version()
        token.write_text("second\n", encoding="utf-8")
        os.utime(token, (1, 1))  # a different mtime even on a coarse clock
        gw.server_version()
    assert _authorizations(script) == ["Bearer first", "Bearer second"]


def test_basic_auth(tmp_path: Path, server: tuple[Script, int]) -> None:
    script, port = server
    with _gateway(tmp_path, f"http://127.0.0.1:{port}", {"username": "ops", "password": "pw"}) as gw:
        gw.server_version()
    assert _authorizations(script) == ["Basic b3BzOnB3"]


def test_the_environment_proxy_is_used_unless_no_proxy_covers_the_server(
    tmp_path: Path, server: tuple[Script, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    script, port = server
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "10.0.0.0/8,.internal.example")
    with _gateway(tmp_path, "http://api.cluster.example:6443", {"token": "t"}) as gw:
        gw.server_version()  # reaches the proxy (the scripted server), which answers
    assert script.requests[0]["headers"]["host"] == "api.cluster.example:6443"
    assert script.requests[0]["path"] == "/version"


@pytest.mark.parametrize(
    ("server_url", "no_proxy", "bypassed"),
    [
        ("https://10.1.2.3:6443", "10.0.0.0/8", True),
        ("https://10.1.2.3:6443", "192.168.0.0/16", False),
        ("https://api.internal.example:6443", ".internal.example", True),
        ("https://api.internal.example:6443", "internal.example", True),
        ("https://api.example:6443", "api.example:6443", True),
        ("https://api.example:6443", "other.example", False),
        ("https://api.example:6443", "*", True),
    ],
)
def test_no_proxy_rules(
    server_url: str, no_proxy: str, bypassed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    expected = None if bypassed else "http://proxy.example:3128"
    assert transport_module._environment_proxy(server_url) == expected
