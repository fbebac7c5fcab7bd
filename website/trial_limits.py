"""The free trial's counters: calls per browser, per IP address and per day for everyone,
shared by every web process. Atomic increments (Redis INCR, or an UPDATE ... SET count = count + 1
in the database when there is no Redis), so a burst of parallel requests cannot slip past.

    verdict = await admit(browser_id, ip)   # Admitted: go ahead; a str: the refusal's message
    await refund(verdict)                   # the call failed: it does not count
"""

import datetime
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from aipower.redis import get_redis

DAY_SECONDS = 24 * 3600


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def _keys(browser_id: str, ip: str) -> list[tuple[str, int, str]]:
    """(counter key, limit, what a refusal says), checked in this order."""
    p, day = settings.AIPOWER_TRIAL_KEY_PREFIX, _today().isoformat()
    per_visitor = settings.AIPOWER_TRIAL_CALLS
    return [
        (
            f"{p}:b:{browser_id}",
            per_visitor,
            f"You have used your {per_visitor} free calls. Sign up to keep going: new accounts get free credit.",
        ),
        (
            f"{p}:ip:{day}:{ip}",
            settings.AIPOWER_TRIAL_CALLS_PER_IP,
            f"The free calls from your network ({settings.AIPOWER_TRIAL_CALLS_PER_IP} a day) are used up. "
            "Sign up to keep going: new accounts get free credit.",
        ),
        (
            f"{p}:day:{day}",
            settings.AIPOWER_TRIAL_DAILY_CAP,
            "Today's free trial calls are all used up. Sign up to keep going: new accounts get free credit.",
        ),
    ]


def _redis():
    """The counters' Redis client, or None: not configured, or down (count in the database)."""
    from routing.resilience import redis_gate

    if redis_gate.client() is None:
        return None
    return get_redis(settings.AIPOWER_TRIAL_REDIS_TIMEOUT_SECONDS)


async def _incr(key: str, delta: int, redis) -> int:
    if redis is not None:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=2 * DAY_SECONDS, nx=True)  # a new counter expires; an old one keeps its TTL
            pipe.incrby(key, delta)
            _, count = await pipe.execute()
        return count
    return await _incr_db(key, delta)


@sync_to_async(thread_sensitive=False)
def _incr_db(key: str, delta: int) -> int:
    from django.db import close_old_connections

    from .models import TrialCounter

    close_old_connections()
    today = _today()
    for _ in range(3):
        try:
            with transaction.atomic():
                updated = TrialCounter.objects.filter(key=key).update(count=F("count") + delta)
                if not updated:
                    TrialCounter.objects.filter(day__lt=today - datetime.timedelta(days=1)).delete()
                    TrialCounter.objects.create(key=key, day=today, count=delta)
                return TrialCounter.objects.get(key=key).count
        except IntegrityError:  # another process created the row meanwhile: update it instead
            continue
    raise RuntimeError(f"could not count {key}")


@dataclass(frozen=True, slots=True)
class Admitted:
    """A call that was let through: what to give back if it fails (refund)."""

    browser_id: str
    ip: str
    in_redis: bool  # where it was counted


async def admit(browser_id: str, ip: str) -> Admitted | str:
    """Counts a call against each limit; returns the refusal's message when one is passed (the
    counts taken so far are given back). Redis counts when it answers; when it is down or does not
    answer within AIPOWER_TRIAL_REDIS_TIMEOUT_SECONDS, the database counts instead (shared by
    every process as well; what Redis counted meanwhile is not seen, so a visitor may get up to
    the limits again across the switch)."""
    from routing.resilience import redis_gate

    redis = _redis()
    if redis is not None:
        try:
            return await _admit(browser_id, ip, redis)
        except redis_gate.errors as exc:
            redis_gate.failed(exc)
    return await _admit(browser_id, ip, None)


async def _admit(browser_id: str, ip: str, redis) -> Admitted | str:
    taken = []
    for key, limit, message in _keys(browser_id, ip):
        count = await _incr(key, 1, redis)
        taken.append(key)
        if count > limit:
            for k in taken:
                await _incr(k, -1, redis)
            return message
    return Admitted(browser_id, ip, in_redis=redis is not None)


async def refund(admitted: Admitted) -> None:
    """Gives a failed call back, to the store that counted it (lost if that is Redis and it has
    gone down since: the visitor then has a call fewer)."""
    from routing.resilience import redis_gate

    redis = _redis() if admitted.in_redis else None
    if admitted.in_redis and redis is None:
        return
    try:
        for key, _, _ in _keys(admitted.browser_id, admitted.ip):
            await _incr(key, -1, redis)
    except redis_gate.errors as exc:
        if redis is None:
            raise
        redis_gate.failed(exc)


async def used(browser_id: str) -> int:
    """How many calls this browser has made (for the page)."""
    from routing.resilience import redis_gate

    key = _keys(browser_id, "")[0][0]
    redis = _redis()
    if redis is not None:
        try:
            value = await redis.get(key)
            return int(value or 0)
        except redis_gate.errors as exc:
            redis_gate.failed(exc)

    @sync_to_async(thread_sensitive=False)
    def read():
        from .models import TrialCounter

        return TrialCounter.objects.filter(key=key).values_list("count", flat=True).first() or 0

    return await read()
