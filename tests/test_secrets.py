"""Credentials never reach output or disk: a marker token and a marker client key are planted in a
kubeconfig, commands run (and fail) with it, and every output, log, state and temporary file is
searched for the markers."""

from __future__ import annotations

import base64
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "MARKERTOKEN0123456789abcdef"
KEY = b"-----BEGIN PRIVATE KEY-----\nMARKERKEY0123456789\n-----END PRIVATE KEY-----\n"


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    """An API server that refuses every request, remembering the Authorization headers it saw."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization") or "")
        body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


SERVER = ["https://127.0.0.1:1"]


def _kubeconfig(path: Path, user: str) -> Path:
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "{SERVER[0]}"}}
users:
{user}
contexts:
- name: c
  context: {{cluster: c, user: u}}
current-context: c
"""
    )
    return path


def _run(tmp_path: Path, kubeconfig: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    home = tmp_path / "home"
    tmp = tmp_path / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "XDG_STATE_HOME": str(home / "state"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "wizard", *args, "--kubeconfig", str(kubeconfig), "--request-timeout", "1s"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return result, tmp_path


def _files_containing(root: Path, marker: bytes, skip: Path) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and path != skip and marker in path.read_bytes():
            found.append(str(path))
    return found


TOKENS = {
    "trailing newline": f'"{TOKEN}\\n"',
    "control character": f'"{TOKEN}\\x1b[2J"',
    "not Latin-1": f'"{TOKEN}\\u2603"',
}


@pytest.mark.parametrize("token", TOKENS.values(), ids=TOKENS.keys())
@pytest.mark.parametrize("command", [["status"], ["plan"]])
def test_a_token_never_reaches_output_or_files(
    tmp_path: Path, server: str, token: str, command: list[str]
) -> None:
    SERVER[0] = server
    _Unauthorized.seen.clear()
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", f"- name: u\n  user: {{token: {token}}}")
    result, root = _run(tmp_path, kubeconfig, *command)
    assert result.returncode in (1, 2), result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert _files_containing(root, TOKEN.encode(), skip=kubeconfig) == []
    if token == TOKENS["trailing newline"]:  # trimmed and sent, as kubectl would
        assert _Unauthorized.seen and set(_Unauthorized.seen) == {f"Bearer {TOKEN}"}
    else:  # refused before anything is sent
        assert _Unauthorized.seen == []


def test_a_trailing_newline_is_trimmed_as_kubectl_does(tmp_path: Path) -> None:
    from wizard.k8s.connection import resolve_connection

    kubeconfig = _kubeconfig(
        tmp_path / "kubeconfig", f"- name: u\n  user: {{token: {TOKENS['trailing newline']}}}"
    )
    connection = resolve_connection(kubeconfig=str(kubeconfig))
    assert connection.kubeconfig["users"][0]["user"]["token"] == TOKEN
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    _kubeconfig(kubeconfig, f"- name: u\n  user: {{tokenFile: {token_file}}}")
    connection = resolve_connection(kubeconfig=str(kubeconfig))
    assert connection.kubeconfig["users"][0]["user"]["token"] == TOKEN


def test_client_key_material_is_never_written_to_disk(tmp_path: Path) -> None:
    data = base64.b64encode(KEY).decode()
    kubeconfig = _kubeconfig(
        tmp_path / "kubeconfig",
        f"- name: u\n  user: {{client-certificate-data: {data}, client-key-data: {data}}}",
    )
    result, root = _run(tmp_path, kubeconfig, "status")
    assert "MARKERKEY" not in result.stdout + result.stderr
    assert _files_containing(root, b"MARKERKEY", skip=kubeconfig) == []
    assert list((root / "tmp").iterdir()) == []


def test_the_key_is_in_memory_only(tmp_path: Path) -> None:
    from wizard.k8s.credentials import without_inline_data

    data = base64.b64encode(KEY).decode()
    config = {"users": [{"name": "u", "user": {"client-key-data": data}}]}
    path = without_inline_data(config)["users"][0]["user"]["client-key"]
    assert path.startswith("/proc/self/fd/")
    assert os.readlink(path).startswith("/memfd:")
    assert Path(path).read_bytes() == KEY


def test_tls_loads_a_client_certificate_from_memory() -> None:
    """The files the kubernetes client is pointed at are loadable by OpenSSL, as urllib3 does on connect."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from wizard.k8s.credentials import without_inline_data

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "operator")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    config = {
        "users": [
            {
                "name": "u",
                "user": {
                    "client-certificate-data": base64.b64encode(cert_pem).decode(),
                    "client-key-data": base64.b64encode(key_pem).decode(),
                },
            }
        ]
    }
    user = without_inline_data(config)["users"][0]["user"]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_cert_chain(user["client-certificate"], user["client-key"])
