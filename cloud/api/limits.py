"""Request-size limit: a body larger than ``max_body_bytes`` is refused with 413, unread.

A declared ``Content-Length`` over the limit is answered before the application runs; a
body without one (chunked) is counted as it arrives and refused at the first byte over.
Either way the answer has the API's one error shape, code ``payload_too_large``.
"""

from __future__ import annotations

from typing import Final

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATUS: Final = 413
CODE: Final = "payload_too_large"


def _refusal(limit: int) -> str:
    return f"the request body is larger than {limit} bytes; send less per request"


class BodySizeLimit:
    """Pure ASGI middleware (no buffering): counts bytes, never holds the body."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            body = {"detail": _refusal(self.max_bytes), "code": CODE}
            await JSONResponse(body, status_code=STATUS, headers={"Connection": "close"})(
                scope, receive, send
            )
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI lets an HTTPException from the body read through to the app's
                    # handler, which gives it the usual error body.
                    raise HTTPException(STATUS, detail=_refusal(self.max_bytes))
            return message

        await self.app(scope, counted, send)
