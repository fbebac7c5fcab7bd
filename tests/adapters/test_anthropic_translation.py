"""The Anthropic adapter: OpenAI request -> Messages API body, Messages API answers and stream
events -> OpenAI completions and chunks, vendor errors -> UpstreamError. Vendor payloads follow
the shapes of Anthropic's API reference."""

import httpx
import orjson
import pytest

from routing.adapters.anthropic import (
    EFFORT_FIELD,
    THINKING_FIELD,
    AnthropicAdapter,
    AnthropicStream,
    claude_version,
    effort_for,
    from_anthropic,
    status_error,
    to_anthropic,
)
from routing.adapters.base import STOP_SEQUENCE_FIELD
from routing.adapters.common import tool_call
from routing.errors import GatewayError, UpstreamError
from tests.adapters.conftest import assert_chunks, assert_completion, catalog_model, collect, target_for

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
            "additionalProperties": False,
        },
    },
}


def chat(*messages, **params) -> dict:
    return {"model": "anthropic/claude-sonnet-4-5", "messages": list(messages), **params}


def user(content):
    return {"role": "user", "content": content}


def sse(*events: dict) -> bytes:
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)


# --- Requests -----------------------------------------------------------------------------------


def test_it_moves_system_and_developer_messages_to_the_top_level(claude):
    body = to_anthropic(
        chat(
            {"role": "system", "content": "Be brief."},
            user("Hi"),
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
        ),
        claude,
    )
    assert body["system"] == [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use French."}]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert to_anthropic(chat({"role": "system", "content": "Be brief."}, user("Hi")), claude)["system"] == "Be brief."


def test_it_always_sends_max_tokens(claude):
    assert to_anthropic(chat(user("Hi")), claude)["max_tokens"] == 64000
    assert to_anthropic(chat(user("Hi"), max_tokens=100), claude)["max_tokens"] == 100
    assert to_anthropic(chat(user("Hi"), max_completion_tokens=50, max_tokens=100), claude)["max_tokens"] == 50


def test_it_merges_consecutive_messages_of_one_role(claude):
    body = to_anthropic(
        chat(
            user("a"),
            user([{"type": "text", "text": "b"}]),
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": "d"},
            user("e"),
        ),
        claude,
    )
    assert [(m["role"], [b["text"] for b in m["content"]]) for m in body["messages"]] == [
        ("user", ["a", "b"]),
        ("assistant", ["c", "d"]),
        ("user", ["e"]),
    ]


def test_it_leaves_out_empty_text_and_opens_with_a_user_turn(claude):
    greeting = {"role": "assistant", "content": "Hello! How can I help?"}
    body = to_anthropic(chat({"role": "system", "content": "S"}, greeting, user(""), user("Weather?")), claude)
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello! How can I help?"}]},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
    ]


