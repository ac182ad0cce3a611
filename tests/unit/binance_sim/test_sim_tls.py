"""The simulator's local CA + server certificate: made once, reused, 0600 keys, right names."""
import ipaddress
import os
import ssl

from cryptography import x509

from binance_sim.tls import ensure_certificates, server_context


def test_certificates_made_once_reused_and_private(tmp_path):
    files = ensure_certificates(tmp_path / "tls")
    for p in (files.key, tmp_path / "tls" / "ca-key.pem"):
        assert os.stat(p).st_mode & 0o777 == 0o600, p
    before = {p: p.read_bytes() for p in (files.ca, files.cert, files.key)}
    again = ensure_certificates(tmp_path / "tls")
    assert again == files and {p: p.read_bytes() for p in before} == before  # idempotent: nothing rewritten
    cert = x509.load_pem_x509_certificates(files.cert.read_bytes())[0]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(files.ca.read_bytes()))
    server_context(str(files.cert), str(files.key))  # loads as a chain + key


def test_broken_or_loose_files_are_replaced_but_the_ca_is_kept(tmp_path):
    files = ensure_certificates(tmp_path)
    ca = files.ca.read_bytes()
    files.cert.write_text("garbage")
    fixed = ensure_certificates(tmp_path)
    assert fixed.ca.read_bytes() == ca, "a CA clients already trust survives"
    x509.load_pem_x509_certificates(fixed.cert.read_bytes())
    os.chmod(files.key, 0o644)
    old_key = files.key.read_bytes()
    ensure_certificates(tmp_path)
    assert os.stat(files.key).st_mode & 0o777 == 0o600 and files.key.read_bytes() != old_key


def test_the_ca_is_trusted_only_where_it_is_given(tmp_path):
    files = ensure_certificates(tmp_path)
    strict = ssl.create_default_context()
    trusting = ssl.create_default_context(cafile=str(files.ca))
    leaf = x509.load_pem_x509_certificates(files.cert.read_bytes())[0]
    ca_cert = x509.load_pem_x509_certificate(files.ca.read_bytes())
    # the system store does not hold our CA; the trusting context does
    subjects = [c["subject"] for c in trusting.get_ca_certs()]
    assert any(("commonName", "crypto-data-pipeline local CA") in rdn for s in subjects for rdn in s)
    assert not any(("commonName", "crypto-data-pipeline local CA") in rdn
                   for c in strict.get_ca_certs() for rdn in c["subject"])
    assert leaf.issuer == ca_cert.subject
