"""Fuzz inputs: random bytes and mutations of valid values, seeded and deterministic."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from typing import Any

from gateway.ble.profiles import ProfileError
from tests.profiles.vectors import ALL


def seeds_for(uuid: int) -> list[bytes]:
    """The valid vectors of a characteristic: starting points for mutation."""
    return [bytes.fromhex(v.hex) for v in ALL if v.uuid == uuid] or [b"\x00"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One random edit: flip, set, insert, delete, truncate or extend."""
    buf = bytearray(data)
    choice = rng.randrange(6)
    if choice == 0 and buf:
        buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif choice == 1 and buf:
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif choice == 2:
        buf.insert(rng.randrange(len(buf) + 1), rng.randrange(256))
    elif choice == 3 and buf:
        del buf[rng.randrange(len(buf))]
    elif choice == 4:
        del buf[rng.randrange(len(buf) + 1) :]
    else:
        buf += rng.randbytes(rng.randrange(1, 8))
    return bytes(buf)


def inputs(uuid: int, count: int, *, seed: int = 0) -> Iterator[bytes]:
    """``count`` inputs: a third random bytes, the rest 1–4 stacked mutations of a vector."""
    rng = random.Random(seed * 0x10000 + uuid)
    seeds = seeds_for(uuid)
    for i in range(count):
        if i % 3 == 0:
            yield rng.randbytes(rng.randrange(0, 32))
            continue
        data = rng.choice(seeds)
        for _ in range(rng.randrange(1, 5)):
            data = mutate(rng, data)
        yield data


def check(decoder: Callable[[bytes], Any], data: bytes) -> bool:
    """Decode; True if accepted. Anything but ProfileError propagates (the test fails)."""
    try:
        result = decoder(data)
    except ProfileError:
        return False
    for reading in result.readings():
        assert math.isfinite(reading.value), (data.hex(), reading)
        assert reading.unit
    getattr(result, "timestamp", None)
    return True
