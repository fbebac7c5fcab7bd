"""Each native adapter through the real gateway, with the official openai SDK as the client.

Parametrized over the three wire formats the gateway speaks upstream: Anthropic Messages
(anthropic/claude-sonnet-4), Google Gemini (google/gemini-2.5-flash) and OpenAI-compatible
(deepseek/deepseek-chat; openai/gpt-4o-mini where an image is needed, since DeepSeek V3 takes none).
The upstream is the provider simulator; `x-sim-*` headers reach it through the gateway. Every
answer and every stream chunk is checked against OpenAI's published schema.
"""

import base64
import uuid
from dataclasses import dataclass

import jsonschema
import openai
import orjson
import pytest

from tests.schema import assert_valid

ANTHROPIC, GEMINI, OPENAI = "anthropic/claude-sonnet-4", "google/gemini-2.5-flash", "deepseek/deepseek-chat"
WIRES = {ANTHROPIC: "anthropic", GEMINI: "gemini", OPENAI: "openai"}
PROVIDERS = {ANTHROPIC: "anthropic", GEMINI: "google", OPENAI: "deepseek"}
VISION = {ANTHROPIC: ANTHROPIC, GEMINI: GEMINI, OPENAI: "openai/gpt-4o-mini"}
MODELS = pytest.mark.parametrize("model", [ANTHROPIC, GEMINI, OPENAI], ids=["anthropic", "gemini", "openai"])
STREAMING = pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
NO_FALLBACK = {"x-aipower-fallback": "off"}

HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to the team."}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "country", "population"],
    "additionalProperties": False,
}
# A 1x1 transparent PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d4944415478da63f8cfc0f01f0005000201a5f0d3b60000000049454e44ae426082"
    )
).decode()


# --- helpers --------------------------------------------------------------------------------------


def create(client, **kw):
    """(the parsed completion, the raw response) of a non-streamed call; the body is schema-checked."""
    raw = client.chat.completions.with_raw_response.create(**kw)
    assert_valid(raw.http_response.json(), "CreateChatCompletionResponse")
    return raw.parse(), raw


def stream(client, **kw):
    """(the chunks, the response headers) of a streamed call; every chunk is schema-checked."""
    with client.chat.completions.with_streaming_response.create(stream=True, **kw) as raw:
        assert raw.headers["content-type"].startswith("text/event-stream")
        headers = raw.headers
        chunks = list(raw.parse())
    for chunk in chunks:
        assert_valid(chunk.model_dump(exclude_unset=True), "CreateChatCompletionStreamResponse")
    return chunks, headers


