"""What the gateway hands the routing policy besides the request's features: the live latency
figures, the messages (for the difficulty estimate) and the caller's quality trade-off.

The trade-off is a number in [0, 1] (0: cheapest, 1: best; the route's default, 0.5 as seeded,
when unset): per request in the `x-aipower-quality` header, else the API key's default.
"""

from .errors import invalid
from .latency import latency

QUALITY_HEADER = "x-aipower-quality"


def parse_quality(raw: str | None) -> float | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        q = float(raw)
    except ValueError:
        q = -1.0
    if not 0.0 <= q <= 1.0:
        raise invalid(
            f"The {QUALITY_HEADER} header must be a number from 0 (cheapest) to 1 (best), got {raw[:40]!r}.",
            param=QUALITY_HEADER,
            code="invalid_value",
        )
    return q


def policy_inputs(headers: dict, key, snapshot, body: dict) -> dict:
    """Keyword arguments for policy.plan beyond the request's features."""
    quality = parse_quality(headers.get(QUALITY_HEADER))
    if quality is None and key is not None:
        quality = getattr(key, "route_quality", None)
    return {
        "stats": latency.stats_for(snapshot.routes.get(body["model"])),
        "messages": body.get("messages"),
        "quality": quality,
    }


def header_safe(reason: str, limit: int = 200) -> str:
    """A reason as an HTTP header value: latin-1 printable, bounded."""
    text = "".join(c if 32 <= ord(c) < 127 else "?" for c in reason)
    return text[:limit]
