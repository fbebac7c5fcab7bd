"""Random tokens and their stored form, for invitations and management tokens.

(Gateway keys have their own format and checksum in keys.py.)
"""

import hashlib
import hmac
import secrets

from django.conf import settings

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def digest(raw: str) -> str:
    """HMAC-SHA256 under SECRET_KEY, hex: what is stored instead of a token."""
    return hmac.new(settings.SECRET_KEY.encode(), raw.encode(), hashlib.sha256).hexdigest()