def test_it_translates_images(claude):
    body = to_anthropic(
        chat(
            user(
                [
                    {"type": "text", "text": "What is in these images?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
                    {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/a.jpg", "detail": "high"}},
                ]
            )
        ),
        claude,
    )
    assert body["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}},
        {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/a.jpg"}},
    ]


def test_it_sends_pdf_files_as_documents_and_passes_cache_control_on(claude):
    body = to_anthropic(
        chat(
            user(
                [
                    {
                        "type": "file",
                        "file": {"filename": "paper.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"},
                    },
                    {"type": "text", "text": "Summarise it.", "cache_control": {"type": "ephemeral"}},
                ]
            )
        ),
        claude,
    )
    assert body["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
            "title": "paper.pdf",
        },
        {"type": "text", "text": "Summarise it.", "cache_control": {"type": "ephemeral"}},
    ]


def test_a_one_hour_cache_mark_goes_as_it_is_only_to_a_model_with_a_one_hour_price(claude):
    from dataclasses import replace

    hour = {"type": "ephemeral", "ttl": "1h"}
    request = chat(
        {"role": "system", "content": [{"type": "text", "text": "Policy.", "cache_control": hour}]},
        user([{"type": "text", "text": "Manual.", "cache_control": hour}, {"type": "text", "text": "Go."}]),
        {"role": "assistant", "content": None, "tool_calls": [tool_call("call_1", "get_weather", "{}")]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "18C", "cache_control": hour}]},
        tools=[{**WEATHER_TOOL, "cache_control": hour}],
    )

    def marks(body) -> list:
        blocks = body["tools"] + body["system"] + [b for m in body["messages"] for b in m["content"]]
        return [b["cache_control"] for b in blocks if "cache_control" in b]

    # The fixture's model has no 1-hour cache-write price: every mark caches for five minutes.
    assert claude.cache_write_1h_price_usd_micro_per_mtok is None
    assert marks(to_anthropic(request, claude)) == [{"type": "ephemeral"}] * 4
    priced = replace(claude, cache_write_1h_price_usd_micro_per_mtok=6_000_000)
    assert marks(to_anthropic(request, priced)) == [hour] * 4
    assert request["tools"][0]["cache_control"] == hour  # the caller's request is left as it was


def test_it_reads_cache_writes_split_by_lifetime():
    _, usage = from_anthropic(
        {
            "content": [{"type": "text", "text": "Hi"}],
            "stop_reason": "end_turn",
            "usage": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 3000,
                "cache_read_input_tokens": 500,
                "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
                "output_tokens": 5,
            },
        }
    )
    assert (usage.prompt_tokens, usage.cached_tokens, usage.cache_write_tokens, usage.cache_write_1h_tokens) == (
        3510,
        500,
        3000,
        2000,
    )
    assert usage.as_openai()["prompt_tokens_details"] == {
        "cached_tokens": 500,
        "cache_write_tokens": 3000,
        "cache_write_1h_tokens": 2000,
    }


def test_it_passes_a_tools_cache_control_on(claude):
    cached = {**WEATHER_TOOL, "cache_control": {"type": "ephemeral"}}
    body = to_anthropic(chat(user("Weather?"), tools=[WEATHER_TOOL, cached]), claude)
    assert "cache_control" not in body["tools"][0]
    assert body["tools"][1]["cache_control"] == {"type": "ephemeral"}
    assert body["tools"][1]["name"] == WEATHER_TOOL["function"]["name"]


def test_it_translates_tool_calls_and_merges_their_results(claude):
    body = to_anthropic(
        chat(
            user("Weather in Paris and in functions-land?"),
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_abc",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
                    },
                    {
                        "id": "functions.get_weather:1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_abc", "content": "18C"},
            {
                "role": "tool",
                "tool_call_id": "functions.get_weather:1",
                "content": [{"type": "text", "text": "unknown"}],
            },
            tools=[WEATHER_TOOL],
        ),
        claude,
    )
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_abc", "name": "get_weather", "input": {"location": "Paris"}},
                {"type": "tool_use", "id": "functions_get_weather_1", "name": "get_weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_abc", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "functions_get_weather_1",
                    "content": [{"type": "text", "text": "unknown"}],
                },
            ],
        },
    ]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        }
    ]


def test_it_rejects_tool_call_arguments_that_are_not_a_json_object(claude):
    bad = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "[1]"}}],
    }
    with pytest.raises(GatewayError) as e:
        to_anthropic(chat(user("x"), bad), claude)
    assert e.value.param == "messages[1].tool_calls[0].function.arguments"


@pytest.mark.parametrize(
    "choice, expected",
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ],
)
def test_it_maps_tool_choice(claude, choice, expected):
    assert to_anthropic(chat(user("x"), tools=[WEATHER_TOOL], tool_choice=choice), claude)["tool_choice"] == expected