def assemble(chunks):
    """What a client rebuilds from choice 0 of a stream: content, reasoning, tool calls (by index,
    with the number of argument deltas each had), the finish reasons seen, and the usage chunks."""
    content, reasoning, calls, finishes, usages = "", "", {}, [], []
    for chunk in chunks:
        if chunk.usage is not None:
            usages.append(chunk)
        for c in chunk.choices:
            assert c.index == 0
            assert not finishes, "a delta after the finish reason"
            content += c.delta.content or ""
            reasoning += getattr(c.delta, "reasoning_content", None) or ""
            for tc in c.delta.tool_calls or ():
                call = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": "", "deltas": 0})
                if tc.id:
                    assert call["id"] is None, "a tool call's id sent twice"
                    call["id"] = tc.id
                if tc.function and tc.function.name:
                    call["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    call["arguments"] += tc.function.arguments
                    call["deltas"] += 1
            if c.finish_reason:
                finishes.append(c.finish_reason)
    return content, reasoning, [calls[i] for i in sorted(calls)], finishes, usages


@dataclass
class Answer:
    """One call's answer, whether it came whole or as a stream."""

    model: str
    content: str | None
    reasoning: str
    calls: list  # [{"id", "name", "arguments"}]
    finishes: list  # the finish reasons seen (one, when all is well)
    usage: object
    headers: object


def answer(client, streaming: bool, **kw) -> Answer:
    """Calls the gateway, streamed (with include_usage) or not, every body or chunk schema-checked."""
    if streaming:
        chunks, headers = stream(client, stream_options={"include_usage": True}, **kw)
        content, reasoning, calls, finishes, usages = assemble(chunks)
        assert usages == [chunks[-1]], "the usage chunk comes last, once"
        return Answer(chunks[0].model, content, reasoning, calls, finishes, chunks[-1].usage, headers)
    reply, raw = create(client, **kw)
    msg = reply.choices[0].message
    calls = [{"id": t.id, "name": t.function.name, "arguments": t.function.arguments} for t in msg.tool_calls or ()]
    return Answer(
        reply.model,
        msg.content,
        getattr(msg, "reasoning_content", None) or "",
        calls,
        [reply.choices[0].finish_reason],
        reply.usage,
        raw.headers,
    )


def message_of(reply) -> dict:
    """The assistant message of a reply, as the caller sends it back in the next turn."""
    msg = reply.choices[0].message
    out = {"role": "assistant", "content": msg.content}
    if msg.tool_calls:
        out["tool_calls"] = [
            {"id": t.id, "type": "function", "function": {"name": t.function.name, "arguments": t.function.arguments}}
            for t in msg.tool_calls
        ]
    return out


def catalog_prices(live_db, public_id: str):
    from routing.models import CatalogModel

    with live_db.unblock():
        m = CatalogModel.objects.get(public_id=public_id)
    return (
        m.input_price_usd_micro_per_mtok,
        m.output_price_usd_micro_per_mtok,
        m.cached_input_price_usd_micro_per_mtok,
        m.cache_write_price_usd_micro_per_mtok,
    )


def price_1h(live_db, public_id: str) -> int | None:
    from routing.models import CatalogModel

    with live_db.unblock():
        return CatalogModel.objects.get(public_id=public_id).cache_write_1h_price_usd_micro_per_mtok


def expected_cost(
    live_db, public_id: str, *, prompt: int, cached: int, completion: int, write: int = 0, write_1h: int = 0
) -> int:
    from billing.pricing import cost_of

    inp, out, cached_price, write_price = catalog_prices(live_db, public_id)
    return cost_of(
        prompt_tokens=prompt,
        cached_tokens=cached,
        completion_tokens=completion,
        input_price_usd_micro_per_mtok=inp,
        output_price_usd_micro_per_mtok=out,
        cached_input_price_usd_micro_per_mtok=cached_price,
        markup_bp=0,
        cache_write_tokens=write,
        cache_write_price_usd_micro_per_mtok=write_price,
        cache_write_1h_tokens=write_1h,
        cache_write_1h_price_usd_micro_per_mtok=price_1h(live_db, public_id) if write_1h else None,
    ).upstream_nusd


def assert_row_matches(row, model: str, usage, *, stream: bool) -> None:
    assert (row.served_model, row.provider, row.status, row.http_status, row.stream) == (
        model,
        model.split("/")[0],
        "ok",
        200,
        stream,
    )
    assert row.usage_estimated is False
    assert (row.prompt_tokens, row.completion_tokens) == (usage.prompt_tokens, usage.completion_tokens)
    assert row.cached_tokens == usage.prompt_tokens_details.cached_tokens
    assert row.reasoning_tokens == usage.completion_tokens_details.reasoning_tokens
    assert row.upstream_cost_nusd > 0 and row.charged_nusd >= row.upstream_cost_nusd


def assert_usage(usage) -> None:
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


# --- plain text -----------------------------------------------------------------------------------


@MODELS
def test_plain_text(client, usage, live_db, model):
    reply, raw = create(client, model=model, messages=HELLO)
    assert reply.model == model
    assert raw.headers["x-aipower-provider"] == PROVIDERS[model]
    assert raw.headers["x-aipower-attempts"] == "1" and "x-aipower-fallback-from" not in raw.headers
    [choice] = reply.choices
    assert choice.message.role == "assistant"
    assert choice.message.content.startswith("Simulated reply from ")
    assert not choice.message.tool_calls
    assert choice.finish_reason == "stop"
    assert_usage(reply.usage)
    [row] = usage(raw.headers["x-request-id"])
    assert row.requested_model == model
    assert_row_matches(row, model, reply.usage, stream=False)
    assert row.cached_tokens == 0
    assert row.upstream_cost_nusd == expected_cost(
        live_db, model, prompt=reply.usage.prompt_tokens, cached=0, completion=reply.usage.completion_tokens
    )


@MODELS
async def test_the_async_client_streams_and_completes(aclient, model):
    reply = await aclient.chat.completions.create(model=model, messages=HELLO)
    assert reply.model == model and reply.choices[0].message.content
    text, last = "", None
    async for chunk in await aclient.chat.completions.create(
        model=model, messages=HELLO, stream=True, stream_options={"include_usage": True}
    ):
        assert chunk.model == model
        text += "".join(c.delta.content or "" for c in chunk.choices)
        last = chunk
    assert text == reply.choices[0].message.content
    assert last.choices == [] and last.usage.completion_tokens == reply.usage.completion_tokens


# --- tool use -------------------------------------------------------------------------------------


@MODELS
def test_a_multi_turn_tool_conversation(client, usage, model):
    question = [{"role": "user", "content": "What's the weather in Paris?"}]
    first, raw = create(client, model=model, messages=question, tools=[WEATHER, TIME])
    assert first.model == model
    [choice] = first.choices
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id and isinstance(call.id, str)
    assert call.function.name == "get_weather"
    args = orjson.loads(call.function.arguments)
    assert isinstance(args, dict) and isinstance(args["city"], str)
    [row] = usage(raw.headers["x-request-id"])
    assert_row_matches(row, model, first.usage, stream=False)

    conversation = question + [message_of(first), {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"}]
    final, raw = create(client, model=model, messages=conversation, tools=[WEATHER, TIME])
    assert final.model == model
    [choice] = final.choices
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls
    assert "18C and sunny" in choice.message.content  # the simulated model read the tool's result
    [row] = usage(raw.headers["x-request-id"])
    assert_row_matches(row, model, final.usage, stream=False)
    assert final.usage.prompt_tokens > first.usage.prompt_tokens


@MODELS
def test_parallel_tool_calls_and_their_results(client, model):
    question = [{"role": "user", "content": "Weather and time in Lisbon?"}]
    first, _ = create(
        client, model=model, messages=question, tools=[WEATHER, TIME], extra_headers={"x-sim-parallel-tools": "1"}
    )
    calls = first.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert len({c.id for c in calls}) == 2
    for c in calls:
        assert isinstance(orjson.loads(c.function.arguments), dict)
    results = [
        {"role": "tool", "tool_call_id": calls[0].id, "content": "22C"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "14:05"},
    ]
    final, _ = create(client, model=model, messages=question + [message_of(first)] + results, tools=[WEATHER, TIME])
    content = final.choices[0].message.content
    assert "14:05" in content and final.choices[0].finish_reason == "stop"
    if model != OPENAI:  # the simulated OpenAI-compatible vendor reads only the last tool message
        assert "22C" in content


@MODELS
@STREAMING
def test_parallel_tool_calls_false_gets_one_call(client, model, streaming):
    a = answer(
        client,
        streaming,
        model=model,
        messages=[{"role": "user", "content": "Weather and time in Lima?"}],
        tools=[WEATHER, TIME],
        parallel_tool_calls=False,
        extra_headers={"x-sim-parallel-tools": "1"},
    )
    assert [c["name"] for c in a.calls] == ["get_weather"] and a.finishes == ["tool_calls"]


def test_a_gemini_tool_history_fails_over_to_claude(client, usage):
    # Gemini's calls have no ids: each answer numbers its own (call_0_<name>), so two rounds with the
    # same tool repeat an id. Anthropic refuses repeated tool_use ids; a conversation that fails over
    # from Gemini to Claude (the first of Google's fallbacks) must still be accepted.
    from routing.adapters.anthropic import to_anthropic
    from tests.adapters.conftest import catalog_model

    messages = []
    for city, result in (("Paris", "18C"), ("Rome", "25C")):
        messages.append({"role": "user", "content": f"Weather in {city}?"})
        reply, _ = create(client, model=GEMINI, messages=messages, tools=[WEATHER])
        [call] = reply.choices[0].message.tool_calls
        messages += [message_of(reply), {"role": "tool", "tool_call_id": call.id, "content": result}]
        answer, _ = create(client, model=GEMINI, messages=messages, tools=[WEATHER])
        assert result in answer.choices[0].message.content
        messages.append(message_of(answer))
    ids = [m["tool_calls"][0]["id"] for m in messages if m.get("tool_calls")]
    messages.append({"role": "user", "content": "And in Oslo?"})

    reply, raw = create(
        client, model=GEMINI, messages=messages, tools=[WEATHER], extra_headers={"x-sim-fault": "google=status:503"}
    )
    assert reply.model == ANTHROPIC and raw.headers["x-aipower-fallback-from"] == GEMINI
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"

    # What Claude was sent: every tool_use id once, each result right after the call it answers.
    claude = catalog_model("anthropic", "claude-sonnet-4-20250514", "https://api.anthropic.com")
    body = to_anthropic({"model": ANTHROPIC, "messages": messages, "tools": [WEATHER]}, claude)
    blocks = [b for m in body["messages"] for b in m["content"]]
    uses = [b["id"] for b in blocks if b["type"] == "tool_use"]
    results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
    assert len(uses) == len(ids) == 2 and len(set(uses)) == 2
    assert results == uses


@MODELS
def test_a_named_tool_choice_is_obeyed(client, model):
    reply, _ = create(
        client,
        model=model,
        messages=[{"role": "user", "content": "What time is it in Oslo?"}],
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    [call] = reply.choices[0].message.tool_calls
    assert call.function.name == "get_time"
    assert "city" in orjson.loads(call.function.arguments)


@MODELS
def test_tool_choice_none_answers_in_text(client, model):
    reply, _ = create(
        client,
        model=model,
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[WEATHER],
        tool_choice="none",
    )
    assert reply.choices[0].message.content and not reply.choices[0].message.tool_calls
    assert reply.choices[0].finish_reason == "stop"


# --- images ---------------------------------------------------------------------------------------


@MODELS
@pytest.mark.parametrize(
    "url", [f"data:image/png;base64,{PNG}", "https://example.com/cat.png"], ids=["data-url", "https-url"]
)
def test_an_image_input_is_seen(client, usage, model, url):
    model = VISION[model]
    text_only, _ = create(client, model=model, messages=[{"role": "user", "content": "What is in this picture?"}])
    reply, raw = create(
        client,
        model=model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    )
    assert reply.model == model
    assert "I see 1 image." in reply.choices[0].message.content
    assert reply.usage.prompt_tokens >= text_only.usage.prompt_tokens + 85  # the image's tokens
    [row] = usage(raw.headers["x-request-id"])
    assert row.prompt_tokens == reply.usage.prompt_tokens


def test_a_model_without_vision_refuses_an_image_before_any_upstream_call(client, sim):
    before = sim.hits("deepseek")
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model=OPENAI,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    ],
                }
            ],
        )
    assert (e.value.type, e.value.code, e.value.param) == ("invalid_request_error", "no_capable_model", "model")
    assert "images" in e.value.message
    assert sim.hits("deepseek") == before


