"""Gateway retry and error policy against a scripted HTTP server on loopback: exact requests,
exact answers, so every branch is deterministic."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

import wizard.k8s.gateway as gateway_module
from wizard.k8s.connection import resolve_connection
from wizard.k8s.gateway import Gateway, GatewayError, ReadOnlyError, RequestEvent


@dataclass
class Script:
    replies: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def _serve(self) -> None:
        script: Script = self.server.script
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlparse(self.path)
        script.requests.append({
            "method": self.command, "path": url.path, "query": parse_qs(url.query),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": json.loads(body) if body else None,
        })
        status, headers, payload = script.replies.pop(0) if script.replies else (200, {}, {})
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def scripted(tmp_path: Path) -> Iterator[tuple[Script, Path]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.script = Script()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "scripted",
        "clusters": [{"name": "scripted", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "users": [{"name": "ops", "user": {"token": "secret"}}],
        "contexts": [{"name": "scripted", "context": {"cluster": "scripted", "user": "ops"}}],
    }
    (tmp_path / "kc").write_text(yaml.safe_dump(doc))
    yield server.script, tmp_path / "kc"  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def make(kc: Path, mode: str = "live", **kw: Any) -> Gateway:
    conn = resolve_connection(kubeconfig=str(kc), environ={})
    return Gateway(conn, mode, backoff_base_s=0.01, backoff_max_s=0.05, **kw)  # type: ignore[arg-type]


def status(
    code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
            "message": message, "details": {"causes": causes or []}}


def test_429_and_503_are_retried_with_retry_after(scripted: tuple[Script, Path]) -> None:
    script, kc = scripted
    script.replies = [
        (429, {"Retry-After": "0"}, status(429, "TooManyRequests", "slow down")),
        (503, {}, status(503, "ServiceUnavailable", "etcd")),
        (200, {}, {"kind": "Deployment", "metadata": {"name": "coredns"}}),
    ]
    events: list[RequestEvent] = []
    with make(kc, on_request=events.append) as gw:
        assert gw.get_deployment("kube-system", "coredns")["metadata"]["name"] == "coredns"
    assert [(e.attempt, e.status, e.will_retry) for e in events] == [
        (1, 429, True), (2, 503, True), (3, 200, False)
    ]
    assert script.requests[0]["headers"]["authorization"] == "Bearer secret"
    assert script.requests[0]["path"] == "/apis/apps/v1/namespaces/kube-system/deployments/coredns"


def test_retries_are_bounded_by_count(scripted: tuple[Script, Path]) -> None:
    script, kc = scripted
    script.replies = [(500, {}, status(500, "InternalError", "etcd down"))] * 5
    with make(kc, retries=2) as gw, pytest.raises(GatewayError) as caught:
        gw.list_pods("kube-system")
    assert len(script.requests) == 3
    assert "after 3 attempts" in str(caught.value) and "etcd down" in str(caught.value)


def test_default_policy_rides_out_a_run_of_503s(scripted: tuple[Script, Path]) -> None:
    """An API server restart answers 503 for a while: nine in a row must not stop a switch."""
    script, kc = scripted
    script.replies = [(503, {}, status(503, "ServiceUnavailable", "restarting"))] * 9
    with make(kc) as gw:
        assert gw.list_pods("kube-system") == []
    assert len(script.requests) == 10


def test_default_backoff_outlasts_twenty_seconds_of_5xx(
    scripted: tuple[Script, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the shortest jitter every time, the default policy still waits 20 s before giving up."""
    _, kc = scripted
    monkeypatch.setattr(gateway_module.random, "uniform", lambda low, high: low)
    gw = Gateway(resolve_connection(kubeconfig=str(kc), environ={}))
    budget = gateway_module._Budget(gw.retries, float("inf"), gw.backoff_base_s, gw.backoff_max_s)
    waits: list[float] = []
    while (wait := budget.delay(len(waits) + 1, None)) is not None:
        waits.append(wait)
    assert sum(waits) >= 20.0 and len(waits) == gw.retries


def test_422_lists_the_status_causes(scripted: tuple[Script, Path]) -> None:
    script, kc = scripted
    causes = [{"field": "spec.replicas", "message": "must be greater than or equal to 0"}]
    script.replies = [(422, {}, status(422, "Invalid", 'Deployment.apps "coredns" is invalid', causes))]
    with make(kc) as gw, pytest.raises(GatewayError) as caught:
        gw.patch_deployment("kube-system", "coredns", {"spec": {"replicas": -1}})
    message = str(caught.value)
    assert caught.value.status == 422 and len(script.requests) == 1  # never retried
    assert "patch Deployment kube-system/coredns in context 'scripted'" in message
    assert "spec.replicas: must be greater than or equal to 0" in message