def test_it_maps_parallel_tool_calls_false(claude):
    body = to_anthropic(chat(user("x"), tools=[WEATHER_TOOL], parallel_tool_calls=False), claude)
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    body = to_anthropic(
        chat(user("x"), tools=[WEATHER_TOOL], tool_choice="required", parallel_tool_calls=False), claude
    )
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_it_maps_sampling_stop_and_user(claude):
    body = to_anthropic(
        chat(
            user("x"),
            temperature=0.7,
            top_p=0.9,
            stop=["\n\nHuman:", "END"],
            user="u-42",
            seed=7,
            store=True,
            stream_options={"include_usage": True},
        ),
        claude,
    )
    assert (body["temperature"], body["top_p"], body["stop_sequences"], body["metadata"]) == (
        0.7,
        0.9,
        ["\n\nHuman:", "END"],
        {"user_id": "u-42"},
    )
    assert "seed" not in body and "store" not in body
    assert to_anthropic(chat(user("x"), stop="END"), claude)["stop_sequences"] == ["END"]


def test_it_rejects_a_temperature_above_one(claude):
    with pytest.raises(GatewayError) as e:
        to_anthropic(chat(user("x"), temperature=1.5), claude)
    assert (e.value.status, e.value.param) == (400, "temperature")


@pytest.mark.parametrize(
    "param, value",
    [
        ("n", 2),
        ("logprobs", True),
        ("top_logprobs", 3),
        ("logit_bias", {"50256": -100}),
        ("presence_penalty", 0.5),
        ("frequency_penalty", -1),
        ("reasoning_effort", "extreme"),
        ("modalities", ["text", "audio"]),
    ],
)
def test_it_rejects_parameters_it_cannot_express(claude, param, value):
    with pytest.raises(GatewayError) as e:
        to_anthropic(chat(user("x"), **{param: value}), claude)
    assert (e.value.status, e.value.param) == (400, param)


def test_it_accepts_the_neutral_values_of_unsupported_parameters(claude):
    to_anthropic(chat(user("x"), n=1, logprobs=False, presence_penalty=0, frequency_penalty=0.0, logit_bias={}), claude)


def test_it_asks_for_json_through_a_forced_tool(claude):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    body = to_anthropic(
        chat(
            user("x"),
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "place", "description": "A place.", "schema": schema, "strict": True},
            },
        ),
        claude,
    )
    assert body["tools"] == [{"name": "json_response", "input_schema": schema, "description": "A place."}]
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"}
    body = to_anthropic(chat(user("x"), response_format={"type": "json_object"}, tools=[WEATHER_TOOL]), claude)
    assert [t["name"] for t in body["tools"]] == ["get_weather", "json_response"]
    assert body["tool_choice"] == {"type": "any"}
    body = to_anthropic(
        chat(user("x"), response_format={"type": "json_object"}, tools=[WEATHER_TOOL], tool_choice="required"), claude
    )
    assert [t["name"] for t in body["tools"]] == ["get_weather"]


def test_it_rejects_json_schemas_anthropic_cannot_take(claude):
    with pytest.raises(GatewayError):
        to_anthropic(
            chat(
                user("x"),
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "list", "schema": {"type": "array", "items": {"type": "string"}}},
                },
            ),
            claude,
        )


# --- Answers ------------------------------------------------------------------------------------

MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "Hello!"}],
    "model": "claude-sonnet-4-5-20250929",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 2095,
        "output_tokens": 503,
        "cache_creation_input_tokens": 2051,
        "cache_read_input_tokens": 30000,
    },
}


def test_it_translates_a_text_answer_and_its_cache_usage():
    body, usage = from_anthropic(MESSAGE)
    assert_completion(body)
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert (body["id"], body["model"], body["object"]) == (MESSAGE["id"], MESSAGE["model"], "chat.completion")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.cache_write_tokens) == (
        2095 + 2051 + 30000,
        503,
        30000,
        2051,
    )
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 30000, "cache_write_tokens": 2051}


