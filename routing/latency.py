"""Measured time to first token per model, for route auto-fast.

The gateway records each successful attempt's time to its first token (streams: the first content
chunk; whole answers: the answer) with `record`, an append to a list. A background task, every
AIPOWER_TTFT_SYNC_SECONDS, sends this process's new samples to Redis, reads every process's
samples back and computes each model's p50 over its last AIPOWER_TTFT_SAMPLES within the last
AIPOWER_TTFT_WINDOW_SECONDS; without Redis (the embedded default) it does the same with this
process's samples. Requests only read the result: no Redis round trip on the request path.
Every Redis call is time-bounded; while Redis is away the process keeps its own samples.
"""

import asyncio
import logging
import time
from collections import deque

from django.conf import settings

from aipower.redis import get_redis

from .goals import LiveStats

log = logging.getLogger("aipower.latency")

_PREFIX = "aip:ttft:"
_MODELS = "aip:ttft:models"
REDIS_TIMEOUT_S = 1.0
_NONE = LiveStats()


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


class Latency:
    def __init__(self):
        self.samples: dict[str, deque] = {}  # public id -> (wall time, ms), this process's view
        self.pending: list[tuple[str, float, float]] = []  # not yet sent to Redis
        self.p50: dict[str, float] = {}
        self.newest: dict[str, float] = {}  # public id -> wall time of its newest sample
        self.probed: dict[str, float] = {}  # route name -> when it last tried an unmeasured model
        self._task: asyncio.Task | None = None

    # --- the request path: O(1) ---------------------------------------------------------------
    def record(self, public_id: str, seconds: float) -> None:
        now = time.time()
        ms = seconds * 1000.0
        self._local(public_id).append((now, ms))
        self.newest[public_id] = now
        self.pending.append((public_id, now, ms))
        if len(self.pending) > 10_000:
            del self.pending[:5_000]
        self._ensure_task()

    def stats_for(self, route) -> LiveStats:
        """What a route's policy reads; only `fastest` routes read anything."""
        if route is None or route.policy != "fastest":
            return _NONE
        s = settings
        now = time.time()
        explore = None
        if now - self.probed.get(route.name, 0.0) >= s.AIPOWER_TTFT_PROBE_SECONDS:
            # A model measured before but not lately (it was slow, or others were faster) is
            # tried once in a while, so that one which recovered wins its place back. Models
            # never measured need no probe: they rank as if they took AIPOWER_TTFT_UNMEASURED_MS.
            stale = [
                m
                for m in route.targets
                if 0.0 < self.newest.get(m.public_id, 0.0) <= now - s.AIPOWER_TTFT_PROBE_SECONDS
            ]
            if stale:
                explore = min(stale, key=lambda m: self.newest[m.public_id]).public_id
                self.probed[route.name] = now
        self._ensure_task()
        return LiveStats(
            ttft_p50_ms=self.p50,
            bucket_ms=s.AIPOWER_TTFT_BUCKET_MS,
            unmeasured_ms=s.AIPOWER_TTFT_UNMEASURED_MS,
            explore=explore,
        )

    # --- background ---------------------------------------------------------------------------
    def _local(self, public_id: str) -> deque:
        d = self.samples.get(public_id)
        if d is None:
            d = self.samples[public_id] = deque(maxlen=max(settings.AIPOWER_TTFT_SAMPLES, 1))
        return d

    def _ensure_task(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._forever())

    async def _forever(self) -> None:
        while True:
            try:
                await self.sync()
            except Exception:
                log.warning("latency sync failed; using this process's samples", exc_info=True)
                self._compute()
            await asyncio.sleep(settings.AIPOWER_TTFT_SYNC_SECONDS)

    async def sync(self) -> None:
        redis = get_redis()
        if redis is not None:
            pending, self.pending = self.pending, []
            keep = max(settings.AIPOWER_TTFT_SAMPLES, 1)
            ttl = max(int(settings.AIPOWER_TTFT_WINDOW_SECONDS), 1)
            try:
                async with asyncio.timeout(REDIS_TIMEOUT_S):
                    if pending:
                        pipe = redis.pipeline(transaction=False)
                        by_model: dict[str, list[str]] = {}
                        for pid, t, ms in pending:
                            by_model.setdefault(pid, []).append(f"{t:.3f}:{ms:.1f}")
                        for pid, values in by_model.items():
                            pipe.rpush(_PREFIX + pid, *values)
                            pipe.ltrim(_PREFIX + pid, -keep, -1)
                            pipe.expire(_PREFIX + pid, ttl)
                        pipe.sadd(_MODELS, *by_model)
                        await pipe.execute()
                    names = sorted(n.decode() if isinstance(n, bytes) else n for n in await redis.smembers(_MODELS))
                    if names:
                        pipe = redis.pipeline(transaction=False)
                        for pid in names:
                            pipe.lrange(_PREFIX + pid, 0, -1)
                        lists = await pipe.execute()
                    else:
                        lists = []
            except BaseException:
                self.pending[:0] = pending  # sent next time
                raise
            for pid, values in zip(names, lists, strict=True):
                d = self._local(pid)
                d.clear()
                for v in values:
                    at, _, took = (v.decode() if isinstance(v, bytes) else v).partition(":")
                    d.append((float(at), float(took)))
                if d:
                    self.newest[pid] = max(self.newest.get(pid, 0.0), d[-1][0])
        self._compute()

    async def start(self) -> None:
        """Reads the shared measurements now (at start-up), then keeps them fresh."""
        try:
            await self.sync()
        except Exception:
            log.warning("latency sync failed at start-up", exc_info=True)
        self._ensure_task()

    def _compute(self) -> None:
        horizon = time.time() - settings.AIPOWER_TTFT_WINDOW_SECONDS
        need = settings.AIPOWER_TTFT_MIN_SAMPLES
        p50 = {}
        for pid, d in self.samples.items():
            recent = [ms for t, ms in d if t >= horizon]
            if len(recent) >= need:
                p50[pid] = _median(recent)
        self.p50 = p50  # replaced whole: readers never see a half-built dict


latency = Latency()
