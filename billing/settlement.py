"""A request's charge and its usage row, written together, group-committed, never dropped.

`record(settle_nusd=..., **usage_row)` queues both and returns a future that completes once
they are committed. A background task takes whatever is queued (up to AIPOWER_USAGE_BATCH) and
writes it in one transaction: each request's billing_settle (idempotent per request id; skipped
when nothing was held) and every usage row (unique per request id, so a row is never written
twice). Concurrent requests thus share one commit, and the gateway acknowledges a response (its
last bytes, a stream's [DONE]) only once its commit is done (routing/gateway.py waits at most
AIPOWER_ACK_WAIT_SECONDS, so that an outage does not hold answers hostage; what is queued then
waits and is retried, oldest first, until the database takes it, however long that is).

Bounds after a crash (kill -9): a response whose last bytes were sent is committed; one that was
not, is not charged (its hold expires and the sweeper releases it) and has no usage row. A stream
cut by the crash is charged, with its usage row, what it had delivered at its last checkpoint
(written every AIPOWER_STREAM_CHECKPOINT_SECONDS; billing.reservations.sweep_expired): at most one
interval's output goes unbilled.
"""

import asyncio
import functools
import logging
from collections import deque

import orjson
from django.conf import settings
from django.db import connection, transaction

from . import reservations, reservations_orm

log = logging.getLogger("aipower.billing")

_queue: deque = deque()  # [request_id, charged_nusd or None, usage row (dict) or None, future, failures]
_in_flight: list = []  # the batch being written
_worker: asyncio.Task | None = None
_wakeup: asyncio.Event | None = None
_idle: asyncio.Event | None = None


def record(*, settle_nusd: int | None, **row) -> asyncio.Future:
    """Queues a request's settlement (None: nothing was held) and its usage row (the
    UsageRecord's fields by column name)."""
    return _submit(row["request_id"], settle_nusd, row)


def _submit(request_id: str, charged_nusd: int | None, row) -> asyncio.Future:
    global _worker, _wakeup, _idle
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    _queue.append([request_id, charged_nusd, row, future, 0])
    _backlog_changed()
    if _worker is None or _worker.done() or _worker.get_loop() is not loop:
        _wakeup, _idle = asyncio.Event(), asyncio.Event()
        _worker = loop.create_task(_commit_forever())
    assert _idle is not None and _wakeup is not None  # made just above when missing
    _idle.clear()
    _wakeup.set()
    return future


def backlog() -> int:
    return len(_queue) + len(_in_flight)


def _backlog_changed() -> None:
    from routing.metrics import SETTLEMENT_BACKLOG

    SETTLEMENT_BACKLOG.set(backlog())


async def drain(timeout: float | None = None) -> bool:
    """Waits until everything queued is committed (shutdown, tests). False on timeout."""
    if not backlog() or _idle is None:
        return True
    try:
        await asyncio.wait_for(_idle.wait(), timeout)
        return True
    except TimeoutError:
        return False


# --- PostgreSQL: the whole batch in one statement, one round trip, no thread ---------------------


@functools.cache
def _batch_sql() -> tuple[str, dict]:
    """The batch's statement, and the usage row's defaults by column. In one statement (autocommit:
    one transaction): billing_settle for each settlement, in queue order (the rows of `unnest ...
    WITH ORDINALITY` call it one after the other), and every usage row, sent as one JSON array and
    expanded by jsonb_populate_recordset. Column names come from the model, so a migration that adds
    a column needs no change here."""
    from analytics.models import UsageRecord

    fields = [f for f in UsageRecord._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column or f.name) for f in fields)
    table = connection.ops.quote_name(UsageRecord._meta.db_table)
    sql = (
        "WITH settled AS ("
        " SELECT x.i, b.status, b.org_id, b.balance_before, b.balance_after"
        " FROM unnest(%s::text[], %s::bigint[]) WITH ORDINALITY AS x(request_id, charged, i)"
        " CROSS JOIN LATERAL billing_settle(x.request_id, x.charged) AS b"
        f"), written AS (INSERT INTO {table} ({columns}) SELECT {columns}"
        f" FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) ON CONFLICT DO NOTHING)"
        " SELECT i, status, org_id, balance_before, balance_after FROM settled"
    )
    # Django fills these in Python, not in the table: a row that leaves a field out gets them here.
    defaults = {f.column or f.name: f.get_default() for f in fields}
    return sql, defaults


def _row_json(rows: list) -> bytes:
    _, defaults = _batch_sql()
    return orjson.dumps([{**defaults, **row} for row in rows])


