"""Throwaway CA and loopback server certificate, made once per process.

msal only accepts https authorities, so the sandbox serves TLS. The CA is generated at most once per
process (EC keys, so it costs milliseconds) and written to a temporary directory that lives as long as
the process: Celery worker subprocesses read the CA bundle path from the info dict.
"""

from __future__ import annotations

import atexit
import datetime as dt
import ipaddress
import shutil
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsMaterial:
    ca_bundle: Path
    cert_file: Path
    key_file: Path
    # Onramp's connector app's certificate credential: its private key and certificate in one PEM file, the
    # certificate's SHA-1 thumbprint (hex, as the Entra portal shows it) and its public key (PEM), which the
    # sandbox registers on the app.
    connector_certificate_file: Path
    connector_thumbprint: str
    connector_public_key: bytes

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


_lock = threading.Lock()
_material: TlsMaterial | None = None


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _generate(directory: Path) -> TlsMaterial:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Onramp sandbox throwaway CA"))
        .issuer_name(_name("Onramp sandbox throwaway CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    # Strict verifiers (Python 3.13's VERIFY_X509_STRICT) want SAN, AKI and EKU on the leaf.
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_bundle = directory / "sandbox-ca.pem"
    cert_file = directory / "sandbox-server.pem"
    key_file = directory / "sandbox-server.key"
    ca_bundle.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(_pem_key(leaf_key))
    key_file.chmod(0o600)
    connector_file, thumbprint, public_key = app_certificate(directory / "connector-certificate.pem", "Onramp")
    return TlsMaterial(
        ca_bundle=ca_bundle,
        cert_file=cert_file,
        key_file=key_file,
        connector_certificate_file=connector_file,
        connector_thumbprint=thumbprint,
        connector_public_key=public_key,
    )


def app_certificate(path: Path, common_name: str) -> tuple[Path, str, bytes]:
    """A self-signed RSA certificate for an app's certificate credential, as `New-SelfSignedCertificate` makes one:
    writes the private key and certificate to `path` (PEM) and returns (path, SHA-1 thumbprint in hex, public key
    PEM). RSA because Entra's client assertions are RS256 (or PS256)."""
    now = dt.datetime.now(dt.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(_pem_key(key) + cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o600)
    public_key = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, cert.fingerprint(hashes.SHA1()).hex().upper(), public_key  # noqa: S303 - the x5t thumbprint is SHA-1


def loopback_material() -> TlsMaterial:
    """The process-wide CA and loopback certificate, generated on first use."""
    global _material
    with _lock:
        if _material is None:
            directory = Path(tempfile.mkdtemp(prefix="onramp-sandbox-tls-"))
            atexit.register(shutil.rmtree, directory, True)
            _material = _generate(directory)
        return _material
