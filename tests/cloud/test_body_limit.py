"""Oversized request bodies are refused with 413 and the API's one error shape, unread."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.api import World, running_world

LIMIT = 4096


@pytest.fixture
def small_world(tmp_path: Path) -> Iterator[World]:
    url = f"sqlite:///{tmp_path / 'cloud.sqlite3'}"
    with running_world(url, tmp_path / "cloud", max_body_bytes=LIMIT) as w:
        yield w


def patient(size: int) -> bytes:
    body = {"id": "p-big", "display_name": "x", "program_id": "general"}
    pad = size - len(json.dumps(body).encode()) - len(', "note": ""')
    return json.dumps({**body, "note": "x" * max(pad, 0)}).encode()


def test_a_declared_length_over_the_limit_is_refused_before_anything_runs(
    small_world: World,
) -> None:
    headers = {**small_world.token("admin@north.test"), "Content-Type": "application/json"}
    r = small_world.client.post("/api/v1/patients", content=patient(LIMIT + 1), headers=headers)
    assert r.status_code == 413
    assert r.json() == {
        "detail": f"the request body is larger than {LIMIT} bytes; send less per request",
        "code": "payload_too_large",
    }
    # Before authentication too: a stranger cannot make the server read a large body.
    r = small_world.client.post("/api/v1/auth/token", content=b"u" * (LIMIT * 10))
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    assert small_world.get("/api/v1/patients/p-big", "admin@north.test").status_code == 404


def test_a_streamed_body_is_cut_off_at_the_first_byte_over(small_world: World) -> None:
    headers = {**small_world.token("admin@north.test"), "Content-Type": "application/json"}
    body = patient(LIMIT * 3)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    r = small_world.client.post("/api/v1/patients", content=chunks(), headers=headers)
    assert r.status_code == 413
    assert r.json() == {
        "detail": f"the request body is larger than {LIMIT} bytes; send less per request",
        "code": "payload_too_large",
    }
    assert small_world.get("/api/v1/patients/p-big", "admin@north.test").status_code == 404


def test_a_body_at_the_limit_is_served(small_world: World) -> None:
    headers = {**small_world.token("admin@north.test"), "Content-Type": "application/json"}
    body = json.dumps({"id": "p-big", "display_name": "x" * 150, "program_id": "general"})
    r = small_world.client.post("/api/v1/patients", content=body.encode(), headers=headers)
    assert r.status_code == 201, r.text
    exact = patient(LIMIT)
    assert len(exact) == LIMIT
    r = small_world.client.post("/api/v1/patients", content=exact, headers=headers)
    assert r.status_code != 413
