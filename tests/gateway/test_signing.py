"""Signed downlink: the canonical bytes (RFC 8785 vectors), sign and verify, and each way a
message is refused, with its reason, by a gateway that holds the cloud's key."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from cloud.downlink import DownlinkSigner
from cloud.settings import CloudSettings
from firmware_sim.radio import SimLink, SimRadio
from gateway import signing, wire
from gateway.app import Gateway
from gateway.outbox import Kind
from gateway.settings import GatewaySettings
from gateway.uplink.errors import UplinkError
from gateway.uplink.trust import MAX_COMMAND_AGE, command_refusal, forget_after
from tests.fixtures.keys import write_downlink_keys

GW = "gw-sig-1"
T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()


# ---------------------------------------------------------------- canonical JSON
@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        # RFC 8785 §3.2.2: the sample input and its canonical form.
        (
            r'{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
            r' "string": "\u20ac$\u000F\u000aA'
            "'"
            r'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}',
            r'{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
            r'"string":"€$\u000f\nA'
            "'"
            r'B\"\\\\\"/"}',
        ),
        # RFC 8785 §3.2.3: members sorted by UTF-16 code units (the emoji before U+FB33).
        (
            r'{"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\ud83d\ude00": 5, "\u0080": 6,'
            r' "\u00f6": 7}',
            '{"\\r":2,"1":4,"\u0080":6,"ö":7,"€":1,"😀":5,"\ufb33":3}',
        ),
        # ECMAScript number forms (RFC 8785 appendix B).
        (
            "[130.0, -0.0, 1e21, 1e20, 1e-6, 1e-7, 5e-324, 0.1, 9007199254740993]",
            "[130,0,1e+21,100000000000000000000,0.000001,1e-7,5e-324,0.1,9007199254740992]",
        ),
        ('{"b": {"y": [], "x": {}}, "a": "\\u007f"}', '{"a":"\x7f","b":{"x":{},"y":[]}}'),
    ],
    ids=["rfc8785-sample", "rfc8785-sorting", "numbers", "nested"],
)
def test_canonical_json_matches_rfc_8785(given: str, canonical: str) -> None:
    assert signing.canonical_json(json.loads(given)) == canonical.encode()


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_canonical_json_is_json_of_the_same_value_and_a_fixed_point(value: object) -> None:
    canonical = signing.canonical_json(value)
    assert signing.canonical_json(json.loads(canonical)) == canonical


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (10**400, "beyond the range"),
        (float("nan"), "NaN"),
        ("\ud800", "surrogate"),
    ],
)
def test_values_without_a_canonical_form_are_refused(value: object, words: str) -> None:
    with pytest.raises(signing.SigningError, match=words):
        signing.canonical_json({"v": value})


def test_the_signed_bytes_are_documented_exactly() -> None:
    body = {"schema": "vg.acks/1", "batch_ids": ["b1"], "signature": {"ignored": True}}
    assert signing.signed_bytes(body, gateway_id=GW) == (
        b'vg.downlink/1\ngw-sig-1\n{"batch_ids":["b1"],"schema":"vg.acks/1"}'
    )


# ---------------------------------------------------------------- sign and verify
def config(version: int, gateway_id: str = GW) -> wire.GatewayConfig:
    return wire.GatewayConfig(
        gateway_id=gateway_id,
        version=version,
        issued_at=T0,
        patients=("p-1",),
        thresholds=(
            wire.ThresholdRule(
                rule_id="hr", patient_id="p-1", metric=wire.Metric.HEART_RATE, fire_high=130.0
            ),
        ),
    )


def command(command_id: str = "c-1", issued_at: datetime = T0) -> wire.Command:
    return wire.Command(command_id=command_id, name=wire.CommandName.PING, issued_at=issued_at)


def sealed(message: Any, *, key: Ed25519PrivateKey = KEY, gateway_id: str = GW) -> bytes:
    return wire.encode(signing.sign(message, gateway_id=gateway_id, key=key))


@pytest.mark.parametrize(
    "message",
    [config(3), command(), wire.Ack(batch_ids=("b1", "b2"))],
    ids=["config", "command", "ack"],
)
def test_a_signed_message_verifies_for_its_gateway_and_decodes(message: Any) -> None:
    payload = sealed(message)
    body = json.loads(payload)
    signing.verify(body, gateway_id=GW, key=KEY.public_key())
    assert body["signature"]["alg"] == "Ed25519"
    assert body["signature"]["key_id"] == signing.key_id(KEY.public_key())
    assert len(payload) - len(wire.encode(message)) == 157  # the whole envelope, in bytes
    decoded = wire.decode(payload)
    assert decoded.model_copy(update={"signature": None}) == message


def _flip_body(payload: bytes) -> bytes:
    return payload.replace(b'"version":3', b'"version":7')


def _flip_signature(payload: bytes) -> bytes:
    body = json.loads(payload)
    raw = bytearray(base64.b64decode(body["signature"]["value"]))
    raw[10] ^= 0x01
    body["signature"]["value"] = base64.b64encode(bytes(raw)).decode()
    return json.dumps(body).encode()


def _claim_our_key_id(payload: bytes) -> bytes:
    body = json.loads(payload)
    body["signature"]["key_id"] = signing.key_id(KEY.public_key())
    return json.dumps(body).encode()


def _reserialised(payload: bytes) -> bytes:
    """The same object written differently (spacing, member order): still verifies."""
    return json.dumps(dict(reversed(json.loads(payload).items())), indent=1).encode()


REFUSED: list[tuple[str, Callable[[], bytes], str]] = [
    ("flipped-byte-in-body", lambda: _flip_body(sealed(config(3))), "does not match"),
    ("flipped-byte-in-signature", lambda: _flip_signature(sealed(config(3))), "does not match"),
    ("another-key", lambda: sealed(config(3), key=OTHER), "signed by key"),
    (
        "another-key-claiming-ours",
        lambda: _claim_our_key_id(sealed(config(3), key=OTHER)),
        "does not match",
    ),
    ("missing-signature", lambda: wire.encode(config(3)), "unsigned"),
    ("signed-for-another-gateway", lambda: sealed(command(), gateway_id="gw-x"), "does not match"),
    (
        "malformed-signature",
        lambda: sealed(config(3)).replace(b'"alg":"Ed25519"', b'"alg":"none"'),
        "malformed signature",
    ),
    (
        "signature-without-alg",
        lambda: sealed(config(3)).replace(b'"alg":"Ed25519",', b""),
        "malformed signature: alg",
    ),
]


@pytest.mark.parametrize(
    ("make", "words"), [(m, w) for _, m, w in REFUSED], ids=[i for i, _, _ in REFUSED]
)
def test_verification_refuses_with_its_reason(make: Callable[[], bytes], words: str) -> None:
    with pytest.raises(signing.SignatureError, match=words):
        signing.verify(json.loads(make()), gateway_id=GW, key=KEY.public_key())


def test_any_json_writing_of_the_same_message_verifies() -> None:
    payload = _reserialised(sealed(config(3)))
    signing.verify(json.loads(payload), gateway_id=GW, key=KEY.public_key())


# ---------------------------------------------------------------- command policy (pure)
def test_a_command_is_refused_when_replayed_or_too_old() -> None:
    cmd = command(issued_at=T0)
    assert command_refusal(cmd, seen=False, now=T0 + timedelta(minutes=5)) is None
    assert "replayed" in (command_refusal(cmd, seen=True, now=T0) or "")
    late = command_refusal(cmd, seen=False, now=T0 + MAX_COMMAND_AGE + timedelta(seconds=1))
    assert "issued more than" in (late or "")
    assert forget_after(cmd) == T0 + MAX_COMMAND_AGE
    soon = cmd.model_copy(update={"expires_at": T0 + timedelta(minutes=10)})
    assert forget_after(soon) == T0 + timedelta(minutes=10)


# ---------------------------------------------------------------- a gateway with the key
def deliver(gateway: Gateway, leaf: str, payload: bytes) -> None:
    """Hand a message to the uplink as paho's network thread would (no broker needed)."""
    msg = paho.MQTTMessage(topic=wire.Topics(GW).leaf(leaf).encode())
    msg.payload = payload
    gateway.uplink._on_message(gateway.uplink._client, None, msg)


