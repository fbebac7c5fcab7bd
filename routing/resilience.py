"""Outages of Redis and PostgreSQL, as the request path sees them.

Redis is an accelerator. Every call the request path makes to it is bounded by
AIPOWER_REDIS_TIMEOUT_SECONDS (100 ms); the first one that fails or times out marks Redis down for
this process, and from then on breakers, probe claims and rate limits use per-process state
without waiting for Redis at all. A background task pings Redis; once it answers, the shared state
is used again (and breakers opened meanwhile are shared).

PostgreSQL is the source of truth for money: nothing is served that cannot be charged. A request
that meets an unreachable database (or a database call past its time bound) marks it down; while
it is down, new requests are answered 503 with Retry-After at once, and a background task checks
the database every AIPOWER_DB_PROBE_SECONDS; when it answers, the billing pool is opened afresh
(no reconnect back-off left over from the outage) and requests are served again.
"""

import asyncio
import logging
import time

from django.conf import settings

from aipower.redis import get_redis

from .errors import GatewayError

log = logging.getLogger("aipower.resilience")


# --- Redis -----------------------------------------------------------------------------------------


def _redis_errors() -> tuple:
    from redis.exceptions import RedisError

    return (RedisError, OSError, TimeoutError, ConnectionError)


class RedisGate:
    def __init__(self):
        self.down_since: float | None = None
        self._probe: asyncio.Task | None = None
        self._errors: tuple | None = None
        self.on_recovery: list = []  # coroutine functions run once Redis answers again

    @property
    def errors(self) -> tuple:
        if self._errors is None:
            self._errors = _redis_errors()
        return self._errors

    def client(self):
        """The shared Redis client, or None: not configured, or down (use per-process state)."""
        if self.down_since is not None:
            return None
        return get_redis()

    async def warm_up(self) -> None:
        """Opens the first connection at start-up, with time to spare (not the request path's bound)."""
        redis = get_redis()
        if redis is not None:
            try:
                await asyncio.wait_for(redis.ping(), 2.0)
            except Exception as exc:
                self.failed(exc)

    def timeout(self):
        return asyncio.timeout(settings.AIPOWER_REDIS_TIMEOUT_SECONDS)

    def failed(self, exc: BaseException | None = None) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning(
                "Redis unavailable (%r): breakers, probes and rate limits are per-process until it answers", exc
            )
        loop = asyncio.get_running_loop()
        if self._probe is None or self._probe.done() or self._probe.get_loop() is not loop:
            self._probe = loop.create_task(self._wait_for_redis())

    async def _wait_for_redis(self) -> None:
        while self.down_since is not None:
            await asyncio.sleep(settings.AIPOWER_REDIS_PROBE_SECONDS)
            redis = get_redis()
            if redis is None:
                self.down_since = None
                return
            try:
                async with self.timeout():
                    await redis.ping()
            except self.errors:
                continue
            for fn in self.on_recovery:
                try:
                    async with self.timeout():
                        await fn(redis)
                except Exception:
                    log.exception("bringing shared state back to Redis failed")
            log.warning("Redis answers again after %.1fs: shared state back on", time.monotonic() - self.down_since)
            self.down_since = None


redis_gate = RedisGate()


# --- PostgreSQL ----------------------------------------------------------------------------------


def database_errors() -> tuple:
    """What an unreachable or stalled database raises on the request path."""
    import django.db
    import psycopg
    from psycopg_pool import PoolTimeout

    return (
        django.db.OperationalError,
        django.db.InterfaceError,
        psycopg.OperationalError,
        psycopg.InterfaceError,
        PoolTimeout,
        TimeoutError,
    )


class DatabaseGate:
    def __init__(self):
        self.down_since: float | None = None
        self._probe: asyncio.Task | None = None
        self._check: asyncio.Task | None = None
        self._errors: tuple | None = None

    @property
    def errors(self) -> tuple:
        if self._errors is None:
            self._errors = database_errors()
        return self._errors

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def unavailable(self) -> GatewayError:
        return GatewayError(
            503,
            "The service is temporarily unavailable (its database cannot be reached); "
            "nothing was charged. Try again shortly.",
            "server_error",
            code="service_unavailable",
            headers={"retry-after": "1"},
        )

    def failed(self, exc: BaseException | None = None) -> None:
        from psycopg_pool import PoolTimeout

        if isinstance(exc, (TimeoutError, PoolTimeout)) and self.down_since is None:
            # Slow is not down (a busy pool, a lock): this request gets its 503; the database is
            # marked down only if it does not answer a probe either.
            loop = asyncio.get_running_loop()
            if self._check is None or self._check.done() or self._check.get_loop() is not loop:
                self._check = loop.create_task(self._confirm(exc))
            return
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.error("database unavailable (%r): new requests get 503 until it answers", exc)
        loop = asyncio.get_running_loop()
        if self._probe is None or self._probe.done() or self._probe.get_loop() is not loop:
            self._probe = loop.create_task(self._wait_for_database())

    async def _confirm(self, exc: BaseException) -> None:
        try:
            await asyncio.wait_for(_ping_database(), settings.AIPOWER_DB_TIMEOUT_SECONDS)
        except Exception:
            self.failed(ConnectionError(f"no answer to a probe after {exc!r}"))

    async def _wait_for_database(self) -> None:
        from billing import reservations

        while self.down_since is not None:
            await asyncio.sleep(settings.AIPOWER_DB_PROBE_SECONDS)
            try:
                await asyncio.wait_for(_ping_database(), settings.AIPOWER_DB_TIMEOUT_SECONDS)
            except Exception:
                continue
            await reservations.reset_pool()
            log.warning("database answers again after %.1fs", time.monotonic() - self.down_since)
            self.down_since = None


async def _ping_database() -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return
    import psycopg

    from billing.reservations import conninfo

    conn = await psycopg.AsyncConnection.connect(
        conninfo(), connect_timeout=settings.AIPOWER_DB_CONNECT_TIMEOUT, autocommit=True
    )
    try:
        await conn.execute("SELECT 1")
    finally:
        await conn.close()


db_gate = DatabaseGate()


async def bounded(awaitable, seconds: float | None = None):
    """Awaits a request-path database call, at most AIPOWER_DB_TIMEOUT_SECONDS."""
    async with asyncio.timeout(seconds or settings.AIPOWER_DB_TIMEOUT_SECONDS):
        return await awaitable
