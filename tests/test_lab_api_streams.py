"""Logs, exec, port-forward and the pod proxy through the lab_api API server, with the official client.

The fake runtime behind the server has real sockets: a DNS-over-TCP responder on "port 53", an
echo server on "port 7" and an HTTP metrics endpoint on "port 9153", so these tests prove bytes
really travel through the WebSocket channel protocol and back.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import dns.message
import dns.query
import pytest
from kubernetes import client
from kubernetes.stream import portforward, stream
from lab_api_harness import LabAPI, pod, running_lab_api

NS = "kube-system"


@pytest.fixture(scope="module")
def lab_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabAPI]:
    with running_lab_api(tmp_path_factory.mktemp("lab-api-streams"), log_poll_interval=0.05) as running:
        running.store.create("pods", pod("dns-1"))
        running.store.create("pods", pod("two", containers=("coredns", "sidecar")))
        running.runtime.append_log("dns-1", "coredns", "line 1\nline 2\nline 3\n")
        running.runtime.append_log("two", "sidecar", "sidecar says hi\n")
        yield running


@pytest.fixture(scope="module")
def core(lab_api: LabAPI) -> client.CoreV1Api:
    return client.CoreV1Api(lab_api.api_client())


def _status_of(call: object, *args: object, **kwargs: object) -> tuple[int, dict[str, object]]:
    with pytest.raises(client.ApiException) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value.status, json.loads(caught.value.body)


def test_logs_tail_and_container_choice(core: client.CoreV1Api) -> None:
    assert core.read_namespaced_pod_log("dns-1", NS) == "line 1\nline 2\nline 3\n"
    assert core.read_namespaced_pod_log("dns-1", NS, tail_lines=1) == "line 3\n"
    assert core.read_namespaced_pod_log("dns-1", NS, previous=True) == "previous run\n"
    assert core.read_namespaced_pod_log("two", NS, container="sidecar") == "sidecar says hi\n"
    status, body = _status_of(core.read_namespaced_pod_log, "two", NS)
    assert status == 400
    assert (
        body["message"] == "a container name must be specified for pod two, choose one of: [coredns sidecar]"
    )
    status, body = _status_of(core.read_namespaced_pod_log, "two", NS, container="nope")
    assert status == 400 and body["message"] == "container nope is not valid for pod two"
    status, _ = _status_of(core.read_namespaced_pod_log, "missing", NS)
    assert status == 404


def test_follow_streams_new_lines_until_the_pod_is_gone(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    lab_api.store.create("pods", pod("follow-me"))
    lab_api.runtime.append_log("follow-me", "coredns", "first\n")
    response = core.read_namespaced_pod_log("follow-me", NS, follow=True, _preload_content=False)
    received: list[str] = []
    got_first = threading.Event()

    def read_all() -> None:
        for chunk in response.stream(64):
            received.append(chunk.decode())
            if "first" in "".join(received):
                got_first.set()

    reader = threading.Thread(target=read_all)
    reader.start()
    assert got_first.wait(10)
    lab_api.runtime.append_log("follow-me", "coredns", "second\n")
    lab_api.store.delete("pods", NS, "follow-me")  # the stream ends once the pod is gone
    reader.join(20)
    assert not reader.is_alive()
    assert "".join(received) == "first\nsecond\n"


def test_exec_stdout_stderr_and_exit_codes(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    out = stream(
        core.connect_get_namespaced_pod_exec,
        "dns-1",
        NS,
        command=["cat", "/etc/coredns/Corefile"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    assert out == "contents of /etc/coredns/Corefile\n"
    assert lab_api.runtime.exec_calls[-1][:4] == (NS, "dns-1", "coredns", ["cat", "/etc/coredns/Corefile"])
    session = stream(
        core.connect_get_namespaced_pod_exec,
        "dns-1",
        NS,
        command=["fail", "3"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    session.run_forever(timeout=10)
    assert session.returncode == 3
    assert session.read_stderr() == "it failed\n"


def test_exec_with_stdin_closed_by_the_v5_signal(core: client.CoreV1Api) -> None:
    session = stream(
        core.connect_get_namespaced_pod_exec,
        "dns-1",
        NS,
        command=["cat"],
        stderr=True,
        stdin=True,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    session.write_stdin("typed input\n")
    session.close_channel(0)
    session.run_forever(timeout=10)
    assert session.read_stdout() == "typed input\n"
    assert session.returncode == 0


def test_exec_needs_a_container_for_multi_container_pods(core: client.CoreV1Api) -> None:
    with pytest.raises(client.ApiException) as caught:
        stream(
            core.connect_get_namespaced_pod_exec,
            "two",
            NS,
            command=["cat", "x"],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
    # the client reports a refused WebSocket handshake as status 0 with the HTTP status in the reason
    assert "Handshake status 400" in str(caught.value.reason)
    assert "a container name must be specified for pod two" in str(caught.value.reason)


def test_port_forward_carries_dns_over_tcp_and_raw_bytes(core: client.CoreV1Api) -> None:
    forward = portforward(core.connect_get_namespaced_pod_portforward, "dns-1", NS, ports="53,7")
    try:
        dns_socket = forward.socket(53)
        dns_socket.setblocking(True)
        query = dns.message.make_query("kubernetes.default.svc.cluster.local.", "A")
        dns.query.send_tcp(dns_socket, query, None)
        reply, _ = dns.query.receive_tcp(dns_socket, time.time() + 10)
        assert reply.answer[0].to_text().endswith("IN A 10.0.0.1")
        echo = forward.socket(7)
        echo.setblocking(True)
        echo.settimeout(10)
        echo.sendall(b"ping through the API server")
        received = b""
        while len(received) < len(b"ping through the API server"):
            received += echo.recv(1024)
        assert received == b"ping through the API server"
    finally:
        forward.close()


def test_port_forward_reports_unreachable_ports_on_the_error_channel(core: client.CoreV1Api) -> None:
    forward = portforward(core.connect_get_namespaced_pod_portforward, "dns-1", NS, ports="9999")
    try:
        sock = forward.socket(9999)
        sock.setblocking(True)
        sock.settimeout(10)
        assert sock.recv(10) == b""  # the client closes the local socket on an error message
        assert "error forwarding port 9999 to pod dns-1" in (forward.error(9999) or "")
    finally:
        forward.close()


def test_pod_proxy_reaches_the_metrics_port(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    body = core.connect_get_namespaced_pod_proxy_with_path("dns-1:9153", NS, "metrics")
    assert "coredns_dns_requests_total 42" in body
    assert "# path /metrics" in body
    named = core.connect_get_namespaced_pod_proxy_with_path("dns-1:metrics", NS, "metrics")
    assert "coredns_dns_requests_total" in named
    status, body_json = _status_of(
        core.connect_get_namespaced_pod_proxy_with_path, "dns-1:9999", NS, "metrics"
    )
    assert status == 503 and "error trying to reach service" in str(body_json["message"])


def test_streams_honour_the_deny_list(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_lab_api(tmp_path_factory.mktemp("deny-exec"), deny={("create", "pods/exec")}) as lab_api:
        lab_api.store.create("pods", pod("dns-1"))
        core = client.CoreV1Api(lab_api.api_client())
        with pytest.raises(client.ApiException) as caught:
            stream(
                core.connect_get_namespaced_pod_exec,
                "dns-1",
                NS,
                command=["cat", "x"],
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
            )
        assert "Handshake status 403" in str(caught.value.reason)
        assert 'cannot create resource \\"pods/exec\\"' in str(caught.value.reason)
