"""Changing a request's hold after it was placed, and asking how much could still be held.

    await top_up(request_id=..., delta_nusd=...)   # before failing over to a dearer model
    await headroom_nusd(organization_id=..., api_key_id=...)   # to say what is affordable

Both are one round trip to a database function (billing/sql/holds.sql) on PostgreSQL, over the
reservation module's connection pool; on SQLite the same logic runs in Python (holds_orm.py).
"""

from . import holds_orm
from .reservations import InsufficientCredit, _call_retrying, _in_thread, _use_functions

_top_up_orm = _in_thread(holds_orm.top_up)
_headroom_orm = _in_thread(holds_orm.headroom)


class HoldGone(Exception):
    """The request has no live hold any more (settled, released or expired)."""


async def top_up(*, request_id: str, delta_nusd: int) -> None:
    """Raises the request's hold by `delta_nusd`, or raises InsufficientCredit (nothing changes)."""
    if delta_nusd < 0:
        raise ValueError("delta_nusd must not be negative")
    if delta_nusd == 0:
        return
    if _use_functions():
        (status,), _ = await _call_retrying("SELECT billing_top_up(%s, %s)", (request_id, delta_nusd))
    else:
        status = await _top_up_orm(request_id=request_id, delta_nusd=delta_nusd)
    if status == "ok":
        return
    if status == "none":
        raise HoldGone(request_id)
    raise InsufficientCredit(status)


async def headroom_nusd(*, organization_id: int, api_key_id: int | None) -> int | None:
    """What could be held for a new request of this key right now (None: nothing limits it)."""
    if _use_functions():
        (room_nusd,), _ = await _call_retrying("SELECT billing_headroom(%s, %s)", (organization_id, api_key_id))
        return room_nusd
    return await _headroom_orm(organization_id=organization_id, api_key_id=api_key_id)
