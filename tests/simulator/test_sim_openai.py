"""The simulator's OpenAI-compatible format: shapes, streams, usage, tools, JSON mode, images, reasoning."""

import jsonschema
import openai
import orjson
import pytest

from simulator.content import estimate_prompt_tokens, estimate_text_tokens
from tests.simulator.helpers import data_json, user

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}, "days": {"type": "integer"}},
            "required": ["city", "unit"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}


async def test_it_answers_a_chat_completion_in_openais_shape(sim):
    status, _, body = await sim.openai({"model": "deepseek-chat", "messages": [user("Hi")]})
    assert status == 200
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "deepseek-chat"
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    assert content.startswith("Simulated reply from deepseek-chat:")
    usage = body["usage"]
    assert usage["prompt_tokens"] == estimate_prompt_tokens(chars=2, messages=1)
    assert usage["completion_tokens"] == estimate_text_tokens(content)
    assert 20 <= usage["completion_tokens"] <= 40
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 0}


async def test_it_is_deterministic_and_echoes_any_model(sim):
    req = {"model": "some/unknown-model:v2", "messages": [user("Same question")]}
    first = (await sim.openai(req))[2]
    second = (await sim.openai(req))[2]
    assert first["model"] == "some/unknown-model:v2"
    assert first["choices"][0]["message"]["content"] == second["choices"][0]["message"]["content"]


async def test_it_streams_the_exact_chunk_sequence(sim):
    req = {"model": "qwen-plus", "messages": [user("Hi")], "stream_options": {"include_usage": True}}
    status, headers, events = await sim.openai_sse(req, provider="qwen")
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    assert events[-1] == (None, "[DONE]")
    chunks = data_json(events)
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "qwen-plus" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content_chunks = chunks[1:-2]
    assert content_chunks and all(set(c["choices"][0]["delta"]) == {"content"} for c in content_chunks)
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-2])
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert chunks[-1]["choices"] == []
    streamed = "".join(c["choices"][0]["delta"]["content"] for c in content_chunks)
    whole = (await sim.openai(req, provider="qwen"))[2]
    assert streamed == whole["choices"][0]["message"]["content"]
    assert chunks[-1]["usage"] == whole["usage"]
    assert all(c["usage"] is None for c in chunks[:-1])


async def test_it_streams_no_usage_unless_asked(sim):
    _, _, events = await sim.openai_sse({"model": "glm-4", "messages": [user()]})
    chunks = data_json(events)
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_the_official_sdk_reads_it(sim):
    async with openai.AsyncOpenAI(base_url=sim.url + "/p/deepseek/v1", api_key="k", max_retries=0) as client:
        done = await client.chat.completions.create(model="deepseek-chat", messages=[user()])
        assert done.choices[0].message.content.startswith("Simulated reply")
        stream = await client.chat.completions.create(
            model="deepseek-chat",
            messages=[user()],
            stream=True,
            tools=[WEATHER],
            stream_options={"include_usage": True},
        )
        calls, usage = {}, None
        async for chunk in stream:
            usage = chunk.usage or usage
            for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                entry = calls.setdefault(delta.index, {"name": "", "arguments": ""})
                entry["name"] += delta.function.name or ""
                entry["arguments"] += delta.function.arguments or ""
        assert calls[0]["name"] == "get_weather"
        assert orjson.loads(calls[0]["arguments"]) == {"city": "sample city", "unit": "c"}
        assert usage.completion_tokens > 0


async def test_it_generates_the_requested_number_of_tokens(sim):
    _, _, body = await sim.openai({"model": "m", "messages": [user()]}, {"x-sim-output-tokens": "500"})
    assert body["usage"]["completion_tokens"] == 500
    assert estimate_text_tokens(body["choices"][0]["message"]["content"]) == 500


async def test_max_tokens_cuts_the_reply_with_finish_length(sim):
    _, _, body = await sim.openai({"model": "m", "messages": [user()], "max_tokens": 7})
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 7


async def test_it_stops_before_a_stop_string_and_says_only_stop(sim):
    ask = {"model": "m", "messages": [user()], "stop": ["never said", " from"]}
    _, _, body = await sim.openai(ask)
    [choice] = body["choices"]
    assert choice["message"]["content"] == "Simulated reply" and choice["finish_reason"] == "stop"
    assert set(choice) == {"index", "message", "finish_reason", "logprobs"}  # OpenAI names no match
    _, _, body = await sim.openai({**ask, "stop": " from"})
    assert body["choices"][0]["message"]["content"] == "Simulated reply"