# --- JSON mode ------------------------------------------------------------------------------------


@MODELS
@STREAMING
def test_json_object_mode_answers_json(client, model, streaming):
    kw = {
        "model": model,
        "messages": [{"role": "user", "content": "Describe yourself in JSON."}],
        "response_format": {"type": "json_object"},
    }
    a = answer(client, streaming, **kw)
    assert isinstance(orjson.loads(a.content), dict)
    assert not a.calls and a.finishes == ["stop"]


@MODELS
@STREAMING
def test_json_schema_mode_answers_to_the_schema(client, model, streaming):
    kw = {
        "model": model,
        "messages": [{"role": "user", "content": "A city, please."}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "city", "strict": True, "schema": CITY_SCHEMA},
        },
    }
    a = answer(client, streaming, **kw)
    jsonschema.validate(orjson.loads(a.content), CITY_SCHEMA)
    assert not a.calls and a.finishes == ["stop"]


def test_json_schema_through_the_sdk_parse_helper(client):
    from pydantic import BaseModel

    class City(BaseModel):
        city: str
        country: str

    for model in (ANTHROPIC, GEMINI, OPENAI):
        completion = client.chat.completions.parse(
            model=model, messages=[{"role": "user", "content": "A city."}], response_format=City
        )
        assert completion.model == model
        parsed = completion.choices[0].message.parsed
        assert isinstance(parsed, City) and parsed.city and parsed.country, model


