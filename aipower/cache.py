"""Django's Redis cache, falling back to a per-process cache while Redis is unreachable.

The cache holds what the web pages may lose for a while: sign-in throttling counters (allauth's
rate limits) and the like. With Django's own backend, a Redis outage makes every sign-in a 500;
here each call is bounded by the socket timeouts in OPTIONS, and after a failure this process uses
its own memory for AIPOWER_REDIS_PROBE_SECONDS before trying Redis again. Throttling keeps working
(per process) and sign-in with the right password keeps working.
"""

import logging
import time

from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

log = logging.getLogger("aipower.cache")

_METHODS = ("add", "get", "set", "touch", "delete", "get_many", "has_key", "incr", "set_many", "delete_many", "clear")


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._fallback = LocMemCache(
            "aipower-redis-fallback",
            {"TIMEOUT": params.get("TIMEOUT", 300), "KEY_PREFIX": params.get("KEY_PREFIX", "")},
        )
        self._down_until = 0.0
        from redis.exceptions import RedisError

        self._errors = (RedisError, OSError)


def _resilient(name):
    redis_method = getattr(RedisCache, name)

    def method(self, *args, **kwargs):
        if self._down_until > time.monotonic():
            return getattr(self._fallback, name)(*args, **kwargs)
        try:
            return redis_method(self, *args, **kwargs)
        except self._errors as exc:
            if not self._down_until:
                log.warning("cache: Redis unavailable (%r); using this process's memory meanwhile", exc)
            self._down_until = time.monotonic() + settings.AIPOWER_REDIS_PROBE_SECONDS
            return getattr(self._fallback, name)(*args, **kwargs)

    method.__name__ = name
    return method


for _name in _METHODS:
    setattr(ResilientRedisCache, _name, _resilient(_name))
