"""The lab's kubelet: runs every pod bound to a node, as one kubelet per node would.

It is what makes pod status believable to the official client and kubectl: ContainerCreating,
then Running with full containerStatuses; readiness and liveness probes that are real HTTP GETs to
the pod IP (so a CoreDNS pod is Ready only when its emulated /ready server says so);
CrashLoopBackOff with the real back-off; graceful termination that keeps DNS answering through
CoreDNS's lameduck or kube-dns's grace period before the pod object goes. It also implements the
API server's PodRuntime (logs, exec, port resolution).

Everything here runs on the lab loop, except the PodRuntime methods, which the API server may call
from any thread (exec does blocking DNS I/O: call it from a worker thread, never from the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from wizard.lab.addresses import AddressExhausted, AddressPlan
from wizard.lab.api.store import ApiError, Obj, Store, now_rfc3339
from wizard.lab.controllers.events import EventRecorder
from wizard.lab.faults import Faults
from wizard.lab.node.exec import ExecContext, run_command
from wizard.lab.node.probes import ProbeTiming, run_probe

LOG = logging.getLogger(__name__)  # never print: the lab also runs under the TUI (--demo)

BACKOFF_START = 10.0
BACKOFF_CAP = 300.0
SLOW_READY_FACTOR = 10.0
CLUSTER_DOMAIN = "cluster.local"
"""The kubelet's default --cluster-domain (a lab may run with another one)."""


class DNSProcess(Protocol):
    """One running DNS server of one pod (wizard.lab.dns.pods.DNSPod), as signals reach it."""

    async def start(self) -> None: ...

    async def terminate_requested(self) -> None: ...  # SIGTERM

    async def wait_exited(self) -> None: ...

    async def kill(self) -> None: ...  # SIGKILL: everything closes now

    def log_lines(self) -> list[str]: ...


class Network(Protocol):
    """The lab's VirtualNetwork as the kubelet uses it (routes for exec's DNS tools)."""

    def route(self, ip: str, port: int = 53, local_ip: str | None = None) -> tuple[str, int]: ...

    def resolv_conf_nameservers(self) -> list[str]: ...


DNSPodFactory = Callable[[Obj], "DNSProcess | None"]
"""Builds the DNS server of a pod, or None when the pod is not a DNS pod."""


class _StaleRun(Exception):
    """The pod object now belongs to a newer pod of the same name: stop writing to it."""


def _image_id(image: str) -> str:
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    digest = hashlib.sha256(image.encode()).hexdigest()
    return f"docker-pullable://{repo}@sha256:{digest}"


def _new_container_id() -> str:
    return "docker://" + uuid.uuid4().hex + uuid.uuid4().hex