# --- streaming ------------------------------------------------------------------------------------


@MODELS
def test_streaming_with_usage_last(client, usage, model):
    whole, _ = create(client, model=model, messages=HELLO)
    chunks, headers = stream(client, model=model, messages=HELLO, stream_options={"include_usage": True})
    assert headers["x-aipower-provider"] == PROVIDERS[model]
    assert {c.model for c in chunks} == {model}
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    content, _, calls, finishes, usages = assemble(chunks)
    assert content == whole.choices[0].message.content  # the simulator answers a prompt the same each time
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert not calls and finishes == ["stop"]
    assert usages == [chunks[-1]] and chunks[-1].choices == []
    assert all(c.usage is None for c in chunks[:-1])
    final = chunks[-1].usage
    assert_usage(final)
    assert (final.prompt_tokens, final.completion_tokens) == (whole.usage.prompt_tokens, whole.usage.completion_tokens)
    [row] = usage(headers["x-request-id"])
    assert_row_matches(row, model, final, stream=True)
    assert row.ttft_ms is not None and row.ttft_ms <= row.latency_ms


@MODELS
@pytest.mark.parametrize("kind", ["text", "tools", "json"])
def test_the_stream_is_openais_frame_for_frame(client, model, kind):
    # The raw server-sent events, as the SDK receives them: `data: {chunk}` frames only, each a valid
    # chat.completion.chunk, the usage chunk last, then `data: [DONE]`.
    extra = {
        "text": {},
        "tools": {"tools": [WEATHER, TIME], "tool_choice": "required"},
        "json": {"response_format": {"type": "json_object"}},
    }[kind]
    with client.chat.completions.with_streaming_response.create(
        model=model, messages=HELLO, stream=True, stream_options={"include_usage": True}, **extra
    ) as raw:
        lines = [line for line in raw.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    frames = []
    for line in lines[:-1]:
        assert line.startswith("data: ") and line != "data: [DONE]", line
        frames.append(orjson.loads(line[6:]))
    for frame in frames:
        assert_valid(frame, "CreateChatCompletionStreamResponse")
        assert frame["object"] == "chat.completion.chunk" and frame["model"] == model
    assert all(f["choices"] for f in frames[:-1]) and frames[-1]["choices"] == []
    assert frames[-1]["usage"]["total_tokens"] > 0
    assert frames[0]["choices"][0]["delta"]["role"] == "assistant"
    finished = [c["finish_reason"] for f in frames for c in f["choices"] if c["finish_reason"]]
    assert finished == ["tool_calls" if kind == "tools" else "stop"]


@MODELS
def test_streaming_without_include_usage_sends_none_but_records_it(client, usage, model):
    chunks, headers = stream(client, model=model, messages=HELLO)
    assert all(c.usage is None and c.choices for c in chunks)
    [row] = usage(headers["x-request-id"])
    assert row.usage_estimated is False and row.prompt_tokens > 0 and row.completion_tokens > 0


@MODELS
def test_streaming_tool_call_deltas(client, usage, model):
    chunks, headers = stream(
        client,
        model=model,
        messages=[{"role": "user", "content": "Weather and time in Rome?"}],
        tools=[WEATHER, TIME],
        stream_options={"include_usage": True},
        extra_headers={"x-sim-parallel-tools": "1"},
    )
    content, _, calls, finishes, usages = assemble(chunks)
    assert not content
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]
    assert all(c["id"] for c in calls) and len({c["id"] for c in calls}) == 2
    for c in calls:
        assert isinstance(orjson.loads(c["arguments"]), dict)
    if model != GEMINI:  # Gemini sends each call whole; the others stream the arguments in pieces
        assert all(c["deltas"] > 1 for c in calls)
    assert finishes == ["tool_calls"]
    assert usages == [chunks[-1]]
    assert_usage(chunks[-1].usage)
    [row] = usage(headers["x-request-id"])
    assert_row_matches(row, model, chunks[-1].usage, stream=True)

    # The streamed calls, sent back with their results, get a final answer (streamed too).
    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls
        ],
    }
    results = [
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "25C"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "09:30"},
    ]
    chunks, _ = stream(
        client,
        model=model,
        tools=[WEATHER, TIME],
        messages=[{"role": "user", "content": "Weather and time in Rome?"}, assistant, *results],
    )
    content, _, calls, finishes, _ = assemble(chunks)
    assert "09:30" in content and not calls and finishes == ["stop"]
    if model != OPENAI:  # the simulated OpenAI-compatible vendor reads only the last tool message
        assert "25C" in content


@MODELS
def test_streamed_and_whole_tool_calls_agree(client, model):
    kw = {"model": model, "messages": [{"role": "user", "content": "Weather in Kyiv?"}], "tools": [WEATHER]}
    whole, _ = create(client, **kw)
    chunks, _ = stream(client, **kw)
    _, _, calls, finishes, _ = assemble(chunks)
    [w] = whole.choices[0].message.tool_calls
    [s] = calls
    assert (s["name"], orjson.loads(s["arguments"])) == (w.function.name, orjson.loads(w.function.arguments))
    assert finishes == [whole.choices[0].finish_reason] == ["tool_calls"]


