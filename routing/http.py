"""The API's own thin HTTP layer: a request, two kinds of response, and the ASGI app for /v1/.

The gateway's API does not go through Django's request handler. That handler costs a thread hop
per request for its signals, another to close the response, and a thread per request for its
thread-sensitive context; measured with `make bench`, that was about a quarter of the gateway's
CPU time per request. The API needs none of it: no sessions, cookies, CSRF, templates or
middleware. Everything else (the ORM, settings, the admin, the web pages) stays Django's.
"""

import asyncio
import logging

from django.conf import settings

from aipower import logs

from . import drain, guard, tracing
from .api_types import ApiRequest, ApiResponse, ApiStream, acknowledged, error_response
from .dialects import cors as dialect_cors
from .errors import GatewayError, error_body
from .resilience import db_gate

log = logging.getLogger("aipower.http")


def _encode(headers: dict[str, str], content_type: bytes) -> list[tuple[bytes, bytes]]:
    out = [(b"content-type", content_type)]
    out += [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]
    return out


async def _send_response(send, resp: ApiResponse) -> None:
    headers = _encode(resp.headers, resp.content_type)
    headers.append((b"content-length", str(len(resp.body)).encode()))
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    body = resp.body
    if resp.ack is not None and not resp.ack.done() and len(body) > 1:
        # All but the last byte go out while the commit runs; the answer is complete (acknowledged)
        # only once it is committed.
        await send({"type": "http.response.body", "body": body[:-1], "more_body": True})
        await acknowledged(resp.ack)
        body = body[-1:]
    await send({"type": "http.response.body", "body": body})


async def _send_stream(send, receive, resp: ApiStream) -> None:
    """Sends each chunk as it comes. A caller that hangs up cancels the stream at once (the
    server would otherwise drop our writes silently), so the upstream call stops and the
    request is recorded for what the caller received."""
    task = asyncio.current_task()
    state = {"done": False, "gone": False}

    async def watch():
        while (await receive())["type"] != "http.disconnect":
            pass
        if not state["done"]:
            state["gone"] = True
            task.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    chunks = resp.chunks
    drain.streams.add(task)
    try:
        headers = _encode(resp.headers, b"text/event-stream")
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not state["gone"] and not drain.draining:
            raise
    finally:
        state["done"] = True
        watcher.cancel()
        try:
            await chunks.aclose()
        finally:
            drain.streams.discard(task)


class _HungUp(Exception):
    pass


async def _until_hangup(coro, receive):
    """Runs the handler; a caller that hangs up before it is answered cancels it (and so the
    upstream call): the request is recorded as a client disconnect and charged nothing. The
    handler runs in this task (one task fewer per request); the watcher cancels this task."""
    task = asyncio.current_task()
    assert task is not None
    hung_up = False

    async def watch():
        nonlocal hung_up
        while (await receive())["type"] != "http.disconnect":
            pass
        hung_up = True
        task.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        return await coro  # when this task is cancelled (shutdown), so is the handler
    except asyncio.CancelledError:
        if hung_up:
            task.uncancel()
            raise _HungUp from None
        raise
    finally:
        watcher.cancel()


async def _read_body(receive, limit: int) -> bytes | None:
    """The whole body, or None once it passes `limit` bytes."""
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body"):
            return parts[0] if len(parts) == 1 else b"".join(parts)


def _too_large(limit: int) -> ApiResponse:
    return ApiResponse(
        error_body(
            f"Request body is larger than the limit of {limit} bytes.",
            "invalid_request_error",
            code="request_too_large",
        ),
        status=413,
        headers={"connection": "close"},
    )


def _method_not_allowed(method: str, path: str, allowed: str) -> ApiResponse:
    err = GatewayError(
        405,
        f"Method {method} is not allowed on {path}; use {allowed}.",
        "invalid_request_error",
        code="method_not_allowed",
    )
    return error_response(err, {"allow": allowed})


