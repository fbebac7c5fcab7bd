"""The request and response types of the API under /v1/: what handlers (routing/gateway.py, the
dialects) take and return, and what the ASGI layer (routing/http.py) sends. A module of their own,
so that the handlers and the ASGI layer do not import each other."""

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from django.conf import settings

from .errors import GatewayError

JSON = b"application/json"


@dataclass(slots=True)
class ApiRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


@dataclass(slots=True)
class ApiResponse:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: bytes = JSON
    # Done once the request's charge and usage row are committed: the body's last byte waits for
    # it (routing/http.py), so that an answer received in full is always recorded and charged.
    # A dialect that re-encodes a chat answer passes it on.
    ack: asyncio.Future | None = None


async def acknowledged(committed: asyncio.Future | None) -> None:
    """Waits for a commit (see ApiResponse.ack), at most AIPOWER_ACK_WAIT_SECONDS: an outage does
    not hold answers hostage (the commit is retried until the database takes it)."""
    if committed is None or committed.done():
        return
    try:
        # No shield: this future is only a signal (the commit does not depend on it).
        async with asyncio.timeout(settings.AIPOWER_ACK_WAIT_SECONDS):
            await committed
    except TimeoutError:
        pass


@dataclass(slots=True)
class ApiStream:
    """A server-sent events response; `chunks` is an async generator of bytes."""

    chunks: AsyncGenerator[bytes, None]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def error_response(err: GatewayError, headers: dict | None = None) -> ApiResponse:
    h = dict(headers or {})
    h.update(err.headers)
    return ApiResponse(err.body(), status=err.status, headers=h)
