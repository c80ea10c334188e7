"""Benchmark: the lab at a large cluster's size (1,000 nodes, 10,000 pods, 2,000 Services).

Not collected by default (the name does not match `test_*.py`). Run it explicitly:

    python3 -m pytest tests/bench_lab_scale.py -p no:cacheprovider --benchmark-only -s

It reports the lab's start time and RSS, the latency of the list calls the wizard makes at that
size, both as raw HTTP (bytes off the wire, then `json.loads`) and through the official client
(whose pydantic model building dominates), and how long a scale change takes to reach a watch.
A summary table is printed at the end of the module.
"""

from __future__ import annotations

import json
import queue
import resource
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lab_clients import api_client

from wizard.lab.cluster import Lab, LabOptions

pytestmark = pytest.mark.timeout(3600)  # starting the big lab takes a while

SIZE = {"nodes": 1000, "extra_pods": 10_000, "extra_services": 2_000}
SCALED = ("default", "nginx")  # a seeded app Deployment (2 replicas) that the watch bench scales
RESULTS: dict[str, str] = {}  # row label -> value, printed as the summary table


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _record(label: str, benchmark: Any) -> None:
    stats = benchmark.stats.stats
    RESULTS[label] = f"mean {stats.mean * 1000:8.1f} ms   min {stats.min * 1000:8.1f} ms"


def _print_table() -> None:
    width = max(len(label) for label in RESULTS)
    print(f"\n\nlab scale benchmark, {SIZE}")
    print("-" * (width + 45))
    for label, value in RESULTS.items():
        print(f"{label:<{width}}   {value}")
    print("-" * (width + 45))


@pytest.fixture(scope="module")
def big_lab() -> Iterator[Lab]:
    before = rss_mib()
    began = time.monotonic()
    with Lab(LabOptions(speed=20.0, dns_port=0, start_timeout=600.0, **SIZE)) as lab:  # type: ignore[arg-type]
        RESULTS["start until kube-dns Ready"] = f"{time.monotonic() - began:8.1f} s"
        RESULTS["RSS after start"] = f"{rss_mib():8.0f} MiB (+{rss_mib() - before:.0f} MiB)"
        yield lab
        RESULTS["RSS after the benchmarks"] = f"{rss_mib():8.0f} MiB (client and lab in one process)"
    _print_table()


@pytest.fixture(scope="module")
def core(big_lab: Lab) -> Any:
    from kubernetes import client

    return client.CoreV1Api(api_client(big_lab))


@pytest.fixture(scope="module")
def apps(big_lab: Lab) -> Any:
    from kubernetes import client

    return client.AppsV1Api(api_client(big_lab))


def _raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> bytes:
    """The response body as bytes, without the client's model building."""
    response = call(*args, _preload_content=False, **kwargs)
    try:
        data: bytes = response.data
        return data
    finally:
        response.release_conn()


def test_list_all_pods_raw_http(benchmark: Any, core: Any) -> None:
    body = benchmark.pedantic(_raw, (core.list_pod_for_all_namespaces,), rounds=5, warmup_rounds=1)
    _record("list all pods, raw HTTP", benchmark)
    assert len(json.loads(body)["items"]) >= SIZE["extra_pods"]


def test_list_all_pods_raw_http_and_json(benchmark: Any, core: Any) -> None:
    def list_and_parse() -> Any:
        return json.loads(_raw(core.list_pod_for_all_namespaces))

    parsed = benchmark.pedantic(list_and_parse, rounds=5, warmup_rounds=1)
    _record("list all pods, raw HTTP + json.loads", benchmark)
    assert len(parsed["items"]) >= SIZE["extra_pods"]


def test_list_all_pods_client(benchmark: Any, core: Any) -> None:
    pods = benchmark.pedantic(core.list_pod_for_all_namespaces, rounds=3, warmup_rounds=0)
    _record("list all pods, official client", benchmark)
    assert len(pods.items) >= SIZE["extra_pods"]


def test_list_kube_dns_pods_by_label(benchmark: Any, core: Any) -> None:
    pods = benchmark(core.list_namespaced_pod, "kube-system", label_selector="k8s-app=kube-dns")
    _record("list kube-dns pods by label, client", benchmark)
    assert len(pods.items) == 3


def test_list_services_raw_http(benchmark: Any, core: Any) -> None:
    body = benchmark.pedantic(_raw, (core.list_service_for_all_namespaces,), rounds=5, warmup_rounds=1)
    _record("list services, raw HTTP", benchmark)
    assert len(json.loads(body)["items"]) >= SIZE["extra_services"]


def test_list_services_client(benchmark: Any, core: Any) -> None:
    services = benchmark.pedantic(core.list_service_for_all_namespaces, rounds=5, warmup_rounds=1)
    _record("list services, official client", benchmark)
    assert len(services.items) >= SIZE["extra_services"]


def test_read_kube_dns_endpoints(benchmark: Any, core: Any) -> None:
    endpoints = benchmark(core.read_namespaced_endpoints, "kube-dns", "kube-system")
    _record("read kube-dns Endpoints, client", benchmark)
    assert endpoints.subsets


class _WatchReader:
    """Reads a raw watch stream in a thread and hands each event over with its arrival time."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.events: queue.Queue[tuple[float, Any]] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        buffer = b""
        try:
            for chunk in self.response.stream(4096, decode_content=False):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        self.events.put((time.perf_counter(), json.loads(line)))
        except Exception:  # the stream is closed when the benchmark ends
            return

    def wait_for(self, wanted: Callable[[Any], bool], timeout: float = 60.0) -> float:
        """The arrival time of the first event for which `wanted` holds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("the watched event did not arrive within 60 s")
            arrived, event = self.events.get(timeout=remaining)
            if wanted(event):
                return arrived

    def close(self) -> None:
        self.response.close()


def test_watch_event_latency_for_scale_change(benchmark: Any, apps: Any, core: Any) -> None:
    """From the scale request until (a) the Deployment's MODIFIED event and (b) the new pod's
    ADDED event reach watch clients: the API server's and the controllers' paths at full size."""
    namespace, name = SCALED
    rv = apps.list_namespaced_deployment(namespace).metadata.resource_version
    deployments = _WatchReader(apps.list_namespaced_deployment(
        namespace, watch=True, resource_version=rv, timeout_seconds=300, _preload_content=False))
    pods = _WatchReader(core.list_namespaced_pod(
        namespace, watch=True, resource_version=rv, label_selector=f"app={name}", timeout_seconds=300,
        _preload_content=False))
    replicas = [2]
    pod_latencies: list[float] = []

    def scale_up_once() -> None:
        replicas[0] += 1
        wanted = replicas[0]
        began = time.perf_counter()
        apps.patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": wanted}})
        deployments.wait_for(lambda e: e["type"] == "MODIFIED"
                             and e["object"]["metadata"]["name"] == name
                             and e["object"]["spec"]["replicas"] == wanted)
        pod_latencies.append(pods.wait_for(lambda e: e["type"] == "ADDED") - began)

    try:
        benchmark.pedantic(scale_up_once, rounds=5, warmup_rounds=0)
        _record("scale change -> Deployment watch event", benchmark)
        RESULTS["scale change -> new pod ADDED watch event"] = (
            f"mean {sum(pod_latencies) / len(pod_latencies) * 1000:8.1f} ms   "
            f"min {min(pod_latencies) * 1000:8.1f} ms")
    finally:
        deployments.close()
        pods.close()
        apps.patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": 2}})
    assert len(pod_latencies) == 5
