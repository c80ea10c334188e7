"""Probe semantics: what counts as success, the kubelet's failure messages, defaults, named ports."""

from __future__ import annotations

import asyncio

from wizard.lab.node.probes import ProbeTiming, run_probe

HOST = "127.253.128.7"  # a loopback address no lab uses (labs claim octets 2..249)


async def serve(status: int) -> tuple[asyncio.Server, int, list[bytes]]:
    requests: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, HOST, 0)
    return server, server.sockets[0].getsockname()[1], requests


async def never_exec(command: list[str]) -> int:
    raise AssertionError("not an exec probe")


def test_http_probe_success_failure_and_named_port() -> None:
    async def scenario() -> None:
        ok_server, ok_port, requests = await serve(200)
        bad_server, bad_port, _ = await serve(503)
        container = {"ports": [{"name": "ready", "containerPort": ok_port}]}
        try:
            probe = {"httpGet": {"path": "/ready", "port": "ready"}}
            assert await run_probe(probe, container, HOST, 1.0, never_exec, "kube-probe/1.20") is None
            assert requests[0].startswith(b"GET /ready HTTP/1.1\r\n")
            assert b"User-Agent: kube-probe/1.20" in requests[0]
            failing = {"httpGet": {"path": "/ready", "port": bad_port}}
            failure = await run_probe(failing, {}, HOST, 1.0, never_exec)
            assert failure == "HTTP probe failed with statuscode: 503"
        finally:
            ok_server.close()
            bad_server.close()
        refused = await run_probe({"tcpSocket": {"port": ok_port}}, {}, HOST, 1.0, never_exec)
        assert refused == f"dial tcp {HOST}:{ok_port}: connect: connection refused"

    asyncio.run(scenario())


def test_exec_probe_uses_the_exit_code() -> None:
    async def exit_with(code: int) -> object:
        async def runner(command: list[str]) -> int:
            assert command == ["cat", "/tmp/healthy"]
            return code

        return await run_probe({"exec": {"command": ["cat", "/tmp/healthy"]}}, {}, HOST, 1.0, runner)

    assert asyncio.run(exit_with(0)) is None
    assert asyncio.run(exit_with(1)) == "command ['cat', '/tmp/healthy'] exited with 1"


def test_probe_timing_defaults_and_speed() -> None:
    timing = ProbeTiming.from_spec({"initialDelaySeconds": 3, "timeoutSeconds": 5}, speed=10.0)
    assert timing == ProbeTiming(initial_delay=0.3, period=1.0, timeout=0.5, success_threshold=1,
                                 failure_threshold=3)
