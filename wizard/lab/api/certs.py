"""A throw-away certificate authority and server certificate for the lab API server.

Both real clients (the Python client and kubectl) verify TLS against the CA in the kubeconfig,
so the lab serves HTTPS exactly like a cluster would, with names 127.0.0.1 and localhost.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class ServerCertificates:
    """Where the server's certificate and key were written, and the CA that signed them."""

    ca_pem: bytes
    ca_path: Path
    cert_path: Path
    key_path: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def generate_server_certificates(
    cert_dir: Path, hosts: tuple[str, ...] = ("127.0.0.1",)
) -> ServerCertificates:
    """Create a CA and a server certificate valid for localhost, 127.0.0.1 and `hosts`."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=30))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key, validity)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _server_certificate(server_key, ca_key, ca_cert, hosts, validity)

    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    ca_path = cert_dir / "ca.crt"
    cert_path = cert_dir / "apiserver.crt"
    key_path = cert_dir / "apiserver.key"
    ca_path.write_bytes(ca_pem)
    cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_bytes = server_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    return ServerCertificates(ca_pem, ca_path, cert_path, key_path)


def _ca_certificate(
    ca_key: ec.EllipticCurvePrivateKey, validity: tuple[datetime.datetime, datetime.datetime]
) -> x509.Certificate:
    """The lab's self-signed CA, allowed to sign certificates only."""
    return (
        x509.CertificateBuilder()
        .subject_name(_name("coredns-wizard-lab-ca"))
        .issuer_name(_name("coredns-wizard-lab-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _server_certificate(
    server_key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hosts: tuple[str, ...],
    validity: tuple[datetime.datetime, datetime.datetime],
) -> x509.Certificate:
    """The API server's certificate: names localhost, kubernetes, 127.0.0.1 and `hosts`."""
    alt_names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName("kubernetes")]
    seen: set[str] = set()
    for host in ("127.0.0.1", *hosts):
        if host in seen:
            continue
        seen.add(host)
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    return (
        x509.CertificateBuilder()
        .subject_name(_name("kube-apiserver"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