def test_it_translates_tool_use_and_thinking():
    body, _ = from_anthropic(
        {
            **MESSAGE,
            "stop_reason": "tool_use",
            "content": [
                {"type": "thinking", "thinking": "The user wants the weather.", "signature": "EqQBCgIYAhIM"},
                {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A09q90qw90lq917835lq9",
                    "name": "get_weather",
                    "input": {"location": "San Francisco, CA", "unit": "celsius"},
                },
            ],
        }
    )
    assert_completion(body)
    msg = body["choices"][0]["message"]
    assert msg["tool_calls"] == [
        {
            "id": "toolu_01A09q90qw90lq917835lq9",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"San Francisco, CA","unit":"celsius"}'},
        }
    ]
    assert msg["content"] == "I'll check the current weather in San Francisco for you."
    assert msg["reasoning_content"] == "The user wants the weather."
    assert body["choices"][0]["finish_reason"] == "tool_calls"


def test_it_gives_no_content_when_the_answer_is_only_tool_calls():
    body, _ = from_anthropic(
        {
            **MESSAGE,
            "stop_reason": "tool_use",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}],
        }
    )
    assert body["choices"][0]["message"]["content"] is None
    assert_completion(body)


def test_it_turns_the_json_tool_into_content():
    body, _ = from_anthropic(
        {
            **MESSAGE,
            "stop_reason": "tool_use",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "json_response", "input": {"city": "Paris"}}],
        },
        json_tool=True,
    )
    assert body["choices"][0]["message"] == {"role": "assistant", "content": '{"city":"Paris"}', "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    "reason, finish",
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("pause_turn", "stop"),
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
        ("something_new", "stop"),
    ],
)
def test_it_maps_stop_reasons(reason, finish):
    content = [{"type": "tool_use", "id": "t", "name": "f", "input": {}}] if reason == "tool_use" else []
    body, _ = from_anthropic({**MESSAGE, "stop_reason": reason, "content": content})
    assert body["choices"][0]["finish_reason"] == finish


def test_it_names_the_matched_stop_sequence_only_when_asked():
    answer = {**MESSAGE, "stop_reason": "stop_sequence", "stop_sequence": "</answer>"}
    body, _ = from_anthropic(answer, stop_sequence=True)
    [choice] = body["choices"]
    assert choice["finish_reason"] == "stop" and choice[STOP_SEQUENCE_FIELD] == "</answer>"
    body, _ = from_anthropic(answer)  # OpenAI's shape has no such field
    assert STOP_SEQUENCE_FIELD not in body["choices"][0]
    body, _ = from_anthropic(MESSAGE, stop_sequence=True)  # a natural end names none
    assert STOP_SEQUENCE_FIELD not in body["choices"][0]


# --- Streams ------------------------------------------------------------------------------------


def _start(usage=None):
    return {
        "type": "message_start",
        "message": {
            "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4-5-20250929",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage or {"input_tokens": 25, "output_tokens": 1},
        },
    }


TEXT_STREAM = [
    _start(),
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 15},
    },
    {"type": "message_stop"},
]


def _translate(events, **kw) -> list[dict]:
    t = AnthropicStream("claude-sonnet-4-5", **kw)
    out = [chunk for e in events for chunk in t.feed(e)]
    return out + t.close()


def test_a_streams_cache_writes_split_by_lifetime_are_read_from_message_start():
    split = {"ephemeral_5m_input_tokens": 700, "ephemeral_1h_input_tokens": 1300}
    start = _start(
        {"input_tokens": 25, "cache_creation_input_tokens": 2000, "cache_creation": split, "output_tokens": 1}
    )
    chunks = _translate([start, *TEXT_STREAM[1:]])
    details = chunks[-1]["usage"]["prompt_tokens_details"]
    assert details == {"cached_tokens": 0, "cache_write_tokens": 2000, "cache_write_1h_tokens": 1300}
    assert chunks[-1]["usage"]["prompt_tokens"] == 2025