async def _commit_pg(items: list) -> list:
    sql, _ = _batch_sql()
    settles = [(i, item[0], item[1]) for i, item in enumerate(items) if item[1] is not None]
    # In organization order, as holds are placed (billing/reservations.py): two processes' batches
    # then take the credit accounts' row locks in one order, rather than deadlock over them.
    settles.sort(key=lambda s: ((items[s[0]][2] or {}).get("organization_id") or 0, s[0]))
    rows = [item[2] for item in items if item[2] is not None]
    pool = await reservations._pool()
    async with pool.connection(timeout=settings.AIPOWER_DB_TIMEOUT_SECONDS) as conn:
        cur = await conn.execute(
            sql, ([s[1] for s in settles], [s[2] for s in settles], _row_json(rows).decode()), prepare=True
        )
        settled = {i: tuple(rest) for i, *rest in await cur.fetchall()}
    results: list = [None] * len(items)
    for n, (i, _rid, _charged) in enumerate(settles, start=1):
        results[i] = settled[n]  # ordinality counts from 1
    return results


# --- SQLite (the embedded default): the ORM, in a thread; and the sweeper's sync settle --------------


def _settle_in(cursor, request_id: str, charged_nusd: int):
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        cursor.execute("SELECT * FROM billing_settle(%s, %s)", [request_id, charged_nusd])
        return cursor.fetchone()
    return reservations_orm.settle(request_id=request_id, charged_nusd=charged_nusd)


def _commit_orm(items: list) -> list:
    """One transaction for the whole batch (sync: run in a thread)."""
    from analytics.models import UsageRecord

    results = []
    try:
        with transaction.atomic():
            for request_id, charged, _row, _f, _n in items:
                results.append(
                    None if charged is None else reservations_orm.settle(request_id=request_id, charged_nusd=charged)
                )
            rows = [UsageRecord(**item[2]) for item in items if item[2] is not None]
            if rows:
                UsageRecord.objects.bulk_create(rows, ignore_conflicts=True)
    except Exception:
        connection.close()
        raise
    return results


async def _commit_async(items: list) -> list:
    if reservations._use_functions():
        return await asyncio.wait_for(_commit_pg(items), settings.AIPOWER_DB_TIMEOUT_SECONDS * 3)
    from asgiref.sync import sync_to_async

    commit = sync_to_async(_commit_orm, thread_sensitive=False)
    return await asyncio.wait_for(commit(items), settings.AIPOWER_DB_TIMEOUT_SECONDS * 3)


async def _after_commit(items: list, results: list) -> None:
    for item, result in zip(items, results, strict=True):
        if not item[3].done():
            item[3].set_result(True)
        if result is None:
            continue
        status, org_id, before, after = result
        if status == "capped":
            log.error("request %s cost %d nUSD, more than its hold: charged the hold", item[0], item[1])
        if status in ("ok", "capped") and after < before:
            try:
                await reservations._balance_fell(org_id, before, after)
            except Exception:  # alerts and recharges must not hold up the queue
                log.exception("balance threshold check failed for org %s", org_id)


async def _commit_forever() -> None:
    from routing.resilience import db_gate

    delay = 0.0
    assert _idle is not None and _wakeup is not None  # made with the worker (record)
    while True:
        if not _queue:
            _idle.set()
            await _wakeup.wait()
            _wakeup.clear()
            continue
        if delay:
            await asyncio.sleep(delay)
        batch = [_queue.popleft() for _ in range(min(len(_queue), settings.AIPOWER_USAGE_BATCH))]
        _in_flight[:] = batch
        try:
            results = await _commit_async(batch)
        except Exception as exc:
            results = None
            if isinstance(exc, db_gate.errors):
                db_gate.failed(exc)
            else:
                log.exception("committing %d settlements and usage rows failed; will retry", len(batch))
            if len(batch) > 1 and not isinstance(exc, db_gate.errors):
                # One bad item must not hold up the others: each goes alone next time.
                results = await _one_by_one(batch)
        _in_flight.clear()
        if results is None:
            for item in batch:
                item[4] += 1
            _queue.extendleft(reversed(batch))  # first again, in their order, once the database is back
            delay = min(max(delay * 2, 0.05), settings.AIPOWER_SETTLE_RETRY_MAX_SECONDS)
        else:
            delay = 0.0
            await _after_commit(
                [i for i, r in zip(batch, results, strict=True) if r is not _FAILED],
                [r for r in results if r is not _FAILED],
            )
            failed = [i for i, r in zip(batch, results, strict=True) if r is _FAILED]
            if failed:
                _queue.extend(failed)  # retried later, behind the rest
                delay = settings.AIPOWER_SETTLE_RETRY_MAX_SECONDS
        _backlog_changed()


_FAILED = object()


async def _one_by_one(batch: list) -> list:
    out = []
    for item in batch:
        try:
            out.append((await _commit_async([item]))[0])
        except Exception:
            log.exception("committing the settlement and usage row of %s failed; will retry", item[0])
            out.append(_FAILED)
    return out
