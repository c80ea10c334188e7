"""Pod streams the API server relays to the node side: logs (plain and follow), exec and
port-forward over WebSocket (the v4/v5.channel.k8s.io protocols), and the pod HTTP proxy.

Channel protocol, as kubectl and the Python client speak it: every WebSocket message is one
channel byte followed by payload. Exec: 0 stdin, 1 stdout, 2 stderr, 3 status (a Status JSON;
a non-zero exit is reason NonZeroExitCode with the code in details.causes[0].message).
Port-forward: the i-th requested port uses channel 2i for data and 2i+1 for errors, and the
server's first message on each channel is [channel, port & 0xff, port >> 8].
v5 adds one client message, [255, channel], meaning "the client closed this channel" (the only
way a client can signal the end of stdin).

PodRuntime methods are called in worker threads (asyncio.to_thread), never on the lab loop, so a
runtime may block or hand work to the lab loop without deadlocking it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

import aiohttp
from aiohttp import web

from wizard.lab.api.store import ApiError, Obj
from wizard.lab.node.runtime import PodRuntime

CHANNEL_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
V5 = "v5.channel.k8s.io"
STDIN, STDOUT, STDERR, STATUS = 0, 1, 2, 3
CLOSE_SIGNAL = 255
_FRAME_PAYLOAD = 32 * 1024


def pod_containers(pod: Obj) -> list[str]:
    return [str(c.get("name", "")) for c in (pod.get("spec") or {}).get("containers") or []]


def choose_container(pod: Obj, requested: str | None) -> str:
    """The container a log/exec request means, with the real server's 400 messages."""
    name = pod["metadata"]["name"]
    containers = pod_containers(pod)
    init = [str(c.get("name", "")) for c in (pod.get("spec") or {}).get("initContainers") or []]
    if requested:
        if requested not in containers and requested not in init:
            raise ApiError(400, "BadRequest", f"container {requested} is not valid for pod {name}")
        return requested
    if len(containers) == 1:
        return containers[0]
    raise ApiError(
        400, "BadRequest",
        f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]",
    )


def _int_query(request: web.Request, key: str) -> int | None:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "BadRequest", f"invalid {key}: {raw!r} is not an integer") from None


def _truthy(request: web.Request, key: str) -> bool:
    return request.query.get(key, "").lower() in ("1", "true", "yes")


# ---- logs ----------------------------------------------------------------------------------

