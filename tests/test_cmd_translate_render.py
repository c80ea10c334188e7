"""`coredns-wizard translate` and `render` as the operator runs them: subprocesses, exit codes,
stdout for the result, stderr for one-line causes and warnings, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wizard.dns.corefile import parse

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
CONFIGMAP = FIXTURES / "kube-dns-configmap.yaml"
DEPLOYMENT = FIXTURES / "kube-dns-deployment.yaml"


def wizard(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "wizard", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in result.stderr
    return result


def one_line_error(result: subprocess.CompletedProcess[str], command: str) -> str:
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"coredns-wizard {command}: ")
    return lines[0]


# ---------------------------------------------------------------- translate


def test_translate_guide_example_keeps_what_kube_dns_ran_defaults() -> None:
    """The guide's ConfigMap writes federations as JSON, which kube-dns refuses: it ignored the whole
    ConfigMap, so what was live (and what the Corefile keeps) is kube-dns's defaults."""
    result = wizard("translate", "--kube-dns-configmap", CONFIGMAP, "--coredns-version", "1.8.4")
    assert result.returncode == 0, result.stderr
    corefile = parse(result.stdout)
    assert [b.keys for b in corefile.blocks] == [[".:53"]]
    forward = corefile.blocks[0].directive("forward")
    assert forward is not None and forward.args == [".", "/etc/resolv.conf"]
    [warning] = [line for line in result.stderr.splitlines() if "kube-dns ignores" in line]
    assert str(CONFIGMAP) in warning and "data.federations is JSON" in warning
    assert "--translate-written-config" in warning


def test_translate_guide_example_for_1_6_7() -> None:
    result = wizard(
        "translate", "--kube-dns-configmap", CONFIGMAP, "--coredns-version", "1.6.7",
        "--translate-written-config",
    )
    assert result.returncode == 0, result.stderr
    corefile = parse(result.stdout)
    main = corefile.blocks[0]
    assert [b.keys for b in corefile.blocks] == [[".:53"], ["abc.com:53"], ["my.cluster.local:53"]]
    federation = main.directive("federation")
    assert federation is not None and federation.block is not None
    assert [(d.name, d.args) for d in federation.block] == [("foo", ["foo.feddomain.com"])]
    kubernetes = main.directive("kubernetes")
    assert kubernetes is not None
    upstream = kubernetes.option("upstream")
    assert upstream is not None and upstream.args == ["8.8.8.8", "8.8.4.4"]
    # the checker's note that `upstream` is a no-op from 1.5.0 goes to stderr, not into the Corefile
    assert all(line.startswith("warning: ") for line in result.stderr.splitlines())


def test_translate_1_8_4_refuses_federations_then_drops_them_on_request() -> None:
    written = ("--kube-dns-configmap", CONFIGMAP, "--coredns-version", "1.8.4", "--translate-written-config")
    line = one_line_error(wizard("translate", *written), "translate")
    assert str(CONFIGMAP) in line and "data.federations" in line and "--drop-federations" in line

    dropped = wizard("translate", *written, "--drop-federations")
    assert dropped.returncode == 0, dropped.stderr
    assert "federation" not in dropped.stdout
    assert "warning: federations foo=foo.feddomain.com" in dropped.stderr
    assert parse(dropped.stdout).blocks[0].keys == [".:53"]


def test_translate_with_deployment_and_cluster_domain_override() -> None:
    result = wizard(
        "translate",
        "--kube-dns-configmap", CONFIGMAP,
        "--kube-dns-deployment", DEPLOYMENT,
        "--coredns-version", "1.6.7",
        "--cluster-domain", "k8s.example",
        "--translate-written-config",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "kubernetes k8s.example. in-addr.arpa ip6.arpa {" in result.stdout
    assert "forward . 10.20.0.5:8600" in result.stdout
    assert "--cluster-domain k8s.example overrides the domain corp.example" in result.stderr


def test_translate_bad_configmap_value_names_file_key_and_value(tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text("kind: ConfigMap\ndata:\n  upstreamNameservers: '[\"dns.google\"]'\n", encoding="utf-8")
    args = ("translate", "--kube-dns-configmap", path, "--coredns-version", "1.8.4")
    line = one_line_error(wizard(*args, "--translate-written-config"), "translate")
    assert str(path) in line and "data.upstreamNameservers" in line and "'dns.google'" in line
    # read as kube-dns reads it, the ConfigMap was ignored as a whole: one warning, the defaults
    live = wizard(*args)
    assert live.returncode == 0, live.stderr
    [warning] = live.stderr.splitlines()
    assert warning.startswith(f"warning: {path}: kube-dns ignores this whole ConfigMap")
    assert "data.upstreamNameservers entry 'dns.google'" in warning
    assert "forward . /etc/resolv.conf" in live.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["--kube-dns-configmap", "missing.yaml", "--coredns-version", "1.8.4"],
            "missing.yaml: file not found",
        ),
        (["--kube-dns-configmap", str(CONFIGMAP), "--coredns-version", "eight"], "--coredns-version 'eight'"),
        (["--kube-dns-configmap", str(DEPLOYMENT), "--coredns-version", "1.6.7"], "expected kind ConfigMap"),
        (
            [
                "--kube-dns-configmap",
                str(CONFIGMAP),
                "--kube-dns-deployment",
                str(CONFIGMAP),
                "--coredns-version",
                "1.6.7",
            ],
            "expected kind Deployment",
        ),
    ],
)
def test_translate_bad_input_exits_2(args: list[str], fragment: str) -> None:
    assert fragment in one_line_error(wizard("translate", *args), "translate")


