"""Benchmark: DNS probes off the pod network, through API server port-forwards.

Not collected by default (the name does not match `test_*.py`). Run it explicitly:

    python3 -m pytest tests/bench_tunnel.py -p no:cacheprovider --benchmark-only -s

Against the lab over real HTTPS/WebSocket and DNS over TCP, it compares the queries per second of
 - one tunnel opened by hand and reused, raw dnspython on its socket (the ceiling),
 - the wizard's probe path (`probe(..., "port-forward", tunnels=pool)`, what the switch's probes
   and observation call), and
 - a new tunnel per question (the wizard before the pool),
and prints the wizard's rate as a share of the ceiling (goal: at least 0.9).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from wizard.k8s.connection import resolve_connection
from wizard.k8s.gateway import Gateway
from wizard.lab.cluster import Lab, LabOptions
from wizard.migration.probes import ProbeTarget, TunnelPool, probe

pytestmark = pytest.mark.timeout(600)

NS = "kube-system"
NAME = "kubernetes.default.svc.cluster.local"
QUERIES = 200  # per round
ROUNDS = 10
RAW = "one tunnel reused, raw dnspython"
WIZARD = "wizard probe path (tunnel pool)"
BEFORE = "a new tunnel per question (before)"
RATES: dict[str, float] = {}  # path -> queries/s (best round)


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with Lab(LabOptions(speed=20.0, dns_port=0, start_timeout=120.0)) as lab:
        connection = resolve_connection(kubeconfig=str(lab.kubeconfig_path), environ={})
        with Gateway(connection, "live") as gw:
            yield gw
    _print_table()


@pytest.fixture(scope="module")
def target(gateway: Gateway) -> ProbeTarget:
    name = str(gateway.list_pods(NS, "k8s-app=kube-dns")[0]["metadata"]["name"])
    return ProbeTarget(name, None, gateway.connection.dns_port, pod=name, namespace=NS)


def _print_table() -> None:
    print("\n\nport-forward probe benchmark (one pod, DNS over TCP through the lab API server)")
    for label, rate in RATES.items():
        print(f"  {label:<40} {rate:8.0f} queries/s (best round of {QUERIES} questions)")
    ceiling, wizard = RATES.get(RAW), RATES.get(WIZARD)
    if ceiling and wizard:
        print(f"  wizard probe path / reused tunnel: {wizard / ceiling:.2f}x (goal >= 0.90)")


def test_wizard_probe_path_against_one_reused_tunnel(
    benchmark: Any, gateway: Gateway, target: ProbeTarget
) -> None:
    """Paired rounds, the raw loop then the wizard's, so load from other processes hits both
    alike; each path's best round gives its rate."""
    import dns.message
    import dns.query

    assert target.pod is not None
    times: dict[str, list[float]] = {RAW: [], WIZARD: []}
    forward = gateway.port_forward(NS, target.pod, target.port)
    pool = TunnelPool(gateway)

    def raw() -> int:
        answered = 0
        for _ in range(QUERIES):
            query = dns.message.make_query(NAME, "A")
            reply = dns.query.tcp(query, "127.0.0.1", timeout=5, sock=forward.socket)
            answered += reply.rcode() == 0
        return answered

    def wizard() -> int:
        return sum(
            probe(target, NAME, "A", "port-forward", timeout=5, tunnels=pool).ok for _ in range(QUERIES)
        )

    def paired_round() -> None:
        for label, run in ((RAW, raw), (WIZARD, wizard)):
            began = time.perf_counter()
            answered = run()
            times[label].append(time.perf_counter() - began)
            assert answered == QUERIES, f"{label}: {answered} of {QUERIES} answered"

    try:
        benchmark.pedantic(paired_round, rounds=ROUNDS, warmup_rounds=1)
    finally:
        forward.close()
        pool.close()
    assert pool.opened == 1  # every question of every round through the same tunnel
    for label, spent in times.items():
        RATES[label] = QUERIES / min(spent)


def test_a_tunnel_per_question(benchmark: Any, gateway: Gateway, target: ProbeTarget) -> None:
    def run() -> int:
        return sum(
            probe(target, NAME, "A", "port-forward", timeout=5, gateway=gateway).ok for _ in range(QUERIES)
        )

    answered = benchmark.pedantic(run, rounds=2, warmup_rounds=0)
    assert answered == QUERIES
    RATES[BEFORE] = QUERIES / benchmark.stats.stats.min
