"""Provider health: a circuit breaker per provider and per model, and a retry budget.

A breaker opens after a run of consecutive failures or when failures pass a share of recent
requests (with enough requests to judge); an open breaker's candidates are skipped, not tried.
When its cooldown ends it is half-open: one request, in one process, probes it; a success closes
it, a failure opens it again. An upstream's Retry-After sets its provider's cooldown.

The state is shared by every gateway process through Redis (in-process on the embedded default).
Each process reads the set of open breakers in the background every AIPOWER_BREAKER_SYNC_SECONDS,
and sends its successes in batches the same way, so a healthy request costs no Redis round trip;
failures are written at once.
"""

import asyncio
import logging
import time
from dataclasses import dataclass

from django.conf import settings

from aipower.redis import get_redis

from .resilience import redis_gate

log = logging.getLogger("aipower.health")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
_PREFIX = "aip:cb:"
_OPEN_SET = "aip:cb:open"


def model_key(public_id: str) -> str:
    return "m:" + public_id


def provider_key(slug: str) -> str:
    return "p:" + slug


@dataclass
class Counters:
    """One breaker's counters (the shape stored in Redis, too)."""

    consecutive: int = 0
    window_start: float = 0.0
    window_total: int = 0
    window_failures: int = 0


def _params():
    s = settings
    return (
        s.AIPOWER_BREAKER_WINDOW_SECONDS,
        s.AIPOWER_BREAKER_CONSECUTIVE_FAILURES,
        s.AIPOWER_BREAKER_FAILURE_RATIO,
        s.AIPOWER_BREAKER_MIN_REQUESTS,
        s.AIPOWER_BREAKER_COOLDOWN_SECONDS,
    )


# KEYS: counters hash, open set. ARGV: now, window, consecutive limit, ratio, min requests, cooldown,
# breaker key, forced cooldown (Retry-After; 0 = none). Returns the open-until time, or 0.
_FAILURE_LUA = """
local h, openset = KEYS[1], KEYS[2]
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local limit, ratio, minreq = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local cooldown, key, forced = tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
local ws = tonumber(redis.call('HGET', h, 'ws') or '0')
if now - ws > window then redis.call('HSET', h, 'ws', now, 'wt', 0, 'wf', 0) end
local c = redis.call('HINCRBY', h, 'c', 1)
local wt = redis.call('HINCRBY', h, 'wt', 1)
local wf = redis.call('HINCRBY', h, 'wf', 1)
redis.call('EXPIRE', h, 3600)
local current = tonumber(redis.call('ZSCORE', openset, key) or '0')
local half_open = current > 0 and current <= now
if forced > 0 or half_open or c >= limit or (wt >= minreq and wf / wt >= ratio) then
  local untl = now + (forced > 0 and forced or cooldown)
  if untl > current then redis.call('ZADD', openset, untl, key) end
  redis.call('HSET', h, 'c', 0)
  return tostring(math.max(untl, current))
end
return '0'
"""

# KEYS: counters hash. ARGV: now, window, successes.
_SUCCESS_LUA = """
local h = KEYS[1]
local now, window, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ws = tonumber(redis.call('HGET', h, 'ws') or '0')
if now - ws > window then redis.call('HSET', h, 'ws', now, 'wt', 0, 'wf', 0) end
redis.call('HINCRBY', h, 'wt', n)
redis.call('HSET', h, 'c', 0)
redis.call('EXPIRE', h, 3600)
return 1
"""


