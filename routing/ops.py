"""Operations endpoints, unauthenticated and cheap, served ahead of Django (aipower/asgi.py):

/healthz  the process is alive (no I/O)
/readyz   PostgreSQL and Redis answer (each bounded) and the process is not shutting down (from
          SIGTERM on: routing/drain.py): 200, else 503
/metrics  Prometheus text format (routing/metrics.py)
"""

import asyncio

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings

from . import drain
from .resilience import _ping_database, redis_gate

PATHS = ("/healthz", "/readyz", "/metrics")


async def _send(send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _check(coro, seconds: float) -> str:
    try:
        await asyncio.wait_for(coro, seconds)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


async def _redis_ok() -> None:
    from aipower.redis import get_redis

    redis = get_redis()
    if redis is not None:
        await redis.ping()


async def readiness() -> tuple[bool, dict]:
    checks: dict[str, object] = {}
    db, rd = await asyncio.gather(
        _check(_ping_database(), settings.AIPOWER_DB_CONNECT_TIMEOUT + 0.5),
        _check(_redis_ok(), max(settings.AIPOWER_REDIS_TIMEOUT_SECONDS * 5, 0.5)),
    )
    checks["database"] = db
    checks["redis"] = rd if settings.REDIS_URL else "not configured"
    if settings.REDIS_URL and redis_gate.down_since is not None and rd == "ok":
        checks["redis"] = "ok (reconnecting)"
    checks["draining"] = drain.stopping
    ready = db == "ok" and (not settings.REDIS_URL or rd == "ok") and not drain.stopping
    return ready, checks


async def app(scope, receive, send) -> None:
    path = scope["path"]
    if path == "/healthz":
        return await _send(send, 200, b'{"status":"ok"}')
    if path == "/readyz":
        ready, checks = await readiness()
        body = orjson.dumps({"status": "ready" if ready else "not ready", "checks": checks})
        return await _send(send, 200 if ready else 503, body)
    from . import metrics

    body = await sync_to_async(metrics.exposition, thread_sensitive=False)()
    await _send(send, 200, body, b"text/plain; version=0.0.4; charset=utf-8")