def keyed_gateway(tmp_path: Path) -> Gateway:
    _, pub = write_downlink_keys(tmp_path / "pki", KEY)
    settings = GatewaySettings(
        gateway_id=GW, data_dir=tmp_path / "gw", link="sim", downlink_key=pub
    )
    return Gateway(settings, SimLink(SimRadio()), wall=lambda: T0 + timedelta(minutes=1))


def test_the_gateway_refuses_forged_stale_and_replayed_and_reports_it(tmp_path: Path) -> None:
    gateway = keyed_gateway(tmp_path)
    try:
        assert gateway.status().downlink_verified is True
        assert gateway.status().downlink_refused is None

        deliver(gateway, "config", wire.encode(config(5)))  # unsigned
        deliver(gateway, "config", sealed(config(5), key=OTHER))  # wrongly signed
        assert gateway._accepted is None
        assert not gateway.settings.config_path.exists()

        deliver(gateway, "config", sealed(config(5)))  # the cloud's: accepted
        assert gateway._accepted == signing.sign(config(5), gateway_id=GW, key=KEY)
        assert gateway.settings.config_path.exists()
        deliver(gateway, "config", sealed(config(5)))  # the retained copy again: not news
        deliver(gateway, "config", sealed(config(4)))  # older, though signed
        assert gateway._accepted is not None
        assert gateway._accepted.version == 5

        gateway.outbox.add([(Kind.EVENT, '{"id":"e-1"}', None)])
        batch = gateway.outbox.take_batch(limit=10)
        assert batch is not None
        deliver(gateway, "acks", wire.encode(wire.Ack(batch_ids=(batch.batch_id,))))  # forged
        assert gateway.outbox.stats().depth == 1
        deliver(gateway, "acks", sealed(wire.Ack(batch_ids=(batch.batch_id,))))
        assert gateway.outbox.stats().depth == 0

        deliver(gateway, "commands", b'{"schema": "vg.commands/1", "command_id": [')  # garbage
        refused = gateway.status().downlink_refused
        assert refused is not None
        assert refused.count == 5
        assert (refused.last_leaf, refused.last_reason[:8]) == ("commands", "not JSON")
        assert refused.last_at == T0 + timedelta(minutes=1)
    finally:
        gateway.outbox.close()


