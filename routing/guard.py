"""Who is calling, and callers that keep failing to authenticate.

The client's address is the connection's peer, or, when the peer is one of
AIPOWER_TRUSTED_PROXIES (addresses or networks), the right-most address of X-Forwarded-For that
is not itself a trusted proxy; X-Forwarded-For from anyone else is ignored.

Failed authentications are counted per client address, shared by every process through Redis
(routing/limits.py's GCRA; per process while Redis is away): past AIPOWER_AUTH_FAILURES_PER_MINUTE
(with as many at once) an address is refused with 429 before its key is looked at, until the
limit allows again. A process learns an address is over the limit from the shared count on the
address's next failure there. Valid keys pay nothing for this: the check is a dictionary lookup
that finds nothing.
"""

import ipaddress
import time

from django.conf import settings

from . import limits

_blocked: dict[str, float] = {}  # address -> monotonic time it may try again
_trusted = None


def _trusted_networks():
    global _trusted
    if _trusted is None:
        _trusted = tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in settings.AIPOWER_TRUSTED_PROXIES if p.strip()
        )
    return _trusted


def _is_trusted(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in _trusted_networks())


def client_ip(scope, headers: dict) -> str:
    client = scope.get("client")
    peer = client[0] if client else ""
    if not settings.AIPOWER_TRUSTED_PROXIES or not _is_trusted(peer):
        return peer
    forwarded = headers.get("x-forwarded-for")
    if not forwarded:
        return peer
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop):
            return hop
    return hops[0] if hops else peer


def blocked(ip: str) -> float:
    """Seconds this address must wait before trying a key again (0: it may)."""
    if not _blocked:
        return 0.0
    until = _blocked.get(ip)
    if until is None:
        return 0.0
    left = until - time.monotonic()
    if left <= 0:
        del _blocked[ip]
        return 0.0
    return left


async def failed(ip: str) -> None:
    """Counts a failed authentication from `ip`."""
    limit = settings.AIPOWER_AUTH_FAILURES_PER_MINUTE
    if not limit or not ip:
        return
    wait_ms = await limits._gcra(f"af:{ip}", limit, 1)
    if wait_ms:
        if len(_blocked) > 100_000:
            _blocked.clear()
        _blocked[ip] = time.monotonic() + wait_ms / 1000
