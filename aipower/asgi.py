import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aipower.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from django.conf import settings  # noqa: E402

from routing.errors import error_body  # noqa: E402

_TOO_LARGE = error_body(
    f"Request body is larger than the limit of {settings.AIPOWER_MAX_REQUEST_BYTES} bytes.",
    "invalid_request_error",
    code="request_too_large",
)


async def _send_too_large(send):
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": _TOO_LARGE})


async def application(scope, receive, send):
    """Django, behind a guard that refuses oversized bodies before they are buffered.

    Django's ASGI handler reads the whole body before a view runs; a declared Content-Length
    over the limit is refused at once, and a chunked body is cut off as soon as it passes it.
    """
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["type"] != "http":
        return await django_app(scope, receive, send)
    limit = settings.AIPOWER_MAX_REQUEST_BYTES
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = limit + 1
            if declared > limit:
                return await _send_too_large(send)
            return await django_app(scope, receive, send)

    received = 0

    async def limited_receive():
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge
        return message

    try:
        return await django_app(scope, limited_receive, send)
    except _BodyTooLarge:
        return await _send_too_large(send)


class _BodyTooLarge(Exception):
    pass


async def _lifespan(receive, send):
    """Start-up and shutdown: queued usage rows are written and the upstream pool closed on exit."""
    from analytics import recorder
    from routing.upstream import close_clients

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await recorder.flush()
                await close_clients()
            finally:
                await send({"type": "lifespan.shutdown.complete"})
            return
