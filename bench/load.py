"""The load generator: plain aiohttp on one event loop, timing each request from just before it is
sent to the end of its body (or, for streams, to each content event's arrival)."""

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
import orjson

perf = time.perf_counter


@dataclass(slots=True)
class Endpoint:
    """Where a series of requests goes and what it sends (the body pre-encoded once)."""

    name: str
    url: str
    body: bytes
    headers: dict


@dataclass(slots=True)
class Reply:
    ok: bool
    status: int
    seconds: float
    headers: dict | None = None
    error: str = ""


@dataclass(slots=True)
class StreamReply:
    ok: bool
    status: int
    ttft: float | None = None  # seconds from sending to the first event that carries content
    arrivals: list = field(default_factory=list)  # arrival time (seconds after sending) of each content event
    done: bool = False  # [DONE] seen
    total: float = 0.0
    error: str = ""


def session(connections: int = 128) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=connections, limit_per_host=connections, ttl_dns_cache=None, use_dns_cache=True, keepalive_timeout=60
    )
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60), auto_decompress=False)


async def request(s: aiohttp.ClientSession, ep: Endpoint, keep_headers: bool = False) -> Reply:
    t0 = perf()
    try:
        async with s.post(ep.url, data=ep.body, headers=ep.headers) as r:
            await r.read()
            elapsed = perf() - t0
            return Reply(
                r.status == 200,
                r.status,
                elapsed,
                dict(r.headers) if keep_headers else None,
                "" if r.status == 200 else f"HTTP {r.status}",
            )
    except (TimeoutError, aiohttp.ClientError) as exc:
        return Reply(False, 0, perf() - t0, None, f"{type(exc).__name__}: {exc}")


def _has_content(data: bytes) -> bool:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    for choice in obj.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content"):
            return True
    return False


async def stream(s: aiohttp.ClientSession, ep: Endpoint) -> StreamReply:
    t0 = perf()
    try:
        async with s.post(ep.url, data=ep.body, headers=ep.headers) as r:
            if r.status != 200:
                await r.read()
                return StreamReply(False, r.status, total=perf() - t0, error=f"HTTP {r.status}")
            out = StreamReply(True, 200)
            buf = b""
            async for piece in r.content.iter_any():
                now = perf() - t0
                buf += piece
                while True:
                    end = buf.find(b"\n\n")
                    if end < 0:
                        break
                    event, buf = buf[:end], buf[end + 2 :]
                    for line in event.split(b"\n"):
                        if not line.startswith(b"data:"):
                            continue
                        data = line[5:].strip()
                        if data == b"[DONE]":
                            out.done = True
                        elif _has_content(data):
                            out.arrivals.append(now)
            out.total = perf() - t0
            out.ttft = out.arrivals[0] if out.arrivals else None
            if not out.done or out.ttft is None:
                out.ok = False
                out.error = "no [DONE]" if not out.done else "no content event"
            return out
    except (TimeoutError, aiohttp.ClientError) as exc:
        return StreamReply(False, 0, total=perf() - t0, error=f"{type(exc).__name__}: {exc}")


async def interleaved(s, a: Endpoint, b: Endpoint, n: int, fn=request) -> tuple[list, list]:
    """n requests to each of a and b, one at a time, alternating which goes first in each pair so
    that both series see the same machine, the same moments and the same warm caches."""
    ra, rb = [], []
    for i in range(n):
        if i % 2 == 0:
            ra.append(await fn(s, a))
            rb.append(await fn(s, b))
        else:
            rb.append(await fn(s, b))
            ra.append(await fn(s, a))
    return ra, rb


@dataclass(slots=True)
class Throughput:
    concurrency: int
    seconds: float
    ok: int
    errors: int
    latencies: list
    error_samples: list

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


async def closed_loop(s, ep: Endpoint, concurrency: int, duration: float) -> Throughput:
    """`concurrency` workers, each sending its next request as soon as the last one ends, for
    `duration` seconds (requests in flight at the deadline finish and count; so does their time)."""
    latencies, errors = [], []
    start = perf()
    deadline = start + duration

    async def worker():
        while perf() < deadline:
            r = await request(s, ep)
            if r.ok:
                latencies.append(r.seconds)
            else:
                errors.append(r.error)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = perf() - start
    return Throughput(concurrency, elapsed, len(latencies), len(errors), latencies, sorted(set(errors))[:5])
