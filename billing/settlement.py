"""Settlements that are never dropped.

A request's charge is settled off its response path, by this process's settlement queue: each is
sent to the database (billing_settle, idempotent per request id) and kept until it is written.
While the database is away the queue waits and retries, oldest first, with a back-off of up to
AIPOWER_SETTLE_RETRY_MAX_SECONDS; nothing is forgotten however long the outage lasts. Sending one
twice is harmless (a request id is charged once). `backlog()` is what has not been written yet.
"""

import asyncio
import logging
from collections import deque

from django.conf import settings

from . import reservations

log = logging.getLogger("aipower.billing")

_queue: deque = deque()  # (request_id, charged_nusd, failures)
_worker: asyncio.Task | None = None
_wakeup: asyncio.Event | None = None
_idle: asyncio.Event | None = None


def submit(*, request_id: str, charged_nusd: int) -> None:
    """Queues a request's settlement; it is written as soon as the database takes it."""
    global _worker, _wakeup, _idle
    _queue.append((request_id, charged_nusd, 0))
    loop = asyncio.get_running_loop()
    if _worker is None or _worker.done() or _worker.get_loop() is not loop:
        _wakeup, _idle = asyncio.Event(), asyncio.Event()
        _worker = loop.create_task(_settle_forever())
    _idle.clear()
    _wakeup.set()


def backlog() -> int:
    return len(_queue)


async def drain(timeout: float | None = None) -> bool:
    """Waits until every queued settlement is written (shutdown, tests). False on timeout."""
    if not _queue or _idle is None:
        return True
    try:
        await asyncio.wait_for(_idle.wait(), timeout)
        return True
    except TimeoutError:
        return False


async def _settle_one(request_id: str, charged_nusd: int) -> None:
    async with asyncio.timeout(settings.AIPOWER_DB_TIMEOUT_SECONDS * 2):
        await reservations.settle(request_id=request_id, charged_nusd=charged_nusd)


async def _settle_forever() -> None:
    from routing.resilience import db_gate

    delay = 0.0
    while True:
        if not _queue:
            _idle.set()
            await _wakeup.wait()
            _wakeup.clear()
            continue
        if delay:
            await asyncio.sleep(delay)
        # Up to the pool's size at once: concurrent requests settle concurrently.
        batch = [_queue.popleft() for _ in range(min(len(_queue), settings.AIPOWER_BILLING_DB_POOL))]
        results = await asyncio.gather(*(_settle_one(r, c) for r, c, _ in batch), return_exceptions=True)
        failed = []
        for item, result in zip(batch, results):
            if isinstance(result, BaseException):
                request_id, charged, failures = item
                if isinstance(result, db_gate.errors):
                    db_gate.failed(result)
                elif failures % 10 == 0:
                    log.error("settling %s failed (%r); will retry", request_id, result)
                failed.append((request_id, charged, failures + 1))
        if failed:
            # Back in front, in their order: they go first once the database is back.
            _queue.extendleft(reversed(failed))
            delay = min(max(delay * 2, 0.05), settings.AIPOWER_SETTLE_RETRY_MAX_SECONDS)
        else:
            delay = 0.0
