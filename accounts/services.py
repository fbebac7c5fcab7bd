"""API key services: the rules about who may create, change, rotate and revoke a key, for the web
pages and the management API alike, each change recorded in the audit log.

Views validate input (forms, serializers); these functions check the acting member's rights and
the key's state, then make the change in one transaction. `accounts.keys` holds the key format
and the gateway's lookup; its functions take no actor and check nothing (the management command
and tests issue keys with them).

The rules: viewers have no keys; members manage the keys they created, owners and admins every
key of the organization; only an active key (neither revoked nor expired) can be changed or
rotated; revoking a revoked key does nothing.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from . import keys
from .audit import audit_record, created, diff
from .keys import EDITABLE_FIELDS, KeyNotActive
from .models import ApiKey, Membership
from .orgs import NotAllowed

__all__ = ["KeyNotActive", "NotAllowed", "apikey_create", "apikey_revoke", "apikey_rotate", "apikey_update"]


def _check_uses_keys(actor: Membership) -> None:
    if not actor.can_use_keys:
        raise NotAllowed("Viewers cannot see or manage API keys.")


def _check_manages(actor: Membership, key: ApiKey) -> None:
    _check_uses_keys(actor)
    if key.organization_id != actor.organization_id:
        raise NotAllowed("This key belongs to another organization.")
    if not actor.is_manager and key.created_by_id != actor.user_id:
        raise NotAllowed("Members manage only the keys they created.")


def _locked(key: ApiKey) -> ApiKey:
    return ApiKey.objects.select_for_update().get(pk=key.pk)


@transaction.atomic
def apikey_create(
    *,
    actor: Membership,
    name: str,
    expires_at: datetime | None = None,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    allowed_models: list[str] | None = None,
    route_quality: float | None = None,
) -> tuple[ApiKey, str]:
    """A new key owned by the actor; returns it with its secret (shown once, never stored)."""
    _check_uses_keys(actor)
    if expires_at is not None and expires_at <= timezone.now():
        raise NotAllowed("An expiry must be in the future.")
    allowed = list(allowed_models or [])
    fields = {
        "name": name,
        "expires_at": expires_at,
        "rpm_limit": rpm_limit,
        "tpm_limit": tpm_limit,
        "allowed_models": allowed,
        "route_quality": route_quality,
    }
    key, raw = keys.apikey_create(
        organization=actor.organization,
        created_by=actor.user,
        name=name,
        expires_at=expires_at,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
        allowed_models=allowed,
        route_quality=route_quality,
    )
    audit_record(
        organization_id=key.organization_id, actor=actor, action="key.create", target=key, changes=created(fields)
    )
    return key, raw


@transaction.atomic
def apikey_update(*, actor: Membership, key: ApiKey, **changes) -> ApiKey:
    """Renames a key or changes its limits and allow-list (EDITABLE_FIELDS)."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not editable: {', '.join(sorted(unknown))}")
    _check_manages(actor, key)
    current = _locked(key)
    if not current.is_active():
        raise KeyNotActive(f"This key is {current.status}; it can no longer be changed.")
    before = {f: getattr(current, f) for f in changes}
    changed = diff(before, changes)
    if changed:
        keys.apikey_update(key=current, **{f: changes[f] for f in changed})
        audit_record(
            organization_id=key.organization_id, actor=actor, action="key.update", target=current, changes=changed
        )
    for field in changes:
        setattr(key, field, getattr(current, field))
    return key


@transaction.atomic
def apikey_revoke(*, actor: Membership, key: ApiKey) -> bool:
    """Revokes the key (it stops working on every gateway within seconds); False if it already was."""
    _check_manages(actor, key)
    current = _locked(key)
    if current.revoked_at is not None:
        return False
    keys.apikey_revoke(key=current)
    key.revoked_at = current.revoked_at
    audit_record(
        organization_id=key.organization_id,
        actor=actor,
        action="key.revoke",
        target=current,
        changes=created({"revoked_at": current.revoked_at}),
    )
    return True


@transaction.atomic
def apikey_rotate(*, actor: Membership, key: ApiKey, grace: timedelta) -> tuple[ApiKey, str]:
    """A new secret for an active key: the old key works `grace` longer (no grace: revoked now)."""
    _check_manages(actor, key)
    new, raw = keys.apikey_rotate(key=key, grace=grace)
    old = ApiKey.objects.get(pk=key.pk)
    changes = {
        "replaced_by": [None, new.pk],
        "grace_seconds": [None, grace.total_seconds()],
        **diff(
            {"expires_at": key.expires_at, "revoked_at": None},
            {"expires_at": old.expires_at, "revoked_at": old.revoked_at},
        ),
    }
    audit_record(organization_id=key.organization_id, actor=actor, action="key.rotate", target=old, changes=changes)
    return new, raw
