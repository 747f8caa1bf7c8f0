"""The PKI folder (`vitalgate-cloud pki init`), gateway provisioning files, the dynsec roles,
and the client ids the MQTT factory gives (no broker needed)."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from cloud.cli import app
from cloud.pki import passwords
from cloud.pki.broker import cloud_role, gateway_role
from gateway import wire
from gateway.settings import load_settings


def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "VG_DATA_DIR": str(tmp_path / "cloud"),
        "VG_PKI_DIR": str(tmp_path / "pki"),
        "VG_MQTT__PORT": "1",  # no broker: provisioning says it could not update one
    }


def test_pki_init_makes_every_file_with_private_keys_0600(
    tmp_path: Path, env: dict[str, str]
) -> None:
    code, out = _cli(
        env,
        "pki",
        "init",
        "--dir",
        str(tmp_path / "pki"),
        "--host",
        "mqtt.example.org",
        "--host",
        "10.0.0.7",
    )
    assert code == 0, out
    pki = tmp_path / "pki"
    for key in ("ca.key", "broker.key", "cloud-ca.key", "cloud.key", "downlink-signing.key"):
        assert _mode(pki / key) == 0o600, key
    ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    broker = x509.load_pem_x509_certificate((pki / "broker.pem").read_bytes())
    broker.verify_directly_issued_by(ca)
    san = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "mqtt.example.org"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.0.0.7"),
    }
    usage = broker.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    cloud = x509.load_pem_x509_certificate((pki / "cloud.pem").read_bytes())
    assert _cn(cloud) == "vitalgate-cloud"
    cloud.verify_directly_issued_by(
        x509.load_pem_x509_certificate((pki / "cloud-ca.pem").read_bytes())
    )
    with pytest.raises(ValueError, match="issuer"):
        cloud.verify_directly_issued_by(ca)  # not the gateways' CA
    # The downlink pair: PKCS8 private key, SubjectPublicKeyInfo public key, Ed25519.
    private = serialization.load_pem_private_key((pki / "downlink-signing.key").read_bytes(), None)
    public = serialization.load_pem_public_key((pki / "downlink-signing.pub").read_bytes())
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    assert isinstance(public, ed25519.Ed25519PublicKey)
    public.verify(private.sign(b"config v7"), b"config v7")
    assert b"BEGIN PRIVATE KEY" in (pki / "downlink-signing.key").read_bytes()
    assert b"BEGIN PUBLIC KEY" in (pki / "downlink-signing.pub").read_bytes()
    assert list(x509.load_pem_x509_crl((pki / "crl.pem").read_bytes())) == []


def test_pki_init_refuses_to_overwrite_without_force(tmp_path: Path, env: dict[str, str]) -> None:
    pki = tmp_path / "pki"
    assert _cli(env, "pki", "init", "--dir", str(pki))[0] == 0
    before = (pki / "ca.pem").read_bytes()
    code, out = _cli(env, "pki", "init", "--dir", str(pki))
    assert code == 2
    assert "--force" in out
    assert (pki / "ca.pem").read_bytes() == before
    assert _cli(env, "pki", "init", "--dir", str(pki), "--force")[0] == 0
    assert (pki / "ca.pem").read_bytes() != before


def test_provision_writes_a_ready_gateway_and_revoke_fills_the_crl(
    tmp_path: Path, env: dict[str, str]
) -> None:
    assert _cli(env, "user", "create", "--email", "a@org.example", "--password",
                "synthetic-password-1", "--role", "admin", "--org", "org-1")[0] == 0  # fmt: skip
    assert _cli(env, "pki", "init", "--dir", str(tmp_path / "pki"))[0] == 0
    out_dir = tmp_path / "gw-1"
    code, out = _cli(env, "gateway", "provision", "gw-1", "--organisation", "org-1",
                     "--out", str(out_dir), "--broker-host", "mqtt.example.org")  # fmt: skip
    assert code == 0, out
    assert "broker was not updated" in out  # none is running; the database has it
    assert _mode(out_dir / "gateway.key") == 0o600
    cert = x509.load_pem_x509_certificate((out_dir / "gateway.pem").read_bytes())
    assert _cn(cert) == "gw-1"
    body = tomllib.loads((out_dir / "gateway.toml").read_text())
    assert body["mqtt"]["host"] == "mqtt.example.org"
    settings = load_settings(out_dir / "gateway.toml")
    assert settings.gateway_id == "gw-1"
    assert settings.mqtt.tls
    assert settings.mqtt.cert_file == (out_dir / "gateway.pem").resolve()
    assert settings.downlink_key == (out_dir / "downlink-signing.pub").resolve()
    assert (out_dir / "ca.pem").read_bytes() == (tmp_path / "pki" / "ca.pem").read_bytes()
    # Refusals: unknown organisation, an id twice, the cloud's own name.
    assert (
        _cli(
            env,
            "gateway",
            "provision",
            "gw-2",
            "--organisation",
            "nope",
            "--out",
            str(tmp_path / "x"),
        )[0]
        == 1
    )
    assert (
        _cli(
            env,
            "gateway",
            "provision",
            "gw-1",
            "--organisation",
            "org-1",
            "--out",
            str(tmp_path / "y"),
        )[0]
        == 1
    )
    for reserved in ("vitalgate-cloud", "vitalgate-ingest-host-1", "gw/+"):
        provision = ["gateway", "provision", reserved, "--organisation", "org-1", "--out"]
        assert _cli(env, *provision, str(tmp_path / "z"))[0] == 2, reserved
    code, out = _cli(env, "gateway", "revoke", "gw-1")
    assert code == 0, out
    revoked = [
        e.serial_number for e in x509.load_pem_x509_crl((tmp_path / "pki" / "crl.pem").read_bytes())
    ]
    assert revoked == [cert.serial_number]
    assert _cli(env, "gateway", "revoke", "gw-unknown")[0] == 1


def test_password_hash_is_what_mosquitto_dynsec_stores() -> None:
    salt = bytes(range(12))
    got = passwords.dynsec_hash("s3cret", salt=salt)
    expected = hashlib.pbkdf2_hmac("sha512", b"s3cret", salt, got["iterations"], dklen=64)
    assert base64.b64decode(got["password"]) == expected
    assert base64.b64decode(got["salt"]) == salt


def test_roles_name_exact_topics_and_no_wildcards_for_gateways() -> None:
    role = gateway_role("gw-9")
    sends = {a["topic"] for a in role["acls"] if a["acltype"] == "publishClientSend"}
    subs = {a["topic"] for a in role["acls"] if a["acltype"] == "subscribeLiteral"}
    assert sends == {f"vg/v1/gw-9/{leaf}" for leaf in wire.UPLINK_LEAVES}
    assert subs == {f"vg/v1/gw-9/{leaf}" for leaf in wire.DOWNLINK_LEAVES}
    assert all(a["allow"] for a in role["acls"])
    cloud = cloud_role(group="g")
    shares = {a["topic"] for a in cloud["acls"] if a["acltype"] == "subscribeLiteral"}
    assert "$share/g/vg/v1/+/readings" in shares
    json.dumps(cloud)  # the plugin's JSON


def test_client_ids_are_unique_per_process_and_per_client() -> None:
    from gateway.uplink.client import unique_client_id

    here = {unique_client_id("vitalgate-ingest") for _ in range(3)}
    assert len(here) == 3
    assert all(len(i) <= 64 for i in here)
    code = "from gateway.uplink.client import unique_client_id as u; print(u('vitalgate-ingest'))"
    others = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(others) == 2
    assert not others & here
