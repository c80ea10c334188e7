"""Mutated real inputs fed to the command line and the parsers, in-process, one case at a time.

Shared by `test_fuzz_inputs.py` (a seeded slice in CI) and `bench_fuzz.py` (10,000 cases with
time and memory per case). Seeds are real inputs: the kube-dns ConfigMap and Deployment
fixtures, Corefiles as clusters run them, a kubeconfig as cloud tools write them. Mutations are
the ones that broke the wizard before: byte noise, deep nesting, alias bombs, huge integers,
YAML tags, control characters, long values, spliced seeds.
"""

from __future__ import annotations

import base64
import contextlib
import io
import random
import re
import signal
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from wizard import cli
from wizard.errors import WizardError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HANG_SECONDS = 10

COREFILE = """\
.:53 {
    errors
    health {
        lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
        max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
    import extra.conf
}
(common) {
    log
}
acme.local:53 {
    import common
    forward . 1.2.3.4 {$UPSTREAM}
}
"""

KUBECONFIG = f"""\
apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: {base64.b64encode(b"not a certificate").decode()}
users:
- name: admin
  user:
    token: "abc.def\\n"
- name: cert-user
  user:
    client-certificate-data: {base64.b64encode(b"cert").decode()}
    client-key-data: {base64.b64encode(b"key").decode()}
contexts:
- name: prod
  context: {{cluster: prod, user: admin, namespace: kube-system}}
- name: cert
  context: {{cluster: prod, user: cert-user}}
current-context: prod
"""


def seeds() -> dict[str, list[str]]:
    """Real inputs by kind."""
    configmaps = [
        (FIXTURES / name).read_text() for name in ("kube-dns-configmap.yaml", "kube-dns-configmap-empty.yaml")
    ]
    return {
        "configmap": configmaps,
        "deployment": [(FIXTURES / "kube-dns-deployment.yaml").read_text()],
        "corefile": [COREFILE, ".:53 {\n    forward . 8.8.8.8\n}\n"],
        "kubeconfig": [KUBECONFIG],
    }


ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def _deep(rng: random.Random) -> str:
    depth = rng.choice([70, 500, 5_000, 50_000])
    return rng.choice(
        [
            "[" * depth,
            "{a: " * depth,
            "- " * depth,
            "a {\n" * depth,
            "(s) {\n import s\n}\n" * 3,
            "".join(f"{'  ' * i}k{i}:\n" for i in range(min(depth, 3_000))),
        ]
    )


_INSERTS: list[Callable[[random.Random], str]] = [
    _deep,
    lambda rng: ALIAS_BOMB,
    lambda rng: "9" * rng.choice([30, 5_000, 50_000]),
    lambda rng: rng.choice(
        [
            "!!timestamp 2001-13-99",
            "!!binary ???",
            "!!python/object:os.system x",
            "!!set {a}",
            "!!float x",
            "!!int 0xZZ",
            "&a [*a]",
            "*nowhere",
            "<<: 5",
            "? [1]\n: 2",
        ]
    ),
    lambda rng: "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(1, 40))),
    lambda rng: "\x1b]0;owned\x07\x1b[2J\r\n\x00\x85\u202e",
    lambda rng: "x" * rng.choice([100, 100_000, 2_000_000]),
    lambda rng: rng.choice(
        [
            "import /dev/zero",
            "import ../../etc/passwd",
            "import *",
            "import a*b*c",
            "{$HOME}",
            "{%PATH%}",
            '"unterminated',
            "}",
            "{",
            ",",
            "#",
            "\\",
        ]
    ),
    lambda rng: rng.choice(
        ['{"a": [', '["1.2.3.4"', "[" + '"8.8.8.8",' * 2000 + '"1.1.1.1"]', "null", "1e999", '{"x": ' * 3_000]
    ),
]


def mutate(text: str, rng: random.Random, others: list[str]) -> str:
    """One to four mutations of `text`: noise, insertion of a known-bad fragment, cut, duplicate, splice."""
    for _ in range(rng.randrange(1, 5)):
        where = rng.randrange(0, len(text) + 1)
        choice = rng.randrange(9)
        if choice == 0 and text:  # flip some characters
            chars = list(text)
            for _ in range(rng.randrange(1, 8)):
                chars[rng.randrange(len(chars))] = chr(rng.randrange(0, 128))
            text = "".join(chars)
        elif choice in (1, 2):
            text = text[:where] + rng.choice(_INSERTS)(rng) + text[where:]
        elif choice == 3:
            end = min(len(text), where + rng.randrange(1, 200))
            text = text[:where] + text[end:]
        elif choice == 4:
            end = min(len(text), where + rng.randrange(1, 400))
            text = text[:end] + text[where:end] * rng.randrange(1, 20) + text[end:]
        elif choice == 5 and others:
            other = rng.choice(others)
            cut = rng.randrange(0, len(other) + 1)
            text = text[:where] + other[cut:]
        elif choice in (6, 7):  # keep the document valid: replace one value, or one block line
            lines = text.split("\n")
            index = rng.randrange(len(lines))
            line = lines[index]
            head, sep, _ = line.partition(": ")
            fragment = rng.choice(_INSERTS)(rng)
            if sep:
                lines[index] = head + sep + fragment.replace("\n", " ")
            else:
                indent = line[: len(line) - len(line.lstrip())]
                lines[index] = indent + fragment.replace("\n", "\n" + indent)
            text = "\n".join(lines)
        else:
            text = text.replace(
                ":", ":" + rng.choice([" ", "", "\t", " !!str ", " &x ", " *x "]), rng.randrange(1, 4)
            )
    return text


