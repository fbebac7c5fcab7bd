"""Streaming pace: chunks spread over time, time to first token, tokens per second, server defaults."""

import time

import orjson

from tests.simulator.helpers import OPENAI_HEADERS, user

PATH = "/p/deepseek/v1/chat/completions"
BODY = {"model": "deepseek-chat", "messages": [user()], "stream": True}


async def content_arrivals(sim, headers, body=BODY):
    """(seconds from the request to the response headers, [seconds from the request to each content chunk])."""
    started = time.monotonic()
    arrivals, buffer = [], b""
    async with sim.session.post(PATH, data=orjson.dumps(body), headers={**OPENAI_HEADERS, **headers}) as r:
        headers_at = time.monotonic() - started
        async for data in r.content.iter_any():
            now = time.monotonic() - started
            buffer += data
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                if frame.startswith(b"data: {") and orjson.loads(frame[6:])["choices"][0]["delta"].get("content"):
                    arrivals.append(now)
    return headers_at, arrivals


async def test_fifty_chunks_over_a_second_arrive_spread_out(sim):
    _, arrivals = await content_arrivals(
        sim, {"x-sim-chunks": "50", "x-sim-stream-ms": "1000", "x-sim-output-tokens": "200"}
    )
    assert len(arrivals) == 50
    span = arrivals[-1] - arrivals[0]
    assert 0.9 <= span <= 2.5
    # Evenly spread: no tenth of a second holds much more than its share (5 chunks).
    assert max(sum(1 for a in arrivals if t <= a < t + 0.1) for t in arrivals) <= 10
    assert arrivals[24] - arrivals[0] >= 0.4


async def test_ttft_delays_the_first_chunk_but_not_the_headers(sim):
    headers_at, arrivals = await content_arrivals(sim, {"x-sim-ttft-ms": "400"})
    assert arrivals[0] >= 0.39
    assert headers_at < arrivals[0] - 0.2


async def test_latency_delays_the_headers_of_a_stream(sim):
    headers_at, _ = await content_arrivals(sim, {"x-sim-latency-ms": "300"})
    assert headers_at >= 0.29


async def test_tokens_per_second_paces_by_tokens(sim):
    _, arrivals = await content_arrivals(sim, {"x-sim-output-tokens": "30", "x-sim-tokens-per-second": "100"})
    # About 30 tokens at 100 tokens/s: the last chunk comes some 0.3 s after the first.
    assert 0.2 <= arrivals[-1] - arrivals[0] <= 1.5


async def test_without_pacing_a_stream_comes_at_once(sim):
    _, arrivals = await content_arrivals(sim, {"x-sim-output-tokens": "300"})
    assert arrivals[-1] - arrivals[0] < 0.2


async def test_server_defaults_apply_without_headers(sim_factory):
    async with sim_factory(stream_ms=500, chunks=10, ttft_ms=100, output_tokens=50) as sim:
        _, arrivals = await content_arrivals(sim, {})
        assert len(arrivals) == 10
        assert arrivals[0] >= 0.09
        assert arrivals[-1] - arrivals[0] >= 0.45
        # A header overrides the default.
        _, arrivals = await content_arrivals(sim, {"x-sim-chunks": "5", "x-sim-stream-ms": "0", "x-sim-ttft-ms": "0"})
        assert len(arrivals) == 5