async def app(scope, receive, send) -> None:
    """The ASGI app for every path under /v1/."""
    path, method = scope["path"], scope["method"]
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    cors = None
    if "origin" in headers:
        if method == "OPTIONS":  # a CORS preflight: answered without authentication
            h = dialect_cors.preflight(headers["origin"], headers.get("access-control-request-headers"))
            return await _send_response(send, ApiResponse(b"", status=204, headers=h))
        cors = dialect_cors.headers_for(headers["origin"])
    route = _ROUTES.get(path.rstrip("/")) or _prefixed(path)
    if route is None:
        err = GatewayError(404, f"Unknown API path {path}.", "invalid_request_error", code="unknown_url")
        return await _send_response(send, error_response(err, cors))
    allowed, handler = route
    if method != allowed and allowed != "*":
        return await _send_response(send, _method_not_allowed(method, path, allowed))
    limit = settings.AIPOWER_MAX_REQUEST_BYTES
    declared = headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return await _send_response(send, _too_large(limit))
    body = await _read_body(receive, limit)
    if body is None:
        return await _send_response(send, _too_large(limit))
    ip = guard.client_ip(scope, headers)
    wait = guard.blocked(ip)
    if wait:
        err = GatewayError(
            429,
            f"Too many requests with invalid API keys from this address. Try again in {wait:.0f}s.",
            "invalid_request_error",
            code="too_many_failed_authentications",
            headers={"retry-after": str(int(wait + 0.999))},
        )
        return await _send_response(send, error_response(err))
    if db_gate.down:  # nothing is served that cannot be charged
        return await _send_response(send, error_response(db_gate.unavailable()))
    try:
        fn = _HANDLERS.get(handler) or _resolve(handler)
        resp = await _until_hangup(fn(ApiRequest(method, path, headers, body)), receive)
    except _HungUp:
        return  # recorded by the handler (client_disconnected, charged nothing); nobody to answer
    except db_gate.errors as exc:
        log.warning("%s %s: the database did not answer (%r); 503", method, path, exc)
        db_gate.failed(exc)
        resp = error_response(db_gate.unavailable())
    except Exception:
        log.exception("%s %s failed", method, path)
        resp = error_response(
            GatewayError(500, "The gateway failed to handle this request.", "server_error", code="internal_error")
        )
    if resp.status == 401:
        await guard.failed(ip)
    if cors is not None:
        resp.headers.update(cors)
    if ACCESS_LOG:  # uvicorn writes the access line as the answer starts, in this task: with the id
        logs.request_id.set(resp.headers.get("x-request-id"))
    if isinstance(resp, ApiStream):
        await _send_stream(send, receive, resp)
    else:
        await _send_response(send, resp)


ACCESS_LOG: bool = settings.AIPOWER_ACCESS_LOG
if tracing.enabled:  # one span per request (routing/tracing.py); off, the app is left as it is
    app = tracing.traced(app)


def _prefixed(path: str):
    for prefix, route in _PREFIXED:
        if path.startswith(prefix) and len(path) > len(prefix):
            return route
    return None


_HANDLERS: dict = {}


def _resolve(handler: str):
    """The coroutine function a route names: "name" in routing.gateway, "module:name" elsewhere
    under routing (imported on first use: those modules import this one)."""
    import importlib

    module, _, name = handler.rpartition(":")
    fn = getattr(importlib.import_module("routing." + (module or "gateway")), name)
    _HANDLERS[handler] = fn
    return fn


_ROUTES = {
    "/v1/chat/completions": ("POST", "chat_completions"),
    "/v1/models": ("GET", "dialects.models:list_models"),
    "/v1/messages": ("POST", "dialects.anthropic_in:messages"),
    "/v1/messages/count_tokens": ("POST", "dialects.anthropic_in:count_tokens"),
    "/v1/responses": ("POST", "dialects.responses:create"),
    "/v1/embeddings": ("POST", "embeddings:create"),
    "/v1/route/explain": ("POST", "route_explain"),
}
# Paths with an id at the end; "*": the handler answers each method itself.
_PREFIXED = (
    ("/v1/models/", ("*", "dialects.models:retrieve_model")),
    ("/v1/responses/", ("*", "dialects.responses:by_id")),
)