def test_401_says_refresh_the_credentials(scripted: tuple[Script, Path]) -> None:
    script, kc = scripted
    script.replies = [(401, {}, status(401, "Unauthorized", "Unauthorized"))]
    with make(kc) as gw, pytest.raises(GatewayError, match="refresh the kubeconfig") as caught:
        gw.server_version()
    assert "user 'ops'" in str(caught.value) and str(kc) in str(caught.value)


def test_dry_run_apply_request_shape(scripted: tuple[Script, Path]) -> None:
    script, kc = scripted
    manifest = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns",
                                                                          "namespace": "kube-system"}}
    script.replies = [(200, {}, manifest)]
    with make(kc, "dry-run") as gw:
        (result,) = gw.apply([manifest])
    sent = script.requests[0]
    assert result.dry_run and result.action == "apply ServiceAccount kube-system/coredns"
    assert sent["method"] == "PATCH"
    assert sent["path"] == "/api/v1/namespaces/kube-system/serviceaccounts/coredns"
    assert sent["query"] == {"fieldManager": ["coredns-wizard"], "dryRun": ["All"]}
    assert sent["headers"]["content-type"] == "application/apply-patch+yaml"
    assert sent["body"] == manifest


def test_scale_uses_the_scale_subresource(scripted: tuple[Script, Path]) -> None:
    script, kc = scripted
    with make(kc) as gw:
        result = gw.scale_deployment("kube-system", "kube-dns", 2)
    sent = script.requests[0]
    assert not result.dry_run
    assert sent["path"].endswith("/deployments/kube-dns/scale") and sent["body"] == {"spec": {"replicas": 2}}
    assert "dryRun" not in sent["query"]


def test_not_json_is_explained(scripted: tuple[Script, Path]) -> None:
    script, kc = scripted
    script.replies = [(200, {"Content-Type": "text/html"}, b"<html>login portal</html>")]
    with make(kc) as gw, pytest.raises(GatewayError, match="not JSON"):
        gw.list_nodes()


def test_a_delete_retried_after_a_lost_answer_counts_as_done(scripted: tuple[Script, Path]) -> None:
    script, kc = scripted
    script.replies = [
        (504, {}, status(504, "Timeout", "may still be processing")),
        (404, {}, status(404, "NotFound", 'deployments.apps "kube-dns" not found')),
    ]
    with make(kc) as gw:
        result = gw.delete("Deployment", "kube-system", "kube-dns")
    assert result.action == "delete Deployment kube-system/kube-dns" and len(script.requests) == 2


def test_validate_apply_is_a_server_dry_run_even_read_only(scripted: tuple[Script, Path]) -> None:
    script, kc = scripted
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns",
                                                                     "namespace": "kube-system"}}
    with make(kc, "read-only") as gw:
        (result,) = gw.validate_apply([manifest])
        with pytest.raises(ReadOnlyError, match="read-only"):
            gw.apply([manifest])
    assert result.dry_run
    assert len(script.requests) == 1  # the refused apply sent nothing
    assert script.requests[0]["query"] == {"fieldManager": ["coredns-wizard"], "dryRun": ["All"]}


def test_count_uses_one_item_and_remaining_count(scripted: tuple[Script, Path]) -> None:
    script, kc = scripted
    script.replies = [(200, {}, {"items": [{}], "metadata": {"remainingItemCount": 41, "continue": "x"}})]
    with make(kc) as gw:
        assert gw.count("Pod") == 42
    assert script.requests[0]["query"] == {"limit": ["1"]}


def _refusing_kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig whose server port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "ops", "user": {"token": "secret"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "ops"}}],
    }
    path = tmp_path / "gone-kc"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_server_never_reached_is_reported_after_a_few_tries(tmp_path: Path) -> None:
    seen: list[RequestEvent] = []
    gw = make(_refusing_kubeconfig(tmp_path), on_request=seen.append)
    with pytest.raises(GatewayError) as caught:
        gw.get("Namespace", None, "kube-system")
    assert len(seen) == gateway_module.FIRST_CONTACT_ATTEMPTS
    assert "cannot reach the API server" in str(caught.value)
    assert "check the VPN / kubeconfig server address" in str(caught.value)


def test_a_server_that_answered_before_gets_the_full_retry_budget(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.script = Script([(200, {}, {"kind": "Namespace", "metadata": {"name": "kube-system"}})])  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "restarting",
        "clusters": [{"name": "restarting", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "users": [{"name": "ops", "user": {"token": "secret"}}],
        "contexts": [{"name": "restarting", "context": {"cluster": "restarting", "user": "ops"}}],
    }
    (tmp_path / "kc").write_text(yaml.safe_dump(doc))
    seen: list[RequestEvent] = []
    gw = make(tmp_path / "kc", retries=6, on_request=seen.append)
    gw.get("Namespace", None, "kube-system")
    server.shutdown()  # the API server goes away (a restart) after answering once
    server.server_close()
    with pytest.raises(GatewayError, match="cannot reach the API server"):
        gw.get("Namespace", None, "kube-system")
    assert len(seen) == 1 + 7, "a server that answered before gets every retry"
