"""TLS for the simulator, like the real exchange (``wss://`` and ``https://`` only).

``ensure_certificates(dir)`` makes, once, a local CA and a server certificate for ``127.0.0.1``/``localhost``
signed by it (the `cryptography` package; EC P-256). Keys are written 0600. Later calls reuse the files while
the server certificate is valid for more than 30 days and was signed by the CA on disk (idempotent: deploy
calls it on every run). Clients trust ``ca.pem``, e.g. ``SSL_CERT_FILE=<dir>/ca.pem`` (Python's ssl, aiohttp,
requests via ``REQUESTS_CA_BUNDLE``)."""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS, SERVER_DAYS, RENEW_DAYS = 3650, 825, 30


@dataclass(frozen=True)
class TlsFiles:
    ca: Path       # what clients trust (SSL_CERT_FILE)
    cert: Path     # server certificate chain (server cert + CA)
    key: Path      # server private key, 0600


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _still_good(files: TlsFiles) -> bool:
    if not (files.ca.exists() and files.cert.exists() and files.key.exists()):
        return False
    try:
        ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
        cert = x509.load_pem_x509_certificates(files.cert.read_bytes())[0]
        key = serialization.load_pem_private_key(files.key.read_bytes(), None)
        cert.verify_directly_issued_by(ca)
    except Exception:  # noqa: BLE001 - unreadable, or not signed by this CA (InvalidSignature): regenerate
        return False
    same_key = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
        == key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    left = cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    return same_key and left > dt.timedelta(days=RENEW_DAYS) and files.key.stat().st_mode & 0o077 == 0


# "simulator": its host name in docker-compose.yml
def ensure_certificates(directory: Path | str,
                        hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "simulator")) -> TlsFiles:
    """Create (or reuse) ``ca.pem``, ``ca-key.pem``, ``server.pem``, ``server-key.pem`` in ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(d / "ca.pem", d / "server.pem", d / "server-key.pem")
    if _still_good(files):
        return files
    now = dt.datetime.now(dt.timezone.utc)
    ca_key_path = d / "ca-key.pem"
    ca_key = ca = None
    if files.ca.exists() and ca_key_path.exists():  # keep a CA clients may already trust
        try:
            ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
            ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
            if ca.not_valid_after_utc - now < dt.timedelta(days=SERVER_DAYS):
                ca = ca_key = None
        except Exception:  # noqa: BLE001 - unreadable: make a new one
            ca = ca_key = None
    if ca is None or ca_key is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crypto-data-pipeline local CA")])
        ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
              .not_valid_after(now + dt.timedelta(days=CA_DAYS))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
        _write_private(ca_key_path, _key_pem(ca_key))
        files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_private(files.key, _key_pem(key))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    return files


def server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx
