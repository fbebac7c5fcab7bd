"""Injected faults: each spec in each wire format, targeted header rules, and the control API."""

import asyncio
import time

import aiohttp
import orjson
import pytest

from tests.simulator.helpers import ANTHROPIC_HEADERS, GEMINI_HEADERS, OPENAI_HEADERS, parse_sse, user

OPENAI = ("/p/deepseek/v1/chat/completions", OPENAI_HEADERS, {"model": "deepseek-chat", "messages": [user()]})
ANTHROPIC = (
    "/p/anthropic/v1/messages",
    ANTHROPIC_HEADERS,
    {"model": "claude-sonnet-4", "max_tokens": 100, "messages": [user()]},
)
GEMINI = (
    "/p/google/v1beta/models/gemini-2.5-flash:generateContent",
    GEMINI_HEADERS,
    {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]},
)
GEMINI_STREAM = ("/p/google/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", GEMINI_HEADERS, GEMINI[2])


def streaming(call):
    path, headers, body = call
    if call is GEMINI:
        return GEMINI_STREAM
    return path, headers, {**body, "stream": True}


async def post(sim, call, fault=None, **headers):
    path, base, body = call
    extra = {"x-sim-fault": fault} if fault else {}
    return await sim.post(path, body, {**base, **extra, **headers})


async def read_until_cut(sim, call, fault):
    """(bytes received, whether the connection was cut before the body ended)."""
    path, headers, body = streaming(call)
    received = b""
    async with sim.session.post(path, data=orjson.dumps(body), headers={**headers, "x-sim-fault": fault}) as r:
        assert r.status == 200
        try:
            async for data in r.content.iter_any():
                received += data
        except aiohttp.ClientPayloadError:
            return received, True
    return received, False


@pytest.mark.parametrize(
    "call, status, check",
    [
        (OPENAI, 503, lambda e: e["error"]["type"] == "server_error"),
        (OPENAI, 500, lambda e: e["error"]["type"] == "server_error"),
        (OPENAI, 429, lambda e: e["error"]["type"] == "rate_limit_exceeded"),
        (OPENAI, 401, lambda e: e["error"]["type"] == "authentication_error"),
        (OPENAI, 400, lambda e: e["error"]["type"] == "invalid_request_error"),
        (ANTHROPIC, 529, lambda e: e["error"]["type"] == "overloaded_error"),
        (ANTHROPIC, 500, lambda e: e["error"]["type"] == "api_error"),
        (ANTHROPIC, 429, lambda e: e["error"]["type"] == "rate_limit_error"),
        (ANTHROPIC, 404, lambda e: e["error"]["type"] == "not_found_error"),
        (ANTHROPIC, 401, lambda e: e["error"]["type"] == "authentication_error"),
        (ANTHROPIC, 400, lambda e: e["error"]["type"] == "invalid_request_error"),
        (GEMINI, 503, lambda e: e["error"]["status"] == "UNAVAILABLE"),
        (GEMINI, 429, lambda e: e["error"]["status"] == "RESOURCE_EXHAUSTED"),
        (GEMINI, 500, lambda e: e["error"]["status"] == "INTERNAL"),
        (GEMINI, 404, lambda e: e["error"]["status"] == "NOT_FOUND"),
    ],
)
async def test_a_status_fault_answers_the_vendors_error(sim, call, status, check):
    got, _, body = await post(sim, call, f"status:{status}")
    assert got == status
    assert check(body)
    if call is OPENAI:
        assert set(body["error"]) == {"message", "type", "param", "code"}
    elif call is ANTHROPIC:
        assert body["type"] == "error" and body["error"]["message"]
    else:
        assert body["error"]["code"] == status and body["error"]["message"]


@pytest.mark.parametrize("call", [OPENAI, ANTHROPIC, GEMINI])
async def test_a_429_fault_can_say_when_to_retry(sim, call):
    status, headers, body = await post(sim, call, "status:429:retry-after=7")
    assert status == 429 and headers["Retry-After"] == "7"
    if call is GEMINI:
        assert body["error"]["details"][0]["retryDelay"] == "7s"


async def test_a_context_fault_is_the_vendors_context_length_error(sim):
    _, _, body = await post(sim, OPENAI, "status:400:context")
    assert body["error"]["code"] == "context_length_exceeded"
    assert body["error"]["type"] == "invalid_request_error"
    _, _, body = await post(sim, ANTHROPIC, "status:400:context")
    assert body["error"]["type"] == "invalid_request_error" and "prompt is too long" in body["error"]["message"]
    status, _, body = await post(sim, GEMINI, "status:400:context")
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert "exceeds the maximum number of tokens" in body["error"]["message"]


