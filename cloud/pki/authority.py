"""The cloud's certificate authority: one folder of PEM files made with ``cryptography``.

Layout of a PKI folder (``VG_PKI_DIR``)::

    ca.pem  ca.key                 the CA (self-signed): the broker's and gateways' certificates, the CRL
    broker.pem  broker.key         the broker's server certificate (SAN: localhost, 127.0.0.1, --host)
    cloud-ca.pem  cloud-ca.key     a second CA that signs only the cloud's identity, so the broker's
                                   cloud listener accepts no gateway certificate (``cloud.pki.broker``)
    cloud.pem  cloud.key           the cloud's own MQTT client identity (CN = ``CLOUD_IDENTITY``)
    downlink-signing.key/.pub      Ed25519 pair that signs every downlink message (PKCS8 / SPKI)
    crl.pem                        revoked gateway certificates (the broker's ``crlfile``)
    issued/<gateway id>.pem        each gateway certificate issued, so it can be revoked

Keys are ECDSA P-256 (small and fast on a Raspberry Pi; every TLS stack speaks it). Private
keys are written 0600 and never leave this folder except a gateway's own, once, to the
folder ``gateway provision`` writes for that gateway.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloud.errors import CloudError, ConflictError, NotFoundError

CLOUD_IDENTITY: Final = "vitalgate-cloud"
"""The CN of the cloud's MQTT client certificate, and so its broker username."""
BROKER_CN: Final = "vitalgate-broker"
CA_DAYS: Final = 10 * 365
BROKER_DAYS: Final = 825
"""The longest server-certificate lifetime browsers and CAs agree on (CA/B Forum)."""
CLIENT_DAYS: Final = 5 * 365
"""A gateway sits in a home for years; revocation, not expiry, is how one is ended."""
CRL_DAYS: Final = 365
"""An expired CRL makes OpenSSL refuse every client: ``gateway revoke`` or ``pki crl`` renews it."""
SIGNING_KEY: Final = "downlink-signing.key"
SIGNING_PUB: Final = "downlink-signing.pub"


class PkiError(CloudError):
    """A PKI folder is missing, incomplete or would be overwritten."""

    status = 409
    code = "pki_error"