@dataclass
class _Container:
    """What the kubelet knows of one container of a running pod."""

    spec: Obj
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    ready: bool = False
    ever_started: bool = False
    started_at: str = ""
    restart_count: int = 0
    container_id: str = ""
    last_terminated: Obj | None = None
    logs: list[str] = field(default_factory=list)
    previous_logs: list[str] | None = None

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    def status(self) -> Obj:
        image = str(self.spec.get("image", ""))
        state: Obj
        if self.state == "running":
            state = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated" and self.last_terminated is not None:
            state = {"terminated": self.last_terminated}
        else:
            waiting: Obj = {"reason": self.reason}
            if self.message:
                waiting["message"] = self.message
            state = {"waiting": waiting}
        status: Obj = {
            "name": self.name,
            "image": image,
            "imageID": _image_id(image) if self.ever_started else "",
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.state == "running",
            "state": state,
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status


@dataclass
class _PodRun:
    """One pod the kubelet runs: its IP, containers, DNS process and tasks."""

    namespace: str
    name: str
    uid: str
    pod: Obj
    ip: str = ""
    host_ip: str = ""
    pooled_ip: bool = False
    phase: str = "Pending"
    start_time: str = ""
    containers: dict[str, _Container] = field(default_factory=dict)
    dns: DNSProcess | None = None
    main_container: str = ""
    terminating: bool = False
    task: asyncio.Task[None] | None = None
    probe_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    restart: asyncio.Event = field(default_factory=asyncio.Event)
    unhealthy: set[str] = field(default_factory=set)  # containers that failed liveness
    transitions: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def host_network(self) -> bool:
        return bool(self.pod.get("spec", {}).get("hostNetwork"))

    def ready(self) -> bool:
        return (
            not self.terminating
            and self.phase == "Running"
            and all(c.ready for c in self.containers.values())
        )


class Kubelet:
    """Runs the lab's pods. `start()`/`stop()` on the lab loop; PodRuntime methods from any thread."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        speed: float,
        addresses: AddressPlan,
        *,
        dns_port: int,
        dns_service_ip: str,
        net: Network | None = None,
        node_resolver_ip: str | None = None,
        dns_pod_factory: DNSPodFactory | None = None,
        start_delay: float = 1.0,
        k8s_version: str = "1.20.15",
        cluster_domain: str = CLUSTER_DOMAIN,
    ) -> None:
        self.store = store
        self.faults = faults
        self.speed = max(speed, 0.01)
        self.addresses = addresses
        self.dns_port = dns_port
        self.dns_service_ip = dns_service_ip
        self.net = net
        self.node_resolver_ip = node_resolver_ip
        self.dns_pod_factory = dns_pod_factory
        self.start_delay = start_delay
        self.k8s_version = k8s_version
        self.cluster_domain = cluster_domain.rstrip(".")
        self._runs: dict[tuple[str, str], _PodRun] = {}
        self._queue: asyncio.Queue[tuple[str, Obj]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._unwatch: Callable[[], None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        # every DNS process started and not yet killed, by id(): the kubelet's own record of what
        # holds sockets, so stop() can close them all even when a termination was cut short.
        # A process left running after its lab stops keeps the pod IP's ports bound, and the next
        # lab that claims the same 127.N octet cannot start its pods there.
        self._processes: dict[int, DNSProcess] = {}
        self._events = EventRecorder(store, "kubelet")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a termination or clean-up in the background, keeping a reference until it ends."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- lifecycle of the kubelet itself ------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._queue = asyncio.Queue()
        self._unwatch = self.store.watch("pods", self._on_event, since=0)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="kubelet-dispatch")

    async def stop(self) -> None:
        """Stops every pod's processes and closes their sockets; pod objects stay in the Store."""
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        runs = list(self._runs.values())
        self._runs.clear()
        await asyncio.gather(*(self._halt(run) for run in runs), return_exceptions=True)
        # processes whose termination or halt was cancelled above (a pod in its grace period)
        for dns in list(self._processes.values()):
            await self._kill(dns)

    def _on_event(self, event_type: str, obj: Obj) -> None:
        # Called under the store lock, maybe from another thread: only enqueue.
        loop, queue = self._loop, self._queue
        if loop is None or queue is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            queue.put_nowait((event_type, obj))  # a write from the lab loop itself: no wake-up needed
        else:
            loop.call_soon_threadsafe(queue.put_nowait, (event_type, obj))

    async def _dispatch(self) -> None:
        assert self._queue is not None
        while True:
            event_type, pod = await self._queue.get()
            try:
                self._handle(event_type, pod)
            except Exception as err:  # one bad pod must not stop the kubelet
                LOG.warning("lab kubelet: error handling a pod event: %r", err)

    def _handle(self, event_type: str, pod: Obj) -> None:
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        run = self._runs.get(key)
        if event_type == "DELETED":
            if run is not None and run.uid == meta.get("uid"):
                del self._runs[key]
                self._spawn(self._halt(run))
            return
        if run is not None and run.uid != meta.get("uid"):
            del self._runs[key]  # force-deleted and re-created under the same name
            self._spawn(self._halt(run))
            run = None
        if run is None:
            if meta.get("deletionTimestamp"):
                self._delete_object(key[0], key[1], meta.get("uid", ""))
                return
            if not pod.get("spec", {}).get("nodeName"):
                return  # not scheduled yet: no kubelet owns it
            run = _PodRun(key[0], key[1], meta.get("uid", ""), pod)
            self._runs[key] = run
            run.task = asyncio.create_task(self._run_pod(run), name=f"pod {key[0]}/{key[1]}")
            return
        run.pod = pod
        if meta.get("deletionTimestamp") and not run.terminating:
            run.terminating = True
            self._spawn(self._terminate(run))

    # ---- one pod ------------------------------------------------------------------------
    def _node_ip(self, node_name: str) -> str:
        node = self.store.try_get("nodes", "", node_name)
        for address in (node or {}).get("status", {}).get("addresses", []) or []:
            if address.get("type") == "InternalIP":
                return str(address.get("address", ""))
        return ""

    def _allocate_ip(self, run: _PodRun) -> None:
        spec = run.pod.get("spec", {})
        run.host_ip = self._node_ip(str(spec.get("nodeName", "")))
        status = run.pod.get("status", {})
        if run.host_network:
            run.ip = run.host_ip
            return
        existing = status.get("podIP")
        if existing and existing in self.addresses.pods:
            # A pod the seed wrote already running keeps its IP (the seed reserved it).
            with contextlib.suppress(AddressExhausted):
                self.addresses.pods.take(existing)
            run.ip, run.pooled_ip = existing, True
            return
        run.ip = self.addresses.pods.take()
        run.pooled_ip = True

    def _adopt(self, run: _PodRun) -> bool:
        """Pods the seed created already Running (the bulk of a big lab) are taken over as they are."""
        status = run.pod.get("status", {})
        if status.get("phase") != "Running" or not status.get("podIP"):
            return False
        by_name = {c.get("name"): c for c in status.get("containerStatuses", []) or []}
        for spec in run.pod.get("spec", {}).get("containers", []):
            container = _Container(spec, state="running", ready=True, ever_started=True)
            seen = by_name.get(spec.get("name"), {})
            container.started_at = seen.get("state", {}).get("running", {}).get("startedAt", "")
            container.container_id = seen.get("containerID", "")
            container.restart_count = int(seen.get("restartCount", 0))
            run.containers[container.name] = container
        run.phase = "Running"
        run.start_time = status.get("startTime", now_rfc3339())
        return True

    async def _run_pod(self, run: _PodRun) -> None:
        try:
            self._allocate_ip(run)
            if self._adopt(run):
                return
            run.start_time = now_rfc3339()
            for spec in run.pod.get("spec", {}).get("containers", []):
                run.containers[str(spec.get("name", ""))] = _Container(spec)
            run.main_container = self._main_container(run)
            self._write_status(run)
            await asyncio.sleep(self.start_delay / self.speed)
            await self._supervise(run)
        except (ApiError, _StaleRun):
            pass  # the pod is gone; its DELETED event cleans up
        except AddressExhausted as err:
            LOG.warning("lab kubelet: pod %s/%s: %s", run.namespace, run.name, err)

    def _main_container(self, run: _PodRun) -> str:
        for name, container in run.containers.items():
            image = str(container.spec.get("image", ""))
            if "coredns" in image or "kubedns" in image or "kube-dns" in image:
                return name
        return next(iter(run.containers), "")

    async def _supervise(self, run: _PodRun) -> None:
        """Start the pod's process, restart it with back-off on crash or liveness failure."""
        crashes = 0
        while not run.terminating:
            starting = [c for c in run.containers.values() if c.state != "running"]
            for container in starting:
                container.container_id = _new_container_id()
            dns, failure = await self._start_process(run)
            if failure is not None:
                delay = min(BACKOFF_START * 2**crashes, BACKOFF_CAP)
                crashes += 1
                self._crash(run, failure, delay)
                self._write_status(run)
                self._event(run, "Warning", "BackOff", "Back-off restarting failed container")
                await asyncio.sleep(delay / self.speed)
                continue
            self._mark_started(run, starting)
            run.restart.clear()
            run.probe_tasks = [
                asyncio.create_task(coro)
                for container in run.containers.values()
                for coro in (self._readiness(run, container), self._liveness(run, container))
            ]
            await run.restart.wait()
            if run.terminating:
                return
            await self._stop_for_restart(run, dns)

    async def _start_process(self, run: _PodRun) -> tuple[DNSProcess | None, list[str] | None]:
        """The pod's DNS process, started; or the log lines of a start that failed (a crash)."""
        dns: DNSProcess | None = None
        try:
            if self.dns_pod_factory is not None:
                dns = self.dns_pod_factory(self._with_ip(run))
            run.dns = dns  # known before it binds, so a cancelled start is still stopped
            if dns is not None:
                self._processes[id(dns)] = dns
                await dns.start()
        except asyncio.CancelledError:
            raise
        except Exception as err:
            if dns is not None:  # a failed start leaves nothing bound
                self._processes.pop(id(dns), None)
            run.dns = None
            return None, list(getattr(err, "log_lines", None) or [str(err)])
        return dns, None

    def _mark_started(self, run: _PodRun, starting: list[_Container]) -> None:
        """The containers that (re)started are running, not yet ready; the Events say so."""
        run.phase = "Running"
        started = now_rfc3339()
        for container in starting:
            container.state, container.reason, container.message = "running", "", ""
            container.started_at = started
            container.ever_started = True
            container.ready = False
            if not container.logs:
                container.logs = _startup_log(container, run)
        self._write_status(run)
        for container in starting:
            image = container.spec.get("image", "")
            self._event(run, "Normal", "Pulled", f'Container image "{image}" already present on machine')
            self._event(run, "Normal", "Created", f"Created container {container.name}")
            self._event(run, "Normal", "Started", f"Started container {container.name}")

    async def _stop_for_restart(self, run: _PodRun, dns: DNSProcess | None) -> None:
        """A liveness failure or a crash: stop the process, count the restart as the kubelet does."""
        await self._cancel_probes(run)
        if dns is not None:
            await self._shut_down(dns, self._grace(run))
        run.dns = None
        killed = [c for c in run.containers.values() if c.name in run.unhealthy] or list(
            run.containers.values())
        run.unhealthy.clear()
        for container in killed:  # killed for failing its liveness probe: SIGKILL's exit code
            container.last_terminated = {
                "exitCode": 137, "reason": "Error", "startedAt": container.started_at,
                "finishedAt": now_rfc3339(), "containerID": container.container_id,
            }
            container.restart_count += 1
            container.state, container.reason = "waiting", "ContainerCreating"
        for container in run.containers.values():
            container.ready = False
        self._write_status(run)

    def _crash(self, run: _PodRun, lines: list[str], delay: float) -> None:
        now = now_rfc3339()
        for container in run.containers.values():
            if container.name != run.main_container and container.ever_started:
                continue
            container.ever_started = True
            container.previous_logs = lines
            container.logs = lines
            container.last_terminated = {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": container.started_at or now,
                "finishedAt": now,
                "containerID": container.container_id,
            }
            container.restart_count += 1
            container.state, container.ready = "waiting", False
            container.reason = "CrashLoopBackOff"
            container.message = (
                f"back-off {int(delay)}s restarting failed container={container.name} "
                f"pod={run.name}_{run.namespace}({run.uid})"
            )
        run.phase = "Running"

    async def _cancel_probes(self, run: _PodRun) -> None:
        tasks, run.probe_tasks = run.probe_tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _slow(self) -> bool:
        return self.faults.is_on("slow-ready")

    async def _readiness(self, run: _PodRun, container: _Container) -> None:
        probe = container.spec.get("readinessProbe")
        if not probe:
            if self._slow():
                await asyncio.sleep(self.start_delay * SLOW_READY_FACTOR / self.speed)
            self._set_ready(run, container, True)
            return
        timing = ProbeTiming.from_spec(probe, self.speed)
        initial = timing.initial_delay
        if self._slow():
            initial = max(initial, 1.0 / self.speed) * SLOW_READY_FACTOR
        await asyncio.sleep(initial)
        successes = failures = 0
        while True:
            failure = await self._probe_once(run, container, probe, timing)
            if failure is None:
                successes, failures = successes + 1, 0
                if not container.ready and successes >= timing.success_threshold:
                    self._set_ready(run, container, True)
            else:
                successes, failures = 0, failures + 1
                self._event(run, "Warning", "Unhealthy", f"Readiness probe failed: {failure}")
                if container.ready and failures >= timing.failure_threshold:
                    self._set_ready(run, container, False)
            await asyncio.sleep(timing.period)

    async def _liveness(self, run: _PodRun, container: _Container) -> None:
        probe = container.spec.get("livenessProbe")
        if not probe:
            return
        timing = ProbeTiming.from_spec(probe, self.speed)
        await asyncio.sleep(timing.initial_delay)
        failures = 0
        while True:
            failure = await self._probe_once(run, container, probe, timing)
            failures = 0 if failure is None else failures + 1
            if failure is not None:
                self._event(run, "Warning", "Unhealthy", f"Liveness probe failed: {failure}")
            if failures >= timing.failure_threshold:
                self._event(run, "Normal", "Killing",
                            f"Container {container.name} failed liveness probe, will be restarted")
                run.unhealthy.add(container.name)
                run.restart.set()
                return
            await asyncio.sleep(timing.period)

    async def _probe_once(
        self, run: _PodRun, container: _Container, probe: Obj, timing: ProbeTiming
    ) -> str | None:
        runner = self._exec_probe(run, container)
        minor = ".".join(self.k8s_version.lstrip("v").split(".")[:2])
        return await run_probe(probe, container.spec, run.ip, timing.timeout, runner, f"kube-probe/{minor}")

    def _exec_probe(self, run: _PodRun, container: _Container) -> Callable[[list[str]], Any]:
        async def runner(command: list[str]) -> int:
            ctx = self._exec_context(run, container)
            code, _, _ = await asyncio.to_thread(run_command, ctx, command)
            return code

        return runner

    def _event(self, run: _PodRun, kind: str, reason: str, message: str) -> None:
        """An Event on the pod, as `kubectl describe pod` and the wizard's panes show them."""
        if kind == "Warning":
            self._events.warning(run.pod, reason, message)
        else:
            self._events.normal(run.pod, reason, message)

    def _set_ready(self, run: _PodRun, container: _Container, ready: bool) -> None:
        if run.terminating or container.ready == ready:
            return
        container.ready = ready
        with contextlib.suppress(ApiError, _StaleRun):
            self._write_status(run)

    def _grace(self, run: _PodRun) -> float:
        meta = run.pod.get("metadata", {})
        seconds = meta.get("deletionGracePeriodSeconds")
        if seconds is None:
            seconds = run.pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)
        return float(seconds) / self.speed

    async def _terminate(self, run: _PodRun) -> None:
        """Graceful termination: NotReady at once, SIGTERM, wait for exit or the grace period."""
        grace = self._grace(run)
        if run.task is not None and not run.task.done():
            run.restart.set()
        await self._cancel_probes(run)
        for container in run.containers.values():
            container.ready = False
            if container.state == "running":
                self._event(run, "Normal", "Killing", f"Stopping container {container.name}")
        with contextlib.suppress(ApiError, _StaleRun):
            self._write_status(run)
        if run.task is not None and not run.task.done():
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run.task
        dns, run.dns = run.dns, None
        if dns is not None:
            await self._shut_down(dns, grace)
        self._release(run)
        self._delete_object(run.namespace, run.name, run.uid)
        if self._runs.get((run.namespace, run.name)) is run:
            del self._runs[(run.namespace, run.name)]

    async def _shut_down(self, dns: DNSProcess, grace: float) -> None:
        """SIGTERM, wait for the process to exit (CoreDNS: after lameduck; kube-dns ignores
        SIGTERM and never does), SIGKILL when the grace period is over, or at once when the
        wait is cancelled (the lab is stopping): a process is never left holding its sockets."""
        try:
            with contextlib.suppress(Exception):
                await dns.terminate_requested()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(dns.wait_exited(), max(grace, 0.001))
        finally:
            await self._kill(dns)

    async def _kill(self, dns: DNSProcess) -> None:
        with contextlib.suppress(Exception):
            await dns.kill()
        self._processes.pop(id(dns), None)

    def _with_ip(self, run: _PodRun) -> Obj:
        """The pod as the process sees it: with the IP the kubelet gave it."""
        status = {**(run.pod.get("status") or {}), "podIP": run.ip, "podIPs": [{"ip": run.ip}]}
        return {**run.pod, "status": status}

    async def _halt(self, run: _PodRun) -> None:
        """Stop a pod at once (its object is gone, or the lab is stopping)."""
        run.terminating = True
        run.restart.set()
        await self._cancel_probes(run)
        if run.task is not None and not run.task.done():
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run.task
        dns, run.dns = run.dns, None
        if dns is not None:
            await self._kill(dns)
        self._release(run)

    def _release(self, run: _PodRun) -> None:
        if run.pooled_ip and run.ip:
            self.addresses.pods.release(run.ip)
            run.pooled_ip = False

    def _delete_object(self, namespace: str, name: str, uid: str) -> None:
        with self.store.lock:
            current = self.store.try_get("pods", namespace, name)
            if current is not None and current["metadata"].get("uid") == uid:
                self.store.delete("pods", namespace, name)

    # ---- status -------------------------------------------------------------------------
    def _condition(self, run: _PodRun, kind: str, value: bool) -> Obj:
        status = "True" if value else "False"
        previous = run.transitions.get(kind)
        if previous is None or previous[0] != status:
            run.transitions[kind] = (status, now_rfc3339())
        return {
            "type": kind,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": run.transitions[kind][1],
        }

    def _status(self, run: _PodRun) -> Obj:
        ready = run.ready()
        unready = [c.name for c in run.containers.values() if not c.ready]
        conditions = [
            self._condition(run, "Initialized", True),
            self._condition(run, "Ready", ready),
            self._condition(run, "ContainersReady", ready),
            self._condition(run, "PodScheduled", True),
        ]
        if not ready:
            message = f"containers with unready status: [{' '.join(unready)}]"
            for condition in conditions[1:3]:
                condition["reason"] = "ContainersNotReady"
                condition["message"] = message
        status: Obj = {
            "phase": run.phase,
            "conditions": conditions,
            "hostIP": run.host_ip,
            "startTime": run.start_time,
            "containerStatuses": [c.status() for c in run.containers.values()],
            "qosClass": _qos_class(run.pod),
        }
        if run.ip:
            status["podIP"] = run.ip
            status["podIPs"] = [{"ip": run.ip}]
        return status

    def _write_status(self, run: _PodRun) -> None:
        status = self._status(run)

        def change(obj: Obj) -> None:
            if obj["metadata"].get("uid") != run.uid:
                raise _StaleRun()
            obj["status"] = status

        self.store.mutate("pods", run.namespace, run.name, change)

    # ---- PodRuntime ---------------------------------------------------------------------
    def _running(self, namespace: str, pod: str) -> _PodRun:
        run = self._runs.get((namespace, pod))
        if run is None:
            obj = self.store.get("pods", namespace, pod)  # 404 when there is no such pod
            phase = obj.get("status", {}).get("phase", "Pending")
            raise ApiError(400, "BadRequest", f'pod "{pod}" is not running (phase {phase})')
        return run

    def _container(self, run: _PodRun, container: str | None) -> _Container:
        if container is None:
            if len(run.containers) == 1:
                return next(iter(run.containers.values()))
            names = " ".join(run.containers)
            raise ApiError(
                400, "BadRequest",
                f"a container name must be specified for pod {run.name}, choose one of: [{names}]",
            )
        found = run.containers.get(container)
        if found is None:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {run.name}")
        return found

    def logs(
        self, namespace: str, pod: str, container: str | None, tail_lines: int | None, previous: bool
    ) -> str:
        run = self._running(namespace, pod)
        found = self._container(run, container)
        if previous:
            if found.previous_logs is None:
                raise ApiError(
                    400, "BadRequest",
                    f'previous terminated container "{found.name}" in pod "{pod}" not found',
                )
            lines = found.previous_logs
        elif not found.ever_started:
            raise ApiError(
                400, "BadRequest",
                f'container "{found.name}" in pod "{pod}" is waiting to start: {found.reason}',
            )
        elif found.name == run.main_container and run.dns is not None:
            lines = run.dns.log_lines()
        else:
            lines = found.logs
        if tail_lines is not None:
            lines = lines[-tail_lines:] if tail_lines > 0 else []
        return "".join(f"{line}\n" for line in lines)

    def exec(
        self, namespace: str, pod: str, container: str | None, command: list[str], stdin: bytes
    ) -> tuple[int, bytes, bytes]:
        run = self._running(namespace, pod)
        found = self._container(run, container)
        if found.state != "running":
            raise ApiError(
                400, "BadRequest", f'unable to upgrade connection: container not found ("{found.name}")'
            )
        return run_command(self._exec_context(run, found), command, stdin)

    def resolve_port(self, namespace: str, pod: str, port: int) -> tuple[str, int]:
        run = self._running(namespace, pod)
        if run.phase != "Running" or not run.ip:
            raise ApiError(400, "BadRequest", f'pod "{pod}" is not running')
        return (run.ip, self.dns_port) if port == 53 else (run.ip, port)

    # ---- what a container sees ----------------------------------------------------------
    def resolv_conf(self, pod: Obj) -> str:
        """The pod's /etc/resolv.conf as the kubelet writes it for the pod's dnsPolicy."""
        spec = pod.get("spec", {})
        policy = spec.get("dnsPolicy", "ClusterFirst")
        namespace = pod.get("metadata", {}).get("namespace", "default")
        host_network = bool(spec.get("hostNetwork"))
        servers: list[str] = []
        searches: list[str] = []
        options: list[str] = []
        if policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not host_network):
            servers = [self.dns_service_ip]
            domain = self.cluster_domain
            searches = [f"{namespace}.svc.{domain}", f"svc.{domain}", domain]
            options = ["ndots:5"]
        elif policy != "None":
            servers = self._node_nameservers()
        config = spec.get("dnsConfig") or {}
        servers += [str(s) for s in config.get("nameservers", []) or []]
        searches += [str(s) for s in config.get("searches", []) or []]
        for option in config.get("options", []) or []:
            value = option.get("value")
            options.append(f"{option.get('name')}:{value}" if value is not None else str(option.get("name")))
        lines = [f"nameserver {server}" for server in servers]
        if searches:
            lines.append("search " + " ".join(searches))
        if options:
            lines.append("options " + " ".join(options))
        return "\n".join(lines) + "\n"

    def _node_nameservers(self) -> list[str]:
        if self.net is not None:
            return list(self.net.resolv_conf_nameservers())
        return [self.node_resolver_ip] if self.node_resolver_ip else []

    def _route_from(self, pod_ip: str) -> Callable[[str, int], tuple[str, int]]:
        """Where a packet a pod sends to (ip, port) really goes; only loopback, never outside."""
        net, lab_prefix, dns_port = self.net, f"127.{self.addresses.octet}.", self.dns_port

        def route(ip: str, port: int) -> tuple[str, int]:
            if net is not None:
                return net.route(ip, port, local_ip=pod_ip)
            if not ip.startswith(lab_prefix):
                raise OSError(f"no route to {ip}:{port} in the lab")
            return ip, dns_port if port == 53 else port

        return route

    def _mounted_files(self, run: _PodRun, container: _Container) -> dict[str, str]:
        volumes = {v.get("name"): v for v in run.pod.get("spec", {}).get("volumes", []) or []}
        files: dict[str, str] = {}
        for mount in container.spec.get("volumeMounts", []) or []:
            source = volumes.get(mount.get("name"), {}).get("configMap")
            if not source:
                continue
            configmap = self.store.try_get("configmaps", run.namespace, str(source.get("name", "")))
            data: dict[str, str] = (configmap or {}).get("data", {}) or {}
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            base = str(mount.get("mountPath", "")).rstrip("/")
            for item in items:
                if item.get("key") in data:
                    files[f"{base}/{item.get('path', item['key'])}"] = data[item["key"]]
        return files

    def _exec_context(self, run: _PodRun, container: _Container) -> ExecContext:
        files = self._mounted_files(run, container)
        files["/etc/resolv.conf"] = self.resolv_conf(run.pod)
        files["/etc/hostname"] = f"{run.name}\n"
        files["/etc/hosts"] = f"127.0.0.1\tlocalhost\n{run.ip}\t{run.name}\n"
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME": run.name,
            "KUBERNETES_SERVICE_HOST": self._kubernetes_service_ip(),
            "KUBERNETES_SERVICE_PORT": "443",
            "KUBERNETES_PORT": f"tcp://{self._kubernetes_service_ip()}:443",
        }
        for item in container.spec.get("env", []) or []:
            if "value" in item:
                env[str(item["name"])] = str(item["value"])
        return ExecContext(
            pod_name=run.name,
            namespace=run.namespace,
            container=container.name,
            resolv_conf=files["/etc/resolv.conf"],
            files=files,
            env=env,
            route=self._route_from(run.ip),
        )

    def _kubernetes_service_ip(self) -> str:
        service = self.store.try_get("services", "default", "kubernetes")
        return str((service or {}).get("spec", {}).get("clusterIP", ""))