async def test_hang_never_answers_and_the_server_keeps_serving(sim):
    path, headers, body = OPENAI
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        async with sim.session.post(
            path,
            data=orjson.dumps(body),
            headers={**headers, "x-sim-fault": "hang"},
            timeout=aiohttp.ClientTimeout(total=0.4),
        ) as r:
            await r.read()
    assert time.monotonic() - started >= 0.35
    status, _, _ = await post(sim, OPENAI)
    assert status == 200


@pytest.mark.parametrize("call", [OPENAI, ANTHROPIC, GEMINI])
async def test_drop_closes_the_connection_without_a_response(sim, call):
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(sim, call, "drop")
    path, headers, body = streaming(call)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await sim.post(path, body, {**headers, "x-sim-fault": "drop"})


async def test_drop_mid_stream_cuts_after_n_content_chunks(sim):
    raw, cut = await read_until_cut(sim, OPENAI, "drop-mid-stream:3")
    assert cut
    events = parse_sse(raw)
    assert b"[DONE]" not in raw
    contents = [orjson.loads(d)["choices"][0]["delta"]["content"] for _, d in events]
    assert contents[0] == "" and len(contents) == 4 and all(contents[1:])

    raw, cut = await read_until_cut(sim, ANTHROPIC, "drop-mid-stream:2")
    names = [n for n, _ in parse_sse(raw)]
    assert cut and names == ["message_start", "content_block_start", "ping"] + ["content_block_delta"] * 2

    raw, cut = await read_until_cut(sim, GEMINI, "drop-mid-stream:1")
    assert cut and len(parse_sse(raw)) == 1


async def test_drop_mid_stream_on_a_whole_answer_cuts_its_body(sim):
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(sim, OPENAI, "drop-mid-stream:0")


@pytest.mark.parametrize("n", [0, 2])
async def test_error_event_ends_an_openai_stream_with_an_error(sim, n):
    raw, cut = await read_until_cut(sim, OPENAI, f"error-event:{n}")
    assert not cut and b"[DONE]" not in raw
    events = [orjson.loads(d) for _, d in parse_sse(raw)]
    contents = [e["choices"][0]["delta"]["content"] for e in events[1:-1]]
    assert len(contents) == n and all(contents)
    error = events[-1]["error"]
    assert error["type"] == "server_error" and set(error) == {"message", "type", "param", "code"}


async def test_error_event_in_anthropic_and_gemini_streams(sim):
    raw, cut = await read_until_cut(sim, ANTHROPIC, "error-event:1")
    events = parse_sse(raw)
    assert not cut
    assert [n for n, _ in events] == ["message_start", "content_block_start", "ping", "content_block_delta", "error"]
    assert orjson.loads(events[-1][1]) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }

    raw, cut = await read_until_cut(sim, ANTHROPIC, "error-event:0")
    assert [n for n, _ in parse_sse(raw)][-2:] == ["ping", "error"]

    raw, cut = await read_until_cut(sim, GEMINI, "error-event:2")
    events = [orjson.loads(d) for _, d in parse_sse(raw)]
    assert not cut and len(events) == 3
    assert "candidates" in events[1] and events[2]["error"]["status"] == "INTERNAL"


async def test_error_event_on_a_whole_answer_is_a_server_error(sim):
    status, _, body = await post(sim, OPENAI, "error-event:0")
    assert status == 500 and body["error"]["type"] == "server_error"


async def test_slow_first_byte_and_latency_delay_the_response(sim):
    for headers in ({"x-sim-fault": "slow-first-byte:300"}, {"x-sim-latency-ms": "300"}):
        started = time.monotonic()
        status, _, _ = await post(sim, OPENAI, **headers)
        assert status == 200
        assert time.monotonic() - started >= 0.29


async def test_header_rules_target_providers_and_models(sim):
    rules = "deepseek=status:503;qwen-plus=status:429:retry-after=2;google/gemini-2.5-flash=status:500"
    status, _, _ = await post(sim, OPENAI, rules)
    assert status == 503
    path, headers, body = OPENAI
    status, h, _ = await sim.post(
        "/p/qwen/compatible-mode/v1/chat/completions", {**body, "model": "qwen-plus"}, {**headers, "x-sim-fault": rules}
    )
    assert status == 429 and h["Retry-After"] == "2"
    status, _, _ = await sim.post(
        "/p/qwen/compatible-mode/v1/chat/completions", {**body, "model": "qwen-max"}, {**headers, "x-sim-fault": rules}
    )
    assert status == 200
    status, _, _ = await post(sim, GEMINI, rules)
    assert status == 500
    status, _, _ = await post(sim, ANTHROPIC, rules)
    assert status == 200


