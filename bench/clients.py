"""Which HTTP client for the gateway's upstream calls: CPU time per request of each candidate.

    .venv/bin/python -m bench.clients [--requests 3000] [--concurrency 32] [--rounds 1] [--loop uvloop]

Starts the provider simulator on CPU 1 and runs each client on CPU 0 against it, on the event
loop the gateway runs (uvloop), reporting process CPU time per request: that is what a client
costs the gateway's one core. Two calls: a whole chat completion (`complete`) and a stream of
SSE chunks read to its end (`stream`). Each client is called the way the gateway would call it
(a timeout, the request's headers, the body read whole or piece by piece).

Candidates: httpx on its own transport, httpx over aiohttp's (the Anthropic and Gemini
adapters), aiohttp as the OpenAI-format adapter called it before (a ClientTimeout and a header
dict per call), aiohttp tuned (options below), routing/httpclient.py (the client the
OpenAI-format adapter uses), and aiosonic and pyreqwest when installed (not project
dependencies). The machine may be shared: compare rows of one run, and repeat with --rounds.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

import aiohttp
import httpx
import orjson
from httpx_aiohttp import AiohttpTransport

from routing import httpclient

BODY = orjson.dumps({"model": "deepseek-chat", "messages": [{"role": "user", "content": "hello"}]})
STREAM_BODY = orjson.dumps(
    {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hello"}], "stream": True}
)
HEADERS = {"content-type": "application/json", "authorization": "Bearer simulated"}
# Ten content chunks, sent at once (plus the role, finish and usage chunks and [DONE]).
STREAM_HEADERS = {**HEADERS, "x-sim-chunks": "10", "x-sim-ttft-ms": "0", "x-sim-stream-ms": "0"}
CONNECT, READ = 5.0, 60.0
LIMIT = 512


def _headers(stream: bool) -> dict:
    # Built per call, as the adapter builds them from the target.
    return dict(STREAM_HEADERS) if stream else dict(HEADERS)


def _aiohttp_gateway(url: str):
    """aiohttp as routing/adapters/openai_compat.py called it: pool.py's session, a ClientTimeout
    and a header dict per call, resp.read() / resp.content.iter_any()."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=LIMIT, keepalive_timeout=60), trust_env=False)

    def timeout():
        return aiohttp.ClientTimeout(total=None, connect=CONNECT, sock_connect=CONNECT, sock_read=READ)

    async def complete():
        async with session.post(url, data=BODY, headers=_headers(False), timeout=timeout()) as r:
            orjson.loads(await r.read())

    async def stream():
        async with session.post(url, data=STREAM_BODY, headers=_headers(True), timeout=timeout()) as r:
            async for _ in r.content.iter_any():
                pass

    return complete, stream, session.close


def _aiohttp_tuned(url: str):
    """aiohttp with everything per call pre-built or switched off: one ClientTimeout, no cookie
    jar, no auto headers, no decompression (identity asked for), a URL object built once."""
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT, sock_connect=CONNECT, sock_read=READ)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=LIMIT, keepalive_timeout=60, ttl_dns_cache=None),
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
        timeout=timeout,
    )
    target = aiohttp.client.URL(url)
    headers = {**HEADERS, "accept-encoding": "identity"}
    sheaders = {**STREAM_HEADERS, "accept-encoding": "identity"}

    async def complete():
        async with session.post(target, data=BODY, headers=headers, allow_redirects=False) as r:
            orjson.loads(await r.read())

    async def stream():
        async with session.post(target, data=STREAM_BODY, headers=sheaders, allow_redirects=False) as r:
            async for _ in r.content.iter_any():
                pass

    return complete, stream, session.close


def _httpclient(url: str):
    client = httpclient.Client(limit=LIMIT)

    async def complete():
        resp = await client.post(url, BODY, _headers(False), connect_timeout=CONNECT, read_timeout=READ)
        orjson.loads(await resp.read())

    async def stream():
        async with await client.post(
            url, STREAM_BODY, _headers(True), connect_timeout=CONNECT, read_timeout=READ
        ) as resp:
            async for _ in resp:
                pass

    return complete, stream, client.close


