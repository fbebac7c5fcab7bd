"""Management tokens: how scripts call the management API (/api/) as a user in one organization.

Format ``aip-mt-<40 base62 characters>``, distinct from the gateway's ``sk-aip-`` keys: neither
works where the other is expected. Only an HMAC is stored; the token is shown once.
"""

from datetime import timedelta

from django.utils import timezone

from .crypto import digest, random_token
from .models import ManagementToken, Membership
from .scoping import scopes_disabled

TOKEN_PREFIX = "aip-mt-"
DISPLAY_PREFIX_LEN = len(TOKEN_PREFIX) + 6
LAST_USED_RESOLUTION = timedelta(minutes=1)


def management_token_create(*, membership: Membership, name: str) -> tuple[ManagementToken, str]:
    raw = TOKEN_PREFIX + random_token(40)
    token = ManagementToken.objects.create(
        organization_id=membership.organization_id,
        user_id=membership.user_id,
        name=name,
        prefix=raw[:DISPLAY_PREFIX_LEN],
        token_hash=digest(raw),
    )
    return token, raw


def management_token_revoke(*, token: ManagementToken) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])


@scopes_disabled()  # looked up by its hash, before anyone knows its organization
def management_token_authenticate(raw: str) -> tuple[ManagementToken, Membership] | None:
    """The token and its user's current membership, or None (unknown, revoked, user left or inactive)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = (
        ManagementToken.objects.select_related("user", "organization")
        .filter(token_hash=digest(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    membership = (
        Membership.objects.select_related("organization", "user")
        .filter(organization_id=token.organization_id, user_id=token.user_id)
        .first()
    )
    if membership is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ManagementToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token, membership
