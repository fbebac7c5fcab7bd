"""Credit holds for the gateway's request path: reserve before the upstream call, settle after it.

    await reserve(organization_id=..., api_key_id=..., request_id=..., amount_nusd=worst_case)
    try:
        ...  # call upstream
    finally:
        await asyncio.shield(settle(request_id=..., charged_nusd=actual))  # or release(request_id=...)

On PostgreSQL each call is one round trip to a database function (billing/sql/reservations.sql)
over a small pool of async psycopg connections per event loop, with no thread hop: the row lock
on the organization's credit account makes it atomic across every process. On SQLite (the
embedded default) the same logic runs in Python (reservations_orm.py), in a thread.

A reservation that is never settled (its worker was killed) holds credit until `expires_at`;
then the sweeper (`billing.tasks.sweep_reservations`, `manage.py sweep_reservations`) releases it.
"""

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections

from aipower import background

from . import reservations_orm

log = logging.getLogger("aipower.billing")

LIMITS = {
    "balance": "Insufficient credit: your organization's balance does not cover this request. "
    "Top up on the billing page.",
    "org_cap": "Your organization's monthly spending cap has been reached.",
    "key_budget": "This API key's monthly budget has been reached.",
}


class InsufficientCredit(Exception):
    """The request cannot be covered. `limit` says which: "balance", "org_cap" or "key_budget"."""

    def __init__(self, limit: str):
        super().__init__(LIMITS[limit])
        self.limit = limit


class DuplicateReservation(ValueError):
    """A reservation with this request id exists already."""


# --- PostgreSQL: async psycopg, one pool per event loop ------------------------------------------

_pools: dict = {}


def _use_functions() -> bool:
    # From the settings, not `connections` (an asgiref Local: dearer on every call).
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _conninfo() -> str:
    from psycopg.conninfo import make_conninfo

    s = connections["default"].settings_dict
    params = {
        "dbname": s["NAME"],
        "user": s.get("USER") or None,
        "password": s.get("PASSWORD") or None,
        "host": s.get("HOST") or None,
        "port": str(s["PORT"]) if s.get("PORT") else None,
        "connect_timeout": str(settings.AIPOWER_DB_CONNECT_TIMEOUT),
    }
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


conninfo = _conninfo


async def _pool():
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        from psycopg_pool import AsyncConnectionPool

        for old in [lp for lp in _pools if lp.is_closed()]:
            del _pools[old]
        new = AsyncConnectionPool(
            _conninfo(),
            min_size=1,
            max_size=settings.AIPOWER_BILLING_DB_POOL,
            kwargs={"autocommit": True, "prepare_threshold": 0, "application_name": "aipower-billing"},
            open=False,
        )
        await new.open()
        pool = _pools.setdefault(loop, new)
        if pool is not new:  # another task of this loop opened one meanwhile
            await new.close()
    return pool


async def close_pool() -> None:
    """Closes this event loop's connections (at shutdown, and in tests)."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.close()


async def reset_pool() -> None:
    """Drops this event loop's pool after a database outage: the next call opens a fresh one rather
    than waiting out the old one's reconnect back-off."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        asyncio.get_running_loop().create_task(pool.close(timeout=0))


async def _call(sql: str, params: tuple, many: bool = False):
    pool = await _pool()
    # Bounded: a database that cannot be reached is the caller's 503, not a 30 s wait for a connection.
    async with pool.connection(timeout=settings.AIPOWER_DB_TIMEOUT_SECONDS) as conn:
        cur = await conn.execute(sql, params)
        return await (cur.fetchall() if many else cur.fetchone())


async def _call_retrying(sql: str, params: tuple, many: bool = False) -> tuple:
    """One retry on another connection when a pooled one turns out dead (the database restarted,
    a proxy dropped it). Returns the row (`many`: the rows) and whether it was retried."""
    import psycopg
    from psycopg_pool import PoolClosed

    try:
        return await _call(sql, params, many), False
    except PoolClosed:  # replaced after an outage (reset_pool) while this call waited
        return await _call(sql, params, many), True
    except psycopg.OperationalError as e:
        log.warning("billing database call failed (%s); retrying once", e)
        # Is the database there at all? A refused connection says so at once (the caller's 503),
        # rather than a wait for the pool to connect.
        conn = await psycopg.AsyncConnection.connect(_conninfo(), autocommit=True)
        await conn.close()
        await (await _pool()).check()  # drops every other dead idle connection first
        return await _call(sql, params, many), True