def _httpx(url: str, over_aiohttp: bool):
    limits = httpx.Limits(max_connections=LIMIT)
    transport = AiohttpTransport(limits=limits) if over_aiohttp else httpx.AsyncHTTPTransport(limits=limits)
    client = httpx.AsyncClient(transport=transport)

    def timeout():
        return httpx.Timeout(connect=CONNECT, read=READ, write=READ, pool=CONNECT)

    async def complete():
        r = await client.post(url, content=BODY, headers=_headers(False), timeout=timeout())
        orjson.loads(r.content)

    async def stream():
        async with client.stream("POST", url, content=STREAM_BODY, headers=_headers(True), timeout=timeout()) as r:
            async for _ in r.aiter_raw():
                pass

    return complete, stream, client.aclose


def _aiosonic(url: str):
    import aiosonic  # type: ignore[import-not-found]
    from aiosonic.pools import PoolConfig  # type: ignore[import-not-found]
    from aiosonic.timeout import Timeouts  # type: ignore[import-not-found]

    client = aiosonic.HTTPClient(aiosonic.TCPConnector(pool_configs={":default": PoolConfig(size=LIMIT)}))
    timeouts = Timeouts(sock_connect=CONNECT, sock_read=READ, request_timeout=None)

    async def complete():
        r = await client.post(url, data=BODY, headers=_headers(False), timeouts=timeouts)
        orjson.loads(await r.content())

    async def stream():
        r = await client.post(url, data=STREAM_BODY, headers=_headers(True), timeouts=timeouts)
        async for _ in r.read_chunks():
            pass

    async def close():
        await client.connector.cleanup()

    return complete, stream, close


def _pyreqwest(url: str):
    from datetime import timedelta

    from pyreqwest.client import ClientBuilder  # type: ignore[import-not-found]

    client = (
        ClientBuilder()
        .max_connections(LIMIT)
        .connect_timeout(timedelta(seconds=CONNECT))
        .read_timeout(timedelta(seconds=READ))
        .build()
    )

    async def complete():
        r = await client.post(url).body_bytes(BODY).headers(_headers(False)).build().send()
        orjson.loads(bytes(await r.bytes()))

    async def stream():
        async with client.post(url).body_bytes(STREAM_BODY).headers(_headers(True)).build_streamed() as r:
            while await r.body_reader.read_chunk() is not None:
                pass

    return complete, stream, client.close


CANDIDATES = {
    "httpx": lambda url: _httpx(url, False),
    "httpx+aiohttp": lambda url: _httpx(url, True),
    "aiohttp (before)": _aiohttp_gateway,
    "aiohttp tuned": _aiohttp_tuned,
    "aiosonic": _aiosonic,
    "pyreqwest": _pyreqwest,
    "httpclient": _httpclient,
}


async def _run(call, n: int, concurrency: int) -> None:
    queue = iter(range(n))

    async def worker():
        for _ in queue:
            await call()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(name: str, url: str, n: int, concurrency: int) -> dict | None:
    try:
        complete, stream, close = CANDIDATES[name](url)
    except ImportError:
        return None
    row: dict = {"client": name}
    for kind, call, count in (("complete", complete, n), ("stream", stream, n // 2)):
        await _run(call, 200, concurrency)  # warm-up: opens the connections
        cpu, wall = time.process_time(), time.perf_counter()
        await _run(call, count, concurrency)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        row[f"{kind}_cpu_us"] = round(cpu / count * 1e6)
        row[f"{kind}_per_s"] = round(count / wall)
    await close()
    return row


def _runner(loop: str) -> asyncio.Runner:
    if loop == "uvloop":
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    return asyncio.Runner()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=1, help="measure every client this many times, interleaved")
    ap.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    ap.add_argument("--only", nargs="*", help="client names (default: all)")
    args = ap.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aipower.settings")
    port = 18731
    sim = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, "-m", "simulator", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rows = []
    try:
        os.sched_setaffinity(0, {0})
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/p/deepseek/v1/chat/completions"
        for _ in range(args.rounds):
            for name in args.only or CANDIDATES:
                with _runner(args.loop) as runner:
                    row = runner.run(measure(name, url, args.requests, args.concurrency))
                if row is not None:
                    rows.append(row)
    finally:
        sim.terminate()
        sim.wait(10)
    print(f"{'client':<18}{'complete µs CPU':>16}{'req/s':>8}{'stream µs CPU':>15}{'streams/s':>11}")
    for r in rows:
        print(
            f"{r['client']:<18}{r['complete_cpu_us']:>16}{r['complete_per_s']:>8}"
            f"{r['stream_cpu_us']:>15}{r['stream_per_s']:>11}"
        )
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