def test_a_signed_command_runs_once_even_across_a_restart(tmp_path: Path) -> None:
    gateway = keyed_gateway(tmp_path)
    try:
        gateway._run_command(signing.sign(command("c-1"), gateway_id=GW, key=KEY))
        assert list(gateway._results) == ["c-1"]
        gateway._run_command(signing.sign(command("c-1"), gateway_id=GW, key=KEY))
        old = command("c-old", issued_at=T0 - timedelta(days=2))
        gateway._run_command(signing.sign(old, gateway_id=GW, key=KEY))
        assert list(gateway._results) == ["c-1"]
        refused = gateway.status().downlink_refused
        assert refused is not None
        assert refused.count == 2
        assert "issued more than" in refused.last_reason
    finally:
        gateway.outbox.close()

    again = keyed_gateway(tmp_path)  # same data directory: the id is remembered
    try:
        again._run_command(signing.sign(command("c-1"), gateway_id=GW, key=KEY))
        assert again._results == {}
        refused = again.status().downlink_refused
        assert refused is not None
        assert "replayed" in refused.last_reason
    finally:
        again.outbox.close()


def test_an_unreadable_key_stops_the_gateway_with_advice(tmp_path: Path) -> None:
    settings = GatewaySettings(
        gateway_id=GW, data_dir=tmp_path, link="sim", downlink_key=tmp_path / "missing.pub"
    )
    with pytest.raises(UplinkError, match="gateway provision"):
        Gateway(settings, SimLink(SimRadio()))


# ---------------------------------------------------------------- the cloud's signer
def test_the_cloud_signs_with_the_key_in_its_pki_dir(tmp_path: Path) -> None:
    private, public = write_downlink_keys(tmp_path / "pki")
    settings = CloudSettings(pki_dir=tmp_path / "pki", secret_key="x" * 40)
    assert settings.downlink_signing_key == private
    signer = DownlinkSigner.from_settings(settings)
    payload = signer.encode(wire.Ack(batch_ids=("b1",)), gateway_id=GW)
    signing.verify(json.loads(payload), gateway_id=GW, key=signing.load_public_key(public))

    with capture_logs() as logs:
        unsigned = DownlinkSigner.from_settings(CloudSettings(secret_key="x" * 40))
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["downlink.unsigned"]
    assert b"signature" not in unsigned.encode(wire.Ack(batch_ids=("b1",)), gateway_id=GW)

    (tmp_path / "pki" / "downlink-signing.key").write_text("not a key")
    with pytest.raises(signing.SigningError, match="pki init"):
        DownlinkSigner.from_settings(settings)
