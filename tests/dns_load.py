"""DNS load against a Service IP, from outside the engine: the two kinds of client workloads run.

- `fresh`: every lookup opens a new UDP socket (a new source port), as musl, Go's resolver and
  most short-lived processes do; its retry is a new socket too.
- `glibc`: each worker keeps one socket (one source port) for its whole life and, like glibc's
  resolver, resends the same datagram on the same socket after a timeout (`attempts:2`). Behind
  IPVS this client stays pinned to its backend as long as it keeps sending.

Run as a separate process (`python tests/dns_load.py ...`), so that its timing does not share a
GIL with the lab or the engine; it writes one JSON object per lookup to OUT when it receives
SIGTERM or its stdin closes. Only dnspython (to build and parse messages) and raw sockets.
Not a test module (no `test_` prefix); bench_smoothness.py drives it.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass

import dns.message
import dns.rcode
import dns.rdatatype

KINDS = ("fresh", "glibc")


@dataclass
class Lookup:
    kind: str
    started: float  # wall clock (time.time()), comparable with the driving process's marks
    latency_ms: float | None  # first send to the accepted answer; None when no try was answered
    lost_tries: int  # tries that timed out (each one a lost answer)
    outcome: str  # "ok", "wrong" (answered, but not NOERROR with exactly the expected address), "lost"
    detail: str = ""


@dataclass(frozen=True)
class Target:
    ip: str
    port: int
    name: str
    expected: str  # the one A record a correct answer holds
    timeout_s: float
    attempts: int


def _judge(wire: bytes, query: dns.message.Message, target: Target) -> tuple[bool, str]:
    """(matches this query, what is wrong with it or "")."""
    try:
        answer = dns.message.from_wire(wire)
    except Exception as err:  # a mangled datagram is a wrong answer, never a crash
        return True, f"unparsable: {err!r}"
    if answer.id != query.id:
        return False, ""
    if answer.rcode() != dns.rcode.NOERROR:
        return True, f"rcode {dns.rcode.to_text(answer.rcode())}"
    addresses = sorted(str(r) for rrset in answer.answer if rrset.rdtype == dns.rdatatype.A for r in rrset)
    if addresses != [target.expected]:
        return True, f"addresses {addresses}"
    return True, ""


def _await_answer(sock: socket.socket, query: dns.message.Message, target: Target,
                  deadline: float) -> str | None:
    """The verdict ("" correct, else what is wrong) of the first answer to `query` before
    `deadline`, or None on timeout. Answers to older queries on a kept socket are skipped, as the
    resolver does by ID."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            wire, _ = sock.recvfrom(4096)
        except TimeoutError:
            return None
        except OSError as err:  # ICMP unreachable surfaces here on a connected socket
            return f"socket error {err!r}"
        matches, problem = _judge(wire, query, target)
        if matches:
            return problem


def _lookup(kind: str, target: Target, kept: socket.socket | None) -> Lookup:
    query = dns.message.make_query(target.name, "A")
    query.id = random.randint(0, 65535)
    wire = query.to_wire()
    started_wall, started = time.time(), time.monotonic()
    lost = 0
    for _ in range(target.attempts):
        sock = kept or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.sendto(wire, (target.ip, target.port))
            verdict = _await_answer(sock, query, target, time.monotonic() + target.timeout_s)
        finally:
            if kept is None:
                sock.close()
        if verdict is None:
            lost += 1
            continue
        latency = (time.monotonic() - started) * 1000.0
        return Lookup(kind, started_wall, latency, lost, "wrong" if verdict else "ok", verdict)
    return Lookup(kind, started_wall, None, lost, "lost", "no answer")


def _worker(kind: str, target: Target, interval_s: float, stop: threading.Event, out: list[Lookup],
            lock: threading.Lock) -> None:
    kept = socket.socket(socket.AF_INET, socket.SOCK_DGRAM) if kind == "glibc" else None
    next_at = time.monotonic() + random.uniform(0, interval_s)
    try:
        while not stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            result = _lookup(kind, target, kept)
            with lock:
                out.append(result)
            next_at = max(next_at + interval_s, time.monotonic() - interval_s)  # no burst after a stall
    finally:
        if kept is not None:
            kept.close()


def run(target: Target, rate_per_kind: float, workers_per_kind: int, stop: threading.Event) -> list[Lookup]:
    """Send `rate_per_kind` lookups/s from each kind until `stop` is set; every lookup's record."""
    out: list[Lookup] = []
    lock = threading.Lock()
    interval = workers_per_kind / rate_per_kind
    threads = [threading.Thread(target=_worker, args=(kind, target, interval, stop, out, lock), daemon=True)
               for kind in KINDS for _ in range(workers_per_kind)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ip")
    parser.add_argument("port", type=int)
    parser.add_argument("name")
    parser.add_argument("expected")
    parser.add_argument("out")
    parser.add_argument("--rate-per-kind", type=float, default=120.0)
    parser.add_argument("--workers-per-kind", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--attempts", type=int, default=2)
    args = parser.parse_args(argv)
    target = Target(args.ip, args.port, args.name, args.expected, args.timeout, args.attempts)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    sys.stdout.write("STARTED\n")
    sys.stdout.flush()
    lookups = run(target, args.rate_per_kind, args.workers_per_kind, stop)
    with open(args.out, "w", encoding="utf-8") as out:
        for lookup in lookups:
            out.write(json.dumps(asdict(lookup)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
