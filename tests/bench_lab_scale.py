"""Benchmark: the lab at a large cluster's size (1,000 nodes, 10,000 pods, 2,000 Services).

Not collected by default (the name does not match `test_*.py`). Run it explicitly:

    python3 -m pytest tests/bench_lab_scale.py -p no:cacheprovider --benchmark-only -s

It reports the lab's start time and RSS, and the latency of the list calls the wizard makes at
that size (all pods, kube-dns pods by label, Services, Endpoints) through the official client.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lab_clients import api_client

from wizard.lab.cluster import Lab, LabOptions

pytestmark = pytest.mark.timeout(3600)  # starting the big lab takes minutes

SIZE = {"nodes": 1000, "extra_pods": 10_000, "extra_services": 2_000}


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def big_lab() -> Iterator[Lab]:
    before = rss_mib()
    began = time.monotonic()
    with Lab(LabOptions(speed=20.0, dns_port=0, start_timeout=600.0, **SIZE)) as lab:  # type: ignore[arg-type]
        print(f"\nlab of {SIZE}: started and kube-dns Ready in {time.monotonic() - began:.1f}s, "
              f"RSS {rss_mib():.0f} MiB (+{rss_mib() - before:.0f} MiB)")
        yield lab
        print(f"\nRSS after the list benchmarks (client and lab in one process): {rss_mib():.0f} MiB")


@pytest.fixture(scope="module")
def core(big_lab: Lab) -> Any:
    from kubernetes import client

    return client.CoreV1Api(api_client(big_lab))


def test_list_all_pods(benchmark: Any, core: Any) -> None:
    pods = benchmark(core.list_pod_for_all_namespaces)
    assert len(pods.items) >= SIZE["extra_pods"]


def test_list_kube_dns_pods_by_label(benchmark: Any, core: Any) -> None:
    pods = benchmark(core.list_namespaced_pod, "kube-system", label_selector="k8s-app=kube-dns")
    assert len(pods.items) == 3


def test_list_services(benchmark: Any, core: Any) -> None:
    services = benchmark(core.list_service_for_all_namespaces)
    assert len(services.items) >= SIZE["extra_services"]


def test_read_kube_dns_endpoints(benchmark: Any, core: Any) -> None:
    endpoints = benchmark(core.read_namespaced_endpoints, "kube-dns", "kube-system")
    assert endpoints.subsets

