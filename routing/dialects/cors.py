"""CORS for browser clients of /v1/: origins from AIPOWER_CORS_ALLOWED_ORIGINS (none by default;
"*" allows any). A preflight is answered without authentication; the API key travels in
Authorization or x-api-key, never in cookies, so credentials are not allowed."""

from django.conf import settings

ALLOW_HEADERS = (
    "authorization, x-api-key, content-type, anthropic-version, anthropic-beta, openai-organization, "
    "openai-project, x-stainless-arch, x-stainless-lang, x-stainless-os, x-stainless-package-version, "
    "x-stainless-runtime, x-stainless-runtime-version, x-stainless-retry-count, "
    "x-stainless-timeout, x-stainless-helper-method, x-aipower-fallback, "
    "anthropic-dangerous-direct-browser-access"
)
EXPOSE_HEADERS = (
    "x-request-id, x-aipower-route, x-aipower-provider, x-aipower-model, x-aipower-attempts, "
    "x-aipower-fallback-from, retry-after"
)
METHODS = "GET, POST, DELETE, OPTIONS"
_allowed: tuple | None = None


def _origins() -> tuple[frozenset, bool]:
    global _allowed
    if _allowed is None:
        origins = frozenset(o.rstrip("/") for o in settings.AIPOWER_CORS_ALLOWED_ORIGINS if o)
        _allowed = (origins, "*" in origins)
    return _allowed


def headers_for(origin: str | None) -> dict | None:
    """The CORS headers to add to a response for a request from `origin`, or None."""
    if not origin:
        return None
    origins, any_origin = _origins()
    if not (any_origin or origin in origins):
        return None
    return {"access-control-allow-origin": origin, "vary": "Origin", "access-control-expose-headers": EXPOSE_HEADERS}


def preflight(origin: str | None, requested_headers: str | None) -> dict:
    """The headers of the 204 answering a preflight. The headers the browser asks for are all
    allowed (the SDKs send their own x-stainless-* set): nothing rides on cookies."""
    h = headers_for(origin)
    if h is None:
        return {"vary": "Origin"}
    h.update(
        {
            "access-control-allow-methods": METHODS,
            "access-control-allow-headers": requested_headers or ALLOW_HEADERS,
            "access-control-max-age": "600",
        }
    )
    return h
