"""Usage rows are queued in memory and written in batches by a background task, so that writing
them never holds up a response's bytes. Recording is synchronous and cannot fail or be cancelled,
which is what makes it safe from `finally` blocks of cancelled (disconnected) requests.

Rows are written with ignore_conflicts on the unique request id, so a row can never be written
twice. The queue is flushed every AIPOWER_USAGE_FLUSH_SECONDS and at server shutdown.
"""

import asyncio
import logging

from django.conf import settings

from aipower.db import db_task

from .models import UsageRecord

log = logging.getLogger("aipower.usage")

_pending: list[UsageRecord] = []
_flusher: asyncio.Task | None = None
_wakeup: asyncio.Event | None = None


def record(**fields) -> None:
    _pending.append(UsageRecord(**fields))
    _ensure_flusher()


def _ensure_flusher() -> None:
    global _flusher, _wakeup
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _write_now()
        return
    if _flusher is None or _flusher.done() or _flusher.get_loop() is not loop:
        _wakeup = asyncio.Event()
        _flusher = loop.create_task(_flush_forever())
    if len(_pending) >= settings.AIPOWER_USAGE_BATCH:
        assert _wakeup is not None  # created with the flusher
        _wakeup.set()


def _write(rows: list[UsageRecord]) -> None:
    UsageRecord.objects.bulk_create(rows, batch_size=settings.AIPOWER_USAGE_BATCH, ignore_conflicts=True)


_write_async = db_task(_write)


def _write_now() -> None:
    rows = _take()
    if rows:
        _write(rows)


def _take() -> list[UsageRecord]:
    rows = _pending[:]
    del _pending[: len(rows)]
    return rows


async def flush() -> None:
    rows = _take()
    if not rows:
        return
    try:
        await _write_async(rows)
    except Exception:
        # Put them back: the next flush tries again.
        log.exception("writing %d usage rows failed; will retry", len(rows))
        _pending[:0] = rows
        raise


async def _flush_forever() -> None:
    interval = settings.AIPOWER_USAGE_FLUSH_SECONDS
    while True:
        assert _wakeup is not None  # created before this task
        try:
            await asyncio.wait_for(_wakeup.wait(), interval)
        except TimeoutError:
            pass
        _wakeup.clear()
        try:
            await flush()
        except Exception:
            await asyncio.sleep(min(1.0, interval * 10))
