"""The Anthropic adapter end to end: complete() and stream() over real HTTP against the provider
simulator (in this process), its prompt cache and its injected faults included."""

import uuid

import orjson
import pytest

from routing.adapters.anthropic import AnthropicAdapter
from routing.adapters.openai_compat import usage_from
from routing.errors import UpstreamError
from tests.adapters.conftest import (
    SIMULATED_FAULTS,
    assemble,
    assert_completion,
    collect,
    content_before_error,
    same_answer,
    upstream_error,
)

ADAPTER = AnthropicAdapter()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def target(claude, sim_target):
    return lambda **controls: sim_target(claude, "/p/anthropic", **controls)


def chat(*messages, **params) -> dict:
    return {"model": "anthropic/claude-sonnet-4-5", "messages": list(messages), **params}


HELLO = chat({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to the team."})


async def test_it_completes_a_chat(http, target):
    result = await ADAPTER.complete(http, target(), HELLO)
    assert_completion(result.body)
    assert result.body["choices"][0]["message"]["content"]
    assert result.body["choices"][0]["finish_reason"] == "stop"
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert result.body["usage"] == result.usage.as_openai()


async def test_it_streams_what_it_completes(http, target):
    whole = await ADAPTER.complete(http, target(), HELLO)
    chunks = await collect(ADAPTER.stream(http, target(), {**HELLO, "stream": True}))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    streamed, usage = assemble(chunks)
    same_answer(whole.body, streamed, usage, ids=False)


async def test_it_calls_tools_whole_and_streamed(http, target):
    request = chat({"role": "user", "content": "Weather in Paris?"}, tools=[WEATHER], tool_choice="required")
    whole = await ADAPTER.complete(http, target(), request)
    calls = whole.body["choices"][0]["message"]["tool_calls"]
    assert calls and calls[0]["function"]["name"] == "get_weather"
    assert "city" in orjson.loads(calls[0]["function"]["arguments"])
    assert whole.body["choices"][0]["finish_reason"] == "tool_calls"
    streamed, usage = assemble(await collect(ADAPTER.stream(http, target(), request)))
    same_answer(whole.body, streamed, usage, ids=False)


async def test_it_continues_after_a_tool_result(http, target):
    result = await ADAPTER.complete(
        http,
        target(),
        chat(
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
            tools=[WEATHER],
        ),
    )
    assert result.body["choices"][0]["message"]["content"]
    assert result.body["choices"][0]["finish_reason"] == "stop"


async def test_it_answers_in_json_whole_and_streamed(http, target):
    request = chat(
        {"role": "user", "content": "A city, please."},
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "city",
                "schema": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
                    "required": ["city", "country"],
                },
            },
        },
    )
    whole = await ADAPTER.complete(http, target(), request)
    assert set(orjson.loads(whole.body["choices"][0]["message"]["content"])) >= {"city", "country"}
    assert whole.body["choices"][0]["finish_reason"] == "stop"
    streamed, usage = assemble(await collect(ADAPTER.stream(http, target(), request)))
    same_answer(whole.body, streamed, usage)


async def test_it_reports_prompt_cache_writes_and_reads(http, target):
    manual = "You answer questions about the manual. " + "The manual says many things. " * 200
    system = [{"type": "text", "text": manual, "cache_control": {"type": "ephemeral"}}]
    request = chat({"role": "system", "content": system}, {"role": "user", "content": "What does it say?"})
    first = await ADAPTER.complete(http, target(), request)
    second = await ADAPTER.complete(http, target(), request)
    assert first.usage.cache_write_tokens > 0 and first.usage.cached_tokens == 0
    assert second.usage.cached_tokens == first.usage.cache_write_tokens and second.usage.cache_write_tokens == 0
    assert second.usage.prompt_tokens == first.usage.prompt_tokens


@pytest.mark.parametrize("streaming", [False, True])
async def test_one_hour_writes_are_reported_only_where_the_model_has_a_one_hour_price(
    http, claude, sim_target, streaming
):
    from dataclasses import replace

    def ask(model) -> dict:
        # A manual of its own each time: the simulator's prompt cache outlives a call.
        manual = f"Manual {uuid.uuid4()}. " + "The manual says many things. " * 200
        system = [{"type": "text", "text": manual, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
        return chat({"role": "system", "content": system}, {"role": "user", "content": "What does it say?"})

    async def usage_of(model):
        target = sim_target(model, "/p/anthropic")
        if streaming:
            # The usage chunk read back as the gateway reads it.
            return usage_from(assemble(await collect(ADAPTER.stream(http, target, ask(model))))[1])
        return (await ADAPTER.complete(http, target, ask(model))).usage

    priced = replace(claude, cache_write_1h_price_usd_micro_per_mtok=6_000_000)
    hour = await usage_of(priced)
    assert hour.cache_write_tokens > 1000 and hour.cache_write_1h_tokens == hour.cache_write_tokens
    # Without a 1-hour price the mark goes without its ttl: Claude writes for five minutes.
    assert claude.cache_write_1h_price_usd_micro_per_mtok is None
    five = await usage_of(claude)
    assert five.cache_write_tokens == hour.cache_write_tokens and five.cache_write_1h_tokens == 0


@pytest.mark.parametrize("fault, kind, status, retryable, caller_fault", SIMULATED_FAULTS)
@pytest.mark.parametrize("streaming", [False, True])
async def test_it_maps_the_vendors_errors(http, target, fault, kind, status, retryable, caller_fault, streaming):
    err = await upstream_error(ADAPTER, http, target(fault=fault), HELLO, streaming=streaming)
    assert (err.kind, err.status, err.retryable, err.caller_fault) == (kind, status, retryable, caller_fault)


async def test_it_passes_retry_after_on(http, target):
    with pytest.raises(UpstreamError) as e:
        await ADAPTER.complete(http, target(fault="status:429:retry-after=7"), HELLO)
    assert (e.value.status, e.value.retry_after) == (429, 7)


@pytest.mark.parametrize("fault", ["error-event:2", "drop-mid-stream:2"])
async def test_it_reports_a_stream_that_breaks_after_content(http, target, fault):
    content, err = await content_before_error(ADAPTER, http, target(fault=fault), HELLO)
    assert content and (err.kind, err.retryable) == ("stream", True)


async def test_it_reports_a_dropped_connection_and_a_timeout(http, target):
    with pytest.raises(UpstreamError) as e:
        await ADAPTER.complete(http, target(fault="drop"), HELLO)
    assert e.value.kind in ("connect", "timeout") and e.value.retryable
    with pytest.raises(UpstreamError) as e:
        await ADAPTER.complete(http, target(read_timeout=0.2, fault="slow-first-byte:1000"), HELLO)
    assert (e.value.kind, e.value.retryable) == ("timeout", True)