async def serve_logs(
    request: web.Request,
    runtime: PodRuntime,
    pod: Obj,
    pod_is_current: Callable[[], bool],
    poll_interval: float,
) -> web.StreamResponse:
    """GET pods/{name}/log. With follow=true, streams new lines until the pod is gone (or
    replaced under the same name) or the client leaves. The runtime has no follow call, so new
    text is found by polling its log and sending what was not sent yet."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    container = choose_container(pod, request.query.get("container"))
    tail = _int_query(request, "tailLines")
    previous = _truthy(request, "previous")
    text = await asyncio.to_thread(runtime.logs, namespace, name, container, tail, previous)
    if not _truthy(request, "follow") or previous:
        return web.Response(text=text, content_type="text/plain")

    response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(text.encode())
    # Later polls read the whole log: remember how much of it the client already has.
    full = await asyncio.to_thread(runtime.logs, namespace, name, container, None, False)
    sent = len(full)
    while True:
        await asyncio.sleep(poll_interval)
        gone = not pod_is_current()  # checked first, so lines logged before the end still go out
        try:
            full = await asyncio.to_thread(runtime.logs, namespace, name, container, None, False)
        except ApiError:
            break
        if len(full) < sent:  # the container restarted: its log began again
            sent = 0
        if len(full) > sent:
            await response.write(full[sent:].encode())
            sent = len(full)
        if gone:
            break
    await response.write_eof()
    return response


# ---- channel WebSocket helpers -------------------------------------------------------------

def _message_bytes(msg: aiohttp.WSMessage) -> bytes | None:
    if msg.type == aiohttp.WSMsgType.BINARY:
        return bytes(msg.data)
    if msg.type == aiohttp.WSMsgType.TEXT:
        return str(msg.data).encode("latin-1", errors="replace")
    return None


async def _send(ws: web.WebSocketResponse, channel: int, payload: bytes) -> None:
    if not payload:
        await ws.send_bytes(bytes([channel]))
        return
    for start in range(0, len(payload), _FRAME_PAYLOAD):
        await ws.send_bytes(bytes([channel]) + payload[start:start + _FRAME_PAYLOAD])


def require_upgrade(request: web.Request) -> None:
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise ApiError(400, "BadRequest", "Upgrade request required")


def exec_status(exit_code: int, command: list[str]) -> Obj:
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (f"command terminated with non-zero exit code: error executing command "
                    f"{command}, exit code {exit_code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


# ---- exec ----------------------------------------------------------------------------------

async def serve_exec(request: web.Request, runtime: PodRuntime, pod: Obj) -> web.WebSocketResponse:
    """pods/{name}/exec: runs the command through the runtime once stdin (if any) is complete."""
    require_upgrade(request)
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    container = choose_container(pod, request.query.get("container"))
    command = request.query.getall("command", [])
    if not command:
        raise ApiError(400, "BadRequest", "you must specify at least 1 command")
    want_stdin = _truthy(request, "stdin")
    ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS, autoping=True)
    await ws.prepare(request)
    stdin = bytearray()
    if want_stdin:
        # Until the client closes stdin (v5 signal) or the connection.
        async for msg in ws:
            data = _message_bytes(msg)
            if not data:
                continue
            if data[0] == STDIN:
                stdin.extend(data[1:])
            elif data[0] == CLOSE_SIGNAL and ws.ws_protocol == V5 and data[1:2] == bytes([STDIN]):
                break
    if ws.closed:
        return ws
    try:
        code, out, err = await asyncio.to_thread(
            runtime.exec, namespace, name, container, list(command), bytes(stdin)
        )
    except ApiError as error:
        await _send(ws, STATUS, json.dumps(error.status()).encode())
        await ws.close()
        return ws
    if out and _truthy_default(request, "stdout"):
        await _send(ws, STDOUT, out)
    if err and _truthy_default(request, "stderr"):
        await _send(ws, STDERR, err)
    await _send(ws, STATUS, json.dumps(exec_status(code, list(command))).encode())
    await ws.close()
    return ws


def _truthy_default(request: web.Request, key: str) -> bool:
    """stdout/stderr default to true when the client does not say."""
    return request.query.get(key, "true").lower() in ("1", "true", "yes")


# ---- port-forward --------------------------------------------------------------------------

SPDY_NOT_SUPPORTED = (
    "the lab API server speaks port-forward over WebSocket (v4/v5.channel.k8s.io, ports in the "
    "query string), not SPDY/3.1, so kubectl port-forward cannot use it: connect to the pod IP "
    "directly (lab pod IPs are loopback addresses) or use the Python client's portforward()"
)


def requested_ports(request: web.Request) -> list[int]:
    if "ports" not in request.query:
        # kubectl ≥ 1.31 sends its ports inside SPDY streams (tunnelled over WebSocket, then
        # plain SPDY as a fallback), never in the query string.
        raise ApiError(400, "BadRequest", SPDY_NOT_SUPPORTED)
    ports: list[int] = []
    for raw in request.query.getall("ports", []):
        for part in raw.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or not 1 <= int(part) <= 65535:
                raise ApiError(400, "BadRequest", f"invalid port {part!r}: must be 1-65535")
            ports.append(int(part))
    if not ports:
        raise ApiError(400, "BadRequest", "at least one port must be specified (query parameter ports)")
    return ports


async def serve_portforward(request: web.Request, runtime: PodRuntime, pod: Obj) -> web.WebSocketResponse:
    """pods/{name}/portforward: one real TCP connection per requested port, bytes piped both ways."""
    ports = requested_ports(request)
    require_upgrade(request)
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    uid = pod["metadata"].get("uid", "")
    ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS, autoping=True)
    await ws.prepare(request)
    for index, port in enumerate(ports):
        header = bytes([port & 0xFF, port >> 8])
        await ws.send_bytes(bytes([2 * index]) + header)
        await ws.send_bytes(bytes([2 * index + 1]) + header)

    writers: dict[int, asyncio.StreamWriter] = {}
    pumps: list[asyncio.Task[None]] = []
    open_count = 0

    async def pump(index: int, reader: asyncio.StreamReader) -> None:
        nonlocal open_count
        try:
            while chunk := await reader.read(_FRAME_PAYLOAD):
                await ws.send_bytes(bytes([2 * index]) + chunk)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            open_count -= 1
            if open_count <= 0 and not ws.closed:
                await ws.close()

    for index, port in enumerate(ports):
        try:
            host, real_port = await asyncio.to_thread(runtime.resolve_port, namespace, name, port)
            reader, writer = await asyncio.open_connection(host, real_port)
        except (ApiError, OSError) as error:
            why = error.message if isinstance(error, ApiError) else str(error)
            message = (f"error forwarding port {port} to pod {name}, uid {uid}: {why}").encode()
            await ws.send_bytes(bytes([2 * index + 1]) + message)
            continue
        writers[index] = writer
        open_count += 1
        pumps.append(asyncio.create_task(pump(index, reader)))
    if not writers:
        await ws.close()
        return ws
    try:
        await _pipe_to_pod(ws, writers)
    finally:
        for task in pumps:
            task.cancel()
        for writer in writers.values():
            writer.close()
    return ws


async def _pipe_to_pod(ws: web.WebSocketResponse, writers: dict[int, asyncio.StreamWriter]) -> None:
    """The client's data frames (even channels) to the pod's connection for that port, until it closes."""
    async for msg in ws:
        data = _message_bytes(msg)
        if not data:
            continue
        channel = data[0]
        if channel % 2 == 0 and channel // 2 in writers:
            writer = writers[channel // 2]
            writer.write(data[1:])
            with contextlib.suppress(ConnectionError):
                await writer.drain()


# ---- pod proxy -----------------------------------------------------------------------------

def split_proxy_name(segment: str) -> tuple[str, str | None, str]:
    """`name`, `name:port` or `scheme:name:port` → (name, port or None, scheme)."""
    parts = segment.split(":")
    if len(parts) == 3:
        return parts[1], parts[2] or None, parts[0]
    if len(parts) == 2:
        return parts[0], parts[1] or None, "http"
    return segment, None, "http"


def _named_port(pod: Obj, port: str | None) -> int:
    declared = [
        p for c in (pod.get("spec") or {}).get("containers") or [] for p in c.get("ports") or []
    ]
    if port is None:
        return 80  # as the real server: no port in the URL means the pod IP's port 80
    if port.isdigit():
        return int(port)
    for entry in declared:
        if entry.get("name") == port:
            return int(entry["containerPort"])
    raise ApiError(503, "ServiceUnavailable", f"no such port {port!r} on pod {pod['metadata']['name']}")


async def serve_proxy(
    request: web.Request, runtime: PodRuntime, pod: Obj, port: str | None, path: str
) -> web.Response:
    """pods/{name}:{port}/proxy/{path}: forwards one HTTP request to the pod's port."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    number = _named_port(pod, port)
    host, real_port = await asyncio.to_thread(runtime.resolve_port, namespace, name, number)
    url = f"http://{host}:{real_port}/{path}"
    body = await request.read()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session, \
                session.request(request.method, url, params=request.query, data=body or None,
                                allow_redirects=False) as upstream:
            payload = await upstream.read()
            return web.Response(
                status=upstream.status, body=payload,
                headers={"Content-Type": upstream.headers.get("Content-Type", "text/plain")},
            )
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise ApiError(
            503, "ServiceUnavailable",
            f"error trying to reach service: dial tcp {host}:{real_port}: {error or 'timeout'}",
        ) from None
