"""Kubeconfig resolution behaves like kubectl's, and every failure is one actionable line."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from wizard.errors import InputError
from wizard.k8s.connection import parse_request_timeout, resolve_connection


def write_config(
    path: Path,
    contexts: dict[str, tuple[str, str]],
    clusters: dict[str, dict[str, Any]],
    users: dict[str, dict[str, Any]],
    current: str | None = None,
) -> Path:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [
            {"name": n, "context": {"cluster": c, "user": u}} for n, (c, u) in contexts.items()
        ],
    }
    if current is not None:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


def simple(path: Path, name: str, server: str, current: bool = True) -> Path:
    return write_config(
        path, {name: (name, f"{name}-user")}, {name: {"server": server}},
        {f"{name}-user": {"token": "t"}}, current=name if current else None,
    )


def resolve(tmp_path: Path, **kw: Any) -> Any:
    env = kw.pop("environ", {})
    return resolve_connection(environ=env, home=tmp_path / "home", service_account_dir=tmp_path / "sa", **kw)


def test_flag_wins_over_kubeconfig_env(tmp_path: Path) -> None:
    flag = simple(tmp_path / "flag.yaml", "flagctx", "https://127.0.0.1:1001")
    env = simple(tmp_path / "env.yaml", "envctx", "https://127.0.0.1:1002")
    conn = resolve(tmp_path, kubeconfig=str(flag), environ={"KUBECONFIG": str(env)})
    assert conn.context == "flagctx"
    assert conn.server == "https://127.0.0.1:1001"
    assert conn.source_files == (str(flag),)
    assert conn.namespace == "default"
    assert conn.lab_dns_port is None and conn.dns_port == 53


def test_kubeconfig_env_merges_first_wins(tmp_path: Path) -> None:
    first = write_config(
        tmp_path / "a.yaml", {"shared": ("c1", "u1")}, {"c1": {"server": "https://127.0.0.1:1"}},
        {"u1": {"token": "a"}}, current="shared",
    )
    second = write_config(
        tmp_path / "b.yaml",
        {"shared": ("c2", "u2"), "only-b": ("c2", "u2")},
        {"c2": {"server": "https://127.0.0.1:2"}, "c1": {"server": "https://127.0.0.1:99"}},
        {"u2": {"token": "b"}}, current="only-b",
    )
    env = {"KUBECONFIG": f"{first}::{tmp_path / 'missing.yaml'}:{second}"}
    conn = resolve(tmp_path, environ=env)
    # current-context and the "shared" context come from the first file; c1 too
    assert conn.context == "shared"
    assert conn.server == "https://127.0.0.1:1"
    assert conn.source_files == (str(first), str(second))
    other = resolve(tmp_path, environ=env, context="only-b")
    assert other.cluster == "c2" and other.server == "https://127.0.0.1:2"


def test_home_config_is_the_fallback(tmp_path: Path) -> None:
    (tmp_path / "home" / ".kube").mkdir(parents=True)
    simple(tmp_path / "home" / ".kube" / "config", "homectx", "https://127.0.0.1:3")
    assert resolve(tmp_path).context == "homectx"


def test_in_cluster_when_no_kubeconfig(tmp_path: Path) -> None:
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("tok")
    (sa / "ca.crt").write_text("ca")
    (sa / "namespace").write_text("kube-system\n")
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.9", "KUBERNETES_SERVICE_PORT": "6443"}
    conn = resolve(tmp_path, environ=env)
    assert conn.in_cluster and conn.server == "https://127.0.0.9:6443"
    assert conn.namespace == "kube-system"
    assert conn.kubeconfig["users"][0]["user"]["tokenFile"] == str(sa / "token")


def test_relative_cert_paths_resolve_against_the_defining_file(tmp_path: Path) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    (sub / "ca.pem").write_text("x")
    path = write_config(
        sub / "kc.yaml", {"c": ("c", "u")},
        {"c": {"server": "https://127.0.0.1:4", "certificate-authority": "ca.pem"}}, {"u": {}}, current="c",
    )
    conn = resolve(tmp_path, kubeconfig=str(path))
    assert conn.kubeconfig["clusters"][0]["cluster"]["certificate-authority"] == str(sub.resolve() / "ca.pem")


def test_lab_dns_port_extension_is_read(tmp_path: Path) -> None:
    cluster = {
        "server": "https://127.0.0.1:5",
        "extensions": [{"name": "coredns-wizard.lab", "extension": {"dnsPort": 5353}}],
    }
    path = write_config(tmp_path / "kc", {"lab": ("lab", "u")}, {"lab": cluster}, {"u": {}}, current="lab")
    conn = resolve(tmp_path, kubeconfig=str(path))
    assert conn.lab_dns_port == 5353 and conn.dns_port == 5353


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing-flag", "file not found"),
        ("bad-yaml", "not valid YAML at line"),
        ("unknown-context", "context 'nope' not found; known contexts: a"),
        ("no-current", "no current-context is set; pass --context NAME"),
        ("missing-ca", "key 'certificate-authority' names"),
        ("bad-base64", "not valid base64"),
        ("no-cluster", "refers to cluster 'ghost'"),
        ("nothing", "no kubeconfig found"),
        ("directory", "is a directory"),
    ],
)
def test_errors_name_the_file_and_what_to_do(tmp_path: Path, setup: str, expected: str) -> None:
    kw: dict[str, Any] = {}
    kc = tmp_path / "kc.yaml"
    if setup == "missing-flag":
        kw["kubeconfig"] = str(tmp_path / "absent.yaml")
    elif setup == "bad-yaml":
        kc.write_text("clusters: [\n  - name: x\n  bad: : :\n")
        kw["kubeconfig"] = str(kc)
    elif setup == "unknown-context":
        simple(kc, "a", "https://127.0.0.1:6")
        kw.update(kubeconfig=str(kc), context="nope")
    elif setup == "no-current":
        simple(kc, "a", "https://127.0.0.1:6", current=False)
        kw["kubeconfig"] = str(kc)
    elif setup == "missing-ca":
        cluster = {"server": "https://x", "certificate-authority": "/no/ca.pem"}
        write_config(kc, {"a": ("a", "u")}, {"a": cluster}, {"u": {}}, current="a")
        kw["kubeconfig"] = str(kc)
    elif setup == "bad-base64":
        write_config(kc, {"a": ("a", "u")}, {"a": {"server": "https://x"}},
                     {"u": {"client-key-data": "!!notbase64!!"}}, current="a")
        kw["kubeconfig"] = str(kc)
    elif setup == "no-cluster":
        write_config(kc, {"a": ("ghost", "u")}, {}, {"u": {}}, current="a")
        kw["kubeconfig"] = str(kc)
    elif setup == "directory":
        kw["kubeconfig"] = str(tmp_path)
    with pytest.raises(InputError) as caught:
        resolve(tmp_path, **kw)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    if setup not in ("nothing",):
        assert str(tmp_path) in message


def test_request_timeout_parses_kubectl_durations() -> None:
    assert parse_request_timeout("30s") == 30
    assert parse_request_timeout("1m30s") == 90
    assert parse_request_timeout("250ms") == pytest.approx(0.25)
    assert parse_request_timeout("7") == 7
    assert parse_request_timeout("0") is None
    with pytest.raises(InputError, match="--request-timeout 'soon'"):
        parse_request_timeout("soon")


def test_valid_base64_data_is_accepted(tmp_path: Path) -> None:
    data = base64.b64encode(b"pem").decode()
    path = write_config(
        tmp_path / "kc", {"a": ("a", "u")},
        {"a": {"server": "https://127.0.0.1:7", "certificate-authority-data": data}},
        {"u": {"token": "x"}}, current="a",
    )
    assert resolve(tmp_path, kubeconfig=str(path)).user == "u"
