"""The request and response types of the API under /v1/: what handlers (routing/gateway.py, the
dialects) take and return, and what the ASGI layer (routing/http.py) sends. A module of their own,
so that the handlers and the ASGI layer do not import each other."""

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

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
