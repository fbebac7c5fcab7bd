"""The API through the official openai SDK, against a real gateway and the provider simulator."""

import openai
import pytest

from tests.schema import assert_valid

HELLO = [{"role": "user", "content": "Refactor this function, please."}]


def test_it_routes_auto_code_to_claude_sonnet_and_says_so(client, usage):
    raw = client.chat.completions.with_raw_response.create(model="auto-code", messages=HELLO)
    reply = raw.parse()
    assert reply.model == "anthropic/claude-sonnet-4"
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
    assert raw.headers["x-aipower-route"] == "auto-code"
    assert raw.headers["x-aipower-provider"] == "anthropic"
    assert raw.headers["x-request-id"].startswith("req_")
    assert_valid(raw.http_response.json(), "CreateChatCompletionResponse")
    [row] = usage(raw.headers["x-request-id"])
    assert (row.requested_model, row.route, row.served_model, row.provider) == (
        "auto-code",
        "auto-code",
        "anthropic/claude-sonnet-4",
        "anthropic",
    )
    assert row.status == "ok" and row.stream is False
    assert row.prompt_tokens == reply.usage.prompt_tokens > 0
    assert row.completion_tokens == reply.usage.completion_tokens > 0
    assert row.upstream_cost_nusd > 0 and row.charged_nusd > row.upstream_cost_nusd


@pytest.mark.parametrize(
    "route, served",
    [
        ("auto", "deepseek/deepseek-chat"),
        ("auto-cheap", "qwen/qwen-turbo"),
        ("auto-fast", "qwen/qwen-turbo"),
        ("auto-code", "anthropic/claude-sonnet-4"),
        ("auto-best", "anthropic/claude-opus-4.6"),
        ("auto-free", "zhipu/glm-4-flash"),
    ],
)
def test_each_routing_mode_picks_its_model(client, route, served):
    reply = client.chat.completions.create(model=route, messages=HELLO)
    assert reply.model == served


def test_a_pinned_model_is_served_as_asked(client):
    raw = client.chat.completions.with_raw_response.create(model="deepseek/deepseek-chat", messages=HELLO)
    assert raw.parse().model == "deepseek/deepseek-chat"
    assert "x-aipower-route" not in raw.headers
    assert raw.headers["x-aipower-provider"] == "deepseek"


def test_a_bare_upstream_id_is_accepted_when_unambiguous(client):
    assert client.chat.completions.create(model="qwen-plus", messages=HELLO).model == "qwen/qwen-plus"


def test_it_streams_through_the_sdk_with_usage(client, usage):
    with client.chat.completions.with_streaming_response.create(
        model="auto", messages=HELLO, stream=True, stream_options={"include_usage": True}
    ) as raw:
        request_id = raw.headers["x-request-id"]
        assert raw.headers["content-type"].startswith("text/event-stream")
        chunks = list(raw.parse())
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content
    assert {c.model for c in chunks} == {"deepseek/deepseek-chat"}
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    for c in chunks:
        assert_valid(c.model_dump(exclude_unset=True), "CreateChatCompletionStreamResponse")
    [row] = usage(request_id)
    assert row.stream and row.status == "ok"
    assert row.completion_tokens == chunks[-1].usage.completion_tokens
    assert row.ttft_ms is not None and row.ttft_ms <= row.latency_ms


def test_stream_content_equals_the_unstreamed_answer(client):
    whole = client.chat.completions.create(model="auto", messages=HELLO).choices[0].message.content
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="auto", messages=HELLO, stream=True)
        if c.choices
    )
    assert streamed == whole


def test_usage_is_recorded_even_when_the_caller_did_not_ask_for_it(client, usage):
    with client.chat.completions.with_streaming_response.create(model="auto", messages=HELLO, stream=True) as raw:
        chunks = list(raw.parse())
        request_id = raw.headers["x-request-id"]
    assert all(c.usage is None for c in chunks)
    [row] = usage(request_id)
    assert row.completion_tokens > 0 and row.usage_estimated is False