async def test_openai_and_glm_refuse_a_cache_mark_on_a_content_part_as_the_real_ones_do(sim):
    part = {"type": "text", "text": "A long manual.", "cache_control": {"type": "ephemeral"}}
    ask = {"model": "m", "messages": [user("Hi"), {"role": "user", "content": [part]}]}
    for provider in ("openai", "zhipu"):
        status, _, body = await sim.openai(ask, provider=provider)
        assert (
            status == 400 and body["error"]["message"] == "Unknown parameter: 'messages[1].content[0].cache_control'."
        )
    for provider in ("qwen", "alibaba", "deepseek"):
        status, _, _ = await sim.openai(ask, provider=provider)
        assert status == 200


@pytest.mark.parametrize("field", ["stop_reason", "matched_stop"])
async def test_it_names_the_matched_stop_as_vllm_or_sglang_when_asked(sim, field):
    ask = {"model": "m", "messages": [user()], "stop": ["never said", " from"]}
    _, _, body = await sim.openai(ask, {"x-sim-stop-field": field})
    assert body["choices"][0][field] == " from"
    _, _, events = await sim.openai_sse(ask, {"x-sim-stop-field": field})
    chunks = data_json(events)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Simulated reply"
    assert [c["choices"][0][field] for c in chunks if c["choices"][0]["finish_reason"]] == [" from"]
    assert all(field not in c["choices"][0] for c in chunks if not c["choices"][0]["finish_reason"])
    _, _, body = await sim.openai({**ask, "stop": ["never said"]}, {"x-sim-stop-field": field})
    assert body["choices"][0][field] is None  # ended on its own: the field is null, as vLLM sends it
    status, _, _ = await sim.openai(ask, {"x-sim-stop-field": "stop_word"})
    assert status == 400


async def test_it_forces_the_finish_reason(sim):
    for finish in ("stop", "length", "tool_calls", "content_filter"):
        _, _, body = await sim.openai({"model": "m", "messages": [user()]}, {"x-sim-finish": finish})
        assert body["choices"][0]["finish_reason"] == finish


async def test_it_can_report_no_usage(sim):
    _, _, body = await sim.openai({"model": "m", "messages": [user()]}, {"x-sim-no-usage": "1"})
    assert "usage" not in body
    _, _, events = await sim.openai_sse(
        {"model": "m", "messages": [user()], "stream_options": {"include_usage": True}}, {"x-sim-no-usage": "1"}
    )
    assert all("usage" not in c for c in data_json(events))


async def test_it_reports_cached_tokens_on_request(sim):
    _, _, body = await sim.openai({"model": "m", "messages": [user("x" * 400)]}, {"x-sim-cached-tokens": "64"})
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 64
    assert body["usage"]["prompt_tokens"] > 64


async def test_a_reasoner_reasons_before_it_answers(sim):
    req = {"model": "deepseek-reasoner", "messages": [user()], "stream_options": {"include_usage": True}}
    _, _, body = await sim.openai(req)
    message, usage = body["choices"][0]["message"], body["usage"]
    assert message["reasoning_content"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning == estimate_text_tokens(message["reasoning_content"]) > 0
    assert usage["completion_tokens"] == reasoning + estimate_text_tokens(message["content"])

    _, _, events = await sim.openai_sse(req)
    deltas = [c["choices"][0]["delta"] for c in data_json(events) if c["choices"]]
    kinds = [next(iter(d)) for d in deltas[1:-1]]
    first_content = kinds.index("content")
    assert set(kinds[:first_content]) == {"reasoning_content"} and set(kinds[first_content:]) == {"content"}
    assert "".join(d.get("reasoning_content", "") for d in deltas) == message["reasoning_content"]

    _, _, body = await sim.openai({"model": "gpt-4o", "messages": [user()]}, {"x-sim-reasoning-tokens": "12"})
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 12


async def test_it_calls_the_first_tool_with_schema_arguments(sim):
    _, _, body = await sim.openai({"model": "m", "messages": [user("Weather?")], "tools": [WEATHER, TIME]})
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    args = orjson.loads(call["function"]["arguments"])
    jsonschema.validate(args, WEATHER["function"]["parameters"])
    assert set(args) == {"city", "unit"}
    assert body["usage"]["completion_tokens"] == estimate_text_tokens("get_weather") + estimate_text_tokens(
        call["function"]["arguments"]
    )


async def test_tool_choice_picks_the_tool_or_none(sim):
    named = {"type": "function", "function": {"name": "get_time"}}
    _, _, body = await sim.openai({"model": "m", "messages": [user()], "tools": [WEATHER, TIME], "tool_choice": named})
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_time"
    _, _, body = await sim.openai({"model": "m", "messages": [user()], "tools": [WEATHER], "tool_choice": "none"})
    assert body["choices"][0]["message"]["content"].startswith("Simulated reply")


async def test_it_calls_two_tools_in_parallel_when_asked(sim):
    req = {"model": "m", "messages": [user()], "tools": [WEATHER, TIME]}
    _, _, body = await sim.openai(req, {"x-sim-parallel-tools": "1"})
    assert [c["function"]["name"] for c in body["choices"][0]["message"]["tool_calls"]] == ["get_weather", "get_time"]
    _, _, body = await sim.openai({**req, "parallel_tool_calls": False}, {"x-sim-parallel-tools": "1"})
    assert len(body["choices"][0]["message"]["tool_calls"]) == 1

    _, _, events = await sim.openai_sse(req, {"x-sim-parallel-tools": "1"})
    chunks = data_json(events)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}
    calls = {}
    for chunk in chunks[1:-1]:
        for d in chunk["choices"][0]["delta"]["tool_calls"]:
            if "id" in d:
                assert d["type"] == "function" and d["function"]["arguments"] == ""
                calls[d["index"]] = {"name": d["function"]["name"], "args": ""}
            else:
                assert set(d) == {"index", "function"} and set(d["function"]) == {"arguments"}
                calls[d["index"]]["args"] += d["function"]["arguments"]
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "get_time"]
    assert orjson.loads(calls[1]["args"]) == {"tz": "sample tz"}
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("tool_calls")) > 4  # arguments come in pieces
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_after_a_tool_result_it_answers_in_text(sim):
    messages = [
        user("Weather?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 C"},
    ]
    _, _, body = await sim.openai({"model": "m", "messages": messages, "tools": [WEATHER]})
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert "Sunny, 21 C" in choice["message"]["content"]