def test_it_streams_text_then_the_finish_and_the_usage():
    chunks = _translate(TEXT_STREAM)
    assert_chunks(chunks)
    assert [c["choices"][0]["delta"] for c in chunks[:-1]] == [
        {"role": "assistant", "content": ""},
        {"content": "Hello"},
        {"content": "!"},
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 25
    assert chunks[-1]["usage"]["completion_tokens"] == 15
    assert {c["id"] for c in chunks} == {"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"}


def test_it_streams_the_matched_stop_sequence_with_the_finish_when_asked():
    stopped = [
        *TEXT_STREAM[:-2],
        {
            "type": "message_delta",
            "delta": {"stop_reason": "stop_sequence", "stop_sequence": "</answer>"},
            "usage": {"output_tokens": 15},
        },
        TEXT_STREAM[-1],
    ]
    chunks = _translate(stopped, stop_sequence=True)
    assert_chunks(chunks)
    [finish] = [c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finish["finish_reason"] == "stop" and finish[STOP_SEQUENCE_FIELD] == "</answer>"
    assert all(STOP_SEQUENCE_FIELD not in c["choices"][0] for c in _translate(stopped) if c["choices"])


TOOL_STREAM = [
    _start({"input_tokens": 472, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0, "output_tokens": 2}),
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Okay, let's check"}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {
            "type": "tool_use",
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "name": "get_weather",
            "input": {},
        },
    },
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"location":'}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ' "San Fra'}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": 'ncisco, CA"}'}},
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {"type": "tool_use", "id": "toolu_02", "name": "get_time", "input": {}},
    },
    {"type": "content_block_stop", "index": 2},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 89},
    },
    {"type": "message_stop"},
]


def test_it_streams_tool_calls_with_their_argument_deltas():
    chunks = _translate(TOOL_STREAM)
    assert_chunks(chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert "".join(c["function"]["arguments"] for c in calls if c["index"] == 0) == '{"location": "San Francisco, CA"}'
    assert [c["function"]["arguments"] for c in calls if c["index"] == 1] == ["", "{}"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert (chunks[-1]["usage"]["prompt_tokens"], chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"]) == (
        572,
        100,
    )


def test_it_streams_thinking_as_reasoning_content():
    chunks = _translate(
        [
            _start(),
            {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "Let me solve"},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM"},
            },
            {"type": "content_block_stop", "index": 0},
            {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "42"}},
            {"type": "content_block_stop", "index": 1},
            {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 30}},
            {"type": "message_stop"},
        ]
    )
    assert_chunks(chunks)
    assert [c["choices"][0]["delta"] for c in chunks[1:3]] == [{"reasoning_content": "Let me solve"}, {"content": "42"}]
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