# --- finish reasons -------------------------------------------------------------------------------

# x-sim-finish makes the simulated vendor end its answer with its own word for each reason.
# Anthropic's word for content_filter is refusal.
FINISH_MAP = {
    "stop": {ANTHROPIC: "stop", GEMINI: "stop", OPENAI: "stop"},
    "length": {ANTHROPIC: "length", GEMINI: "length", OPENAI: "length"},
    "tool_calls": {ANTHROPIC: "tool_calls", GEMINI: "tool_calls", OPENAI: "tool_calls"},
    "content_filter": {ANTHROPIC: "content_filter", GEMINI: "content_filter", OPENAI: "content_filter"},
}


@MODELS
@STREAMING
@pytest.mark.parametrize("finish", list(FINISH_MAP))
def test_each_finish_reason(client, usage, model, streaming, finish):
    kw = {
        "model": model,
        "messages": [{"role": "user", "content": "Weather in Madrid?"}],
        "extra_headers": {"x-sim-finish": finish},
    }
    if finish == "tool_calls":
        kw["tools"] = [WEATHER]
    a = answer(client, streaming, **kw)
    assert a.finishes == [FINISH_MAP[finish][model]]
    assert bool(a.calls) == (finish == "tool_calls")
    [row] = usage(a.headers["x-request-id"])
    assert row.status == "ok" and row.completion_tokens > 0


@MODELS
@STREAMING
def test_max_tokens_cuts_the_answer_with_length(client, usage, model, streaming):
    kw = {"model": model, "messages": HELLO, "max_tokens": 5}
    a = answer(client, streaming, **kw)
    assert a.finishes == ["length"] and a.content
    assert a.usage.completion_tokens == 5
    [row] = usage(a.headers["x-request-id"])
    assert row.completion_tokens == 5


# --- errors ---------------------------------------------------------------------------------------


def _call(client, model: str, streaming: bool, headers: dict):
    kw = {"model": model, "messages": HELLO, "extra_headers": headers}
    if streaming:
        return stream(client, **kw)
    return create(client, **kw)


@MODELS
@STREAMING
@pytest.mark.parametrize("fallback", ["on", "off"])
def test_an_upstream_400_is_the_callers_error_without_failover(client, sim, usage, model, streaming, fallback):
    before = sim.stats()["total"]
    with pytest.raises(openai.BadRequestError) as e:
        _call(client, model, streaming, {"x-sim-fault": "status:400", "x-aipower-fallback": fallback})
    err = e.value
    assert err.status_code == 400 and err.type == "invalid_request_error"
    assert err.message
    assert err.response.headers["x-aipower-attempts"] == "1"
    assert sim.stats()["total"] == before + 1  # one upstream call, no failover
    [row] = usage(err.response.headers["x-request-id"])
    assert (row.status, row.http_status, row.attempts) == ("client_error", 400, 1)
    assert row.attempt_log[0]["model"] == model and row.attempt_log[0]["error"] == "status:400"
    assert row.charged_nusd == 0


# Each of these is the provider's failure (auth, unknown model, rate limit, server error, overload),
# so the gateway would fail over; with failover off, the one attempt fails and the caller gets a 502.
PROVIDER_FAULTS = [
    "status:401",
    "status:403",
    "status:404",
    "status:429",
    "status:500",
    "status:502",
    "status:503",
    "status:529",
]


@MODELS
@STREAMING
@pytest.mark.parametrize("fault", PROVIDER_FAULTS)
def test_a_provider_error_without_fallback_is_a_502(client, sim, usage, model, streaming, fault):
    status = int(fault.split(":")[1])
    before = sim.stats()["total"]
    with pytest.raises(openai.APIStatusError) as e:
        _call(client, model, streaming, {"x-sim-fault": fault, **NO_FALLBACK})
    err = e.value
    assert isinstance(err, openai.InternalServerError)
    assert err.status_code == 502
    assert (err.type, err.code) == ("server_error", "upstream_unavailable")
    assert f"(HTTP {status})" in err.message
    assert err.response.headers["x-aipower-attempts"] == "1"
    assert sim.stats()["total"] == before + 1
    [row] = usage(err.response.headers["x-request-id"])
    assert (row.status, row.http_status, row.error_type, row.attempts) == (
        "upstream_error",
        502,
        "upstream_unavailable",
        1,
    )
    assert row.attempt_log[0]["error"] == f"status:{status}"
    assert row.charged_nusd == 0 and row.completion_tokens == 0


@MODELS
def test_a_rate_limit_passes_its_retry_after_on(own_gateways, tenant, model):
    # A Retry-After cools the provider down (its breaker opens): on a gateway of this test's own,
    # so that the shared gateway keeps serving the other tests from the same provider.
    gateway = own_gateways(AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT=2)
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=tenant.key, max_retries=0, timeout=30) as own:
        with pytest.raises(openai.InternalServerError) as e:
            create(
                own,
                model=model,
                messages=HELLO,
                extra_headers={"x-sim-fault": "status:429:retry-after=7", **NO_FALLBACK},
            )
        assert (e.value.status_code, e.value.code) == (502, "upstream_unavailable")
        assert e.value.response.headers["retry-after"] == "7"
        # Until then the provider is skipped: with failover off, nothing is left to try.
        with pytest.raises(openai.InternalServerError) as e:
            create(own, model=model, messages=HELLO, extra_headers=NO_FALLBACK)
        assert e.value.status_code == 502 and "circuit open" in e.value.message
        assert e.value.response.headers["x-aipower-attempts"] == "0"


