"""Gateway passwords, for brokers or sites where client certificates do not suit.

The same roles apply (``cloud.pki.broker``); only the proof of identity differs. A password
is 32 random bytes (base64url), so its hash needs no slow key stretching to resist guessing;
it is kept in the PKI folder as Mosquitto's dynamic-security plugin stores it (PBKDF2-HMAC-
SHA512, 64-byte hash, 12-byte salt, base64), so ``broker config`` can write it into the
plugin's JSON and the plaintext never stays with the cloud.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any, Final

from cloud.pki.authority import write_private

ITERATIONS: Final = 1_000
SALT_BYTES: Final = 12
"""Mosquitto 2.0's dynsec salt length; it refuses a config with any other."""


def new_password() -> str:
    return secrets.token_urlsafe(32)


def dynsec_hash(password: str, *, salt: bytes | None = None) -> dict[str, Any]:
    """``{"password", "salt", "iterations"}`` as the dynsec plugin's JSON holds them."""
    salt = salt or secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS, dklen=64)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": ITERATIONS,
    }


def _path(pki_root: Path, gateway_id: str) -> Path:
    return pki_root / "passwords" / f"{gateway_id}.json"


def store(pki_root: Path, gateway_id: str, password: str) -> None:
    folder = pki_root / "passwords"
    folder.mkdir(mode=0o700, exist_ok=True)
    write_private(_path(pki_root, gateway_id), json.dumps(dynsec_hash(password)).encode())


def load(pki_root: Path, gateway_id: str) -> dict[str, Any] | None:
    """The stored hash of a password gateway; None for a certificate gateway."""
    path = _path(pki_root, gateway_id)
    if not path.is_file():
        return None
    body: dict[str, Any] = json.loads(path.read_text())
    return body


def forget(pki_root: Path, gateway_id: str) -> bool:
    path = _path(pki_root, gateway_id)
    found = path.is_file()
    path.unlink(missing_ok=True)
    return found