def test_it_streams_the_json_tool_as_content():
    events = [e for e in TOOL_STREAM if e.get("index") not in (0, 2)]
    events[1] = {**events[1], "content_block": {**events[1]["content_block"], "name": "json_response"}}
    chunks = _translate(events, json_tool=True)
    assert_chunks(chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert orjson.loads(text) == {"location": "San Francisco, CA"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_it_raises_on_an_error_event():
    t = AnthropicStream("m")
    t.feed(_start())
    with pytest.raises(UpstreamError) as e:
        t.feed({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert (e.value.kind, e.value.retryable) == ("stream", True)


def test_it_raises_when_the_stream_ends_early():
    t = AnthropicStream("m")
    for e in TEXT_STREAM[:4]:
        t.feed(e)
    with pytest.raises(UpstreamError) as e:
        t.close()
    assert e.value.kind == "stream"


def test_it_finishes_a_stream_cut_after_message_delta():
    assert _translate(TEXT_STREAM[:-1])[-2]["choices"][0]["finish_reason"] == "stop"


# --- Errors -------------------------------------------------------------------------------------


def _error(type_: str, message: str) -> bytes:
    return orjson.dumps(
        {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    )


@pytest.mark.parametrize(
    "status, type_, kind, retryable, caller_fault",
    [
        (400, "invalid_request_error", "status", False, True),
        (401, "authentication_error", "status", True, False),
        (402, "billing_error", "status", True, False),
        (403, "permission_error", "status", True, False),
        (404, "not_found_error", "status", True, False),
        (413, "request_too_large", "status", False, True),
        (429, "rate_limit_error", "status", True, False),
        (500, "api_error", "status", True, False),
        (529, "overloaded_error", "status", True, False),
    ],
)
def test_it_maps_error_statuses(status, type_, kind, retryable, caller_fault):
    err = status_error(status, _error(type_, "Something."), {})
    assert (err.kind, err.status, err.retryable, err.caller_fault) == (kind, status, retryable, caller_fault)


def test_it_passes_the_callers_error_message_on():
    err = status_error(400, _error("invalid_request_error", "messages.0.content: Input should be a valid list"), {})
    assert err.message == "messages.0.content: Input should be a valid list"


def test_it_reads_retry_after_on_429():
    assert status_error(429, _error("rate_limit_error", "Slow down"), {"retry-after": "12"}).retry_after == 12


def test_it_treats_a_too_long_prompt_as_a_context_length_error():
    err = status_error(400, _error("invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"), {})
    assert (err.kind, err.retryable, err.caller_fault) == ("context_length", True, False)


def test_it_treats_an_empty_credit_balance_as_the_providers_problem():
    err = status_error(
        400,
        _error(
            "invalid_request_error",
            "Your credit balance is too low to access the "
            "Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
        ),
        {},
    )
    assert (err.retryable, err.caller_fault) == (True, False)


def test_it_copes_with_an_error_body_that_is_not_json():
    err = status_error(502, b"<html>Bad Gateway</html>", {})
    assert err.retryable and "Bad Gateway" in err.message


# --- The adapter over HTTP ----------------------------------------------------------------------


async def test_it_posts_to_the_messages_api(claude, vendor):
    v = vendor(body=MESSAGE)
    result = await AnthropicAdapter().complete(
        v.client, target_for(claude, extra_headers={"x-sim-latency": "0"}), chat(user("Hi"))
    )
    sent = v.requests[0]
    assert str(sent.url) == "https://api.anthropic.com/v1/messages"
    assert (sent.headers["x-api-key"], sent.headers["anthropic-version"], sent.headers["x-sim-latency"]) == (
        "test-key",
        "2023-06-01",
        "0",
    )
    assert v.sent()["model"] == "claude-sonnet-4-5" and "stream" not in v.sent()
    assert result.body["choices"][0]["message"]["content"] == "Hello!"
    assert result.usage.prompt_tokens == 34146


async def test_it_streams_over_http_in_small_pieces(claude, vendor):
    v = vendor(sse=sse(*TOOL_STREAM), piece=7)
    chunks = await collect(AnthropicAdapter().stream(v.client, target_for(claude), chat(user("Hi"), stream=True)))
    assert v.sent()["stream"] is True
    expected = _translate(TOOL_STREAM)
    assert [c["choices"] for c in chunks] == [c["choices"] for c in expected]
    assert chunks[-1]["usage"] == expected[-1]["usage"]
    assert_chunks(chunks)


async def test_it_raises_the_mapped_error_for_a_failed_stream_request(claude, vendor):
    v = vendor(status=529, body=_error("overloaded_error", "Overloaded"), headers={"retry-after": "3"})
    with pytest.raises(UpstreamError) as e:
        await collect(AnthropicAdapter().stream(v.client, target_for(claude), chat(user("Hi"))))
    assert (e.value.status, e.value.retryable, e.value.retry_after) == (529, True, 3)


@pytest.mark.parametrize(
    "exc, kind",
    [
        (httpx.ConnectError("refused"), "connect"),
        (httpx.ConnectTimeout("slow"), "timeout"),
        (httpx.ReadTimeout("slow"), "timeout"),
    ],
)
async def test_it_maps_transport_errors(claude, vendor, exc, kind):
    v = vendor(error=exc)
    with pytest.raises(UpstreamError) as e:
        await AnthropicAdapter().complete(v.client, target_for(claude), chat(user("Hi")))
    assert (e.value.kind, e.value.retryable) == (kind, True)
    with pytest.raises(UpstreamError) as e:
        await collect(AnthropicAdapter().stream(v.client, target_for(claude), chat(user("Hi"))))
    assert e.value.kind == kind


async def test_it_reports_a_connection_lost_mid_stream(claude, vendor):
    v = vendor(sse=sse(*TEXT_STREAM[:4]), error_after=httpx.ReadError("reset"))
    seen = []
    with pytest.raises(UpstreamError) as e:
        async for chunk in AnthropicAdapter().stream(v.client, target_for(claude), chat(user("Hi"))):
            seen.append(chunk)
    assert e.value.kind == "stream" and [c["choices"][0]["delta"].get("content") for c in seen] == ["", "Hello"]


def claude_model(upstream_id: str):
    return catalog_model("anthropic", upstream_id, "https://api.anthropic.com", max_output_tokens=64000)


def test_claude_versions_are_read_from_the_upstream_id():
    assert claude_version("claude-opus-4-6") == ("opus", 4, 6)
    assert claude_version("claude-sonnet-4-20250514") == ("sonnet", 4, 0)
    assert claude_version("claude-haiku-4-5-20251001") == ("haiku", 4, 5)
    assert claude_version("claude-sonnet-5") == ("sonnet", 5, 0)
    assert claude_version("gpt-5.4") is None


def test_adaptive_thinking_and_effort_go_as_asked_to_a_model_that_takes_them():
    opus = claude_model("claude-opus-4-6")
    ask = chat(user("Hi"), max_tokens=16000, reasoning_effort="high")
    body = to_anthropic({**ask, THINKING_FIELD: {"type": "adaptive"}, EFFORT_FIELD: "max"}, opus)
    assert body["thinking"] == {"type": "adaptive"} and body["output_config"] == {"effort": "max"}
    assert "reasoning_effort" not in body and EFFORT_FIELD not in body
    # Effort without thinking: the answer's whole token spending.
    body = to_anthropic({**chat(user("Hi"), max_tokens=100), EFFORT_FIELD: "low"}, opus)
    assert body["output_config"] == {"effort": "low"} and "thinking" not in body
    shown = {"type": "adaptive", "display": "summarized"}
    assert to_anthropic({**ask, THINKING_FIELD: shown}, opus)["thinking"] == shown


@pytest.mark.parametrize(
    ("effort", "max_tokens", "sent"),
    [
        (None, 32000, {"type": "enabled", "budget_tokens": 16384}),  # Anthropic's default effort: high
        ("low", 32000, {"type": "enabled", "budget_tokens": 2048}),
        ("medium", 32000, {"type": "enabled", "budget_tokens": 8192}),
        ("max", 64000, {"type": "enabled", "budget_tokens": 32000}),
        ("high", 4000, {"type": "enabled", "budget_tokens": 3999}),  # under max_tokens
        ("high", 1024, None),  # not even the 1,024 minimum fits: no thinking
    ],
)
def test_adaptive_thinking_becomes_a_budget_for_a_model_without_it(effort, max_tokens, sent):
    sonnet4 = claude_model("claude-sonnet-4-20250514")
    request = {**chat(user("Hi"), max_tokens=max_tokens, reasoning_effort="high"), THINKING_FIELD: {"type": "adaptive"}}
    if effort:
        request[EFFORT_FIELD] = effort
    body = to_anthropic(request, sonnet4)
    assert body.get("thinking") == sent
    assert "output_config" not in body  # Sonnet 4 takes no effort


def test_each_model_gets_an_effort_it_takes():
    assert effort_for("claude-opus-4-6", "max") == "max"
    assert effort_for("claude-sonnet-4-6", "max") == "high"
    assert effort_for("claude-opus-4-6", "xhigh") == "high"
    assert effort_for("claude-opus-4-7", "xhigh") == "xhigh"
    assert effort_for("claude-sonnet-4-6", "low") == "low"
    haiku = claude_model("claude-haiku-4-5")
    assert "output_config" not in to_anthropic({**chat(user("Hi")), EFFORT_FIELD: "low"}, haiku)
    opus45 = claude_model("claude-opus-4-5")
    body = to_anthropic({**chat(user("Hi")), THINKING_FIELD: {"type": "adaptive"}, EFFORT_FIELD: "low"}, opus45)
    assert body["output_config"] == {"effort": "low"}  # effort on Opus 4.5, adaptive thinking not yet
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_thinking_is_left_off_while_a_tool_is_forced(claude):
    thinking = {THINKING_FIELD: {"type": "enabled", "budget_tokens": 2048}, "reasoning_effort": "low"}
    schema = {"type": "json_schema", "json_schema": {"name": "o", "schema": {"type": "object"}}}
    as_json = to_anthropic({**chat(user("Hi"), response_format=schema), **thinking}, claude)
    assert as_json["tool_choice"] == {"type": "tool", "name": "json_response"} and "thinking" not in as_json
    required = to_anthropic({**chat(user("Hi"), tools=[WEATHER_TOOL], tool_choice="required"), **thinking}, claude)
    assert required["tool_choice"] == {"type": "any"} and "thinking" not in required
    free = to_anthropic({**chat(user("Hi"), tools=[WEATHER_TOOL], tool_choice="auto"), **thinking}, claude)
    assert free["tool_choice"] == {"type": "auto"} and free["thinking"]["type"] == "enabled"


def test_a_chat_callers_reasoning_effort_makes_claude_think():
    opus, sonnet4 = claude_model("claude-opus-4-6"), claude_model("claude-sonnet-4-20250514")
    body = to_anthropic(chat(user("Hi"), reasoning_effort="medium"), opus)
    assert body["thinking"] == {"type": "adaptive"} and body["output_config"] == {"effort": "medium"}
    assert "reasoning_effort" not in body
    body = to_anthropic(chat(user("Hi"), reasoning_effort="low", max_tokens=8000), sonnet4)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048} and "output_config" not in body
    for none in ("none", "minimal"):
        body = to_anthropic(chat(user("Hi"), reasoning_effort=none), opus)
        assert "thinking" not in body and "output_config" not in body
    # temperature 1 and top_p of at least 0.95 are what Claude thinks at; others are refused.
    assert to_anthropic(chat(user("Hi"), reasoning_effort="high", temperature=1, top_p=0.95), opus)["thinking"]
    for name, value in (("temperature", 0.2), ("top_p", 0.5)):
        with pytest.raises(GatewayError) as e:
            to_anthropic(chat(user("Hi"), reasoning_effort="high", **{name: value}), opus)
        assert (e.value.status, e.value.param) == (400, name)


def test_in_a_tool_loop_a_chat_callers_turn_goes_on_without_thinking():
    opus = claude_model("claude-opus-4-6")
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
    }
    loop = chat(
        user("Weather in Paris?"),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        tools=[WEATHER_TOOL],
        reasoning_effort="high",
    )
    body = to_anthropic(loop, opus)
    assert "thinking" not in body and body["output_config"] == {"effort": "high"}
    # A new user turn after the loop: thinking again.
    later = {**loop, "messages": [*loop["messages"], {"role": "assistant", "content": "18C."}, user("Thanks")]}
    assert to_anthropic(later, opus)["thinking"] == {"type": "adaptive"}