async def test_json_object_mode_answers_a_json_object(sim):
    _, _, body = await sim.openai({"model": "m", "messages": [user()], "response_format": {"type": "json_object"}})
    assert isinstance(orjson.loads(body["choices"][0]["message"]["content"]), dict)


async def test_json_schema_mode_answers_an_instance_of_the_schema(sim):
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "score": {"type": "number"},
            "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "nested": {
                "type": "object",
                "properties": {"x": {"type": ["number", "null"]}},
                "required": ["x"],
                "additionalProperties": False,
            },
        },
        "required": ["name", "age", "score", "ok", "tags", "kind", "nested"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}
    _, _, body = await sim.openai({"model": "m", "messages": [user()], "response_format": fmt})
    content = body["choices"][0]["message"]["content"]
    jsonschema.validate(orjson.loads(content), schema)
    _, _, events = await sim.openai_sse({"model": "m", "messages": [user()], "response_format": fmt})
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in data_json(events))
    assert streamed == content


async def test_it_says_how_many_images_it_saw(sim):
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    _, _, body = await sim.openai({"model": "gpt-4o", "messages": [{"role": "user", "content": parts}]})
    assert "I see 2 images" in body["choices"][0]["message"]["content"]
    assert body["usage"]["prompt_tokens"] == estimate_prompt_tokens(chars=len("What is this?"), messages=1, images=2)
    _, _, body = await sim.openai({"model": "gpt-4o", "messages": [{"role": "user", "content": parts[:2]}]})
    assert "I see 1 image." in body["choices"][0]["message"]["content"]


async def test_prompt_tokens_count_system_tools_and_messages(sim):
    small = (await sim.openai({"model": "m", "messages": [user("a" * 40)]}))[2]["usage"]["prompt_tokens"]
    more = (
        await sim.openai(
            {
                "model": "m",
                "messages": [{"role": "system", "content": "s" * 40}, user("a" * 40)],
                "tools": [WEATHER],
                "tool_choice": "none",
            }
        )
    )[2]["usage"]["prompt_tokens"]
    tool_chars = len(orjson.dumps(WEATHER["function"]))
    assert more == estimate_prompt_tokens(chars=80 + tool_chars, messages=2)
    assert small == estimate_prompt_tokens(chars=40, messages=1)


async def test_it_rejects_a_missing_key_and_bad_input_in_openais_shape(sim):
    status, _, body = await sim.post("/p/deepseek/v1/chat/completions", {"model": "m", "messages": [user()]})
    assert status == 401
    assert body["error"]["type"] == "authentication_error"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    status, _, body = await sim.post(
        "/p/deepseek/v1/chat/completions", raw=b"{nope", headers={"Authorization": "Bearer k"}
    )
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, _, body = await sim.openai({"model": "m", "messages": []})
    assert status == 400 and body["error"]["param"] == "messages"
    status, _, body = await sim.openai({"messages": [user()]})
    assert status == 400 and body["error"]["param"] == "model"


async def test_any_path_prefix_ending_in_chat_completions_works(sim):
    for path in (
        "/p/qwen/compatible-mode/v1/chat/completions",
        "/p/zhipu/api/paas/v4/chat/completions",
        "/p/doubao/api/v3/chat/completions",
        "/p/openai/chat/completions",
    ):
        status, _, body = await sim.post(path, {"model": "m", "messages": [user()]}, {"Authorization": "Bearer k"})
        assert status == 200, path
        assert body["object"] == "chat.completion"
    status, _, _ = await sim.post("/p/qwen/v1/completions", {"model": "m"}, {"Authorization": "Bearer k"})
    assert status == 404
