"""A local certificate authority and a localhost server certificate for serving HTTPS/WSS in development."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 825  # what browsers accept for a server certificate


@dataclass(frozen=True)
class LocalCertificate:
    ca: Path
    cert: Path
    key: Path

    def trust_hint(self) -> str:
        return (f"trust {self.ca}: Node/Amplify: NODE_EXTRA_CA_CERTS={self.ca}; curl: --cacert {self.ca}; "
                "browsers/OS: import it as a trusted root CA")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gqlsync local development"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)


def ensure_local_certificate(directory: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
                             ) -> LocalCertificate:
    """Reuse the CA and certificate in `directory`, or create them (the CA key never leaves the folder)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = LocalCertificate(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    now = dt.datetime.now(dt.UTC)
    if out.ca.exists() and out.cert.exists() and out.key.exists():
        cert = x509.load_pem_x509_certificate(out.cert.read_bytes())
        if cert.not_valid_after_utc > now + dt.timedelta(days=7):
            return out
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder().subject_name(_name("gqlsync local CA")).issuer_name(_name("gqlsync local CA"))
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write(out.ca, ca_cert.public_bytes(serialization.Encoding.PEM))
    _write(out.cert, cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM))
    _write(out.key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()), private=True)
    return out
