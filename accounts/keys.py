"""API keys: format, hashing, issuing and the fast lookup the gateway does on every request.

A key looks like ``sk-aip-<32 random base62 characters><6-character checksum>``. The fixed prefix
lets secret scanners find leaked keys; the checksum lets the gateway refuse a mistyped or made-up
key before it touches the database. Only an HMAC of the whole key is stored.
"""

import asyncio
import hashlib
import hmac
import secrets
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aipower.db import db_task

from .models import ApiKey, Organization
from .orgs import organization_row_create
from .scoping import scopes_disabled

KEY_PREFIX = "sk-aip-"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LEN = 32
_CHECK_LEN = 6
KEY_LEN = len(KEY_PREFIX) + _BODY_LEN + _CHECK_LEN
DISPLAY_PREFIX_LEN = len(KEY_PREFIX) + 8


def _checksum(body: str) -> str:
    n = zlib.crc32(body.encode())
    out = []
    for _ in range(_CHECK_LEN):
        n, r = divmod(n, 62)
        out.append(_ALPHABET[r])
    return "".join(out)


def generate_key() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LEN))
    return KEY_PREFIX + body + _checksum(body)


def is_well_formed(raw: str) -> bool:
    if len(raw) != KEY_LEN or not raw.startswith(KEY_PREFIX):
        return False
    body = raw[len(KEY_PREFIX) : -_CHECK_LEN]
    if any(c not in _ALPHABET for c in body):
        return False
    return hmac.compare_digest(_checksum(body), raw[-_CHECK_LEN:])


def hash_key(raw: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), raw.encode(), hashlib.sha256).hexdigest()


@transaction.atomic
def organization_get_or_create(*, name: str) -> Organization:
    org = Organization.objects.filter(name=name).first()
    if org:
        return org
    return organization_row_create(name)


def apikey_create(
    *,
    organization: Organization,
    name: str,
    created_by=None,
    expires_at=None,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    allowed_models: list[str] | None = None,
    route_quality: float | None = None,
) -> tuple[ApiKey, str]:
    """Creates a key and returns it with the full secret, which is never stored or shown again.

    `created_by` owns the key (a member manages the keys they created); the caller has checked
    that they may create keys in `organization`.
    """
    raw = generate_key()
    key = ApiKey.objects.create(
        organization=organization,
        name=name,
        prefix=raw[:DISPLAY_PREFIX_LEN],
        secret_hash=hash_key(raw),
        created_by=created_by,
        expires_at=expires_at,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
        allowed_models=list(allowed_models or []),
        route_quality=route_quality,
    )
    return key, raw


EDITABLE_FIELDS = ("name", "rpm_limit", "tpm_limit", "allowed_models", "route_quality")


def apikey_update(*, key: ApiKey, **changes) -> ApiKey:
    """Renames a key or changes its limits; the gateway sees the change within its cache time."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not editable: {', '.join(sorted(unknown))}")
    for field, value in changes.items():
        setattr(key, field, list(value) if field == "allowed_models" else value)
    key.save(update_fields=list(changes))
    return key


def apikey_revoke(*, key: ApiKey) -> None:
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])


class KeyNotActive(Exception):
    pass


@transaction.atomic
def apikey_rotate(*, key: ApiKey, grace: timedelta) -> tuple[ApiKey, str]:
    """Issues a new secret for `key`: a new key with the same name, owner, expiry and limits.

    The old key keeps working for `grace` (its expiry is brought forward to now + grace), so that
    deployments can switch over; with no grace it is revoked at once.
    """
    old = ApiKey.objects.select_for_update().get(pk=key.pk)
    if not old.is_active():
        raise KeyNotActive("Only an active key can be rotated.")
    kept = (
        "organization",
        "name",
        "created_by",
        "expires_at",
        "rpm_limit",
        "tpm_limit",
        "allowed_models",
        "route_quality",
    )
    new, raw = apikey_create(**{field: getattr(old, field) for field in kept})
    now = timezone.now()
    if grace <= timedelta(0):
        old.revoked_at = now
        old.save(update_fields=["revoked_at"])
    else:
        end = now + grace
        old.expires_at = min(old.expires_at, end) if old.expires_at else end
        old.save(update_fields=["expires_at"])
    return new, raw


# --- The gateway's lookup ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyIdentity:
    key_id: int
    organization_id: int
    expires_at: datetime | None
    rpm_limit: int | None = None  # requests per minute
    tpm_limit: int | None = None  # tokens per minute
    allowed: frozenset[str] = frozenset()  # model public ids and route names; empty: all
    route_quality: float | None = None  # the key's default quality trade-off (0-1); None: the route's


# hash -> (monotonic deadline, KeyIdentity or None). Entries live AIPOWER_KEY_CACHE_SECONDS, so a
# revoked key stops working on every process within that time; the database stays the truth.
_cache: dict[str, tuple[float, KeyIdentity | None]] = {}
_last_used_written: dict[int, float] = {}
LAST_USED_RESOLUTION_S = 30.0


@scopes_disabled()  # a key is looked up by its hash, before anyone knows its organization
def _lookup(secret_hash: str) -> KeyIdentity | None:
    row = (
        ApiKey.objects.filter(secret_hash=secret_hash, revoked_at__isnull=True)
        .values_list(
            "id",
            "organization_id",
            "expires_at",
            "secret_hash",
            "rpm_limit",
            "tpm_limit",
            "allowed_models",
            "route_quality",
        )
        .first()
    )
    if row is None or not hmac.compare_digest(row[3], secret_hash):
        return None
    return KeyIdentity(
        row[0],
        row[1],
        row[2],
        rpm_limit=row[4],
        tpm_limit=row[5],
        allowed=frozenset(row[6] or ()),
        route_quality=row[7],
    )


_lookup_async = db_task(_lookup)


async def authenticate(raw: str) -> KeyIdentity | None:
    if not is_well_formed(raw):
        return None
    digest = hash_key(raw)
    now = time.monotonic()
    hit = _cache.get(digest)
    if hit is not None and hit[0] > now:
        identity = hit[1]
    else:
        # Bounded: a stalled database is the caller's 503 (routing/resilience.py), not a hang.
        identity = await asyncio.wait_for(_lookup_async(digest), settings.AIPOWER_DB_TIMEOUT_SECONDS)
        if len(_cache) > 100_000:
            _cache.clear()
        _cache[digest] = (now + settings.AIPOWER_KEY_CACHE_SECONDS, identity)
    if identity is not None and identity.expires_at is not None and identity.expires_at <= timezone.now():
        return None
    return identity


def needs_last_used_write(key_id: int) -> bool:
    """True at most once per LAST_USED_RESOLUTION_S per key and process."""
    now = time.monotonic()
    if _last_used_written.get(key_id, 0.0) > now:
        return False
    _last_used_written[key_id] = now + LAST_USED_RESOLUTION_S
    return True


@scopes_disabled()
def _touch(key_id: int) -> None:
    ApiKey.objects.filter(pk=key_id).update(last_used_at=timezone.now())


touch_last_used = db_task(_touch)


def clear_cache() -> None:
    _cache.clear()
    _last_used_written.clear()
