"""Which HTTP client for the gateway's upstream calls: CPU time per request of each candidate.

    .venv/bin/python -m bench.clients [--requests 3000] [--concurrency 32]

Starts the provider simulator on CPU 1 and runs each client on CPU 0 against it (non-streaming
chat completions, the gateway's usual call), reporting process CPU time per request: that is
what a client costs the gateway's one core.
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

BODY = orjson.dumps({"model": "deepseek-chat", "messages": [{"role": "user", "content": "hello"}]})
HEADERS = {"content-type": "application/json", "authorization": "Bearer simulated"}


async def _run(call, n: int, concurrency: int) -> float:
    queue = iter(range(n))

    async def worker():
        for _ in queue:
            await call()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return 0.0


async def measure(name: str, url: str, n: int, concurrency: int) -> dict:
    if name == "aiohttp":
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))

        async def call():
            async with session.post(url, data=BODY, headers=HEADERS) as r:
                orjson.loads(await r.read())

        close = session.close
    else:
        transport = (
            AiohttpTransport(limits=httpx.Limits(max_connections=512))
            if name == "httpx+aiohttp"
            else httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=512))
        )
        client = httpx.AsyncClient(transport=transport)

        async def call():
            r = await client.post(url, content=BODY, headers=HEADERS)
            orjson.loads(r.content)

        close = client.aclose
    await _run(call, 200, concurrency)  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    await _run(call, n, concurrency)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await close()
    return {"client": name, "requests": n, "cpu_us_per_request": round(cpu / n * 1e6), "req_per_s": round(n / wall)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args(argv)
    port = 18731
    sim = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, "-m", "simulator", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        os.sched_setaffinity(0, {0})
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/p/deepseek/v1/chat/completions"
        rows = [
            asyncio.run(measure(name, url, args.requests, args.concurrency))
            for name in ("httpx", "httpx+aiohttp", "aiohttp")
        ]
    finally:
        sim.terminate()
        sim.wait(10)
    print(f"{'client':<16}{'CPU µs/request':>16}{'req/s':>10}")
    for r in rows:
        print(f"{r['client']:<16}{r['cpu_us_per_request']:>16}{r['req_per_s']:>10}")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