@MODELS
@STREAMING
@pytest.mark.parametrize("fault", ["status:503", "status:529", "status:401", "status:429"])
def test_a_provider_error_fails_over_to_another_provider(client, usage, model, streaming, fault):
    provider = PROVIDERS[model]
    a = answer(client, streaming, model=model, messages=HELLO, extra_headers={"x-sim-fault": f"{provider}={fault}"})
    served, headers = a.model, a.headers
    assert a.content and a.finishes == ["stop"]
    assert served != model and headers["x-aipower-provider"] != provider
    assert headers["x-aipower-fallback-from"] == model and headers["x-aipower-attempts"] == "2"
    [row] = usage(headers["x-request-id"])
    assert (row.served_model, row.attempts, row.status) == (served, 2, "ok")
    assert [a["status"] for a in row.attempt_log] == ["error", "ok"]


@MODELS
def test_an_error_before_the_first_token_is_invisible_or_a_502(client, model):
    # The vendor's in-stream error before any content: with failover off, a plain 502.
    with pytest.raises(openai.InternalServerError) as e:
        stream(client, model=model, messages=HELLO, extra_headers={"x-sim-fault": "error-event:0", **NO_FALLBACK})
    assert (e.value.status_code, e.value.type, e.value.code) == (502, "server_error", "upstream_unavailable")
    # With failover on, another provider answers and the caller sees an ordinary stream.
    chunks, headers = stream(
        client, model=model, messages=HELLO, extra_headers={"x-sim-fault": f"{PROVIDERS[model]}=error-event:0"}
    )
    assert assemble(chunks)[3] == ["stop"] and headers["x-aipower-fallback-from"] == model


@MODELS
@STREAMING
@pytest.mark.parametrize(
    "fault, described",
    [
        # httpx-aiohttp reports a connection closed without an answer as httpx.ConnectTimeout.
        ("drop", ("could not connect", "timed out")),
        ("slow-first-byte:3000", ("timed out",)),  # the shared gateway waits 2 s for the first byte
    ],
    ids=["dropped", "timed-out"],
)
def test_a_connection_failure_without_fallback_is_a_502(client, usage, model, streaming, fault, described):
    with pytest.raises(openai.InternalServerError) as e:
        _call(client, model, streaming, {"x-sim-fault": fault, **NO_FALLBACK})
    assert (e.value.status_code, e.value.type, e.value.code) == (502, "server_error", "upstream_unavailable")
    assert any(f"Last error: {d}" in e.value.message for d in described)
    [row] = usage(e.value.response.headers["x-request-id"])
    assert (row.status, row.http_status, row.attempts, row.charged_nusd) == ("upstream_error", 502, 1, 0)


@MODELS
@pytest.mark.parametrize("fault", ["error-event:3", "drop-mid-stream:3"])
def test_an_error_after_the_first_token_ends_the_stream_with_an_error_event(client, usage, model, fault):
    seen = []
    with client.chat.completions.with_streaming_response.create(
        model=model,
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-sim-fault": fault},
    ) as raw:
        request_id = raw.headers["x-request-id"]
        with pytest.raises(openai.APIError) as e:
            for chunk in raw.parse():
                assert_valid(chunk.model_dump(exclude_unset=True), "CreateChatCompletionStreamResponse")
                seen.append(chunk)
    assert (e.value.type, e.value.code) == ("server_error", "upstream_stream_error")
    content = "".join(c.choices[0].delta.content or "" for c in seen if c.choices)
    assert content and all(not c.choices or not c.choices[0].finish_reason for c in seen)
    assert all(c.model == model for c in seen)  # no failover once content was delivered
    [row] = usage(request_id)
    assert row.status == "stream_interrupted" and row.served_model == model
    assert row.completion_tokens > 0 and row.usage_estimated is True


@MODELS
@STREAMING
def test_a_context_length_error_fails_over_to_a_larger_model(client, usage, model, streaming):
    provider = PROVIDERS[model]
    kw = {"model": model, "messages": HELLO, "extra_headers": {"x-sim-fault": f"{provider}=status:400:context"}}
    a = answer(client, streaming, **kw)
    assert a.model != model and a.headers["x-aipower-fallback-from"] == model
    [row] = usage(a.headers["x-request-id"])
    assert row.attempt_log[0]["error"] == "context_length:400"


@MODELS
def test_a_context_length_error_with_nothing_larger_to_try_is_the_callers_400(client, usage, model):
    with pytest.raises(openai.APIStatusError) as e:
        create(client, model=model, messages=HELLO, extra_headers={"x-sim-fault": "status:400:context", **NO_FALLBACK})
    assert e.value.response.headers["x-aipower-attempts"] == "1"
    assert (e.value.status_code, e.value.type, e.value.code) == (
        400,
        "invalid_request_error",
        "context_length_exceeded",
    )


@pytest.mark.parametrize("model", [ANTHROPIC, GEMINI], ids=["anthropic", "gemini"])
def test_a_parameter_the_vendor_cannot_express_is_a_400_naming_it(client, sim, model):
    before = sim.stats()["total"]
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model, messages=HELLO, logit_bias={"50256": -100})
    assert (e.value.type, e.value.param, e.value.code) == (
        "invalid_request_error",
        "logit_bias",
        "unsupported_parameter",
    )
    assert sim.stats()["total"] == before