def _domain_flag(container: _Container) -> str:
    """kubedns's --domain as its flag log prints it (default `cluster.local.`)."""
    words = [str(w) for w in (container.spec.get("command") or []) + (container.spec.get("args") or [])]
    for i, word in enumerate(words):
        if word.startswith("--domain="):
            return word.split("=", 1)[1]
        if word == "--domain" and i + 1 < len(words):
            return words[i + 1]
    return CLUSTER_DOMAIN + "."


def _startup_log(container: _Container, run: _PodRun) -> list[str]:
    image = str(container.spec.get("image", ""))
    name = container.name
    if "kubedns" in image or "kube-dns" in image:
        return [
            f"I0101 00:00:00.000000       1 dns.go:48] version: {image.rpartition(':')[2] or '1.14.13'}",
            "I0101 00:00:00.000000       1 server.go:72] Using configuration read from directory: "
            "/kube-dns-config with period 10s",
            f"I0101 00:00:00.000000       1 server.go:119] FLAG: --domain=\"{_domain_flag(container)}\"",
            "I0101 00:00:00.000000       1 dns.go:220] Waiting for [endpoints services] to be initialized "
            "from apiserver...",
            "I0101 00:00:00.500000       1 dns.go:173] Skydns metrics enabled (/metrics:10055)",
        ]
    if "dnsmasq" in image or name == "dnsmasq":
        return [
            "I0101 00:00:00.000000       1 main.go:74] opts: {{/usr/sbin/dnsmasq [-k --cache-size=1000 "
            "--no-negcache --log-facility=-] true} /etc/k8s/dns/dnsmasq-nanny 10000000000}",
            "I0101 00:00:00.000000       1 nanny.go:119] Starting dnsmasq [-k --cache-size=1000]",
            "I0101 00:00:00.100000       1 nanny.go:144] dnsmasq[12]: started, version 2.78 cachesize 1000",
        ]
    if "sidecar" in image or name == "sidecar":
        return [
            "I0101 00:00:00.000000       1 main.go:51] Version v1.14.13",
            "I0101 00:00:00.000000       1 server.go:45] Starting server (options {DnsMasqPort:53 "
            "DnsMasqAddr:127.0.0.1 DnsMasqPollIntervalMs:5000 PrometheusAddr:0.0.0.0 PrometheusPort:10054})",
        ]
    return [f"{now_rfc3339()} {name}: started in pod {run.namespace}/{run.name}"]


def _qos_class(pod: Obj) -> str:
    containers = pod.get("spec", {}).get("containers", [])
    requests = [c.get("resources", {}).get("requests") for c in containers]
    limits = [c.get("resources", {}).get("limits") for c in containers]
    if not any(requests) and not any(limits):
        return "BestEffort"
    if all(lim and req == lim for req, lim in zip(requests, limits, strict=True)):
        return "Guaranteed"
    return "Burstable"

