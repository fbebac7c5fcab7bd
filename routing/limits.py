"""Per-key rate limits: requests per minute and tokens per minute, shared by every gateway process
through Redis (in-process on the embedded default).

Both use GCRA (a leaky bucket kept as one timestamp, the "theoretical arrival time"): a limit of N
per minute admits N at once (the burst) and then one every 60/N seconds, so over any span T the
accepted amount is at most N + N·T/60. Requests are charged one unit up front. Tokens are counted
when a request ends (its size is unknown before), so a request is admitted while the key is not in
token debt, and its tokens are added afterwards.
"""

import datetime
import math
import re
import time

from .resilience import redis_gate

PERIOD_MS = 60_000
_PREFIX = "aip:rl:"

# KEYS: the bucket. ARGV: now (ms), emission interval (ms per unit), burst tolerance (ms), cost,
# force (1: charge whatever the level). Returns the ms to wait (> 0) when refused; when admitted (and
# charged), -1 - the bucket's level after it in ms (how long until it is empty again).
_GCRA_LUA = """
local now, interval, tau, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local force = ARGV[5] == '1'
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + cost * interval
if not force and cost > 0 and new_tat - now > tau then return math.ceil(new_tat - tau - now) end
if not force and cost == 0 and tat - now > tau then return math.ceil(tat - tau - now) end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now + tau) + 1000)
return -1 - math.ceil(new_tat - now)
"""

_local: dict[str, float] = {}
_script = None


def _local_gcra(key: str, now: float, interval: float, tau: float, cost: float, force: bool) -> int:
    tat = max(_local.get(key, 0.0), now)
    new_tat = tat + cost * interval
    over = not force and ((new_tat - now > tau) if cost > 0 else (tat - now > tau))
    if over:
        return math.ceil((new_tat if cost > 0 else tat) - tau - now)  # > 0: over by more than tau
    _local[key] = new_tat
    return -1 - math.ceil(new_tat - now)


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


async def admit(key_id: int, rpm: int | None, tpm: int | None, headers: dict | None = None) -> tuple[str, float] | None:
    """None when the request may go ahead; else (which limit, seconds to wait). `headers`, when
    given, gets OpenAI's x-ratelimit-* headers for the limits the key has."""
    # Tokens first: looking charges nothing, so a request refused for its key's token debt does not
    # also use up one of its requests.
    for which, limit, cost in (("tokens", tpm, 0), ("requests", rpm, 1)):
        if limit:
            got = await _gcra(f"{which[0]}:{key_id}", limit, cost)  # buckets t:<key> and r:<key>
            if headers is not None:
                _describe(headers, which, limit, cost, got)
            if got > 0:
                return which, got / 1000
    return None


def _describe(headers: dict, which: str, limit: int, cost: int, got: int) -> None:
    """OpenAI's headers for one limit: what is left of the burst, and when the bucket is back to its
    initial state. GCRA: a bucket PERIOD_MS deep, each unit `PERIOD_MS / limit` ms of it; refused
    after waiting `got` ms means it stands `got` ms above full, less the unit asked for."""
    if got > 0:
        headers[f"x-ratelimit-remaining-{which}"] = "0"
        level = PERIOD_MS + got - cost * PERIOD_MS // limit
    else:
        level = -1 - got
        headers[f"x-ratelimit-remaining-{which}"] = str(max(0, (PERIOD_MS - level) * limit // PERIOD_MS))
    headers[f"x-ratelimit-limit-{which}"] = str(limit)
    headers[f"x-ratelimit-reset-{which}"] = duration_text(level)


def duration_text(ms: int) -> str:
    """A duration as OpenAI's reset headers write it: 20ms, 1.5s, 6m0s."""
    if ms < 1000:
        return f"{max(0, ms)}ms"
    minutes, seconds = divmod(ms / 1000, 60)
    seconds = round(seconds, 3)
    return f"{int(minutes)}m{seconds:g}s" if minutes else f"{seconds:g}s"


_DURATION = re.compile(r"(?:(\d+)m)?(?:([\d.]+)s)?(?:(\d+)ms)?")


def duration_ms(text: str) -> int:
    """The inverse of duration_text."""
    m = _DURATION.fullmatch(text)
    if not m or not text:
        raise ValueError(f"not a duration: {text!r}")
    minutes, seconds, ms = m.groups()
    return int(minutes or 0) * 60_000 + round(float(seconds or 0) * 1000) + int(ms or 0)


def as_anthropic(headers: dict, now: float | None = None) -> dict:
    """`headers` with OpenAI's x-ratelimit-* headers written as Anthropic's: anthropic-ratelimit-
    {requests,tokens}-{limit,remaining,reset}, the reset an RFC 3339 time (whole seconds, rounded
    up) when the bucket is full again."""
    if not any(name.startswith("x-ratelimit-") for name in headers):
        return headers
    now = time.time() if now is None else now
    out = {name: v for name, v in headers.items() if not name.startswith("x-ratelimit-")}
    for which in ("requests", "tokens"):
        if f"x-ratelimit-limit-{which}" not in headers:
            continue
        out[f"anthropic-ratelimit-{which}-limit"] = headers[f"x-ratelimit-limit-{which}"]
        out[f"anthropic-ratelimit-{which}-remaining"] = headers[f"x-ratelimit-remaining-{which}"]
        at = math.ceil(now + duration_ms(headers[f"x-ratelimit-reset-{which}"]) / 1000)
        stamp = datetime.datetime.fromtimestamp(at, datetime.UTC)
        out[f"anthropic-ratelimit-{which}-reset"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


async def spend_tokens(key_id: int, tpm: int, tokens: int) -> None:
    """Adds a finished request's tokens to the key's bucket (which may go into debt)."""
    if tokens > 0:
        await _gcra(f"t:{key_id}", tpm, tokens, force=True)