# --- usage: cached and reasoning tokens, and their prices ------------------------------------------


@MODELS
@STREAMING
def test_an_upstream_without_usage_is_counted_by_the_gateway(client, usage, model, streaming):
    a = answer(client, streaming, model=model, messages=HELLO, extra_headers={"x-sim-no-usage": "1"})
    assert a.content and a.finishes == ["stop"]
    assert_usage(a.usage)
    [row] = usage(a.headers["x-request-id"])
    assert row.usage_estimated is True and row.status == "ok"
    assert (row.prompt_tokens, row.completion_tokens) == (a.usage.prompt_tokens, a.usage.completion_tokens)


def _manual() -> str:
    # A system prompt of its own for each test: the simulator's prompt cache outlives a test.
    return f"Manual {uuid.uuid4().hex}. " + "The manual explains many things in detail. " * 120


@STREAMING
@pytest.mark.parametrize("marked", ["system", "user"])
def test_anthropic_prompt_caching_is_recorded_and_priced_at_the_cached_price(client, usage, live_db, streaming, marked):
    # A cache_control on a content part (Anthropic's own field) marks the end of a cacheable prefix.
    manual = {"type": "text", "text": _manual(), "cache_control": {"type": "ephemeral"}}
    question = {"type": "text", "text": "What does the manual say?"}
    if marked == "system":
        messages = [{"role": "system", "content": [manual]}, {"role": "user", "content": [question]}]
    else:
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [manual, question]}]

    one, two = (
        answer(client, streaming, model=ANTHROPIC, messages=messages),
        answer(client, streaming, model=ANTHROPIC, messages=messages),
    )
    first, h1, second, h2 = one.usage, one.headers, two.usage, two.headers
    assert first.prompt_tokens == second.prompt_tokens > 1000
    assert first.prompt_tokens_details.cached_tokens == 0  # the first call writes the cache
    cached = second.prompt_tokens_details.cached_tokens
    assert 1000 < cached < second.prompt_tokens  # the second reads it: all but the user's question

    [row1] = usage(h1["x-request-id"])
    [row2] = usage(h2["x-request-id"])
    assert_row_matches(row1, ANTHROPIC, first, stream=streaming)
    assert_row_matches(row2, ANTHROPIC, second, stream=streaming)
    assert row2.cached_tokens == cached
    assert row1.cached_tokens == 0
    # The first call wrote the prefix to the cache, priced at the catalog's cache-write price.
    assert row1.cache_write_tokens == cached and row2.cache_write_tokens == 0
    assert row1.upstream_cost_nusd == expected_cost(
        live_db, ANTHROPIC, prompt=row1.prompt_tokens, cached=0, completion=row1.completion_tokens, write=cached
    )
    assert row1.upstream_cost_nusd > expected_cost(
        live_db, ANTHROPIC, prompt=row1.prompt_tokens, cached=0, completion=row1.completion_tokens
    )

    inp, _, cached_price, _ = catalog_prices(live_db, ANTHROPIC)
    assert cached_price is not None and cached_price < inp
    assert row2.upstream_cost_nusd == expected_cost(
        live_db, ANTHROPIC, prompt=row2.prompt_tokens, cached=cached, completion=row2.completion_tokens
    )
    uncached = expected_cost(live_db, ANTHROPIC, prompt=row2.prompt_tokens, cached=0, completion=row2.completion_tokens)
    assert row2.upstream_cost_nusd < uncached
    # The read tokens cost exactly the difference between the input and the cached price.
    assert uncached - row2.upstream_cost_nusd in range(
        cached * (inp - cached_price) // 1000 - 1, cached * (inp - cached_price) // 1000 + 2
    )


def _one_hour_details(usage) -> int:
    return getattr(usage.prompt_tokens_details, "cache_write_1h_tokens", 0) or 0