async def _fetchall_retrying(sql: str, params: tuple) -> tuple[list, bool]:
    return await _call_retrying(sql, params, many=True)


# --- Holds placed together (PostgreSQL) ------------------------------------------------------------
# The holds asked for in one turn of the event loop go to the database in one statement: one round
# trip and one pooled connection for all of them (under load, many requests arrive together). Each
# is still its own billing_reserve with its own answer; the batch runs in organization order, so
# that two processes' batches take the credit accounts' row locks in the same order.
_HOLDS_SQL = (
    "SELECT x.i, billing_reserve(x.org, x.key, x.request_id, x.amount, %s), billing_headroom(x.org, x.key)"
    " FROM (SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::bigint[]) WITH ORDINALITY"
    " AS u(org, key, request_id, amount, i) ORDER BY u.org, u.i) AS x"
)
# Per event loop: the holds asked for and not yet sent, [organization id, key id, request id,
# amount, future].
_holds_asked: dict[asyncio.AbstractEventLoop, list] = {}


async def _reserve_in_batch(organization_id: int, api_key_id: int | None, request_id: str, amount_nusd: int):
    """(status, room before this batch or None, retried, room taken by earlier holds of the batch)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    asked = _holds_asked.get(loop)
    if asked is None:
        for old in [lp for lp in _holds_asked if lp.is_closed()]:
            del _holds_asked[old]
        asked = _holds_asked[loop] = []
    asked.append([organization_id, api_key_id, request_id, amount_nusd, future])
    if len(asked) == 1:  # the first of a new batch: it is placed one turn of the loop later
        background.start(_place_holds(asked))
    return await future


async def _place_holds(asked: list) -> None:
    try:
        await asyncio.sleep(0)  # one more turn of the loop: the requests that arrived with this one join it
    except asyncio.CancelledError:
        for *_, future in asked:
            future.cancel()
        asked.clear()
        raise
    batch = list(asked)
    asked.clear()
    params = (
        settings.AIPOWER_RESERVATION_TTL_SECONDS,
        [b[0] for b in batch],
        [b[1] for b in batch],
        [b[2] for b in batch],
        [b[3] for b in batch],
    )
    try:
        rows, retried = await _fetchall_retrying(_HOLDS_SQL, params)
    except BaseException as exc:
        cancelled = isinstance(exc, asyncio.CancelledError)
        for *_, future in batch:
            if future.done():
                continue
            if cancelled:
                future.cancel()
            else:
                future.set_exception(exc)
        if cancelled:
            raise
        return
    taken: dict = {}  # (org, key) -> held by earlier holds of this batch (billing_headroom saw none)
    for i, status, room in rows:  # in the order they were placed
        org, key, _rid, amount, future = batch[i - 1]
        before = taken.get((org, key), 0)
        if status == "ok" or (retried and status == "duplicate"):
            taken[(org, key)] = before + amount
        if not future.done():
            future.set_result((status, room, retried, before))


def _in_thread(fn):
    def call(*args, **kwargs):
        close_old_connections()
        return fn(*args, **kwargs)

    return sync_to_async(call, thread_sensitive=False)


_reserve_orm = _in_thread(reservations_orm.reserve)
_settle_orm = _in_thread(reservations_orm.settle)


# --- The API ---------------------------------------------------------------------------------------


class Room:
    """What an organization and key could still hold, as last seen: `nusd` (None: nothing limits
    it) at `monotonic` time. Filled in by reserve() on PostgreSQL, where it costs nothing extra
    (the same statement); None on SQLite."""

    __slots__ = ("nusd", "monotonic")

    def __init__(self, nusd: int | None, at: float):
        self.nusd, self.monotonic = nusd, at


async def reserve(*, organization_id: int, api_key_id: int | None, request_id: str, amount_nusd: int) -> Room | None:
    """Holds `amount_nusd` of the organization's credit for this request, or raises InsufficientCredit
    (balance, monthly spending cap or the key's monthly budget). Raises DuplicateReservation when the
    request id is held already. Returns what is left to hold once this hold is placed (PostgreSQL;
    an estimate: others may hold meanwhile), or None when that is not known."""
    if amount_nusd < 0:
        raise ValueError("amount_nusd must not be negative")
    ttl = settings.AIPOWER_RESERVATION_TTL_SECONDS
    if _use_functions():
        async with asyncio.timeout(settings.AIPOWER_DB_TIMEOUT_SECONDS):
            # billing_headroom is STABLE: it reads the statement's snapshot, from before the batch.
            status, room, retried, taken = await _reserve_in_batch(organization_id, api_key_id, request_id, amount_nusd)
        if retried and status == "duplicate":
            status = "ok"  # the lost call had committed: the hold is this request's own
        if status == "ok":
            return Room(None if room is None else room - taken - amount_nusd, time.monotonic())
    else:
        status = await _reserve_orm(
            organization_id=organization_id,
            api_key_id=api_key_id,
            request_id=request_id,
            amount_nusd=amount_nusd,
            ttl_s=ttl,
        )
    if status == "ok":
        return None
    if status == "duplicate":
        raise DuplicateReservation(request_id)
    raise InsufficientCredit(status)


async def settle(*, request_id: str, charged_nusd: int) -> None:
    """Charges the request's actual cost and releases its hold, once: a second call does nothing.
    A charge above the hold is cut to the hold (and logged): the hold is the most a request may
    cost its organization, so balances, caps and budgets are never overspent."""
    if charged_nusd < 0:
        raise ValueError("charged_nusd must not be negative")
    if _use_functions():
        # Settling is idempotent, so a retry after a lost connection is always safe.
        (status, org_id, before_nusd, after_nusd), _ = await _call_retrying(
            "SELECT * FROM billing_settle(%s, %s)", (request_id, charged_nusd)
        )
    else:
        status, org_id, before_nusd, after_nusd = await _settle_orm(request_id=request_id, charged_nusd=charged_nusd)
    if status == "capped":
        log.error("request %s cost %d nUSD, more than its hold: charged the hold", request_id, charged_nusd)
    if status in ("ok", "capped") and after_nusd < before_nusd:
        try:
            await _balance_fell(org_id, before_nusd, after_nusd)
        except Exception:  # the charge is done; alerts and recharges must not fail the request
            log.exception("balance threshold check failed for org %s", org_id)


async def checkpoint(*, request_id: str, charged_nusd: int, row: dict) -> None:
    """Writes down a stream's progress on its reservation (at most its hold): what the sweeper
    charges, with `row` as its usage row, should the stream's process die. Never raises."""
    import json

    try:
        if _use_functions():
            async with asyncio.timeout(settings.AIPOWER_DB_TIMEOUT_SECONDS):
                await _call(
                    "UPDATE billing_reservation SET checkpoint_nusd = LEAST(%s, amount_nusd), "
                    "checkpoint_row = %s WHERE request_id = %s AND NOT expired RETURNING 1",
                    (charged_nusd, json.dumps(row), request_id),
                )
        else:
            from .models import Reservation

            await _in_thread(
                lambda: Reservation.objects.filter(request_id=request_id, expired=False).update(
                    checkpoint_nusd=charged_nusd, checkpoint_row=row
                )
            )()
    except Exception as exc:  # a missed checkpoint only widens what a crash may leave unbilled
        log.warning("stream checkpoint of %s not written: %r", request_id, exc)


async def release(*, request_id: str) -> None:
    """Releases the hold of a request that ends with nothing to charge."""
    await settle(request_id=request_id, charged_nusd=0)


# --- Balance thresholds: auto-recharge and low-balance emails ---------------------------------------

# org id -> (valid until, thresholds in nano-USD): a settle that crosses none of them costs nothing.
_thresholds: dict[int, tuple[float, tuple[int, ...]]] = {}


def _thresholds_of(org_id: int) -> tuple[int, ...]:
    from .models import CreditAccount

    row = (
        CreditAccount.objects.filter(organization_id=org_id)
        .values_list("auto_recharge_enabled", "auto_recharge_threshold_nusd", "alert_thresholds_nusd")
        .first()
    )
    if row is None:
        return ()
    enabled, recharge_at_nusd, alerts_nusd = row
    return tuple(sorted({int(t) for t in alerts_nusd or ()} | ({recharge_at_nusd} if enabled else set())))


_thresholds_of_async = _in_thread(_thresholds_of)


def forget_thresholds(org_id: int) -> None:
    _thresholds.pop(org_id, None)


async def _balance_fell(org_id: int, before_nusd: int, after_nusd: int) -> None:
    now = time.monotonic()
    hit = _thresholds.get(org_id)
    if hit is None or hit[0] < now:
        hit = _thresholds[org_id] = (now + settings.AIPOWER_KEY_CACHE_SECONDS, await _thresholds_of_async(org_id))
    if any(after_nusd < t <= before_nusd for t in hit[1]):
        from .tasks import balance_fell

        await _in_thread(balance_fell.delay)(org_id, before_nusd, after_nusd)


# --- Markup -------------------------------------------------------------------------------------

_markups: dict[int, tuple[float, int]] = {}


def _markup_of(org_id: int) -> int:
    from .models import CreditAccount

    bp = CreditAccount.objects.filter(organization_id=org_id).values_list("markup_bp", flat=True).first()
    return settings.AIPOWER_DEFAULT_MARKUP_BP if bp is None else bp


_markup_of_async = _in_thread(_markup_of)


async def markup_bp_for(org_id: int) -> int:
    """The organization's markup in basis points (its override, or AIPOWER_DEFAULT_MARKUP_BP),
    cached per process for AIPOWER_KEY_CACHE_SECONDS."""
    now = time.monotonic()
    hit = _markups.get(org_id)
    if hit is None or hit[0] < now:
        if len(_markups) > 100_000:
            _markups.clear()
        bp = await asyncio.wait_for(_markup_of_async(org_id), settings.AIPOWER_DB_TIMEOUT_SECONDS)
        hit = _markups[org_id] = (now + settings.AIPOWER_KEY_CACHE_SECONDS, bp)
    return hit[1]


# --- The sweeper ----------------------------------------------------------------------------------


def sweep_expired(limit: int = 1000) -> int:
    """Releases the holds of reservations past their expiry; returns how many (sync: Celery, command).
    A stream that checkpointed its progress (its process died mid-way) is first charged what it had
    delivered at its last checkpoint, and its usage row written, in one transaction."""
    _charge_checkpoints(limit)
    if _use_functions():
        with connections["default"].cursor() as cur:
            cur.execute("SELECT billing_sweep(%s)", [limit])
            return cur.fetchone()[0]
    return reservations_orm.sweep(limit=limit)


def _charge_checkpoints(limit: int) -> None:
    from datetime import datetime

    from django.db import transaction
    from django.utils import timezone

    from analytics.models import UsageRecord

    from .models import Reservation
    from .settlement import _settle_in

    with transaction.atomic():
        due = list(
            Reservation.objects.select_for_update(skip_locked=True).filter(
                expired=False, expires_at__lt=timezone.now(), checkpoint_nusd__gt=0
            )[:limit]
        )
        if not due:
            return
        with connections["default"].cursor() as cursor:
            for r in due:
                _settle_in(cursor, r.request_id, r.checkpoint_nusd)
        rows = []
        for r in due:
            if r.checkpoint_row:
                fields = dict(r.checkpoint_row)
                fields["created_at"] = datetime.fromisoformat(fields["created_at"])
                fields["charged_nusd"] = min(fields["charged_nusd"], r.checkpoint_nusd)
                rows.append(UsageRecord(**fields))
        UsageRecord.objects.bulk_create(rows, ignore_conflicts=True)