async def test_the_async_client_works_streaming_and_not(aclient):
    reply = await aclient.chat.completions.create(model="auto-code", messages=HELLO)
    assert reply.model == "anthropic/claude-sonnet-4"
    stream = await aclient.chat.completions.create(model="auto-fast", messages=HELLO, stream=True)
    models, text = set(), ""
    async for chunk in stream:
        models.add(chunk.model)
        text += "".join(ch.delta.content or "" for ch in chunk.choices)
    assert models == {"qwen/qwen-turbo"} and text


def test_an_upstream_without_usage_is_counted_by_the_gateway(client, usage):
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=HELLO, extra_headers={"x-sim-no-usage": "1"}
    )
    reply = raw.parse()
    assert reply.usage.completion_tokens > 0
    [row] = usage(raw.headers["x-request-id"])
    assert row.usage_estimated is True and row.completion_tokens == reply.usage.completion_tokens


def test_the_models_list_has_routes_and_concrete_models(client, gateway, tenant):
    models = client.models.list()
    ids = [m.id for m in models.data]
    for route in ("auto", "auto-cheap", "auto-fast", "auto-code", "auto-best", "auto-free"):
        assert route in ids
    assert "anthropic/claude-sonnet-4" in ids and "deepseek/deepseek-chat" in ids
    assert len([i for i in ids if "/" in i]) == 20  # 16 chat models and 4 embedding models
    import httpx

    body = httpx.get(gateway.url + "/v1/models", headers={"authorization": f"Bearer {tenant.key}"}).json()
    assert_valid(body, "ListModelsResponse")


def test_models_need_a_key(gateway):
    with (
        openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-aip-wrong", max_retries=0) as c,
        pytest.raises(openai.AuthenticationError),
    ):
        c.models.list()


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_effort_makes_claude_think_through_the_chat_api(client, stream):
    """reasoning_effort, as OpenAI's SDK sends it, reaches Claude as thinking: pinned, and on the
    routes whose first choice is Claude; the thinking comes back as reasoning_content."""
    for model, served in (("anthropic/claude-opus-4.6", None), ("auto-best", "anthropic/claude-opus-4.6")):
        if stream:
            chunks = list(
                client.chat.completions.create(model=model, messages=HELLO, reasoning_effort="high", stream=True)
            )
            reasoning = "".join(
                (c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks if c.choices
            )
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            ran = chunks[0].model
        else:
            reply = client.chat.completions.create(model=model, messages=HELLO, reasoning_effort="high")
            reasoning = (reply.choices[0].message.model_extra or {}).get("reasoning_content")
            text, ran = reply.choices[0].message.content, reply.model
        assert reasoning and text, model
        assert ran == (served or model)


def test_a_tool_loop_with_reasoning_effort_goes_on_without_thinking_on_claude(client):
    """Claude wants a tool loop's signed thinking back, which OpenAI-shaped history cannot carry:
    the loop's next request goes without thinking instead of failing (the simulator, as Anthropic,
    refuses thinking whose tool loop lacks its signed block)."""
    ask = {"model": "anthropic/claude-sonnet-4", "tools": [WEATHER], "reasoning_effort": "low", "max_tokens": 4000}
    turn = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(messages=turn, **ask)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls" and (message.model_extra or {}).get("reasoning_content")
    history = turn + [
        message.model_dump(exclude_none=True, include={"role", "content", "tool_calls"}),
        {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "18C and sunny"},
    ]
    second = client.chat.completions.create(messages=history, **ask)
    assert second.choices[0].message.content and second.choices[0].finish_reason == "stop"
    assert not (second.choices[0].message.model_extra or {}).get("reasoning_content")


def test_reasoning_effort_with_a_temperature_claude_cannot_think_at(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="anthropic/claude-opus-4.6", messages=HELLO, reasoning_effort="high", temperature=0.2
        )
    assert e.value.body["param"] == "temperature" and "temperature 1" in e.value.body["message"]
    # A route moves on to a model that takes both.
    reply = client.chat.completions.create(model="auto-best", messages=HELLO, reasoning_effort="high", temperature=0.2)
    assert reply.model != "anthropic/claude-opus-4.6" and reply.choices[0].message.content
