"""Container probes as the real kubelet runs them: a real HTTP GET or TCP connect to the pod IP.

Kept apart from the pod lifecycle so the probe semantics (defaults, thresholds, what counts as
success) can be read and tested on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from wizard.lab.api.store import Obj

ExecRunner = Callable[[list[str]], Awaitable[int]]
"""Runs an exec probe's command in the container and returns its exit code."""


@dataclass(frozen=True)
class ProbeTiming:
    """A probe's schedule in real seconds (the lab's delays are already divided by its speed)."""

    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int

    @classmethod
    def from_spec(cls, probe: Obj, speed: float) -> ProbeTiming:
        """The Kubernetes defaults: period 10 s, timeout 1 s, thresholds 1 and 3."""
        return cls(
            initial_delay=float(probe.get("initialDelaySeconds", 0)) / speed,
            period=max(float(probe.get("periodSeconds", 10)), 1.0) / speed,
            timeout=max(float(probe.get("timeoutSeconds", 1)), 1.0) / speed,
            success_threshold=max(int(probe.get("successThreshold", 1)), 1),
            failure_threshold=max(int(probe.get("failureThreshold", 3)), 1),
        )


def _port_number(port: Any, container: Obj) -> int | None:
    """A probe port is a number or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for declared in container.get("ports", []) or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    return None


async def http_get(
    host: str, port: int, path: str, timeout: float, user_agent: str = "kube-probe/1.20"
) -> str | None:
    """None when the server answers with a status from 200 to 399 (the kubelet's HTTP probe),
    else why not, in the kubelet's words."""
    url = f"http://{host}:{port}{path or '/'}"
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            request = (
                f"GET {path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"User-Agent: {user_agent}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
            )
            writer.write(request.encode())
            await writer.drain()
            status_line = await reader.readline()
    except TimeoutError:
        return f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    except OSError:
        return f'Get "{url}": dial tcp {host}:{port}: connect: connection refused'
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    parts = status_line.decode("latin-1").split()
    if len(parts) >= 2 and parts[1].isdigit():
        code = int(parts[1])
        return None if 200 <= code < 400 else f"HTTP probe failed with statuscode: {code}"
    return f'Get "{url}": malformed HTTP response'


async def tcp_connect(host: str, port: int, timeout: float) -> str | None:
    """None when a TCP connection to host:port is accepted, else why not."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return f"dial tcp {host}:{port}: i/o timeout"
    except OSError:
        return f"dial tcp {host}:{port}: connect: connection refused"
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return None


async def run_probe(
    probe: Obj, container: Obj, pod_ip: str, timeout: float, exec_runner: ExecRunner,
    user_agent: str = "kube-probe/1.20",
) -> str | None:
    """One probe attempt: None on success, else the failure as the kubelet reports it."""
    if "httpGet" in probe:
        spec = probe["httpGet"]
        port = _port_number(spec.get("port"), container)
        if port is None:
            return f"unknown port {spec.get('port')!r}"
        host = spec.get("host") or pod_ip
        return await http_get(host, port, str(spec.get("path", "/")), timeout, user_agent)
    if "tcpSocket" in probe:
        spec = probe["tcpSocket"]
        port = _port_number(spec.get("port"), container)
        if port is None:
            return f"unknown port {spec.get('port')!r}"
        return await tcp_connect(spec.get("host") or pod_ip, port, timeout)
    if "exec" in probe:
        command = [str(part) for part in probe["exec"].get("command", [])]
        try:
            async with asyncio.timeout(timeout):
                code = await exec_runner(command)
        except TimeoutError:
            return f"command {command!r} timed out"
        return None if code == 0 else f"command {command!r} exited with {code}"
    return "probe has no handler (httpGet, tcpSocket or exec)"
