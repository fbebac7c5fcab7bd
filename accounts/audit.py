"""The audit log: every change to keys, members, roles, invitations and billing settings, with who
made it. Services call `audit_record` inside their transaction, so an entry exists exactly when
the change committed. Owners read it (`audit_of`).
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from .models import AuditLog, Membership

ACTIONS = {
    "key.create": "created the key",
    "key.update": "changed the key",
    "key.revoke": "revoked the key",
    "key.rotate": "rotated the key",
    "key.delete": "deleted the key",
    "member.join": "joined",
    "member.role": "changed the role of",
    "member.remove": "removed",
    "member.leave": "left",
    "invitation.create": "invited",
    "invitation.cancel": "cancelled the invitation of",
    "billing.settings": "changed the billing settings",
    "billing.key_budget": "set the budget of",
}


def _jsonable(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


def diff(before: dict, after: dict) -> dict:
    """{field: [before, after]} for the fields whose value differs."""
    return {
        f: [_jsonable(before.get(f)), _jsonable(after[f])]
        for f in after
        if _jsonable(before.get(f)) != _jsonable(after[f])
    }


def created(fields: dict) -> dict:
    """{field: [None, value]} for the fields a new object has set (not None, not empty)."""
    return {f: [None, _jsonable(v)] for f, v in fields.items() if v is not None and v != [] and v != ""}


def actor_of(actor) -> tuple[Any, str]:
    """(user, label) for a Membership, a user (an operator in the admin) or a string (the system)."""
    if actor is None:
        return None, "system"
    if isinstance(actor, str):
        return None, f"system: {actor}"[:254]
    if isinstance(actor, Membership):
        user = actor.user
        return user, (user.email or user.get_username())[:254]
    return actor, f"operator {actor.get_username()}"[:254]


def audit_record(
    *, organization_id: int, actor, action: str, target=None, target_label: str = "", changes: dict | None = None
) -> AuditLog:
    """Records one change. `actor`: a Membership, an operator (a user) or a string naming the
    system part that acted; `target`: the model instance changed (its type and id are kept)."""
    assert action in ACTIONS, action
    user, label = actor_of(actor)
    return AuditLog.objects.create(
        organization_id=organization_id,
        actor=user,
        actor_label=label,
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=(target_label or (str(target) if target is not None else ""))[:200],
        changes=changes or {},
    )


def audit_of(membership: Membership) -> QuerySet:
    """The organization's audit log, newest first; owners only."""
    if membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only owners see the audit log.")
    return AuditLog.objects.filter(organization_id=membership.organization_id).order_by("-created_at", "-pk")