def test_translate_usage_errors_exit_2() -> None:
    result = wizard("translate", "--coredns-version", "1.8.4")
    assert result.returncode == 2
    assert "--kube-dns-configmap" in result.stderr


# ---------------------------------------------------------------- render


def test_render_to_stdout_with_recommended_version() -> None:
    result = wizard("render", "--k8s-version", "v1.22.3")
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs] == [
        "ClusterRole",
        "ServiceAccount",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
    ]
    deployment = docs[4]
    assert deployment["spec"]["replicas"] == 0
    assert deployment["spec"]["selector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert (
        deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.k8s.io/coredns/coredns:v1.8.4"
    )
    assert "CoreDNS 1.8.4 (recommended: kubeadm's table" in result.stderr


def test_render_to_file_atomically(tmp_path: Path) -> None:
    out = tmp_path / "switch2coredns.yaml"
    out.write_text("old", encoding="utf-8")
    result = wizard(
        "render",
        "--k8s-version", "1.18.8",
        "--coredns-version", "1.6.7",
        "--kube-dns-configmap", CONFIGMAP,
        "--kube-dns-deployment", DEPLOYMENT,
        "--translate-written-config",
        "-o", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["switch2coredns.yaml"]  # no temporary left behind
    docs = list(yaml.safe_load_all(out.read_text(encoding="utf-8")))
    assert len(docs) == 5
    template = docs[4]["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "seccomp.security.alpha.kubernetes.io/pod": "docker/default"
    }
    assert template["spec"]["containers"][0]["image"] == "ccr.ccs.tencentyun.com/tkeimages/coredns:1.6.7"
    assert "federation corp.example {" in docs[3]["data"]["Corefile"]
    assert f"wrote {out}" in result.stderr


def test_render_image_host_and_image() -> None:
    host = wizard(
        "render", "--k8s-version", "1.20", "--coredns-version", "1.7.0", "--image-host", "mirror.local:5000"
    )
    assert host.returncode == 0, host.stderr
    assert "image: mirror.local:5000/coredns:1.7.0" in host.stdout

    image = wizard(
        "render", "--k8s-version", "1.20", "--coredns-version", "1.7.0", "--image", "mirror.local/dns:7"
    )
    assert image.returncode == 0, image.stderr
    assert "image: mirror.local/dns:7" in image.stdout


def test_render_image_and_image_host_are_exclusive() -> None:
    result = wizard("render", "--k8s-version", "1.20", "--image", "a/b:1", "--image-host", "mirror.local")
    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--k8s-version", "1.11"], "older than 1.12"),
        (["--k8s-version", "latest"], "Kubernetes version 'latest'"),
        (["--k8s-version", "1.20", "--coredns-version", "1.11.1"], "needs Kubernetes 1.21 or newer"),
        (["--k8s-version", "1.20", "--image", "Bad Image"], "--image 'Bad Image'"),
        (
            ["--k8s-version", "1.20", "--image-host", "https://mirror.local"],
            "--image-host 'https://mirror.local'",
        ),
        (
            ["--k8s-version", "1.22", "--kube-dns-configmap", str(CONFIGMAP), "--translate-written-config"],
            "--drop-federations",
        ),
        (["--k8s-version", "1.22", "--cluster-domain", "bad_domain"], "--cluster-domain"),
        (
            ["--k8s-version", "1.22", "-o", "/nonexistent-dir/x.yaml"],
            "-o /nonexistent-dir/x.yaml: cannot write",
        ),
    ],
)
def test_render_bad_input_exits_2(args: list[str], fragment: str) -> None:
    assert fragment in one_line_error(wizard("render", *args), "render")


def test_command_modules_import_only_the_standard_library() -> None:
    """`coredns-wizard --help` imports every command module; heavy libraries must wait for run()."""
    code = (
        "import sys, wizard.commands.translate, wizard.commands.render\n"
        "heavy = [m for m in ('yaml', 'ruamel', 'wizard.migration.manifests', 'wizard.dns.translate',"
        " 'wizard.dns.checker')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
