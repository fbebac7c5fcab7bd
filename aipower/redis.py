"""The request path's Redis client: redis-py's asyncio client, one per event loop and process.

Django's cache API would hop to a thread for every call under ASGI; the gateway talks to Redis
directly instead. None when REDIS_URL is not set (the embedded default).
"""

import asyncio

from django.conf import settings

_clients: dict = {}


def get_redis(timeout: float | None = None):
    """This loop's client. Every call is bounded by `timeout` seconds (default: the request path's
    AIPOWER_REDIS_TIMEOUT_SECONDS); work off the request path that must not give up on a busy
    moment (the public trial's shared counters) asks for a longer bound and gets its own client."""
    if not settings.REDIS_URL:
        return None
    import redis.asyncio as aioredis

    if timeout is None:
        timeout = settings.AIPOWER_REDIS_TIMEOUT_SECONDS
    loop = asyncio.get_running_loop()
    client = _clients.get((loop, timeout))
    if client is None:
        for old in [k for k in _clients if k[0].is_closed()]:
            del _clients[old]
        client = _clients[(loop, timeout)] = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout
        )
    return client
