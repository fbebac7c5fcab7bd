"""Fetching a price list: one function, so every failure reads the same way."""

import httpx
from django.conf import settings


class FetchError(Exception):
    pass


def fetch(url: str) -> bytes:
    limit = settings.AIPOWER_PRICE_SYNC_MAX_BYTES
    try:
        with (
            httpx.Client(timeout=settings.AIPOWER_PRICE_SYNC_TIMEOUT, follow_redirects=True) as client,
            client.stream("GET", url, headers={"accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise FetchError(f"{url} answered HTTP {response.status_code}")
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise FetchError(f"{url} sent more than {limit} bytes")
            return body
    except httpx.HTTPError as exc:
        raise FetchError(f"could not fetch {url}: {exc.__class__.__name__}: {exc}") from None


def configured() -> list[tuple[str, str]]:
    """(format, url) of each configured source (AIPOWER_PRICE_SOURCES: "format=url,...")."""
    sources = []
    for item in settings.AIPOWER_PRICE_SOURCES:
        fmt, _, url = item.partition("=")
        sources.append((fmt.strip(), url.strip()))
    return sources