class Health:
    def __init__(self):
        self.open_until: dict[str, float] = {}  # this process's view of the open breakers
        self.local: dict[str, Counters] = {}  # the counters themselves, without Redis
        self.pending_success: dict[str, int] = {}
        self._sync_task: asyncio.Task | None = None
        self._scripts = None

    # --- reading: no I/O ------------------------------------------------------------------
    def state(self, keys: tuple[str, ...], now: float | None = None) -> str:
        if not self.open_until:
            return CLOSED
        now = time.time() if now is None else now
        result = CLOSED
        for key in keys:
            until = self.open_until.get(key)
            if until is None:
                continue
            if until > now:
                return OPEN
            result = HALF_OPEN
        return result

    async def claim_probe(self, keys: tuple[str, ...]) -> bool:
        """Whether this request may probe a half-open breaker (one request at a time does)."""
        redis = redis_gate.client()
        probe_ms = int(settings.AIPOWER_BREAKER_COOLDOWN_SECONDS * 1000) or 1000
        if redis is not None:
            try:
                ok = True
                async with redis_gate.timeout():
                    for key in keys:
                        if key in self.open_until:
                            ok = ok and bool(await redis.set(_PREFIX + "probe:" + key, "1", nx=True, px=probe_ms))
                return ok
            except redis_gate.errors as exc:
                redis_gate.failed(exc)
        # Without Redis: this process lets one request probe.
        now = time.time()
        ok = True
        for key in keys:
            until = self.open_until.get(key)
            if until is not None:
                if until > now:
                    ok = False  # another request of this process is probing it
                else:
                    # Push the deadline out while the probe runs; its outcome settles it.
                    self.open_until[key] = now + probe_ms / 1000
        return ok

    # --- writing ------------------------------------------------------------------------------
    async def success(self, keys: tuple[str, ...]) -> None:
        redis = redis_gate.client()
        half_open = [k for k in keys if k in self.open_until]
        if redis is None:
            now = time.time()
            for k in keys:
                c = self.local.setdefault(k, Counters())
                self._roll(c, now)
                c.consecutive = 0
                c.window_total += 1
            for k in half_open:
                self.open_until.pop(k, None)
            return
        for k in keys:
            self.pending_success[k] = self.pending_success.get(k, 0) + 1
        if half_open:
            # A successful probe closes the breaker for every process.
            pipe = redis.pipeline(transaction=False)
            pipe.zrem(_OPEN_SET, *half_open)
            for k in half_open:
                pipe.delete(_PREFIX + "probe:" + k)
            try:
                async with redis_gate.timeout():
                    await pipe.execute()
            except redis_gate.errors as exc:
                redis_gate.failed(exc)
            for k in half_open:
                self.open_until.pop(k, None)
        self._ensure_sync()

    def cool_down(self, forced: dict[str, float]) -> None:
        """Opens breakers for an upstream's Retry-After in this process at once (failure() shares it)."""
        now = time.time()
        for key, seconds in forced.items():
            self.open_until[key] = max(self.open_until.get(key, 0.0), now + seconds)

    async def failure(self, keys: tuple[str, ...], *, forced: dict[str, float] | None = None) -> None:
        """forced: breaker key -> cooldown seconds (from an upstream's Retry-After)."""
        forced = forced or {}
        now = time.time()
        window, limit, ratio, minreq, cooldown = _params()
        redis = redis_gate.client()
        results = None
        if redis is not None:
            # Every breaker of the attempt in one round trip.
            try:
                async with redis_gate.timeout():
                    script = self._script(redis)
                    pipe = redis.pipeline(transaction=False)
                    for key in keys:
                        await script(
                            keys=[_PREFIX + key, _OPEN_SET],
                            args=[now, window, limit, ratio, minreq, cooldown, key, forced.get(key, 0)],
                            client=pipe,
                        )
                    results = [float(r) for r in await pipe.execute()]
            except redis_gate.errors as exc:
                redis_gate.failed(exc)
                redis = None
        if results is None:
            results = [
                self._local_failure(key, now, window, limit, ratio, minreq, cooldown, forced.get(key, 0))
                for key in keys
            ]
        for key, until in zip(keys, results, strict=True):
            if until:
                if key not in self.open_until or self.open_until[key] < until:
                    log.warning("circuit open: %s until %.1f", key, until)
                self.open_until[key] = until
        if redis is not None:
            self._ensure_sync()

    def _roll(self, c: Counters, now: float) -> None:
        if now - c.window_start > settings.AIPOWER_BREAKER_WINDOW_SECONDS:
            c.window_start, c.window_total, c.window_failures = now, 0, 0

    def _local_failure(self, key, now, window, limit, ratio, minreq, cooldown, forced) -> float:
        c = self.local.setdefault(key, Counters())
        self._roll(c, now)
        c.consecutive += 1
        c.window_total += 1
        c.window_failures += 1
        current = self.open_until.get(key, 0.0)
        half_open = 0 < current <= now
        if (
            forced
            or half_open
            or c.consecutive >= limit
            or (c.window_total >= minreq and c.window_failures / c.window_total >= ratio)
        ):
            c.consecutive = 0
            return max(now + (forced or cooldown), current)
        return 0.0

    def _script(self, redis):
        if self._scripts is None or self._scripts[0] is not redis:
            self._scripts = (redis, redis.register_script(_FAILURE_LUA), redis.register_script(_SUCCESS_LUA))
        return self._scripts[1]

    # --- background sync with Redis ------------------------------------------------------------
    def _ensure_sync(self) -> None:
        loop = asyncio.get_running_loop()
        if self._sync_task is None or self._sync_task.done() or self._sync_task.get_loop() is not loop:
            self._sync_task = loop.create_task(self._sync_forever())

    async def _sync_forever(self) -> None:
        while True:
            try:
                await self.sync()
            except Exception:
                log.exception("breaker sync failed")
            await asyncio.sleep(settings.AIPOWER_BREAKER_SYNC_SECONDS)

    async def sync(self) -> None:
        redis = redis_gate.client()
        if redis is None:
            return
        try:
            async with redis_gate.timeout():
                await self._sync(redis)
        except redis_gate.errors as exc:
            redis_gate.failed(exc)

    async def share_local(self, redis) -> None:
        """Once Redis is back: breakers this process opened meanwhile are opened for everyone."""
        now = time.time()
        opened = {k: until for k, until in self.open_until.items() if until > now}
        if opened:
            await redis.zadd(_OPEN_SET, opened, gt=True)
        self.local.clear()

    async def _sync(self, redis) -> None:
        pending, self.pending_success = self.pending_success, {}
        now = time.time()
        window = settings.AIPOWER_BREAKER_WINDOW_SECONDS
        if pending:
            self._script(redis)
            success = self._scripts[2]
            pipe = redis.pipeline(transaction=False)
            for key, n in pending.items():
                await success(keys=[_PREFIX + key], args=[now, window, n], client=pipe)
            await pipe.execute()
        entries = await redis.zrange(_OPEN_SET, 0, -1, withscores=True)
        self.open_until = {k.decode() if isinstance(k, bytes) else k: float(s) for k, s in entries}

    async def start(self) -> None:
        """Reads the shared state now (at start-up and in tests)."""
        await self.sync()
        if get_redis() is not None:
            self._ensure_sync()