async def test_a_bad_control_header_is_a_400_in_the_vendors_format(sim):
    status, _, body = await post(sim, OPENAI, "explode")
    assert status == 400 and "simulator" in body["error"]["message"]
    status, _, body = await post(sim, ANTHROPIC, None, **{"x-sim-chunks": "many"})
    assert status == 400 and body["type"] == "error"


async def test_the_control_api_breaks_one_target_a_number_of_times(sim):
    status, body = await sim.control("POST", "/_sim/faults", {"target": "deepseek", "fault": "status:503", "count": 2})
    assert status == 201 and body["fault"]["count"] == 2
    assert [(await post(sim, OPENAI))[0] for _ in range(3)] == [503, 503, 200]
    assert (await post(sim, ANTHROPIC))[0] == 200
    _, listed = await sim.control("GET", "/_sim/faults")
    assert listed == {"faults": []}


async def test_control_api_faults_last_until_cleared(sim):
    await sim.control("POST", "/_sim/faults", {"target": "claude-sonnet-4", "fault": "status:529", "count": None})
    _, added = await sim.control("POST", "/_sim/faults", {"target": "google", "fault": "drop"})
    assert [(await post(sim, ANTHROPIC))[0] for _ in range(3)] == [529, 529, 529]
    _, listed = await sim.control("GET", "/_sim/faults")
    assert [(f["target"], f["fault"], f["count"], f["hits"]) for f in listed["faults"]] == [
        ("claude-sonnet-4", "status:529", None, 3),
        ("google", "drop", None, 0),
    ]
    status, _ = await sim.control("DELETE", f"/_sim/faults/{added['fault']['id']}")
    assert status == 200
    assert (await post(sim, GEMINI))[0] == 200
    _, cleared = await sim.control("DELETE", "/_sim/faults")
    assert cleared == {"cleared": 1}
    assert (await post(sim, ANTHROPIC))[0] == 200


async def test_the_control_api_rejects_bad_rules(sim):
    for rule in (
        {"target": "x", "fault": "nope"},
        {"target": "", "fault": "hang"},
        {"target": "x", "fault": "hang", "count": 0},
        {"fault": "hang"},
    ):
        status, body = await sim.control("POST", "/_sim/faults", rule)
        assert status == 400 and body["error"]


async def test_header_faults_come_before_control_api_faults(sim):
    await sim.control("POST", "/_sim/faults", {"target": "*", "fault": "status:500", "count": 1})
    assert (await post(sim, OPENAI, "status:429"))[0] == 429
    assert (await post(sim, OPENAI))[0] == 500


async def test_stats_count_requests_per_provider_and_model(sim):
    await post(sim, OPENAI)
    await post(sim, OPENAI, "status:503")
    await post(sim, ANTHROPIC)
    await post(sim, GEMINI)
    path, headers, _ = OPENAI
    await sim.post(path, raw=b"not json", headers=headers)
    status, stats = await sim.control("GET", "/_sim/stats")
    assert status == 200
    assert stats["total"] == 5
    assert stats["providers"] == {"deepseek": 3, "anthropic": 1, "google": 1}
    assert stats["models"] == {"deepseek-chat": 2, "claude-sonnet-4": 1, "gemini-2.5-flash": 1}
    assert stats["by_provider"]["deepseek"] == {"deepseek-chat": 2}
    await sim.control("DELETE", "/_sim/stats")
    _, stats = await sim.control("GET", "/_sim/stats")
    assert stats == {"total": 0, "providers": {}, "models": {}, "by_provider": {}}


async def test_reset_clears_faults_stats_and_the_prompt_cache(sim):
    await sim.control("POST", "/_sim/faults", {"target": "*", "fault": "status:500"})
    status, body = await sim.control("POST", "/_sim/reset")
    assert status == 200
    assert (await post(sim, OPENAI))[0] == 200
    _, stats = await sim.control("GET", "/_sim/stats")
    assert stats["total"] == 1


async def test_health(sim):
    async with sim.session.get("/health") as r:
        assert r.status == 200 and await r.json() == {"status": "ok"}
