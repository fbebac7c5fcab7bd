"""The Gemini adapter end to end: complete() and stream() over real HTTP against the provider
simulator (in this process), its injected faults included."""

import orjson
import pytest

from routing.adapters.gemini import GeminiAdapter
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

ADAPTER = GeminiAdapter()
MEETING = {
    "type": "function",
    "function": {
        "name": "schedule_meeting",
        "description": "Schedules a meeting.",
        "parameters": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "attendees": {"type": "array", "items": {"type": "string"}},
                "topic": {"type": ["string", "null"]},
            },
            "required": ["attendees"],
        },
    },
}


@pytest.fixture
def target(gemini, sim_target):
    return lambda **controls: sim_target(gemini, "/p/google/v1beta", **controls)


def chat(*messages, **params) -> dict:
    return {"model": "google/gemini-2.5-flash", "messages": list(messages), **params}


HELLO = chat({"role": "system", "content": "You are a cat."}, {"role": "user", "content": "Hello there"})


async def test_it_completes_a_chat(http, target):
    result = await ADAPTER.complete(http, target(reasoning_tokens=12), HELLO)
    assert_completion(result.body)
    assert result.body["choices"][0]["message"]["content"]
    assert result.body["choices"][0]["finish_reason"] == "stop"
    assert result.usage.prompt_tokens > 0 and result.usage.reasoning_tokens == 12
    assert result.usage.completion_tokens > 12
    assert result.body["usage"] == result.usage.as_openai()


async def test_it_streams_what_it_completes(http, target):
    whole = await ADAPTER.complete(http, target(), HELLO)
    chunks = await collect(ADAPTER.stream(http, target(), HELLO))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(chunks) > 4  # the text came in pieces
    streamed, usage = assemble(chunks)
    same_answer(whole.body, streamed, usage)


async def test_it_calls_tools_whole_and_streamed(http, target):
    request = chat(
        {"role": "user", "content": "Meet Bob and Alice about Q3."},
        tools=[MEETING],
        tool_choice={"type": "function", "function": {"name": "schedule_meeting"}},
    )
    whole = await ADAPTER.complete(http, target(), request)
    calls = whole.body["choices"][0]["message"]["tool_calls"]
    assert [c["id"] for c in calls] == ["call_0_schedule_meeting"]
    assert "attendees" in orjson.loads(calls[0]["function"]["arguments"])
    assert whole.body["choices"][0]["finish_reason"] == "tool_calls"
    streamed, usage = assemble(await collect(ADAPTER.stream(http, target(), request)))
    same_answer(whole.body, streamed, usage)


async def test_it_continues_after_a_tool_result(http, target):
    result = await ADAPTER.complete(
        http,
        target(),
        chat(
            {"role": "user", "content": "Meet Bob."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_0_schedule_meeting",
                        "type": "function",
                        "function": {"name": "schedule_meeting", "arguments": '{"attendees": ["Bob"]}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_0_schedule_meeting", "content": '{"status": "scheduled"}'},
            tools=[MEETING],
        ),
    )
    assert result.body["choices"][0]["message"]["content"]
    assert result.body["choices"][0]["finish_reason"] == "stop"


async def test_it_answers_in_json(http, target):
    result = await ADAPTER.complete(
        http,
        target(),
        chat(
            {"role": "user", "content": "A recipe."},
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "recipe",
                    "schema": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "minutes"],
                        "properties": {"name": {"type": "string"}, "minutes": {"type": "integer"}},
                    },
                },
            },
        ),
    )
    assert set(orjson.loads(result.body["choices"][0]["message"]["content"])) >= {"name", "minutes"}


@pytest.mark.parametrize("fault, kind, status, retryable, caller_fault", SIMULATED_FAULTS)
@pytest.mark.parametrize("streaming", [False, True])
async def test_it_maps_the_vendors_errors(http, target, fault, kind, status, retryable, caller_fault, streaming):
    err = await upstream_error(ADAPTER, http, target(fault=fault), HELLO, streaming=streaming)
    assert (err.kind, err.status, err.retryable, err.caller_fault) == (kind, status, retryable, caller_fault)


async def test_it_passes_the_retry_delay_on(http, target):
    with pytest.raises(UpstreamError) as e:
        await ADAPTER.complete(http, target(fault="status:429:retry-after=4"), HELLO)
    assert (e.value.status, e.value.retry_after) == (429, 4)


@pytest.mark.parametrize("fault", ["error-event:2", "drop-mid-stream:2"])
async def test_it_reports_a_stream_that_breaks_after_content(http, target, fault):
    content, err = await content_before_error(ADAPTER, http, target(fault=fault), HELLO)
    assert content and (err.kind, err.retryable) == ("stream", True)


async def test_it_reports_a_timeout_before_the_first_byte(http, target):
    with pytest.raises(UpstreamError) as e:
        await collect(ADAPTER.stream(http, target(read_timeout=0.2, fault="slow-first-byte:1000"), HELLO))
    assert (e.value.kind, e.value.retryable) == ("timeout", True)
