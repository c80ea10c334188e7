"""`coredns-wizard check-corefile` as an operator runs it: a subprocess, exit codes, output streams."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
Writer = Callable[..., str]
"""The `corefile` fixture: write(text, name="Corefile") -> path."""

GOOD = """\
.:53 {
    errors
    health {
        lameduck 30s
    }
    ready
    kubernetes cluster.local. in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . /etc/resolv.conf {
        prefer_udp
    }
    cache 30
    reload
    loadbalance
}
"""
WITH_UPSTREAM = GOOD.replace("        pods insecure\n", "        pods insecure\n        upstream\n")
FEDERATION = "    federation cluster.local {\n        foo foo.example\n    }\n"
WITH_FEDERATION = GOOD.replace("    prometheus :9153\n", FEDERATION + "    prometheus :9153\n")


def wizard(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-m", "wizard", "check-corefile", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        input=stdin,
        env=env,
        timeout=120,
    )


@pytest.fixture
def corefile(tmp_path: Path) -> Writer:
    def write(text: str, name: str = "Corefile") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def test_accepted_corefile_exits_0_and_prints_no_problems(corefile: Writer) -> None:
    path = corefile(GOOD)
    result = wizard(path, "--coredns-version", "1.8.4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == f"{path}: OK for CoreDNS 1.8.4 (0 errors, 0 warnings)"


def test_warnings_go_to_stderr_and_keep_exit_0(corefile: Writer) -> None:
    path = corefile(WITH_UPSTREAM)
    result = wizard(path, "--coredns-version", "v1.6.2")
    assert result.returncode == 0
    assert result.stdout == ""
    assert f"{path}:9: warning: kubernetes option 'upstream'" in result.stderr
    assert "(0 errors, 1 warning)" in result.stderr


def test_refused_corefile_exits_1_with_file_line_errors_on_stdout(corefile: Writer) -> None:
    path = corefile(WITH_FEDERATION)
    result = wizard(path, "--coredns-version", "1.7.0")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{path}:11: error: Unknown directive 'federation': CoreDNS 1.7.0 removed the federation plugin; "
        "delete the federation block (Kubernetes federation v1 is gone)"
    ]
    assert "would refuse this Corefile (1 error, 0 warnings)" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_same_file_passes_on_a_version_that_has_the_plugin(corefile: Writer) -> None:
    result = wizard(corefile(WITH_FEDERATION), "--coredns-version", "1.6.9")
    assert result.returncode == 0, result.stdout


def test_every_error_is_reported_not_just_the_first(corefile: Writer) -> None:
    extra = "    cache 30\n    cache 10\n    proxy . 1.1.1.1\n"
    path = corefile(WITH_UPSTREAM.replace("    cache 30\n", extra))
    result = wizard(path, "--coredns-version", "1.8.4")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split(": error: ")[0] for line in lines] == [f"{path}:9", f"{path}:17", f"{path}:18"]


def test_syntax_error_exits_1_with_file_and_line(corefile: Writer) -> None:
    path = corefile(".:53 {\n    errors\n    forward . 8.8.8.8\n")
    result = wizard(path, "--coredns-version", "1.8.4")
    assert result.returncode == 1
    [line] = result.stdout.splitlines()
    assert line.startswith(f"{path}:1: error: ")


def test_file_imports_resolve_next_to_the_corefile(corefile: Writer) -> None:
    corefile("federation cluster.local\n", name="extra.conf")
    path = corefile(".:53 {\n    import extra.conf\n    forward . 8.8.8.8\n}\n")
    assert wizard(path, "--coredns-version", "1.6.9").returncode == 0
    refused = wizard(path, "--coredns-version", "1.7.0")
    assert refused.returncode == 1
    assert "Corefile:2: error: imported file 'extra.conf' line 1:" in refused.stdout
    assert "federation" not in refused.stdout + refused.stderr  # an imported file is never quoted


def test_imports_stay_inside_the_corefiles_directory(corefile: Writer, tmp_path: Path) -> None:
    """CoreDNS resolves a relative import against the Corefile's directory; the wizard reads only
    files inside it (links resolved), and never devices or FIFOs."""
    outside = tmp_path.parent / f"{tmp_path.name}-outside.conf"
    outside.write_text("secretplugin topsecret\n")
    (tmp_path / "link.conf").symlink_to(outside)
    os.mkfifo(tmp_path / "fifo.conf")
    for target in (str(outside), "link.conf", "../" + outside.name, "/dev/zero", "fifo.conf"):
        path = corefile(f".:53 {{\n    import {target}\n}}\n")
        result = wizard(path, "--coredns-version", "1.11.1")
        assert result.returncode == 1, (target, result.stderr)
        assert "topsecret" not in result.stdout + result.stderr
        assert "leaves the Corefile's directory" in result.stdout or "not a regular file" in result.stdout


def test_standard_input(corefile: Writer) -> None:
    result = wizard("-", "--coredns-version", "1.4.0", stdin=".:53 {\n    ready\n}\n")
    assert result.returncode == 1
    assert result.stdout.startswith("<stdin>:2: error: Unknown directive 'ready'")


def _assert_one_line_exit_2(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("coredns-wizard check-corefile: ")
    for needle in needles:
        assert needle in lines[0]


def test_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = wizard(str(missing), "--coredns-version", "1.8.4")
    _assert_one_line_exit_2(result, str(missing), "does not exist")


def test_directory_exits_2(tmp_path: Path) -> None:
    _assert_one_line_exit_2(wizard(str(tmp_path), "--coredns-version", "1.8.4"), "is a directory")


def test_binary_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "Corefile"
    path.write_bytes(b"\xff\xfe\x00garbage")
    _assert_one_line_exit_2(wizard(str(path), "--coredns-version", "1.8.4"), "not UTF-8")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_exits_2(corefile: Writer) -> None:
    path = corefile(GOOD)
    os.chmod(path, 0)
    _assert_one_line_exit_2(wizard(path, "--coredns-version", "1.8.4"), "permission denied")


@pytest.mark.parametrize("version", ["banana", "1.8", "0.9.9"])
def test_bad_version_exits_2_naming_it(corefile: Writer, version: str) -> None:
    _assert_one_line_exit_2(wizard(corefile(GOOD), "--coredns-version", version), f"'{version}'")


def test_bad_version_wins_over_a_missing_file(tmp_path: Path) -> None:
    _assert_one_line_exit_2(wizard(str(tmp_path / "nope"), "--coredns-version", "x"), "'x'")


def test_version_is_required(corefile: Writer) -> None:
    result = wizard(corefile(GOOD))
    assert result.returncode == 2
    assert "--coredns-version" in result.stderr


def test_unreadable_file_is_one_clear_input_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In-process twin of the test above, so the permission path is covered when running as root."""
    from wizard.commands import check_corefile as command
    from wizard.errors import InputError

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(InputError, match="is not readable \\(permission denied\\)"):
        command._read(str(tmp_path / "Corefile"))


PROXY_TURNED_FORWARD = """\
.:53 {
    forward example.org 10.0.0.1
    forward . 8.8.8.8
    cache 30 {
        prefetch 10 1 10%
    }
}
"""


def test_two_forward_lines_and_a_bad_value_each_get_one_line(corefile: Writer) -> None:
    path = corefile(PROXY_TURNED_FORWARD)
    result = wizard(path, "--coredns-version", "1.8.4")
    assert result.returncode == 1
    first, second = result.stdout.splitlines()
    assert first.startswith(f"{path}:3: error: forward: this plugin can only be used once per Server Block")
    assert second.startswith(f"{path}:5: error: cache: invalid value '1' for option 'prefetch'")
    assert "fix the value" in second
    later = wizard(corefile(PROXY_TURNED_FORWARD.replace(" 1 10%", " 1m 10%")), "--coredns-version", "1.9.4")
    assert later.returncode == 0, later.stdout
