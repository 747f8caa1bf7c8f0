"""Security headers on every answer, no caching of the API, and /docs served from the app."""

from __future__ import annotations

import re

import pytest

from cloud.api.headers import CONTENT_SECURITY_POLICY
from tests.fixtures.api import World

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/docs", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/api/v1/readings", 401),
        ("GET", "/api/v1/nowhere", 404),
        ("POST", "/api/v1/auth/token", 422),
    ],
)
def test_every_answer_carries_the_security_headers(
    world: World, method: str, path: str, status: int
) -> None:
    r = world.client.request(method, path)
    assert r.status_code == status
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY.split("script-src")[1].split(";")[0]


def test_patient_data_is_never_cached(world: World) -> None:
    r = world.get("/api/v1/readings", "clin@north.test")
    assert r.status_code == 200
    assert r.json()
    assert r.headers["Cache-Control"] == "no-store"
    # The refusals and the token answer too (tokens are as secret as the data).
    assert world.client.get("/api/v1/readings").headers["Cache-Control"] == "no-store"
    token = world.client.post(
        "/api/v1/auth/token",
        data={"username": "clin@north.test", "password": "correct horse battery staple"},
    )
    assert token.headers["Cache-Control"] == "no-store"
    # A body over the size limit is refused by the outermost layer, with the headers.
    big = world.client.post("/api/v1/patients", content=b"x" * 2_000_000)
    assert big.status_code == 413
    assert big.headers["X-Frame-Options"] == "DENY"


def test_docs_load_nothing_from_another_host(world: World) -> None:
    page = world.client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(urls) == 3
    assert all(u.startswith("/docs/assets/") for u in urls), urls
    assert "<script>" not in page.text  # no inline script: the CSP forbids them
    assert "//" not in page.text.replace("<!DOCTYPE", "")
    for url in urls:
        asset = world.client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 500
    js = world.client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"]
    assert world.client.get("/docs/assets/LICENSE").status_code == 200
    # ReDoc would load its bundle from a CDN: it is off.
    assert world.client.get("/redoc").status_code == 404
