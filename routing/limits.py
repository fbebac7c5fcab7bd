"""Per-key rate limits: requests per minute and tokens per minute, shared by every gateway process
through Redis (in-process on the embedded default).

Both use GCRA (a leaky bucket kept as one timestamp, the "theoretical arrival time"): a limit of N
per minute admits N at once (the burst) and then one every 60/N seconds, so over any span T the
accepted amount is at most N + N·T/60. Requests are charged one unit up front. Tokens are counted
when a request ends (its size is unknown before), so a request is admitted while the key is not in
token debt, and its tokens are added afterwards.
"""

import time

from .resilience import redis_gate

PERIOD_MS = 60_000
_PREFIX = "aip:rl:"

# KEYS: the bucket. ARGV: now (ms), emission interval (ms per unit), burst tolerance (ms), cost,
# force (1: charge whatever the level). Returns 0 when admitted (and charged), else ms to wait.
_GCRA_LUA = """
local now, interval, tau, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local force = ARGV[5] == '1'
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + cost * interval
if not force and cost > 0 and new_tat - now > tau then return math.ceil(new_tat - tau - now) end
if not force and cost == 0 and tat - now > tau then return math.ceil(tat - tau - now) end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now + tau) + 1000)
return 0
"""

_local: dict[str, float] = {}
_script = None


def _local_gcra(key: str, now: float, interval: float, tau: float, cost: float, force: bool) -> int:
    tat = max(_local.get(key, 0.0), now)
    new_tat = tat + cost * interval
    over = not force and ((new_tat - now > tau) if cost > 0 else (tat - now > tau))
    if over:
        return int((new_tat if cost > 0 else tat) - tau - now) + 1
    _local[key] = new_tat
    return 0


async def _gcra(key: str, limit: int, cost: float, force: bool = False) -> int:
    interval = PERIOD_MS / limit
    tau = PERIOD_MS  # N at once
    now = time.time() * 1000
    redis = redis_gate.client()
    if redis is not None:
        global _script
        if _script is None or _script[0] is not redis:
            _script = (redis, redis.register_script(_GCRA_LUA))
        try:
            async with redis_gate.timeout():
                args = [now, interval, tau, cost, "1" if force else "0"]
                return int(await _script[1](keys=[_PREFIX + key], args=args))
        except redis_gate.errors as exc:
            # Redis down or stalled: this process keeps its own buckets until it answers again.
            redis_gate.failed(exc)
    return _local_gcra(key, now, interval, tau, cost, force)


async def admit(key_id: int, rpm: int | None, tpm: int | None) -> tuple[str, float] | None:
    """None when the request may go ahead; else (which limit, seconds to wait)."""
    if rpm:
        wait = await _gcra(f"r:{key_id}", rpm, 1)
        if wait:
            return "requests", wait / 1000
    if tpm:
        wait = await _gcra(f"t:{key_id}", tpm, 0)
        if wait:
            return "tokens", wait / 1000
    return None


async def spend_tokens(key_id: int, tpm: int, tokens: int) -> None:
    """Adds a finished request's tokens to the key's bucket (which may go into debt)."""
    if tokens > 0:
        await _gcra(f"t:{key_id}", tpm, tokens, force=True)
