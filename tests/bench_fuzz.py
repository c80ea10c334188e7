"""Benchmark: 10,000 mutated inputs through the command line and parsers, each under 2 s and 200 MB.

Not collected by default (the name does not match `test_*.py`). Run it explicitly:

    PYTHONPATH=$PWD python3 -m pytest tests/bench_fuzz.py -p no:cacheprovider -s

Cases are generated from a fixed seed (`FUZZ_SEED`, `FUZZ_CASES` override) and run in-process one
at a time, twice: timed, then again with tracemalloc measuring the case's peak allocation (its
overhead would distort the time); and a SIGALRM cutting any case that
runs 10 s (a hang). The summary prints counts of tracebacks, hangs and bad exits, and the slowest
and largest cases.
"""

from __future__ import annotations

import collections
import os
import random
from pathlib import Path

from fuzz_support import TARGETS, mutate, problems, run_case, seeds

CASES = int(os.environ.get("FUZZ_CASES", "10000"))
SEED = int(os.environ.get("FUZZ_SEED", "14"))
MAX_SECONDS = 2.0
MAX_BYTES = 200 * 1024 * 1024


def test_ten_thousand_mutated_inputs(tmp_path: Path) -> None:
    corpus = seeds()
    others = [text for texts in corpus.values() for text in texts]
    rng = random.Random(SEED)
    failures: list[str] = []
    exits: collections.Counter[str] = collections.Counter()
    slowest: list[tuple[float, str]] = []
    largest: list[tuple[int, str]] = []
    targets = sorted(TARGETS)
    for number in range(CASES):
        target = targets[number % len(targets)]
        text = mutate(rng.choice(corpus[TARGETS[target]]), rng, others)
        outcome = run_case(target, text, tmp_path / target)  # timed without tracemalloc's overhead
        peak = run_case(target, text, tmp_path / target, measure_memory=True).peak_bytes
        exits[f"{target} exit {outcome.exit_code}"] += 1
        label = f"case {number} {target} ({len(text)} chars)"
        failures += [f"{label}: {problem}" for problem in problems(outcome)]
        if outcome.seconds > MAX_SECONDS:
            failures.append(f"{label}: {outcome.seconds:.2f} s")
        if peak > MAX_BYTES:
            failures.append(f"{label}: {peak / 2**20:.0f} MB")
        slowest = sorted([*slowest, (outcome.seconds, label)], reverse=True)[:5]
        largest = sorted([*largest, (peak, label)], reverse=True)[:5]
    print(f"\n{CASES} cases (seed {SEED}): {len(failures)} failures")
    for key in sorted(exits):
        print(f"  {key}: {exits[key]}")
    print("  slowest: " + "; ".join(f"{s:.3f} s {label}" for s, label in slowest))
    print("  largest peak: " + "; ".join(f"{b / 2**20:.1f} MB {label}" for b, label in largest))
    for failure in failures[:20]:
        print("  FAIL", failure)
    assert failures == []
