"""The request path's Redis client: redis-py's asyncio client, one per event loop and process.

Django's cache API would hop to a thread for every call under ASGI; the gateway talks to Redis
directly instead. None when REDIS_URL is not set (the embedded default).
"""

import asyncio

from django.conf import settings

_clients: dict = {}


def get_redis():
    if not settings.REDIS_URL:
        return None
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        for old in [lp for lp in _clients if lp.is_closed()]:
            del _clients[old]
        client = _clients[loop] = aioredis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=settings.AIPOWER_REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=settings.AIPOWER_REDIS_TIMEOUT_SECONDS,
        )
    return client
