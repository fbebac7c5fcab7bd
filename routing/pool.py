"""The process's upstream connection pools, one set per event loop.

The OpenAI-format adapter, on the hot path of most requests, calls routing/httpclient.py (the
gateway's own HTTP/1.1 client) directly; the other adapters use httpx's API on a transport over
an aiohttp session. Measured with `python -m bench.clients` (CPU per call, one run, uvloop):
httpx's own transport ~2 ms, httpx over aiohttp ~0.2 ms, aiohttp ~75 µs, routing/httpclient.py
~25 µs (streams: ~100 µs with aiohttp, ~40 µs with httpclient).
"""

import asyncio
from dataclasses import dataclass

import aiohttp
import httpx
from django.conf import settings
from httpx_aiohttp import AiohttpTransport

from . import httpclient


@dataclass(slots=True)
class Pool:
    http: httpclient.Client
    session: aiohttp.ClientSession
    client: httpx.AsyncClient


_pools: dict[asyncio.AbstractEventLoop, Pool] = {}


def _pool() -> Pool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        for old in [lp for lp in _pools if lp.is_closed()]:
            del _pools[old]
        n = settings.AIPOWER_UPSTREAM_MAX_CONNECTIONS
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=n, keepalive_timeout=60), trust_env=False)
        client = httpx.AsyncClient(
            transport=AiohttpTransport(client=session),
            timeout=httpx.Timeout(
                settings.AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT, connect=settings.AIPOWER_UPSTREAM_CONNECT_TIMEOUT
            ),
            follow_redirects=False,
        )
        http = httpclient.Client(limit=n, keepalive=60)
        pool = _pools[loop] = Pool(http, session, client)
    return pool


def get_http() -> httpclient.Client:
    return _pool().http


def get_client() -> httpx.AsyncClient:
    return _pool().client


async def close() -> None:
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.http.close()
        await pool.client.aclose()
        if not pool.session.closed:
            await pool.session.close()
