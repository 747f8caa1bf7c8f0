"""BTHome bind keys of paired passive sensors: one file in the gateway's data dir, mode 0600.

A bind key is the AES key an encrypting sensor's readings are sealed with (BTHome v2
encryption); it comes printed on the box or in a QR code and is typed in at pairing. Keys
are never logged and never leave the gateway; the file is replaced atomically and created
readable by the gateway's user only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Final

BIND_KEYS_FILE: Final = "ble-bind-keys.json"
MODE: Final = 0o600
KEY_HEX_LENGTH: Final = 32
_SEPARATORS: Final = re.compile(r"[\s:\-]")


class BindKeyError(ValueError):
    """A bind key that is not 32 hex characters, or a key file that cannot be read; the
    message says what to do in plain words."""


def parse_bind_key(text: str) -> bytes:
    """16 key bytes from the 32 hex characters printed on the box (spaces, dashes and
    colons between groups are allowed)."""
    cleaned = _SEPARATORS.sub("", text)
    if len(cleaned) != KEY_HEX_LENGTH:
        raise BindKeyError(
            f"A bind key has {KEY_HEX_LENGTH} characters; this one has {len(cleaned)}. "
            "Copy it again from the box or the sensor's app."
        )
    try:
        return bytes.fromhex(cleaned)
    except ValueError as exc:
        raise BindKeyError(
            "A bind key uses only the digits 0-9 and the letters a-f. "
            "Copy it again from the box or the sensor's app."
        ) from exc


class BindKeys:
    """Device id → bind key, in ``ble-bind-keys.json`` under the data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / BIND_KEYS_FILE

    def load(self) -> dict[str, bytes]:
        """Every stored key; BindKeyError if the file exists but cannot be read."""
        try:
            raw = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise BindKeyError(f"{self.path}: {exc.strerror}") from exc
        try:
            stored = json.loads(raw)
            return {str(k): parse_bind_key(str(v)) for k, v in dict(stored).items()}
        except (ValueError, TypeError) as exc:
            raise BindKeyError(f"{self.path} is not a bind key file") from exc

    def put(self, device_id: str, key: bytes) -> None:
        keys = self.load()
        keys[device_id] = key
        self._write(keys)

    def remove(self, device_id: str) -> None:
        keys = self.load()
        if keys.pop(device_id, None) is not None:
            self._write(keys)

    def _write(self, keys: dict[str, bytes]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE)
        with os.fdopen(fd, "w") as out:
            json.dump({k: v.hex() for k, v in sorted(keys.items())}, out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, MODE)  # whatever the umask
        tmp.replace(self.path)
