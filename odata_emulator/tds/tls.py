"""TLS for the TDS endpoint: the certificate (the user's `--tls-cert/--tls-key`, or one made at start)
and the two server contexts.

- TDS 7.x, where the handshake travels inside PRELOGIN packets, is capped at TLS 1.2: ODBC Driver 18
  hangs on a wrapped TLS 1.3 handshake, and FreeTDS loses sync on TLS 1.3's session tickets.
- TDS 8.0 (strict) allows TLS 1.2 and 1.3 and offers ALPN `tds/8.0`.
Neither sends session tickets.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

ALPN = "tds/8.0"


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path
    generated: bool = False


def generate(directory: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> Certificate:
    """A self-signed certificate (ECDSA P-256, valid for a year) for `hosts`, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "odata-emulator")])
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "tds-cert.pem", directory / "tds-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return Certificate(cert_path, key_path, generated=True)


def contexts(certificate: Certificate) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(the TDS 7.x context, the TDS 8.0 strict context)."""
    wrapped = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    wrapped.load_cert_chain(certificate.cert, certificate.key)
    wrapped.maximum_version = ssl.TLSVersion.TLSv1_2
    wrapped.num_tickets = 0
    strict = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    strict.load_cert_chain(certificate.cert, certificate.key)
    strict.minimum_version = ssl.TLSVersion.TLSv1_2
    strict.set_alpn_protocols([ALPN])
    strict.num_tickets = 0
    return wrapped, strict
