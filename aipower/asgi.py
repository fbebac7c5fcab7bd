"""The ASGI entry point: the API under /v1/ (routing.http, ahead of Django's handler) and
Django for everything else (the web pages, the management API, the admin)."""

import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aipower.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from routing import http as api  # noqa: E402
from routing import ops, tracing  # noqa: E402

API_PREFIX = "/v1/"


async def application(scope, receive, send):
    kind = scope["type"]
    if kind == "http" and scope["path"].startswith(API_PREFIX):
        return await api.app(scope, receive, send)
    if kind == "http" and scope["path"] in ops.PATHS:
        return await ops.app(scope, receive, send)
    if kind == "lifespan":
        return await _lifespan(receive, send)
    return await django_app(scope, receive, send)


async def _lifespan(receive, send):
    """Start-up and shutdown: queued usage rows are written and the upstream pool closed on exit."""
    from analytics import recorder
    from billing import settlement
    from billing.reservations import close_pool
    from routing import drain, metrics
    from routing.latency import latency
    from routing.upstream import close_clients

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            drain.install()
            from routing.resilience import redis_gate

            await redis_gate.warm_up()
            await latency.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await drain.streams_done(timeout=5)  # streams cut at the deadline record themselves
                await settlement.drain(timeout=10)
                await recorder.flush()
                await close_clients()
                await close_pool()
                metrics.process_exited(os.getpid())
                if tracing.enabled:  # the spans still queued are exported
                    await asyncio.to_thread(tracing.shutdown)
            finally:
                await send({"type": "lifespan.shutdown.complete"})
            return
