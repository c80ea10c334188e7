"""Bad input never escapes as a traceback: mutated real ConfigMaps, Deployments, Corefiles and
kubeconfigs fed to `translate`, `render`, `check-corefile` and kubeconfig resolution end with exit
0, 1 or 2, an error exit is one line on stderr, and nothing prints a traceback.

A seeded slice runs here (hypothesis, derandomized, so CI sees the same cases every run); the
10,000-case run with time and memory per case is `tests/bench_fuzz.py`. Checked against the engine
before the safe loaders: 22 of 1,000 cases there escaped (RecursionError, ValueError).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from fuzz_support import ALIAS_BOMB, KUBECONFIG, TARGETS, mutate, problems, run_case, seeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SEEDS = seeds()
ALL_SEEDS = [text for texts in SEEDS.values() for text in texts]


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(target=st.sampled_from(sorted(TARGETS)), seed=st.integers(0, 2**32 - 1))
def test_mutated_inputs_end_in_a_clear_exit(tmp_path: Path, target: str, seed: int) -> None:
    rng = random.Random(seed)
    text = mutate(rng.choice(SEEDS[TARGETS[target]]), rng, ALL_SEEDS)
    outcome = run_case(target, text, tmp_path / target)
    assert problems(outcome) == [], f"{target} seed {seed}: {outcome.stderr[:300]}"


DEPLOYMENT = SEEDS["deployment"][0]
CASES = [
    ("check-corefile", ".:53 {\n" + "a {\n" * 5_000),
    (
        "check-corefile",
        "".join(f"(s{i}) {{\n    import s{i + 1}\n}}\n" for i in range(3_000))
        + "(s3000) {\n    log\n}\n.:53 {\n    import s0\n}\n",
    ),
    (
        "check-corefile",
        "(a) {\n"
        + "    import b\n" * 10
        + "}\n(b) {\n"
        + "    log\n" * 10
        + "}\n"
        + "".join(
            f"(c{i}) {{\n" + f"    import {'a' if i == 0 else f'c{i - 1}'}\n" * 10 + "}\n" for i in range(6)
        )
        + ".:53 {\n    import c5\n}\n",
    ),
    ("check-corefile", ".:53 {\n    import /dev/zero\n}\n"),
    ("check-corefile", ".:53 {\n" + "a b\n" * 250_000 + "}\n"),  # 1 MiB of words: 6.6 s, 435 MB before
    ("check-corefile", ".:53 {\n    import ../../../../etc/passwd\n}\n"),
    ("translate-configmap", "[" * 100_000),
    ("translate-configmap", ALIAS_BOMB),
    ("translate-configmap", 'kind: ConfigMap\ndata:\n  stubDomains: \'{"a.b": ["' + "9" * 5_000 + "\"]}'\n"),
    ("translate-configmap", 'kind: ConfigMap\ndata:\n  stubDomains: \'{"a.b": ' + "9" * 5_000 + "}'\n"),
    ("check-corefile", ".:53 {\n    health {\n        lameduck\x1b]0;owned\x07 5s\n    }\n}\n"),
    ("translate-configmap", "kind: ConfigMap\ndata:\n  upstreamNameservers: '" + "[" * 50_000 + "'\n"),
    ("translate-configmap", "kind: ConfigMap\ndata:\n  upstreamNameservers: " + "9" * 5_000 + "\n"),
    ("render-deployment", DEPLOYMENT.replace("replicas: ", "replicas: " + "9" * 5_000, 1)),
    ("render-deployment", DEPLOYMENT.replace("kind: Deployment", "kind: !!timestamp Deployment", 1)),
    ("render-deployment", DEPLOYMENT + "x: !!timestamp 2001-13-99\n"),
    ("kubeconfig", "".join(f"{'  ' * i}k{i}:\n" for i in range(5_000))),
    ("kubeconfig", "[" * 5_000 + "]" * 5_000),
    ("kubeconfig", KUBECONFIG.replace("abc.def\\n", "abc\\x00def")),
]


@pytest.mark.parametrize(("target", "text"), CASES, ids=[f"{t}-{i}" for i, (t, _) in enumerate(CASES)])
def test_inputs_that_broke_the_wizard_before(tmp_path: Path, target: str, text: str) -> None:
    outcome = run_case(target, text, tmp_path / target)
    assert problems(outcome) == []
    assert len(outcome.stderr) < 1_000, "an error quotes at most a short prefix of a value"