@STREAMING
def test_a_one_hour_cache_mark_is_charged_at_the_one_hour_price(client, usage, live_db, streaming):
    # Claude Code's mark: {"type": "ephemeral", "ttl": "1h"}, on a content part (OpenRouter-style).
    manual = {"type": "text", "text": _manual(), "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    question = {"type": "text", "text": "What does the manual say?"}
    messages = [{"role": "system", "content": [manual]}, {"role": "user", "content": [question]}]

    one = answer(client, streaming, model=ANTHROPIC, messages=messages)
    two = answer(client, streaming, model=ANTHROPIC, messages=messages)
    [row1] = usage(one.headers["x-request-id"])
    [row2] = usage(two.headers["x-request-id"])
    assert_row_matches(row1, ANTHROPIC, one.usage, stream=streaming)
    written = row1.cache_write_tokens
    assert written > 1000 and row1.cache_write_1h_tokens == written  # all of it for one hour
    assert one.usage.prompt_tokens_details.cache_write_tokens == written == _one_hour_details(one.usage)
    assert (row2.cached_tokens, row2.cache_write_tokens, row2.cache_write_1h_tokens) == (written, 0, 0)

    # By hand, from the catalog's prices: the 1-hour writes at the 1-hour price ($6 per 1M for Sonnet 4,
    # 2x input; the 5-minute price is $3.75), the rest of the prompt at the input price.
    inp, out, _, write_price = catalog_prices(live_db, ANTHROPIC)
    hour_price = price_1h(live_db, ANTHROPIC)
    assert (inp, write_price, hour_price) == (3_000_000, 3_750_000, 6_000_000)
    pico = (row1.prompt_tokens - written) * inp + written * hour_price + row1.completion_tokens * out
    assert row1.upstream_cost_nusd == -(-pico // 1000)
    assert row1.cache_write_1h_price_usd_micro_per_mtok == hour_price  # the usage row keeps what it billed
    assert row1.upstream_cost_nusd == expected_cost(
        live_db,
        ANTHROPIC,
        prompt=row1.prompt_tokens,
        cached=0,
        completion=row1.completion_tokens,
        write=written,
        write_1h=written,
    )
    assert row1.upstream_cost_nusd - expected_cost(
        live_db, ANTHROPIC, prompt=row1.prompt_tokens, cached=0, completion=row1.completion_tokens, write=written
    ) in range(written * (hour_price - write_price) // 1000, written * (hour_price - write_price) // 1000 + 2)
    assert row1.charged_nusd == -(-pico * (10_000 + row1.markup_bp) // (1000 * 10_000))


@STREAMING
def test_five_minute_and_one_hour_marks_in_one_request_are_each_charged_at_their_price(
    client, usage, live_db, streaming
):
    # A 1-hour mark on the system prompt, then a 5-minute one on the user's document (longer-lived
    # marks first, as Anthropic requires).
    system = {"type": "text", "text": _manual(), "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    document = {"type": "text", "text": _manual(), "cache_control": {"type": "ephemeral"}}
    question = {"type": "text", "text": "Compare the two."}
    messages = [{"role": "system", "content": [system]}, {"role": "user", "content": [document, question]}]

    a = answer(client, streaming, model=ANTHROPIC, messages=messages)
    [row] = usage(a.headers["x-request-id"])
    assert_row_matches(row, ANTHROPIC, a.usage, stream=streaming)
    hour, total = row.cache_write_1h_tokens, row.cache_write_tokens
    assert 1000 < hour < total and total - hour > 1000  # each document written for its own time
    assert _one_hour_details(a.usage) == hour and a.usage.prompt_tokens_details.cache_write_tokens == total
    inp, out, _, write_price = catalog_prices(live_db, ANTHROPIC)
    pico = (
        (row.prompt_tokens - total) * inp
        + (total - hour) * write_price
        + hour * price_1h(live_db, ANTHROPIC)
        + row.completion_tokens * out
    )
    assert row.upstream_cost_nusd == -(-pico // 1000)


@pytest.mark.parametrize("model", [GEMINI, OPENAI], ids=["gemini", "openai"])
@STREAMING
def test_cached_tokens_the_vendor_reports_are_recorded_and_priced(client, usage, live_db, model, streaming):
    headers_in = {"x-sim-cached-tokens": "12"}
    a = answer(client, streaming, model=model, messages=HELLO, extra_headers=headers_in)
    u = a.usage
    assert u.prompt_tokens_details.cached_tokens == 12
    [row] = usage(a.headers["x-request-id"])
    assert_row_matches(row, model, u, stream=streaming)
    assert row.cached_tokens == 12
    assert row.upstream_cost_nusd == expected_cost(
        live_db, model, prompt=row.prompt_tokens, cached=12, completion=row.completion_tokens
    )


@pytest.mark.parametrize("model", [GEMINI, OPENAI], ids=["gemini", "openai"])
@STREAMING
def test_reasoning_tokens_are_reported_and_recorded(client, usage, model, streaming):
    headers_in = {"x-sim-reasoning-tokens": "16"}
    a = answer(client, streaming, model=model, messages=HELLO, extra_headers=headers_in)
    u, headers, content, reasoning = a.usage, a.headers, a.content, a.reasoning
    assert content
    assert u.completion_tokens_details.reasoning_tokens == 16
    assert u.completion_tokens > 16  # reasoning counts in the completion
    if model == OPENAI:  # DeepSeek sends its reasoning text; the simulated Gemini sends only the count
        assert reasoning
    [row] = usage(headers["x-request-id"])
    assert_row_matches(row, model, u, stream=streaming)
    assert row.reasoning_tokens == 16


def test_deepseek_reasoner_reasons_by_default(client, usage):
    reply, raw = create(client, model="deepseek/deepseek-reasoner", messages=HELLO)
    assert reply.usage.completion_tokens_details.reasoning_tokens == 24
    assert reply.choices[0].message.reasoning_content
    [row] = usage(raw.headers["x-request-id"])
    assert row.reasoning_tokens == 24


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "zhipu/glm-4-flash", "qwen/qwen-plus"])
@STREAMING
def test_a_cache_mark_on_a_content_part_never_makes_a_vendor_refuse(client, usage, model, streaming):
    # OpenRouter-style callers mark a prefix for Claude; when the route (or the caller) picks another
    # vendor, OpenAI and GLM would answer 400 to the unknown field: the gateway leaves it out.
    manual = {"type": "text", "text": _manual(), "cache_control": {"type": "ephemeral"}}
    messages = [{"role": "system", "content": [manual]}, {"role": "user", "content": "What does the manual say?"}]
    a = answer(client, streaming, model=model, messages=messages, extra_headers=NO_FALLBACK)
    assert a.headers["x-aipower-provider"] == model.split("/")[0] and a.usage.prompt_tokens > 1000
    [row] = usage(a.headers["x-request-id"])
    assert row.status == "ok" and row.served_model == model