@dataclass(frozen=True)
class PkiPaths:
    """Where each file of a PKI folder lives."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def broker_cert(self) -> Path:
        return self.root / "broker.pem"

    @property
    def broker_key(self) -> Path:
        return self.root / "broker.key"

    @property
    def cloud_ca_cert(self) -> Path:
        return self.root / "cloud-ca.pem"

    @property
    def cloud_ca_key(self) -> Path:
        return self.root / "cloud-ca.key"

    @property
    def cloud_cert(self) -> Path:
        return self.root / "cloud.pem"

    @property
    def cloud_key(self) -> Path:
        return self.root / "cloud.key"

    @property
    def signing_key(self) -> Path:
        return self.root / SIGNING_KEY

    @property
    def signing_pub(self) -> Path:
        return self.root / SIGNING_PUB

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    @property
    def issued(self) -> Path:
        return self.root / "issued"

    def all_files(self) -> list[Path]:
        return [
            self.ca_cert, self.ca_key, self.broker_cert, self.broker_key, self.cloud_ca_cert,
            self.cloud_ca_key, self.cloud_cert, self.cloud_key, self.signing_key,
            self.signing_pub, self.crl,
        ]  # fmt: skip

    def require(self) -> PkiPaths:
        """Self, or a PkiError naming the first missing file."""
        for path in self.all_files():
            if not path.is_file():
                raise PkiError(f"{path} is missing: create the PKI with `vitalgate-cloud pki init`")
        return self


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only (0600 from creation, never wider)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def write_public(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o644)


def _key_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "VitalGate"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _builder(
    subject: str,
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Certificate,
    *,
    now: datetime,
    days: int,
) -> x509.CertificateBuilder:
    ca_key_id = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # tolerate a gateway clock a little behind
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


def _new_ca(
    *, now: datetime, cn: str = "VitalGate CA"
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(cn)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@dataclass(frozen=True)
class Authority:
    """A loaded CA: issues certificates and keeps the CRL of one PKI folder."""

    paths: PkiPaths
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def load(cls, root: Path) -> Authority:
        paths = PkiPaths(root).require()
        key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError(f"{paths.ca_key} is not the EC key `pki init` makes")
        return cls(paths, key, x509.load_pem_x509_certificate(paths.ca_cert.read_bytes()))

    def issue(
        self, cn: str, *, now: datetime, server_hosts: list[str] | None = None
    ) -> tuple[bytes, bytes]:
        """A new key and certificate for ``cn`` (PEM pair): a client's, or with
        ``server_hosts`` a server's whose SAN names those hosts."""
        key = ec.generate_private_key(ec.SECP256R1())
        days = CLIENT_DAYS if server_hosts is None else BROKER_DAYS
        builder = _builder(cn, key.public_key(), self.cert, now=now, days=days)
        if server_hosts is None:
            usage = ExtendedKeyUsageOID.CLIENT_AUTH
        else:
            usage = ExtendedKeyUsageOID.SERVER_AUTH
            names = [_san(h) for h in dict.fromkeys(server_hosts)]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return _cert_pem(cert), _key_pem(key)

    def issue_gateway(self, gateway_id: str, *, now: datetime) -> tuple[bytes, bytes]:
        """A gateway's client certificate (CN = its id), remembered under ``issued/``."""
        issued = self.paths.issued / f"{gateway_id}.pem"
        if issued.exists():
            raise ConflictError(f"a certificate for {gateway_id!r} was issued already")
        cert, key = self.issue(gateway_id, now=now)
        self.paths.issued.mkdir(exist_ok=True)
        write_public(issued, cert)
        return cert, key

    def revoke_gateway(self, gateway_id: str, *, now: datetime) -> int:
        """Add the gateway's certificate to the CRL and re-sign it; the serial revoked."""
        issued = self.paths.issued / f"{gateway_id}.pem"
        if not issued.is_file():
            raise NotFoundError(
                f"no certificate was issued for {gateway_id!r} by {self.paths.root}"
            )
        serial = x509.load_pem_x509_certificate(issued.read_bytes()).serial_number
        self.write_crl(now=now, add=[serial])
        return serial

    def revoked_serials(self) -> list[int]:
        if not self.paths.crl.is_file():
            return []
        crl = x509.load_pem_x509_crl(self.paths.crl.read_bytes())
        return [entry.serial_number for entry in crl]

    def write_crl(self, *, now: datetime, add: list[int] | None = None) -> None:
        """(Re)write ``crl.pem``: everything revoked so far plus ``add``, valid ``CRL_DAYS``."""
        old: dict[int, datetime] = {}
        if self.paths.crl.is_file():
            for entry in x509.load_pem_x509_crl(self.paths.crl.read_bytes()):
                old[entry.serial_number] = entry.revocation_date_utc
        for serial in add or []:
            old.setdefault(serial, now)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - timedelta(minutes=5))
            .next_update(now + timedelta(days=CRL_DAYS))
        )
        for serial, when in sorted(old.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        tmp = self.paths.crl.with_suffix(".tmp")
        write_public(tmp, crl.public_bytes(serialization.Encoding.PEM))
        tmp.replace(self.paths.crl)  # the broker never reads half a file


def init_pki(root: Path, *, hosts: list[str], now: datetime, force: bool = False) -> PkiPaths:
    """Create a PKI folder: CA, broker certificate, cloud identity, downlink signing pair, CRL.

    Refuses to touch an existing PKI unless ``force`` (which replaces it whole: every
    certificate issued before stops being trusted).
    """
    paths = PkiPaths(root)
    existing = [p for p in [*paths.all_files(), paths.issued] if p.exists()]
    if existing and not force:
        raise PkiError(
            f"{root} already holds a PKI ({existing[0].name}); replacing it would orphan every "
            "gateway certificate it issued. Use --force to replace it anyway."
        )
    if paths.issued.exists():
        shutil.rmtree(paths.issued)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    ca_key, ca_cert = _new_ca(now=now)
    write_private(paths.ca_key, _key_pem(ca_key))
    write_public(paths.ca_cert, _cert_pem(ca_cert))
    authority = Authority(paths, ca_key, ca_cert)
    cert, key = authority.issue(BROKER_CN, now=now, server_hosts=["localhost", "127.0.0.1", *hosts])
    write_private(paths.broker_key, key)
    write_public(paths.broker_cert, cert)
    cloud_ca_key, cloud_ca_cert = _new_ca(now=now, cn="VitalGate cloud CA")
    write_private(paths.cloud_ca_key, _key_pem(cloud_ca_key))
    write_public(paths.cloud_ca_cert, _cert_pem(cloud_ca_cert))
    cert, key = Authority(paths, cloud_ca_key, cloud_ca_cert).issue(CLOUD_IDENTITY, now=now)
    write_private(paths.cloud_key, key)
    write_public(paths.cloud_cert, cert)
    signing = ed25519.Ed25519PrivateKey.generate()
    write_private(paths.signing_key, _key_pem(signing))
    write_public(
        paths.signing_pub,
        signing.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    paths.crl.unlink(missing_ok=True)
    authority.write_crl(now=now)
    return paths