@dataclass(frozen=True)
class Outcome:
    kind: str
    exit_code: int | None
    stdout: str
    stderr: str
    error: str | None
    """The exception that escaped (a traceback the operator would see), or None."""
    seconds: float
    peak_bytes: int


class _Hang(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def alarm(_signum: int, _frame: object) -> None:
        raise _Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_case(kind: str, text: str, workdir: Path, measure_memory: bool = False) -> Outcome:
    """Run target `kind` (a key of TARGETS) on `text`; what came out and what it cost."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "extra.conf").write_text("log\n")
    path = workdir / f"input.{kind}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    out, err = io.StringIO(), io.StringIO()
    code: int | None = None
    error: str | None = None
    if measure_memory:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        with _deadline(HANG_SECONDS), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = _drive(kind, path, workdir)
            _check_exit(code)
    except _Hang as hang:
        error = f"hang: {hang}"
    except BaseException as exc:  # anything that escapes is a traceback for the operator
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    seconds = time.perf_counter() - start
    peak = 0
    if measure_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return Outcome(kind, code, out.getvalue(), err.getvalue(), error, seconds, peak)


TARGETS = {
    "translate-configmap": "configmap",
    "render-configmap": "configmap",
    "translate-deployment": "deployment",
    "render-deployment": "deployment",
    "check-corefile": "corefile",
    "kubeconfig": "kubeconfig",
}
"""What is run -> the kind of input it reads."""


def _drive(target: str, path: Path, workdir: Path) -> int:
    cm = str(FIXTURES / "kube-dns-configmap.yaml")
    if target == "translate-configmap":
        return cli.main(["translate", "--kube-dns-configmap", str(path), "--coredns-version", "1.11.1"])
    if target == "render-configmap":
        return cli.main(["render", "--k8s-version", "1.29", "--kube-dns-configmap", str(path)])
    if target == "translate-deployment":
        return cli.main(
            [
                "translate",
                "--kube-dns-configmap",
                cm,
                "--kube-dns-deployment",
                str(path),
                "--coredns-version",
                "1.8.4",
                "--drop-federations",
            ]
        )
    if target == "render-deployment":
        return cli.main(["render", "--k8s-version", "1.21", "--kube-dns-deployment", str(path)])
    if target == "check-corefile":
        return cli.main(["check-corefile", str(path), "--coredns-version", "1.11.1"])
    if target == "kubeconfig":
        return _kubeconfig(path)
    raise ValueError(target)


def _check_exit(code: int) -> None:
    if code not in (0, 1, 2):
        raise AssertionError(f"exit {code}")


def _kubeconfig(path: Path) -> int:
    """What every cluster command does first: resolve the context and build the client from it."""
    from wizard.k8s.connection import resolve_connection
    from wizard.k8s.credentials import without_inline_data

    try:
        for context in (None, "cert"):
            connection = resolve_connection(kubeconfig=str(path), context=context)
            without_inline_data(connection.kubeconfig)
    except WizardError as err:
        print(f"coredns-wizard: {err}", file=sys.stderr)
        return err.exit_code
    return 0


def problems(outcome: Outcome) -> list[str]:
    """What is wrong with an outcome: an escaped exception, an exit outside 0/1/2, an error exit
    that is not exactly one line on stderr, a traceback or a terminal control character in any output."""
    found = []
    if outcome.error is not None:
        found.append(outcome.error)
    if outcome.exit_code not in (0, 1, 2) and outcome.error is None:
        found.append(f"exit {outcome.exit_code}")
    if outcome.exit_code == 2 and len(outcome.stderr.splitlines()) != 1:
        found.append(f"exit 2 with {len(outcome.stderr.splitlines())} stderr lines")
    if "Traceback" in outcome.stdout or "Traceback" in outcome.stderr:
        found.append("traceback in the output")
    control = _CONTROL.search(outcome.stdout + outcome.stderr)
    if control:
        found.append(f"control character {control.group()!r} in the output")
    return found


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
