"""Ed25519 signatures on downlink messages (configs, commands, acks): pure sign and verify.

The cloud signs; every gateway verifies before it applies anything. Exactly these bytes
are signed, so a gateway written by anyone can verify them::

    b"vg.downlink/1\\n" + gateway_id (UTF-8) + b"\\n" + JCS(message without "signature")

- ``gateway_id`` is the gateway the message is addressed to, the one in its topic
  (``vg/v1/<gateway_id>/config``): commands and acks name no gateway, so this binds them
  to one, and a message signed for one gateway fails on every other.
- JCS is the JSON Canonicalization Scheme (RFC 8785) of the JSON object as received, with
  its top-level ``signature`` member removed: members sorted by UTF-16 code units, no
  whitespace, strings escaped as ECMAScript's ``JSON.stringify`` does, numbers in
  ECMAScript's shortest form (``130.0`` is written ``130``). Every number is read as an
  IEEE 754 double, as ECMAScript reads it (an integer beyond 2**53 becomes the nearest).
- The signature travels in the message as ``"signature": {"alg": "Ed25519", "key_id":
  "<16 hex>", "value": "<base64>"}`` (``wire.Signature``); ``key_id`` is the first 8 bytes
  (hex) of the SHA-256 of the raw 32-byte public key.

Keys are files: the private key as PKCS #8 PEM (cloud), the public key as
SubjectPublicKeyInfo PEM (gateways), as ``vitalgate-cloud pki init`` writes them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ValidationError

from gateway import wire

CONTEXT: Final = b"vg.downlink/1"
"""Domain separation: these bytes never mean anything else signed with the same key."""
SIGNATURE_FIELD: Final = "signature"
MAX_SAFE_INTEGER: Final = 2**53
"""Integers up to this are exact doubles, written as they are."""

M = TypeVar("M", bound=BaseModel)
SigningKey = Ed25519PrivateKey
VerifyKey = Ed25519PublicKey


class SigningError(ValueError):
    """A key that cannot be loaded, or a value that has no canonical JSON form."""


class SignatureError(ValueError):
    """A downlink message refused by verification; the message is the reason."""


# ---------------------------------------------------------------- canonical JSON (RFC 8785)
def _number(value: float) -> str:
    """ECMAScript ``Number.prototype.toString`` of a finite double (RFC 8785 §3.2.2.3)."""
    if not math.isfinite(value):
        raise SigningError("NaN and infinities have no JSON form")
    if value == 0:
        return "0"  # also -0.0
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that round-trip, as ECMAScript requires.
    _, digits_t, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digits_t))
    k = len(digits)
    n = exponent + k  # value = 0.digits × 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        mantissa = digits[0] + (f".{digits[1:]}" if k > 1 else "")
        text = f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return sign + text


def _string(value: str) -> str:
    # json.dumps without ensure_ascii escapes exactly what JSON.stringify escapes
    # (quote, backslash, and U+0000–U+001F as \b \t \n \f \r or lower-case \u00xx).
    return json.dumps(value, ensure_ascii=False)


def _scalar(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)  # null, true, false
    if isinstance(value, int):
        if abs(value) <= MAX_SAFE_INTEGER:
            return str(value)
        try:  # beyond 2**53 a JSON number means the nearest double, as in ECMAScript
            return _number(float(value))
        except OverflowError as exc:
            raise SigningError("an integer beyond the range of IEEE 754 doubles") from exc
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return _string(value)
    raise SigningError(f"{type(value).__name__} has no JSON form")


def _canonical(value: Any, out: list[str]) -> None:
    if isinstance(value, Mapping):
        out.append("{")
        for i, key in enumerate(sorted(value, key=lambda k: str(k).encode("utf-16-be"))):
            if not isinstance(key, str):
                raise SigningError("object keys must be strings")
            out.append(("," if i else "") + _string(key) + ":")
            _canonical(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _canonical(item, out)
        out.append("]")
    else:
        out.append(_scalar(value))


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 JSON of a parsed JSON value (dicts, lists, str, numbers…)."""
    out: list[str] = []
    try:
        _canonical(value, out)
        return "".join(out).encode()
    except UnicodeEncodeError as exc:  # a lone surrogate from a "\\ud800" escape
        raise SigningError("a string holds a lone UTF-16 surrogate") from exc
    except RecursionError as exc:
        raise SigningError("nested too deeply") from exc


def signed_bytes(body: Mapping[str, Any], *, gateway_id: str) -> bytes:
    """The exact bytes signed for ``gateway_id``: the message without its signature member."""
    unsigned = {k: v for k, v in body.items() if k != SIGNATURE_FIELD}
    return CONTEXT + b"\n" + gateway_id.encode() + b"\n" + canonical_json(unsigned)


# ---------------------------------------------------------------- keys
def key_id(key: Ed25519PublicKey) -> str:
    """First 8 bytes (hex) of the SHA-256 of the raw public key: names the key on the wire."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The cloud's downlink signing key (PKCS #8 PEM, unencrypted)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SigningError(
            f"cannot load the downlink signing key {path}: {exc}; it is written by "
            "`vitalgate-cloud pki init` (PKCS #8 PEM, no passphrase)"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A gateway's downlink verification key (SubjectPublicKeyInfo PEM)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError, UnsupportedAlgorithm) as exc:
        raise SigningError(
            f"cannot load the downlink verification key {path}: {exc}; copy the "
            "downlink-signing.pub that `vitalgate-cloud gateway provision` wrote"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


# ---------------------------------------------------------------- sign and verify
def sign(message: M, *, gateway_id: str, key: Ed25519PrivateKey) -> M:
    """``message`` (a downlink wire model) with the signature for ``gateway_id`` set."""
    unsigned = message.model_copy(update={SIGNATURE_FIELD: None})
    body = json.loads(wire.encode(unsigned))
    value = key.sign(signed_bytes(body, gateway_id=gateway_id))
    signature = wire.Signature(
        alg=wire.SIGNATURE_ALG,
        key_id=key_id(key.public_key()),
        value=base64.b64encode(value).decode(),
    )
    return message.model_copy(update={SIGNATURE_FIELD: signature})


def verify(body: Mapping[str, Any], *, gateway_id: str, key: Ed25519PublicKey) -> None:
    """Check the signature of a received message (the parsed JSON object, as received).

    Raises SignatureError naming why: unsigned, malformed, another key, or no match.
    """
    raw = body.get(SIGNATURE_FIELD)
    if raw is None:
        raise SignatureError("unsigned")
    try:
        signature = wire.Signature.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "signature"
        raise SignatureError(f"malformed signature: {where}: {first['msg']}") from exc
    expected = key_id(key)
    if signature.key_id != expected:
        raise SignatureError(
            f"signed by key {signature.key_id}, not by the configured key {expected}"
        )
    try:
        data = signed_bytes(body, gateway_id=gateway_id)
    except SigningError as exc:
        raise SignatureError(f"no canonical form: {exc}") from exc
    try:
        key.verify(base64.b64decode(signature.value, validate=True), data)
    except (InvalidSignature, binascii.Error) as exc:
        raise SignatureError("signature does not match the message") from exc