health = Health()
redis_gate.on_recovery.append(health.share_local)


def breaker_keys(model) -> tuple[str, str]:
    return (model_key(model.public_id), provider_key(model.provider.slug))


class RetryBudget:
    """Retries may be at most `ratio` of requests (per process; so, summed, of all requests),
    plus a small reserve that refills as requests come in."""

    def __init__(self, ratio: float, reserve: int):
        self.ratio = ratio
        self.cap = max(float(reserve), 1.0)  # at least one whole retry can build up
        self.tokens = float(reserve)

    def deposit(self) -> None:
        self.tokens = min(self.cap, self.tokens + self.ratio)

    def withdraw(self) -> bool:
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


_budget: RetryBudget | None = None


def retry_budget() -> RetryBudget:
    global _budget
    if _budget is None:
        _budget = RetryBudget(settings.AIPOWER_RETRY_BUDGET, settings.AIPOWER_RETRY_BUDGET_RESERVE)
    return _budget


# --- Reading the breakers from elsewhere (the admin's health page): no private names needed ------


def shared_breakers(redis_url: str, keys: list[str]) -> tuple[dict[str, float], dict[str, Counters]]:
    """(open_until by key, counters by key) as every gateway shares them in Redis, read in one
    round trip with a short timeout (sync). Raises redis.RedisError when Redis cannot be read."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.zrange(_OPEN_SET, 0, -1, withscores=True)
        for key in keys:
            pipe.hgetall(_PREFIX + key)
        opened, *hashes = pipe.execute()
    finally:
        client.close()
    counters = {
        key: Counters(
            consecutive=int(h.get("c", 0)),
            window_start=float(h.get("ws", 0)),
            window_total=int(h.get("wt", 0)),
            window_failures=int(h.get("wf", 0)),
        )
        for key, h in zip(keys, hashes, strict=True)
    }
    return {k: float(s) for k, s in opened}, counters


def local_breakers(keys: list[str]) -> tuple[dict[str, float], dict[str, Counters]]:
    """The same, as this process keeps them (without Redis: the gateway's own, when it serves the page)."""
    open_until, local = health.open_until.copy(), health.local.copy()
    return open_until, {key: local.get(key) or Counters() for key in keys}
