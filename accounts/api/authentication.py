from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from ..keys import KEY_PREFIX
from ..tokens import TOKEN_PREFIX, management_token_authenticate


class ManagementTokenAuthentication(BaseAuthentication):
    """``Authorization: Token aip-mt-…`` (or ``Bearer``): acts as the token's user in its organization."""

    keywords = ("token", "bearer")

    def authenticate(self, request):
        parts = get_authorization_header(request).decode("latin-1").split()
        if not parts or parts[0].lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Send `Authorization: Token <management token>`.")
        raw = parts[1]
        if raw.startswith(KEY_PREFIX):
            raise AuthenticationFailed(
                f"That is a gateway API key ({KEY_PREFIX}…), for /v1/. The management API takes a "
                f"management token ({TOKEN_PREFIX}…): create one on the API tokens page."
            )
        found = management_token_authenticate(raw)
        if found is None:
            raise AuthenticationFailed("Unknown or revoked management token.")
        token, membership = found
        token.membership = membership
        return membership.user, token

    def authenticate_header(self, request):
        return "Token"


class ManagementTokenScheme(OpenApiAuthenticationExtension):
    target_class = ManagementTokenAuthentication
    name = "managementToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"`Token {TOKEN_PREFIX}…` (or `Bearer {TOKEN_PREFIX}…`).",
        }
